"""Mail transports, chosen by RATHAUS_MAIL_TRANSPORT: `smtp`, and `file` for development."""

from __future__ import annotations

import ipaddress

from app.core.config import DEFAULT_MAIL_FROM, Environment, Settings, SmtpSecurity
from app.core.providers import ProviderCatalog
from app.notifications.transports.base import MailTransport
from app.notifications.transports.file import FileTransport
from app.notifications.transports.smtp import SmtpTransport

MAIL_TRANSPORTS: ProviderCatalog[MailTransport, None] = ProviderCatalog(
    "mail transport", "RATHAUS_MAIL_TRANSPORT"
)


@MAIL_TRANSPORTS.register("smtp")
def _smtp(settings: Settings, _dependencies: None) -> MailTransport:
    return SmtpTransport(settings)


@MAIL_TRANSPORTS.register("file", dev_only=True)
def _file(settings: Settings, _dependencies: None) -> MailTransport:
    return FileTransport(settings.mail_dir)


def build_transport(settings: Settings) -> MailTransport:
    """The configured transport. Raises `ConfigurationError` naming the setting at fault."""
    return MAIL_TRANSPORTS.build(settings, [settings.mail_transport], None)[settings.mail_transport]


def mail_production_problems(settings: Settings) -> list[str]:
    """One line per mail setting that is unsafe in production, each naming the setting."""
    if settings.env is not Environment.production:
        return []
    problems: list[str] = []
    dev_only = MAIL_TRANSPORTS.production_problem(settings, [settings.mail_transport])
    if dev_only is not None:
        problems.append(dev_only)
    if settings.mail_from == DEFAULT_MAIL_FROM:
        problems.append(
            "RATHAUS_MAIL_FROM is the development default; production needs the city's sender"
            " address."
        )
    if (
        settings.mail_transport == "smtp"
        and settings.smtp_security is SmtpSecurity.none
        and not _is_loopback(settings.smtp_host)
    ):
        problems.append(
            "RATHAUS_SMTP_SECURITY is none for a server that is not on this machine: mail and"
            " the SMTP password would cross the network unencrypted; use starttls or tls."
        )
    return problems


def _is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
