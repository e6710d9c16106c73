"""Settings, and the refusal to start production with development settings."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from app.cli import bind_problem
from app.core.config import (
    ConfigurationError,
    Environment,
    Settings,
    UnsafeProductionSettings,
    refuse_unsafe,
)
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
    "RATHAUS_PUBLIC_BASE_URL": "https://rathaus.stadt.example",
    "RATHAUS_CORS_ORIGINS": "https://buergerapp.stadt.example",
    "RATHAUS_AUTH_RETURN_TO_ALLOWLIST": "https://buergerapp.stadt.example/callback",
}
ALL_INTERFACES = "0.0.0.0"  # noqa: S104 - what the refusal is about
OIDC_OVER_HTTP = (
    '[{"id": "bundid", "display_name": "BundID", "client_id": "rathaus",'
    ' "issuer": "http://login.stadt.example/realms/buerger"}]'
)


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
        ({"RATHAUS_ANTI_AUTOMATION": "false"}, "RATHAUS_ANTI_AUTOMATION"),
        ({"RATHAUS_MAIL_TRANSPORT": "file"}, "RATHAUS_MAIL_TRANSPORT"),
        ({"RATHAUS_MAIL_FROM": "Digitales Rathaus <rathaus@localhost>"}, "RATHAUS_MAIL_FROM"),
        ({"RATHAUS_PUBLIC_BASE_URL": "http://rathaus.stadt.example"}, "RATHAUS_PUBLIC_BASE_URL"),
        ({"RATHAUS_OIDC_PROVIDERS": json.loads(OIDC_OVER_HTTP)}, "RATHAUS_OIDC_PROVIDERS"),
        (
            {"RATHAUS_AUTH_RETURN_TO_ALLOWLIST": "http://localhost:3000/"},
            "RATHAUS_AUTH_RETURN_TO_ALLOWLIST",
        ),
        (
            {"RATHAUS_AUTH_RETURN_TO_ALLOWLIST": "https://127.0.0.1:8443/app/"},
            "RATHAUS_AUTH_RETURN_TO_ALLOWLIST",
        ),
        ({"RATHAUS_CORS_ORIGINS": "https://app.localhost"}, "RATHAUS_CORS_ORIGINS"),
        ({"RATHAUS_CORS_ORIGINS": "http://[::1]:3000"}, "RATHAUS_CORS_ORIGINS"),
        ({"RATHAUS_CORS_ORIGINS": "*"}, "RATHAUS_CORS_ORIGINS"),
        ({"RATHAUS_CORS_ORIGINS": "https://buergerapp.stadt.example,null"}, "RATHAUS_CORS_ORIGINS"),
    ],
)
def test_production_refuses_unsafe_setting_naming_it(
    override: dict[str, object], named_setting: str
) -> None:
    env: dict[str, object] = {**SAFE_PRODUCTION, **override}
    settings = Settings.model_validate(
        {k.removeprefix("RATHAUS_").lower(): v for k, v in env.items()}
    )

    with pytest.raises(UnsafeProductionSettings, match=named_setting):
        create_app(settings)


def test_serve_in_production_refuses_to_turn_off_anti_automation_with_one_line() -> None:
    result = run_cli("serve", env={**SAFE_PRODUCTION, "RATHAUS_ANTI_AUTOMATION": "false"})

    assert one_refusal(result) == (
        "Refusing to start: RATHAUS_ANTI_AUTOMATION must be true in production; turning the "
        "rate limits off is for load tests."
    )


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


def one_refusal(result: subprocess.CompletedProcess[str]) -> str:
    """The command's only line on stderr, after it exited with status 2."""
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


@pytest.mark.parametrize(
    ("override", "line"),
    [
        (
            {"RATHAUS_PUBLIC_BASE_URL": "http://rathaus.stadt.example"},
            "Refusing to start: RATHAUS_PUBLIC_BASE_URL must be an https:// URL in production.",
        ),
        (
            {"RATHAUS_OIDC_PROVIDERS": OIDC_OVER_HTTP},
            "Refusing to start: RATHAUS_OIDC_PROVIDERS: the issuer of 'bundid' must be an "
            "https:// URL.",
        ),
        (
            {"RATHAUS_CORS_ORIGINS": "*"},
            "Refusing to start: RATHAUS_CORS_ORIGINS must name the frontends' origins, not '*'.",
        ),
        (
            {"RATHAUS_AUTH_RETURN_TO_ALLOWLIST": "http://localhost:3000/,https://stadt.example/"},
            "Refusing to start: RATHAUS_AUTH_RETURN_TO_ALLOWLIST names local addresses: "
            "http://localhost:3000/.",
        ),
    ],
)
def test_serve_in_production_refuses_unsafe_urls_with_one_line(
    override: dict[str, str], line: str
) -> None:
    result = run_cli("serve", env={**SAFE_PRODUCTION, **override})

    assert one_refusal(result) == line


def test_development_defaults_are_refused_in_production_one_line_each() -> None:
    result = run_cli(
        "serve",
        env={
            key: value
            for key, value in SAFE_PRODUCTION.items()
            if key not in {"RATHAUS_CORS_ORIGINS", "RATHAUS_AUTH_RETURN_TO_ALLOWLIST"}
        },
    )

    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "Refusing to start: RATHAUS_AUTH_RETURN_TO_ALLOWLIST names local addresses: "
        "http://localhost:3000/, http://127.0.0.1:3000/.",
        "Refusing to start: RATHAUS_CORS_ORIGINS names local addresses: "
        "http://localhost:3000, http://127.0.0.1:3000.",
    ]


def rsa_pem(bits: int) -> bytes:
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


@pytest.mark.parametrize("command", ["serve", "worker"])
@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (None, "cannot be read"),
        (b"not a key", "must hold an unencrypted PEM RSA private key of at least 2048 bits"),
        (rsa_pem(1024), "must hold an unencrypted PEM RSA private key of at least 2048 bits"),
    ],
    ids=["missing", "not-a-key", "rsa-1024"],
)
def test_missing_or_weak_signing_key_is_refused_with_one_line_naming_the_setting(
    tmp_path: Path, command: str, content: bytes | None, reason: str
) -> None:
    key_file = tmp_path / "weak.pem"
    if content is not None:
        key_file.write_bytes(content)

    result = run_cli(
        command, env={**SAFE_PRODUCTION, "RATHAUS_JWT_PRIVATE_KEY_FILE": str(key_file)}
    )

    line = one_refusal(result)
    assert line.startswith("Refusing to start: RATHAUS_JWT_PRIVATE_KEY_FILE ")
    assert reason in line
    assert str(key_file) in line


def test_app_with_a_weak_signing_key_refuses_naming_the_setting(tmp_path: Path) -> None:
    key_file = tmp_path / "weak.pem"
    key_file.write_bytes(rsa_pem(1024))
    settings = Settings(env=Environment.development, jwt_private_key_file=str(key_file))

    with pytest.raises(ConfigurationError, match="RATHAUS_JWT_PRIVATE_KEY_FILE"):
        create_app(settings)


def test_seed_demo_refuses_in_production_and_writes_nothing(tmp_path: Path) -> None:
    database = tmp_path / "never-created.db"
    result = run_cli(
        "seed-demo",
        env={
            "RATHAUS_ENV": "production",
            "RATHAUS_DATABASE_URL": f"sqlite+aiosqlite:///{database}",
        },
    )

    assert one_refusal(result) == (
        "Refusing to seed demo data: it adds the development administrator, and RATHAUS_ENV "
        "is production."
    )
    assert not database.exists()


@pytest.mark.parametrize("host", [ALL_INTERFACES, "192.0.2.10", "::", "rathaus.stadt.example"])
def test_development_server_refuses_to_listen_beyond_loopback(host: str) -> None:
    result = run_cli("serve", "--host", host, env={"RATHAUS_ENV": "development"})

    assert one_refusal(result) == (
        f"Refusing to start: RATHAUS_HOST (or --host) {host} is not a loopback address, and in "
        "development mode anyone who reaches the server can sign in as an administrator; set "
        "RATHAUS_DEVELOPMENT_REMOTE_ACCESS=true to allow it."
    )


@pytest.mark.parametrize(
    ("env", "host", "refused"),
    [
        ({}, "127.0.0.1", False),
        ({}, "::1", False),
        ({}, "localhost", False),
        ({}, ALL_INTERFACES, True),
        ({"development_remote_access": True}, ALL_INTERFACES, False),
        ({"env": Environment.test}, ALL_INTERFACES, True),
        (
            {**{k.removeprefix("RATHAUS_").lower(): v for k, v in SAFE_PRODUCTION.items()}},
            ALL_INTERFACES,
            False,
        ),
    ],
)
def test_only_production_or_an_explicit_setting_listens_beyond_loopback(
    env: dict[str, object], host: str, refused: bool
) -> None:
    settings = Settings.model_validate({"env": Environment.development, **env})

    assert (bind_problem(settings, host) is not None) is refused


@pytest.mark.parametrize(
    ("setting", "value"),
    [
        ("RATHAUS_AUTH_RETURN_TO_ALLOWLIST", "http://[::1/"),
        ("RATHAUS_AUTH_RETURN_TO_ALLOWLIST", "http://localhost：3000/"),
        ("RATHAUS_CORS_ORIGINS", "https://a]b"),
        ("RATHAUS_CORS_ORIGINS", "buergerportal.stadt.example"),
        ("RATHAUS_PORT", "eighty"),
        ("RATHAUS_AVAILABILITY_RATE_LIMIT", "120 a minute"),
        ("RATHAUS_HOLD_RATE_LIMIT", "0/minute"),
        ("RATHAUS_REDIS_URL", "127.0.0.1:6379"),
    ],
)
def test_an_unparsable_setting_stops_the_start_with_one_line_naming_it(
    setting: str, value: str
) -> None:
    result = run_cli("serve", env={setting: value})

    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    [line] = result.stderr.strip().splitlines()
    assert line.startswith(f"{setting}: ")
