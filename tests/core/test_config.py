"""Settings, and the refusal to start production with development settings."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.core.config import Environment, Settings, UnsafeProductionSettings, refuse_unsafe
from app.identity.jwt import generate_private_pem
from app.main import create_app
from app.startup import production_problems
from tests.conftest import run_cli

SAFE_PRODUCTION = {
    "RATHAUS_ENV": "production",
    "RATHAUS_SECRET_KEY": "k" * 48,
    "RATHAUS_DATABASE_URL": "postgresql+asyncpg://rathaus@127.0.0.1:9/rathaus",
    "RATHAUS_IDENTITY_PROVIDERS": "oidc",
    "RATHAUS_MAIL_TRANSPORT": "smtp",
    "RATHAUS_MAIL_FROM": "Stadt Dortmund <buergerdienste@stadt.example>",
    "RATHAUS_SMTP_HOST": "mail.stadt.example",
}


@pytest.fixture(autouse=True)
def signing_key_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    key_file = tmp_path / "signing.pem"
    key_file.write_bytes(generate_private_pem())
    monkeypatch.setitem(SAFE_PRODUCTION, "RATHAUS_JWT_PRIVATE_KEY_FILE", str(key_file))
    return key_file


def test_settings_are_read_from_rathaus_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "RATHAUS_CORS_ORIGINS", "https://buergerapp.stadt.example, https://stadt.example"
    )
    monkeypatch.setenv("RATHAUS_MAX_BODY_BYTES", "2048")

    settings = Settings()

    assert settings.cors_origins == ["https://buergerapp.stadt.example", "https://stadt.example"]
    assert settings.max_body_bytes == 2048
    assert settings.is_sqlite
    assert settings.runs_worker_in_process


def test_safe_production_settings_start() -> None:
    settings = Settings.model_validate(
        {k.removeprefix("RATHAUS_").lower(): v for k, v in SAFE_PRODUCTION.items()}
    )

    assert production_problems(settings) == []
    refuse_unsafe(production_problems(settings))
    assert settings.env is Environment.production
    assert not settings.runs_worker_in_process


@pytest.mark.parametrize(
    ("override", "named_setting"),
    [
        ({"RATHAUS_DEBUG": "true"}, "RATHAUS_DEBUG"),
        ({"RATHAUS_SECRET_KEY": "dev-insecure-secret-change-me"}, "RATHAUS_SECRET_KEY"),
        ({"RATHAUS_DATABASE_URL": "sqlite+aiosqlite:///var/prod.db"}, "RATHAUS_DATABASE_URL"),
        ({"RATHAUS_IDENTITY_PROVIDERS": "oidc,mock-eid"}, "RATHAUS_IDENTITY_PROVIDERS"),
        ({"RATHAUS_IDENTITY_PROVIDERS": "dev-login"}, "RATHAUS_IDENTITY_PROVIDERS"),
        ({"RATHAUS_JWT_PRIVATE_KEY_FILE": ""}, "RATHAUS_JWT_PRIVATE_KEY_FILE"),
        ({"RATHAUS_MAIL_TRANSPORT": "file"}, "RATHAUS_MAIL_TRANSPORT"),
        ({"RATHAUS_MAIL_FROM": "Digitales Rathaus <rathaus@localhost>"}, "RATHAUS_MAIL_FROM"),
    ],
)
def test_production_refuses_unsafe_setting_naming_it(
    override: dict[str, str], named_setting: str
) -> None:
    env = {**SAFE_PRODUCTION, **override}
    settings = Settings.model_validate(
        {k.removeprefix("RATHAUS_").lower(): v for k, v in env.items()}
    )

    with pytest.raises(UnsafeProductionSettings, match=named_setting):
        create_app(settings)


def test_serve_in_production_with_sqlite_exits_with_one_clear_line() -> None:
    result = run_cli(
        "serve", env={**SAFE_PRODUCTION, "RATHAUS_DATABASE_URL": "sqlite+aiosqlite:///x.db"}
    )

    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert lines == [
        "Refusing to start: RATHAUS_DATABASE_URL points to SQLite; production needs PostgreSQL."
    ]


def test_worker_in_production_with_demo_providers_refuses_to_start() -> None:
    result = run_cli(
        "worker",
        env={
            **SAFE_PRODUCTION,
            "RATHAUS_IDENTITY_PROVIDERS": "mock-eid,dev-login",
        },
    )

    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "Refusing to start: RATHAUS_IDENTITY_PROVIDERS enables development-only providers: "
        "dev-login, mock-eid."
    ]
    assert "Traceback" not in result.stderr
