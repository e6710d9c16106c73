"""What reaches the logs: never personal data or secrets, at any level."""

from __future__ import annotations

import logging

import pytest

from app.core.db import Database
from app.main import create_app
from tests.conftest import client_for, make_settings
from tests.fixtures.auth import Pkce, authorize

# What the mock eID card of Erika Mustermann asserts, and what her sign-in sends.
PERSONAL_DATA = ("Mustermann", "Erika", "1964-08-12", "Heidestraße", "erika-mustermann")


async def test_debug_logs_hold_no_personal_data_statement_parameters_or_verifiers(
    database_url: str,
    db: Database,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.DEBUG)
    app = create_app(make_settings(database_url, log_level="DEBUG"), database=db)
    pkce = Pkce.new()
    async with client_for(app) as client:
        result = await authorize(
            client,
            "erika",
            pkce=pkce,
            attributes=("DateOfBirth", "PlaceOfResidence"),
        )
        exchanged = await client.post(
            "/api/v1/auth/token",
            data={
                "grant_type": "authorization_code",
                "code": result["code"],
                "code_verifier": pkce.verifier,
            },
        )
        me = await client.get(
            "/api/v1/me",
            headers={"Authorization": f"Bearer {exchanged.json()['access_token']}"},
        )

    assert exchanged.status_code == 200
    assert me.status_code == 200
    assert "Mustermann" in me.text
    logged = caplog.text + capsys.readouterr().err
    assert logged, "nothing was logged at DEBUG: the test would prove nothing"
    secrets = (*PERSONAL_DATA, pkce.verifier, pkce.challenge, result["code"])
    leaked = [secret for secret in secrets if secret in logged]
    assert leaked == []
