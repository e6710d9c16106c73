"""Fixtures of the notification tests: a real SMTP server and settings that point at it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from app.core.config import Settings
from tests.conftest import make_settings
from tests.fixtures.notifications import SENDER
from tests.fixtures.smtp_server import (
    LOOPBACK,
    Certificate,
    Mailbox,
    self_signed_certificate,
    smtp_server,
)


@pytest.fixture
def mailbox() -> Mailbox:
    return Mailbox()


@pytest.fixture
def smtp_port(mailbox: Mailbox) -> Iterator[int]:
    """A plain SMTP server on loopback, as a relay on the same machine would be."""
    with smtp_server(mailbox) as port:
        yield port


@pytest.fixture
def smtp_settings(database_url: str, smtp_port: int) -> Settings:
    return make_settings(
        database_url,
        mail_transport="smtp",
        mail_from=SENDER,
        smtp_host=LOOPBACK,
        smtp_port=smtp_port,
        smtp_security="none",
        smtp_timeout_seconds=5,
    )


@pytest.fixture(scope="session")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> Certificate:
    return self_signed_certificate(tmp_path_factory.mktemp("smtp-tls"))
