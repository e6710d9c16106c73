"""SMTP with aiosmtplib: STARTTLS or implicit TLS, authentication, a timeout per operation."""

from __future__ import annotations

import re
import ssl

import aiosmtplib

from app.core.config import ConfigurationError, Settings, SmtpSecurity
from app.notifications.transports.base import OutgoingMail, PermanentFailure, TemporaryFailure

STANDARD_PORTS = {SmtpSecurity.starttls: 587, SmtpSecurity.tls: 465, SmtpSecurity.none: 25}
MESSAGE_REFUSALS = (
    aiosmtplib.SMTPSenderRefused,
    aiosmtplib.SMTPRecipientRefused,
    aiosmtplib.SMTPDataError,
)
# "250 2.0.0 Ok: queued as 4Xb1Lz3kQ7z9" (Postfix), "250 OK id=1tLqHh-0005Zr-2B" (Exim).
QUEUE_ID = re.compile(r"(?:queued as|\bid=)\s*([A-Za-z0-9._-]{1,100})", re.IGNORECASE)


class SmtpTransport:
    def __init__(self, settings: Settings) -> None:
        if settings.smtp_username and settings.smtp_password is None:
            raise ConfigurationError("RATHAUS_SMTP_USERNAME is set, RATHAUS_SMTP_PASSWORD is not.")
        self.host = settings.smtp_host
        self.security = settings.smtp_security
        self.port = settings.smtp_port or STANDARD_PORTS[self.security]
        self.username = settings.smtp_username
        self.password = settings.smtp_password
        self.timeout = settings.smtp_timeout_seconds
        self.tls_context = (
            _tls_context(settings) if self.security is not SmtpSecurity.none else None
        )

    async def send(self, mail: OutgoingMail) -> str:
        try:
            _refused, reply = await aiosmtplib.send(
                mail.message,
                sender=mail.envelope_sender,
                recipients=[mail.envelope_recipient],
                hostname=self.host,
                port=self.port,
                use_tls=self.security is SmtpSecurity.tls,
                start_tls=self.security is SmtpSecurity.starttls,
                tls_context=self.tls_context,
                username=self.username,
                password=self.password.get_secret_value() if self.password else None,
                timeout=self.timeout,
            )
        except (aiosmtplib.SMTPException, OSError) as exc:
            raise _classify(exc) from None
        queue_id = QUEUE_ID.search(reply)
        return queue_id.group(1) if queue_id else mail.message_id


def _tls_context(settings: Settings) -> ssl.SSLContext:
    """The system's trust store, or only the CAs in RATHAUS_SMTP_CA_FILE; host names checked."""
    try:
        return ssl.create_default_context(
            cafile=str(settings.smtp_ca_file) if settings.smtp_ca_file else None
        )
    except (OSError, ssl.SSLError):
        raise ConfigurationError(
            "RATHAUS_SMTP_CA_FILE cannot be read as a PEM file of CA certificates."
        ) from None


def _classify(exc: Exception) -> TemporaryFailure | PermanentFailure:
    """Final only when the server refuses this message (sender, recipient or content) with a
    5xx reply. A refused greeting, login or STARTTLS is about our settings or the server, and
    is retried like a 4xx reply, a timeout or a broken connection, so that the messages wait
    while an operator fixes it."""
    error_type = type(exc).__name__
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        codes = [refusal.code for refusal in exc.recipients]
    elif isinstance(exc, MESSAGE_REFUSALS):
        codes = [exc.code]
    else:
        codes = []
    if codes and all(500 <= code < 600 for code in codes):
        return PermanentFailure(error_type)
    return TemporaryFailure(error_type)
