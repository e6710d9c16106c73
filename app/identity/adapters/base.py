"""The contract every identity adapter (mock eID, OIDC/BundID, …) fulfils."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Protocol

import httpx

from app.core.principal import LevelOfAssurance
from app.core.providers import ProviderCatalog
from app.identity.attributes import Attribute, AttributeValue


@dataclass(frozen=True, slots=True)
class ProviderDescription:
    id: str
    display_name: str
    protocol: str
    attributes: frozenset[Attribute]
    max_level: LevelOfAssurance
    issuers: frozenset[str]
    for_staff: bool = False


@dataclass(frozen=True, slots=True)
class LoginRequirements:
    level: LevelOfAssurance
    attributes: frozenset[Attribute]
    required_attributes: frozenset[Attribute] = frozenset()


@dataclass(frozen=True, slots=True)
class LoginState:
    """Server-side state of one login, kept until the provider calls back."""

    state: str
    nonce: str
    code_verifier: str
    expires_at: datetime
    redirect_uri: str
    requirements: LoginRequirements
    started_at: datetime
    """When the login began: a provider asked to authenticate afresh must have done so since."""

    @classmethod
    def new(cls, redirect_uri: str, requirements: LoginRequirements, ttl: timedelta) -> LoginState:
        now = datetime.now(UTC)
        return cls(
            state=secrets.token_urlsafe(32),
            nonce=secrets.token_urlsafe(32),
            code_verifier=secrets.token_urlsafe(48),
            expires_at=now + ttl,
            redirect_uri=redirect_uri,
            requirements=requirements,
            started_at=now,
        )


@dataclass(frozen=True, slots=True)
class BeginResult:
    redirect_url: str
    state: LoginState


@dataclass(frozen=True, slots=True)
class VerifiedIdentity:
    issuer: str
    subject: str
    level: LevelOfAssurance
    attributes: Mapping[Attribute, AttributeValue] = field(default_factory=dict)
    groups: tuple[str, ...] = ()
    display_name: str | None = None
    id_token: str | None = None
    """The provider's ID token, kept (sealed) with the session as `id_token_hint` for logout."""


class FailureKind(StrEnum):
    cancelled = "cancelled"
    insufficient_level = "insufficient_level"
    missing_attribute = "missing_attribute"
    invalid_response = "invalid_response"
    provider_unavailable = "provider_unavailable"
    not_permitted = "not_permitted"


class IdentityFailure(Exception):
    """A login that did not produce a verified identity. `reason` is for logs, never users."""

    def __init__(self, kind: FailureKind, reason: str = "") -> None:
        self.kind = kind
        self.reason = reason
        super().__init__(f"{kind.value}: {reason}")


class IdentityProvider(Protocol):
    description: ProviderDescription

    async def begin(
        self, requirements: LoginRequirements, redirect_uri: str, ttl: timedelta
    ) -> BeginResult:
        """Where to send the browser, and the state to keep (state, nonce, PKCE verifier)."""
        ...

    async def complete(self, callback: Mapping[str, str], state: LoginState) -> VerifiedIdentity:
        """Turn the provider's callback into a verified identity, or raise IdentityFailure."""
        ...

    async def end_session_url(self, logout: ProviderLogout) -> str | None:
        """Where to send the browser so that the provider ends its own login session too
        (OpenID Connect RP-initiated logout), or None when it keeps none or offers no way."""
        ...


@dataclass(frozen=True, slots=True)
class ProviderLogout:
    id_token_hint: str | None
    post_logout_redirect_uri: str | None
    state: str | None


class KeepsNoProviderSession:
    """For adapters whose provider keeps no login session of its own (the development
    stand-ins): ending our session is all a logout needs."""

    async def end_session_url(self, logout: ProviderLogout) -> str | None:
        return None


class ChoiceCodes:
    """One-time codes for the development stand-ins: `<choice>.<HMAC(state, choice)>`, so a
    callback can only carry a choice that the stand-in's own page issued for that login."""

    def __init__(self, provider_id: str, secret: str) -> None:
        self._provider_id = provider_id
        self._secret = secret.encode()

    def issue(self, state: str, choice: str) -> str:
        message = f"{self._provider_id}:{state}:{choice}".encode()
        return f"{choice}.{hmac.new(self._secret, message, hashlib.sha256).hexdigest()}"

    def verify(self, code: str, state: str) -> str:
        """The choice inside a genuine code, else IdentityFailure(invalid_response)."""
        choice, _, _mac = code.partition(".")
        # Bytes, not str: compare_digest refuses non-ASCII text, and the code is the caller's.
        if not choice or not hmac.compare_digest(code.encode(), self.issue(state, choice).encode()):
            raise IdentityFailure(FailureKind.invalid_response, "code does not match state")
        return choice


IDENTITY_PROVIDERS: ProviderCatalog[IdentityProvider, httpx.AsyncClient | None] = ProviderCatalog(
    "identity provider", "RATHAUS_IDENTITY_PROVIDERS"
)
"""Every identity adapter registers here, saying whether it is for development only. The
factories get the HTTP client the app (or a test) hands in."""
