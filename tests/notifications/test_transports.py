"""The transports as an operator configures them: SMTP with TLS and a login, the development
file transport, and what production refuses."""

from __future__ import annotations

import json
from collections.abc import Iterator
from email import message_from_bytes, policy
from pathlib import Path

import pytest

from app.core.config import ConfigurationError, Environment, Settings, UnsafeProductionSettings
from app.core.db import Database
from app.core.i18n import Language
from app.core.logging import configure_logging
from app.core.providers import UnknownProviderSetting
from app.notifications.transports import build_transport, mail_production_problems
from tests.conftest import make_settings
from tests.fixtures.notifications import (
    CITIZEN_ADDRESS,
    SENDER,
    book_and_confirm,
    everything_stored,
    load_delivery,
    run_jobs,
)
from tests.fixtures.smtp_server import (
    LOOPBACK,
    SMTP_PASSWORD,
    SMTP_USER,
    Certificate,
    Mailbox,
    smtp_server,
)

# aiosmtpd warns about auth_require_tls=False, which the implicit-TLS server needs (see below).
pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")


@pytest.fixture
def debug_logs(capsys: pytest.CaptureFixture[str]) -> Iterator[pytest.CaptureFixture[str]]:
    """Everything logged at any level, as JSON lines on stderr."""
    configure_logging("DEBUG", json=True)
    capsys.readouterr()
    yield capsys
    configure_logging("INFO", json=True)


def log_lines(capsys: pytest.CaptureFixture[str]) -> list[dict[str, object]]:
    captured = capsys.readouterr()
    return [
        json.loads(line)
        for line in (captured.err + captured.out).splitlines()
        if line.startswith("{")
    ]


@pytest.fixture(params=["starttls", "tls"])
def tls_server(
    request: pytest.FixtureRequest, mailbox: Mailbox, certificate: Certificate
) -> Iterator[tuple[str, int]]:
    """A submission server that demands TLS (STARTTLS on 587 or implicit on 465) before
    anybody may log in, and a login before it takes mail."""
    if request.param == "starttls":
        with smtp_server(
            mailbox,
            tls_context=certificate.server_context(),
            require_starttls=True,
            authenticator=mailbox.authenticate,
            auth_required=True,
            auth_require_tls=True,
        ) as port:
            yield "starttls", port
        return
    # Every byte is encrypted from the start; aiosmtpd's auth_require_tls only knows STARTTLS.
    with smtp_server(
        mailbox,
        implicit_tls=certificate.server_context(),
        authenticator=mailbox.authenticate,
        auth_required=True,
        auth_require_tls=False,
    ) as port:
        yield "tls", port


def submission_settings(
    database_url: str, tls_server: tuple[str, int], ca_file: Path | None
) -> Settings:
    security, port = tls_server
    return make_settings(
        database_url,
        mail_transport="smtp",
        mail_from=SENDER,
        smtp_host=LOOPBACK,
        smtp_port=port,
        smtp_security=security,
        smtp_username=SMTP_USER,
        smtp_password=SMTP_PASSWORD,
        smtp_ca_file=ca_file,
    )


async def test_mail_goes_out_over_tls_with_a_login_and_the_citys_own_ca(
    committed_db: Database,
    database_url: str,
    tls_server: tuple[str, int],
    certificate: Certificate,
    mailbox: Mailbox,
    debug_logs: pytest.CaptureFixture[str],
) -> None:
    settings = submission_settings(database_url, tls_server, certificate.cert_file)
    delivery_id = await book_and_confirm(committed_db)

    await run_jobs(committed_db, settings)

    assert mailbox.logins == [SMTP_USER]
    [mail] = mailbox.received
    assert mail.envelope_to == [CITIZEN_ADDRESS]
    assert (await load_delivery(committed_db, delivery_id)).status == "sent"
    logged = json.dumps(log_lines(debug_logs))
    assert "notification.sent" in logged
    for secret in (SMTP_PASSWORD, CITIZEN_ADDRESS, "Erika", "Ihr Termin"):
        assert secret not in logged


async def test_a_certificate_the_system_does_not_trust_is_refused_before_the_login(
    committed_db: Database,
    database_url: str,
    tls_server: tuple[str, int],
    mailbox: Mailbox,
) -> None:
    settings = submission_settings(database_url, tls_server, ca_file=None)
    delivery_id = await book_and_confirm(committed_db)

    await run_jobs(committed_db, settings)

    assert mailbox.logins == []
    assert mailbox.received == []
    delivery = await load_delivery(committed_db, delivery_id)
    assert (delivery.status, delivery.attempts) == ("queued", 1)
    # aiosmtplib reports the failed handshake as such after STARTTLS, as a connect error with TLS.
    expected = {"starttls": "SSLCertVerificationError", "tls": "SMTPConnectError"}
    assert delivery.last_error_type == expected[tls_server[0]]


async def test_file_transport_writes_a_readable_eml_and_logs_one_line_without_personal_data(
    committed_db: Database,
    database_url: str,
    tmp_path: Path,
    debug_logs: pytest.CaptureFixture[str],
) -> None:
    mail_dir = tmp_path / "var" / "mail"
    settings = make_settings(database_url, mail_transport="file", mail_dir=mail_dir)
    delivery_id = await book_and_confirm(committed_db, Language.en)

    await run_jobs(committed_db, settings)

    [eml] = list(mail_dir.iterdir())
    assert eml.suffix == ".eml"
    assert str(delivery_id) in eml.name
    assert "erika" not in eml.name.lower()
    message = message_from_bytes(eml.read_bytes(), policy=policy.default)
    assert message["To"] == CITIZEN_ADDRESS
    assert message["Subject"] == "Your appointment on 08.12.2026 at 10:30"
    assert [part.get_filename() for part in message.iter_attachments()] == ["termin.ics"]
    lines = log_lines(debug_logs)
    written = [line for line in lines if line["event"] == "mail.written"]
    assert written == [
        {
            "delivery_id": str(delivery_id),
            "file": eml.name,
            "event": "mail.written",
            "level": "info",
            "timestamp": written[0]["timestamp"],
        }
    ]
    logged = json.dumps(lines)
    for personal in (CITIZEN_ADDRESS, "Erika", "appointment on"):
        assert personal not in logged
    delivery = await load_delivery(committed_db, delivery_id)
    assert (delivery.status, delivery.provider_message_id) == ("sent", message["Message-ID"])
    assert CITIZEN_ADDRESS not in await everything_stored(committed_db)


def production(**overrides: object) -> Settings:
    values: dict[str, object] = {
        "env": Environment.production,
        "database_url": "postgresql+asyncpg://rathaus@127.0.0.1:9/rathaus",
        "mail_transport": "smtp",
        "mail_from": "Stadt Dortmund <buergerdienste@stadt.example>",
        "smtp_host": "mail.stadt.example",
    }
    values.update(overrides)
    return Settings.model_validate(values)


def test_production_accepts_smtp_over_tls_with_the_citys_sender() -> None:
    assert mail_production_problems(production()) == []
    assert mail_production_problems(production(smtp_security="tls")) == []


def test_production_refuses_the_file_transport_naming_the_setting() -> None:
    settings = production(mail_transport="file")

    assert mail_production_problems(settings) == [
        "RATHAUS_MAIL_TRANSPORT enables development-only providers: file."
    ]
    with pytest.raises(UnsafeProductionSettings, match="RATHAUS_MAIL_TRANSPORT"):
        build_transport(settings)


def test_production_refuses_the_development_sender() -> None:
    [problem] = mail_production_problems(production(mail_from=Settings().mail_from))

    assert problem.startswith("RATHAUS_MAIL_FROM is the development default")


@pytest.mark.parametrize("host", ["mail.stadt.example", "10.1.2.3"])
def test_production_refuses_plaintext_smtp_to_another_machine(host: str) -> None:
    [problem] = mail_production_problems(production(smtp_security="none", smtp_host=host))

    assert problem.startswith("RATHAUS_SMTP_SECURITY is none for a server that is not on this")


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1", "::1"])
def test_production_allows_plaintext_smtp_to_a_relay_on_the_same_machine(host: str) -> None:
    assert mail_production_problems(production(smtp_security="none", smtp_host=host)) == []


def test_development_may_use_every_transport() -> None:
    settings = Settings(database_url="sqlite+aiosqlite://", smtp_security="none", smtp_host="x")

    assert settings.mail_transport == "file"
    assert mail_production_problems(settings) == []


def test_an_unknown_transport_is_refused_naming_the_setting() -> None:
    with pytest.raises(UnknownProviderSetting, match="RATHAUS_MAIL_TRANSPORT names 'smpt'"):
        build_transport(Settings(database_url="sqlite+aiosqlite://", mail_transport="smpt"))


def test_an_unreadable_ca_file_is_refused_naming_the_setting(tmp_path: Path) -> None:
    not_pem = tmp_path / "ca.pem"
    not_pem.write_text("not a certificate")
    settings = Settings(database_url="sqlite+aiosqlite://", mail_transport="smtp")

    for ca_file in (not_pem, tmp_path / "missing.pem"):
        with pytest.raises(ConfigurationError, match="RATHAUS_SMTP_CA_FILE"):
            build_transport(settings.model_copy(update={"smtp_ca_file": ca_file}))


def test_a_login_without_a_password_is_refused_naming_the_settings() -> None:
    settings = Settings(
        database_url="sqlite+aiosqlite://", mail_transport="smtp", smtp_username=SMTP_USER
    )

    with pytest.raises(ConfigurationError, match="RATHAUS_SMTP_PASSWORD is not"):
        build_transport(settings)


def test_a_sender_without_an_address_is_refused() -> None:
    with pytest.raises(ValueError, match="mail_from"):
        Settings(database_url="sqlite+aiosqlite://", mail_from="Digitales Rathaus")


def test_the_smtp_password_does_not_show_in_the_settings() -> None:
    settings = Settings(database_url="sqlite+aiosqlite://", smtp_password=SMTP_PASSWORD)

    assert SMTP_PASSWORD not in repr(settings)
    assert SMTP_PASSWORD not in str(settings.model_dump())
