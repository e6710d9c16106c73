"""Configuration from `RATHAUS_*` environment variables (see the table in README.md)."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from email.utils import parseaddr
from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    Field,
    IPvAnyNetwork,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from app.core.limiter import rate_limits

PROJECT_ROOT = Path(__file__).resolve().parents[2]

DEFAULT_SECRET_KEY = "dev-insecure-secret-change-me"  # noqa: S105 - refused in production
DEFAULT_MAIL_FROM = "Digitales Rathaus <rathaus@localhost>"  # refused in production


class Environment(StrEnum):
    development = "development"
    test = "test"
    production = "production"


class SmtpSecurity(StrEnum):
    starttls = "starttls"
    tls = "tls"
    none = "none"


def _split_csv(value: object) -> object:
    if isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    return value


class ClientAuthentication(StrEnum):
    """How a confidential client proves itself at a provider's token endpoint."""

    basic = "client_secret_basic"
    post = "client_secret_post"


class OidcProviderSettings(BaseModel):
    """One OpenID Connect provider: BundID or an eID service (often behind Keycloak), or the
    city's Keycloak for staff. Given as JSON in RATHAUS_OIDC_PROVIDERS."""

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{1,30}$")
    display_name: str
    issuer: str
    client_id: str
    client_secret: str | None = None
    for_staff: bool = False
    token_endpoint_auth_method: ClientAuthentication = ClientAuthentication.basic
    """How a confidential client authenticates at the token endpoint (RFC 6749 §2.3.1)."""
    scopes: list[str] | None = None
    """Requested scopes; unset: `openid` and the standard scopes that carry the mapped claims
    (`profile`, `email`, `address`), see `requested_scopes`."""
    acr_values: list[str] = Field(default_factory=list)
    allowed_issuers: list[str] = Field(default_factory=list)
    subject_claim: str = "sub"
    claim_mapping: dict[str, str] = Field(default_factory=dict)
    acr_mapping: dict[str, str] = Field(default_factory=dict)
    groups_claim: str = "groups"
    max_level: str = "high"

    def requested_scopes(self, claims: Iterable[str]) -> list[str]:
        """The configured scopes, or those a strict provider needs to send `claims`: OpenID
        Connect Core §5.4 puts names and dates in `profile`, and `email` and `address` in
        scopes of their own. Staff providers also need `profile` for the display name."""
        if self.scopes is not None:
            return self.scopes
        wanted = set(claims) | ({"name", "preferred_username"} if self.for_staff else set())
        scopes = ["openid"]
        for scope, members in _STANDARD_SCOPE_CLAIMS.items():
            if wanted & members:
                scopes.append(scope)
        return scopes


_STANDARD_SCOPE_CLAIMS: dict[str, frozenset[str]] = {
    "profile": frozenset(
        {
            "name",
            "family_name",
            "given_name",
            "middle_name",
            "nickname",
            "preferred_username",
            "birthdate",
            "gender",
            "locale",
            "zoneinfo",
        }
    ),
    "email": frozenset({"email", "email_verified"}),
    "address": frozenset({"address"}),
    "phone": frozenset({"phone_number", "phone_number_verified"}),
}


class Settings(BaseSettings):
    """Every setting, with its default. Production refuses the unsafe ones."""

    model_config = SettingsConfigDict(env_prefix="RATHAUS_", extra="ignore")

    env: Environment = Environment.development
    debug: bool = False
    database_url: str = f"sqlite+aiosqlite:///{PROJECT_ROOT / 'var' / 'rathaus.db'}"
    database_pool_size: int | None = Field(default=None, ge=1, le=200)
    sqlite_busy_timeout_ms: int = Field(default=15_000, ge=0)
    secret_key: str = DEFAULT_SECRET_KEY
    public_base_url: str = "http://127.0.0.1:8000"
    host: str = "127.0.0.1"
    development_remote_access: bool = False
    port: int = Field(default=8000, ge=1, le=65535)
    cors_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["http://localhost:3000", "http://127.0.0.1:3000"]
    )
    max_body_bytes: int = Field(default=1_048_576, ge=1024)
    max_header_bytes: int = Field(default=32_768, ge=1024)
    header_timeout_seconds: float = Field(default=10.0, gt=0, le=300)
    trusted_proxies: Annotated[list[IPvAnyNetwork], NoDecode] = Field(default_factory=list)
    metrics_allowed_networks: Annotated[list[IPvAnyNetwork], NoDecode] = Field(
        default_factory=lambda: [ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1")]
    )
    identity_providers: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["mock-eid", "dev-login"]
    )
    log_level: str = "INFO"
    log_json: bool = True
    idempotency_ttl_seconds: int = Field(default=24 * 3600, ge=60)
    idempotency_lock_seconds: int = Field(default=60, ge=1)
    worker_in_process: bool | None = None
    worker_concurrency: int = Field(default=4, ge=1, le=64)
    worker_poll_seconds: float = Field(default=1.0, gt=0)
    job_lease_seconds: int = Field(default=60, ge=2)
    job_max_attempts: int = Field(default=8, ge=1)
    audit_retention_days: int = Field(default=3 * 365, ge=1)
    auth_return_to_allowlist: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["http://localhost:3000/", "http://127.0.0.1:3000/"]
    )
    jwt_private_key_file: str | None = None
    access_token_ttl_seconds: int = Field(default=300, ge=30, le=3600)
    refresh_token_ttl_seconds: int = Field(default=8 * 3600, ge=300)
    staff_session_ttl_seconds: int = Field(default=3600, ge=300)
    jwt_leeway_seconds: int = Field(default=30, ge=0, le=300)
    login_ttl_seconds: int = Field(default=600, ge=60)
    token_rate_limit_per_minute: int = Field(default=20, ge=1)
    login_rate_limit_per_minute: int = Field(default=20, ge=1)
    hold_ttl_seconds: int = Field(default=600, ge=60, le=3600)
    redis_url: str | None = None
    redis_key_prefix: str = Field(default="rathaus", pattern=r"^[A-Za-z0-9_.:-]{1,64}$")
    anti_automation: bool = True
    availability_rate_limit: str = "120/minute"
    hold_rate_limit: str = "20/minute"
    holds_per_address: int = Field(default=5, ge=1, le=1000)
    availability_max_age_seconds: int = Field(default=5, ge=0, le=300)
    booking_verification_seconds: int = Field(default=1800, ge=300, le=86_400)
    booking_max_active_per_person: int = Field(default=2, ge=1, le=50)
    booking_reminder_hours: int = Field(default=24, ge=1, le=168)
    booking_retention_days: int = Field(default=30, ge=1, le=3650)
    cancelled_capacity_delay_min_seconds: int = Field(default=300, ge=0, le=86_400)
    cancelled_capacity_delay_max_seconds: int = Field(default=1800, ge=0, le=86_400)
    no_show_after_minutes: int = Field(default=15, ge=1, le=240)
    # The call rule of the branch's queue (app/appointments/call_order.py): an appointment
    # is due from this many minutes before its start, and keeps its priority if checked in
    # no later than this many minutes after it.
    queue_early_minutes: int = Field(default=5, ge=0, le=120)
    queue_late_minutes: int = Field(default=5, ge=0, le=240)
    display_poll_seconds: float = Field(default=0.5, ge=0.1, le=10)
    display_stream_seconds: int = Field(default=60, ge=1, le=3600)
    waiting_list_offer_minutes: int = Field(default=15, ge=1, le=1440)
    waiting_list_max_entries_per_person: int = Field(default=3, ge=1, le=50)
    waiting_list_max_days: int = Field(default=90, ge=1, le=365)
    block_offer_minutes: int = Field(default=24 * 60, ge=5, le=7 * 24 * 60)
    block_nearby_km: float = Field(default=5.0, ge=0, le=100)
    branch_supervisor_department: str = Field(default="33", pattern=r"^[A-Za-z0-9_-]{1,20}$")
    oidc_providers: list[OidcProviderSettings] = Field(default_factory=list)
    oidc_max_id_token_bytes: int = Field(default=65_536, ge=4096, le=1_048_576)
    mail_transport: str = "file"
    mail_from: str = DEFAULT_MAIL_FROM
    mail_dir: Path = PROJECT_ROOT / "var" / "mail"
    mail_delivery_retention_days: int = Field(default=90, ge=1)
    smtp_host: str = "localhost"
    smtp_port: int | None = Field(default=None, ge=1, le=65535)
    smtp_security: SmtpSecurity = SmtpSecurity.starttls
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_timeout_seconds: float = Field(default=30.0, gt=0, le=300)
    smtp_ca_file: Path | None = None

    _split = field_validator(
        "cors_origins",
        "identity_providers",
        "auth_return_to_allowlist",
        "trusted_proxies",
        "metrics_allowed_networks",
        mode="before",
    )(_split_csv)

    @field_validator("auth_return_to_allowlist", "cors_origins")
    @classmethod
    def _absolute_urls(cls, values: list[str]) -> list[str]:
        """Each entry an absolute http(s) URL (`*` and `null` are left to the production
        check, which names them): an entry Python cannot parse would fail every request."""
        for value in values:
            if value in ("*", "null"):
                continue
            try:
                parts = urlsplit(value)
                parts.port  # noqa: B018 - parsing the port is what raises for a bad one
            except ValueError:
                raise ValueError(f"{value[:100]!r} is not a URL") from None
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise ValueError(f"{value[:100]!r} is not an absolute http(s) URL")
        return values

    @field_validator("redis_url", mode="before")
    @classmethod
    def _redis_url(cls, value: object) -> object:
        if value == "":
            return None
        if isinstance(value, str) and urlsplit(value).scheme not in ("redis", "rediss", "unix"):
            raise ValueError("must be a redis://, rediss:// or unix:// URL")
        return value

    @field_validator("availability_rate_limit", "hold_rate_limit")
    @classmethod
    def _rate_limit(cls, value: str) -> str:
        try:
            valid = all(item.amount >= 1 for item in rate_limits(value))
        except ValueError:
            valid = False
        if not valid:
            raise ValueError(
                f"{value[:100]!r} is not a rate limit such as '120/minute' or '20/minute;100/hour'"
            )
        return value

    @field_validator("mail_from")
    @classmethod
    def _sender_address(cls, value: str) -> str:
        _name, address = parseaddr(value)
        if "@" not in address:
            raise ValueError("must be an address, optionally with a name: Name <local@domain>")
        return value

    @field_validator("cancelled_capacity_delay_max_seconds")
    @classmethod
    def _delay_range(cls, value: int, info: ValidationInfo) -> int:
        if value < info.data.get("cancelled_capacity_delay_min_seconds", 0):
            raise ValueError("must not be less than RATHAUS_CANCELLED_CAPACITY_DELAY_MIN_SECONDS")
        return value

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def pool_size(self) -> int:
        """Connections each process keeps: RATHAUS_DATABASE_POOL_SIZE, else 20 on PostgreSQL
        and 3 on SQLite, where every connection is a thread of its own and more of them only
        contend for the interpreter lock (bench, 2 cores: the branch list's p99 was 5-8x its
        p50 with 20, about 3x with 5, 2.5x with 3)."""
        if self.database_pool_size is not None:
            return self.database_pool_size
        return 3 if self.is_sqlite else 20

    @property
    def runs_worker_in_process(self) -> bool:
        """The embedded SQLite default runs jobs inside `serve`; PostgreSQL uses `rathaus worker`."""
        if self.worker_in_process is not None:
            return self.worker_in_process
        return self.is_sqlite

    def production_problems(self) -> list[str]:
        """One line per setting that is unsafe in production, each naming the setting.

        Development-only providers are refused by their own catalogs (`app.core.providers`);
        `app.startup` collects both."""
        if self.env is not Environment.production:
            return []
        problems: list[str] = []
        if self.debug:
            problems.append("RATHAUS_DEBUG must be false in production.")
        if self.secret_key == DEFAULT_SECRET_KEY or len(self.secret_key) < 32:
            problems.append(
                "RATHAUS_SECRET_KEY is the development default or shorter than 32 characters."
            )
        if self.is_sqlite:
            problems.append("RATHAUS_DATABASE_URL points to SQLite; production needs PostgreSQL.")
        if not self.anti_automation:
            problems.append(
                "RATHAUS_ANTI_AUTOMATION must be true in production; turning the rate limits "
                "off is for load tests."
            )
        if not self.jwt_private_key_file:
            problems.append(
                "RATHAUS_JWT_PRIVATE_KEY_FILE is not set; production needs a persistent signing key."
            )
        problems.extend(self._url_problems())
        return problems

    def _url_problems(self) -> list[str]:
        """Where production sends browsers and whom it trusts: https only, nothing local."""
        problems: list[str] = []
        if not self.public_base_url.startswith("https://"):
            problems.append("RATHAUS_PUBLIC_BASE_URL must be an https:// URL in production.")
        for provider in self.oidc_providers:
            issuers = [provider.issuer, *provider.allowed_issuers]
            if not all(issuer.startswith("https://") for issuer in issuers):
                problems.append(
                    f"RATHAUS_OIDC_PROVIDERS: the issuer of {provider.id!r} must be an https:// URL."
                )
        wildcards = [o for o in self.cors_origins if o in ("*", "null")]
        if wildcards:
            problems.append(
                "RATHAUS_CORS_ORIGINS must name the frontends' origins, not "
                + " or ".join(repr(o) for o in wildcards)
                + "."
            )
        for setting, urls in (
            ("RATHAUS_AUTH_RETURN_TO_ALLOWLIST", self.auth_return_to_allowlist),
            ("RATHAUS_CORS_ORIGINS", self.cors_origins),
        ):
            local = _local_urls(urls)
            if local:
                problems.append(f"{setting} names local addresses: {', '.join(local)}.")
        return problems


def _local_urls(urls: Iterable[str]) -> list[str]:
    """The URLs that point at the machine the browser runs on (a developer's frontend)."""
    return [url for url in urls if _is_local_host(_hostname(url))]


def _hostname(url: str) -> str | None:
    try:
        return urlsplit(url).hostname
    except ValueError:
        return None


def _is_local_host(host: str | None) -> bool:
    if host is None:
        return False
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return address.is_loopback or address.is_unspecified


class ConfigurationError(RuntimeError):
    """A setting that keeps the service from starting; the message names the setting."""


class UnsafeProductionSettings(ConfigurationError):
    """Raised at start-up when production is configured with a development-only setting."""


def refuse_unsafe(problems: list[str]) -> None:
    if problems:
        raise UnsafeProductionSettings(" ".join(f"Refusing to start: {p}" for p in problems))


@lru_cache
def get_settings() -> Settings:
    """The settings from the environment; a `ConfigurationError` with one line per invalid
    setting, each naming it, instead of a validation traceback."""
    try:
        return Settings()
    except ValidationError as exc:
        lines = [
            f"RATHAUS_{str(error['loc'][0]).upper()}: {error['msg']}."
            if error["loc"]
            else f"{error['msg']}."
            for error in exc.errors(include_input=False, include_url=False)
        ]
        raise ConfigurationError("\n".join(lines)) from None
