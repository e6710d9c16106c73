"""`oidc`: OpenID Connect authorization code flow with PKCE, from the discovery document.

Works for BundID or any OIDC eID service, usually brokered by the city's Keycloak, and for
staff sign-in through that Keycloak. Claim names are configurable per provider.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import time
from collections.abc import Iterable, Mapping
from datetime import timedelta
from typing import Any, TypeGuard
from urllib.parse import quote_plus, urlencode, urlsplit

import httpx
import structlog

from app.core.config import (
    ClientAuthentication,
    ConfigurationError,
    OidcProviderSettings,
    Settings,
)
from app.core.principal import LevelOfAssurance
from app.identity.adapters.base import (
    IDENTITY_PROVIDERS,
    BeginResult,
    FailureKind,
    IdentityFailure,
    LoginRequirements,
    LoginState,
    ProviderDescription,
    ProviderLogout,
    VerifiedIdentity,
)
from app.identity.attributes import Attribute, AttributeValue, MalformedAttribute, normalise
from app.identity.jwt import (
    SUPPORTED_ALGORITHMS,
    InvalidToken,
    UnknownKeyId,
    VerificationKey,
    verify,
)
from app.identity.loa import UnknownLevel, parse_level

logger = structlog.get_logger("rathaus.identity")

DISCOVERY_TTL_SECONDS = 3600
JWKS_TTL_SECONDS = 3600
UNKNOWN_KID_COOLDOWN_SECONDS = 60

_ATTRIBUTE_NAMES = frozenset(a.value for a in Attribute)

DEFAULT_CLAIMS: dict[str, str] = {
    Attribute.family_names.value: "family_name",
    Attribute.given_names.value: "given_name",
    Attribute.birth_name.value: "birth_name",
    Attribute.date_of_birth.value: "birthdate",
    Attribute.place_of_birth.value: "place_of_birth",
    Attribute.place_of_residence.value: "address",
    Attribute.nationality.value: "nationality",
    Attribute.email.value: "email",
}


# RFC 6749 §4.1.2.1: these mean the provider could not serve the login, not that it refused it.
_ERROR_KINDS: dict[str, FailureKind] = {
    "access_denied": FailureKind.cancelled,
    "temporarily_unavailable": FailureKind.provider_unavailable,
    "server_error": FailureKind.provider_unavailable,
}


def pkce_challenge(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


class JwksCache:
    """The provider's keys. A failed refresh keeps the last good set; an unknown `kid` triggers
    at most one refetch per cooldown, so forged kids cannot make us hammer the provider.

    Every decision is taken under the lock: concurrent logins with the same unknown `kid`
    must not each pass the cooldown check before the first one records its refetch.
    """

    def __init__(self, http: httpx.AsyncClient) -> None:
        self._http = http
        self._keys: list[VerificationKey] = []
        self._fetched_at: float | None = None
        self._forced_at: float | None = None
        self._lock = asyncio.Lock()

    async def keys(self, uri: str, *, force: bool = False) -> list[VerificationKey]:
        async with self._lock:
            now = time.monotonic()
            if force:
                if _within(self._forced_at, now, UNKNOWN_KID_COOLDOWN_SECONDS):
                    return self._keys
                self._forced_at = now
            elif self._keys and _within(self._fetched_at, now, JWKS_TTL_SECONDS):
                return self._keys
            return await self._fetch(uri, now)

    async def _fetch(self, uri: str, now: float) -> list[VerificationKey]:
        try:
            response = await self._http.get(uri)
            response.raise_for_status()
            keys = _signature_keys(response.json()["keys"])
        except (httpx.HTTPError, ValueError, KeyError, TypeError):
            if self._keys:
                return self._keys
            raise IdentityFailure(FailureKind.provider_unavailable, "JWKS unavailable") from None
        if keys:
            self._keys = keys
            self._fetched_at = now
        return self._keys


def _within(since: float | None, now: float, seconds: int) -> bool:
    return since is not None and now - since < seconds


def _signature_keys(entries: list[Any]) -> list[VerificationKey]:
    """The usable signature keys of a JWKS. An entry we cannot use is skipped: one odd key
    must not take the provider's other keys down with it."""
    keys: list[VerificationKey] = []
    for entry in entries:
        if not isinstance(entry, dict):
            continue
        try:
            key = VerificationKey.from_jwk(entry)
        except (ValueError, TypeError, KeyError):
            continue
        if key is not None:
            keys.append(key)
    return keys


async def check_providers(settings: Settings, http: httpx.AsyncClient) -> None:
    """Refuse, with a `ConfigurationError` of one line, enabled OIDC providers whose ID tokens
    we could never verify: every login with them would fail. A provider that cannot be asked
    now is logged and not refused: its outage must not keep the city's servers down."""
    enabled = [p for p in settings.oidc_providers if p.id in settings.identity_providers]
    found = await asyncio.gather(*(_algorithm_problem(p, http) for p in enabled))
    problems = [problem for problem in found if problem]
    if problems:
        raise ConfigurationError(" ".join(problems))


async def _algorithm_problem(config: OidcProviderSettings, http: httpx.AsyncClient) -> str | None:
    try:
        discovery, jwks = await _published_documents(config, http)
    except (httpx.HTTPError, httpx.InvalidURL, ValueError, KeyError, TypeError) as exc:
        logger.warning("auth.provider_not_checked", provider=config.id, reason=type(exc).__name__)
        return None
    refusal = f"RATHAUS_OIDC_PROVIDERS: provider {config.id!r}"
    supported = ", ".join(SUPPORTED_ALGORITHMS)
    announced = discovery.get("id_token_signing_alg_values_supported")
    if _offers_none_of_ours(announced):
        return (
            f"{refusal} signs ID tokens with no supported algorithm ({supported}); "
            f"it offers: {_listed(map(str, announced))}."
        )
    candidates = [e for e in jwks if isinstance(e, dict) and e.get("use", "sig") == "sig"]
    if candidates and not _signature_keys(candidates):
        return (
            f"{refusal} publishes no signing key with a supported algorithm ({supported}); "
            f"it offers: {_listed(map(_described, candidates))}."
        )
    return None


async def _published_documents(
    config: OidcProviderSettings, http: httpx.AsyncClient
) -> tuple[dict[str, Any], list[Any]]:
    """The provider's discovery document and the entries of its JWKS."""
    url = config.issuer.rstrip("/") + "/.well-known/openid-configuration"
    discovery = await _json_object(http, url)
    entries = (await _json_object(http, str(discovery["jwks_uri"])))["keys"]
    if not isinstance(entries, list):
        raise TypeError("JWKS keys is not a list")
    return discovery, entries


async def _json_object(http: httpx.AsyncClient, url: str) -> dict[str, Any]:
    response = await http.get(url)
    response.raise_for_status()
    document = response.json()
    if not isinstance(document, dict):
        raise TypeError("not a JSON object")
    return document


def _offers_none_of_ours(announced: object) -> TypeGuard[list[Any]]:
    """Whether discovery lists signing algorithms and none is ours (an empty or missing list
    says nothing: the JWKS decides)."""
    if not isinstance(announced, list) or not announced:
        return False
    return not any(algorithm in SUPPORTED_ALGORITHMS for algorithm in announced)


def _described(entry: Mapping[str, Any]) -> str:
    """How a JWKS entry names itself to an operator: its `alg`, else its key type."""
    if "alg" in entry:
        return str(entry["alg"])
    return f"{entry.get('kty')} key without alg"


def _listed(names: Iterable[str]) -> str:
    return ", ".join(sorted(set(names)))


class OidcProvider:
    def __init__(
        self,
        config: OidcProviderSettings,
        http: httpx.AsyncClient,
        *,
        leeway_seconds: int,
        max_id_token_bytes: int = 65_536,
    ) -> None:
        self.config = config
        self._http = http
        self._leeway = leeway_seconds
        self._max_id_token_bytes = max_id_token_bytes
        self._discovery: dict[str, Any] | None = None
        self._discovered_at = 0.0
        self._jwks = JwksCache(http)
        self._claims = {**DEFAULT_CLAIMS, **config.claim_mapping}
        issuers = config.allowed_issuers or [config.issuer]
        self.description = ProviderDescription(
            id=config.id,
            display_name=config.display_name,
            protocol="oidc",
            attributes=frozenset(
                Attribute(name) for name in self._claims if name in _ATTRIBUTE_NAMES
            ),
            max_level=LevelOfAssurance[config.max_level],
            issuers=frozenset(issuers),
            for_staff=config.for_staff,
        )
        self._scopes = config.requested_scopes(
            claim for name, claim in self._claims.items() if name in _ATTRIBUTE_NAMES
        )

    async def discovery(self) -> dict[str, Any]:
        if self._discovery and time.monotonic() - self._discovered_at < DISCOVERY_TTL_SECONDS:
            return self._discovery
        url = self.config.issuer.rstrip("/") + "/.well-known/openid-configuration"
        try:
            response = await self._http.get(url)
            response.raise_for_status()
            document = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            if self._discovery:
                return self._discovery
            raise IdentityFailure(FailureKind.provider_unavailable, "discovery failed") from exc
        if not isinstance(document, dict) or not all(
            _is_url(document.get(name)) for name in _REQUIRED_ENDPOINTS
        ):
            # `authorization_endpoint: null` would otherwise send citizens to `None?…`.
            raise IdentityFailure(FailureKind.provider_unavailable, "incomplete discovery")
        if document.get("issuer") != self.config.issuer:
            raise IdentityFailure(FailureKind.invalid_response, "discovery issuer mismatch")
        self._discovery = document
        self._discovered_at = time.monotonic()
        return document

    async def begin(
        self, requirements: LoginRequirements, redirect_uri: str, ttl: timedelta
    ) -> BeginResult:
        document = await self.discovery()
        state = LoginState.new(redirect_uri, requirements, ttl)
        params: dict[str, str] = {
            "response_type": "code",
            "client_id": self.config.client_id,
            "redirect_uri": redirect_uri,
            "scope": " ".join(self._scopes),
            "state": state.state,
            "nonce": state.nonce,
            "code_challenge": pkce_challenge(state.code_verifier),
            "code_challenge_method": "S256",
        }
        acr = self._acr_values(requirements.level)
        if acr:
            params["acr_values"] = acr
        if self._needs_fresh_authentication(requirements):
            # Without these, a provider with a running login session (Keycloak, BundID)
            # answers from that session at its old level, and a step-up never reaches the
            # ID card. `max_age=0` obliges it to report `auth_time`, which `complete` checks.
            params["prompt"] = "login"
            params["max_age"] = "0"
            if acr and document.get("claims_parameter_supported") is True:
                params["claims"] = json.dumps(
                    {"id_token": {"acr": {"essential": True, "values": acr.split()}}},
                    separators=(",", ":"),
                )
        url = str(document["authorization_endpoint"])
        separator = "&" if "?" in url else "?"
        return BeginResult(f"{url}{separator}{urlencode(params)}", state)

    def _needs_fresh_authentication(self, requirements: LoginRequirements) -> bool:
        """A citizen login that asks for a level above `low` must reach the ID card (or
        whatever gives that level) every time, whatever session the provider has."""
        return not self.config.for_staff and requirements.level > LevelOfAssurance.low

    def _acr_values(self, level: LevelOfAssurance) -> str:
        if self.config.acr_values:
            return " ".join(self.config.acr_values)
        if self.config.for_staff:
            return ""
        return " ".join(
            lvl.eidas_uri
            for lvl in LevelOfAssurance
            if lvl >= level and lvl <= self.description.max_level
        )

    async def complete(self, callback: Mapping[str, str], state: LoginState) -> VerifiedIdentity:
        # RFC 9207: `iss` in the response defeats mix-ups between several providers.
        returned_issuer = callback.get("iss")
        if returned_issuer is not None and returned_issuer != self.config.issuer:
            raise IdentityFailure(FailureKind.invalid_response, "response from another issuer")
        error = callback.get("error")
        if error:
            kind = _ERROR_KINDS.get(error, FailureKind.invalid_response)
            raise IdentityFailure(kind, f"provider returned error {_printable(error)!r}")
        code = callback.get("code")
        if not code:
            raise IdentityFailure(FailureKind.invalid_response, "callback without code")
        document = await self.discovery()
        if returned_issuer is None and document.get(
            "authorization_response_iss_parameter_supported"
        ):
            raise IdentityFailure(FailureKind.invalid_response, "callback without iss")
        tokens = await self._exchange(document, code, state)
        claims = await self._verify_id_token(document, tokens, state)
        if self._needs_fresh_authentication(state.requirements):
            self._check_fresh_authentication(claims, state)
        return self._identity(claims, state.requirements, str(tokens["id_token"]))

    def _check_fresh_authentication(self, claims: Mapping[str, Any], state: LoginState) -> None:
        """The provider was asked for a new authentication (`prompt=login`, `max_age=0`); an
        `auth_time` from before this login began means it answered from an old session."""
        auth_time = claims.get("auth_time")
        if isinstance(auth_time, bool) or not isinstance(auth_time, int | float):
            raise IdentityFailure(FailureKind.insufficient_level, "no auth_time after max_age=0")
        if auth_time < state.started_at.timestamp() - self._leeway:
            raise IdentityFailure(
                FailureKind.insufficient_level, "provider did not authenticate afresh"
            )

    async def _exchange(
        self, document: Mapping[str, Any], code: str, state: LoginState
    ) -> dict[str, Any]:
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": state.redirect_uri,
            "code_verifier": state.code_verifier,
            "client_id": self.config.client_id,
        }
        auth: httpx.Auth = httpx.Auth()  # a public client sends no credentials, only PKCE
        secret = self.config.client_secret
        if secret and self.config.token_endpoint_auth_method is ClientAuthentication.post:
            form["client_secret"] = secret
        elif secret:
            # client_secret_basic: both parts form-encoded first, as RFC 6749 §2.3.1 requires.
            auth = httpx.BasicAuth(quote_plus(self.config.client_id), quote_plus(secret))
        try:
            response = await self._http.post(str(document["token_endpoint"]), data=form, auth=auth)
        except httpx.HTTPError as exc:
            raise IdentityFailure(
                FailureKind.provider_unavailable, "token endpoint failed"
            ) from exc
        if response.status_code >= 500:
            raise IdentityFailure(FailureKind.provider_unavailable, "token endpoint 5xx")
        try:
            body = response.json()
        except ValueError as exc:
            raise IdentityFailure(FailureKind.invalid_response, "token response not JSON") from exc
        if response.status_code != 200 or not isinstance(body, dict):
            error = body.get("error") if isinstance(body, dict) else None
            raise IdentityFailure(
                FailureKind.invalid_response,
                f"token endpoint refused with {response.status_code} "
                f"{_printable(error) if isinstance(error, str) else ''}".strip(),
            )
        if not isinstance(body.get("id_token"), str):
            raise IdentityFailure(FailureKind.invalid_response, "token response without id_token")
        return body

    async def _verify_id_token(
        self, document: Mapping[str, Any], tokens: Mapping[str, Any], state: LoginState
    ) -> dict[str, Any]:
        id_token = str(tokens["id_token"])
        jwks_uri = str(document["jwks_uri"])
        options: dict[str, Any] = {
            "issuer": self.description.issuers,
            "audience": self.config.client_id,
            "leeway_seconds": self._leeway,
            "nonce": state.nonce,
            "max_bytes": self._max_id_token_bytes,
        }
        try:
            try:
                return verify(id_token, await self._jwks.keys(jwks_uri), **options)
            except UnknownKeyId:
                return verify(id_token, await self._jwks.keys(jwks_uri, force=True), **options)
        except InvalidToken as exc:
            raise IdentityFailure(FailureKind.invalid_response, f"id_token: {exc}") from exc

    def _identity(
        self, claims: Mapping[str, Any], requirements: LoginRequirements, id_token: str
    ) -> VerifiedIdentity:
        subject = claims.get(self.config.subject_claim)
        if not isinstance(subject, str) or not subject:
            raise IdentityFailure(FailureKind.invalid_response, "no subject claim")
        if self.config.for_staff:
            level = LevelOfAssurance.substantial
        else:
            try:
                level = parse_level(claims.get("acr"), self.config.acr_mapping)
            except UnknownLevel as exc:
                raise IdentityFailure(FailureKind.insufficient_level, str(exc)) from exc
        return VerifiedIdentity(
            issuer=str(claims["iss"]),
            subject=subject,
            level=level,
            attributes=self._attributes(claims, requirements, level),
            groups=_groups(claims.get(self.config.groups_claim)),
            display_name=_display_name(claims),
            id_token=id_token,
        )

    def _attributes(
        self, claims: Mapping[str, Any], requirements: LoginRequirements, level: LevelOfAssurance
    ) -> dict[Attribute, AttributeValue]:
        """The mapped attributes. A malformed one the login asked for is `missing_attribute`;
        one it did not ask for is dropped with a warning: a provider sending more than asked
        (a `birthdate` of `12.08.1964` on a login that wanted only names) breaks nothing."""
        attributes: dict[Attribute, AttributeValue] = {}
        for name, claim in self._claims.items():
            if name not in _ATTRIBUTE_NAMES or claims.get(claim) is None:
                continue
            attribute = Attribute(name)
            try:
                attributes[attribute] = AttributeValue(normalise(attribute, claims[claim]), level)
            except MalformedAttribute as exc:
                if attribute in requirements.attributes:
                    raise IdentityFailure(
                        FailureKind.missing_attribute, f"requested {name} is malformed"
                    ) from exc
                logger.warning(
                    "auth.unrequested_attribute_dropped",
                    provider=self.config.id,
                    attribute=name,
                    reason="malformed",
                )
        return attributes

    async def end_session_url(self, logout: ProviderLogout) -> str | None:
        """The provider's `end_session_endpoint` with `id_token_hint`, `client_id`,
        `post_logout_redirect_uri` and `state` (OpenID Connect RP-Initiated Logout 1.0);
        None when the provider offers none or cannot be reached to say."""
        try:
            document = await self.discovery()
        except IdentityFailure:
            return None
        endpoint = document.get("end_session_endpoint")
        if not _is_url(endpoint):
            return None
        params = {
            "client_id": self.config.client_id,
            "id_token_hint": logout.id_token_hint,
            "post_logout_redirect_uri": logout.post_logout_redirect_uri,
            "state": logout.state,
        }
        query = urlencode({k: v for k, v in params.items() if v is not None})
        return f"{endpoint}{'&' if '?' in str(endpoint) else '?'}{query}"


_REQUIRED_ENDPOINTS = ("authorization_endpoint", "token_endpoint", "jwks_uri")


def _is_url(value: object) -> bool:
    if not isinstance(value, str) or len(value) > 2000:
        return False
    try:
        parts = urlsplit(value)
    except ValueError:
        return False
    return parts.scheme in ("https", "http") and bool(parts.netloc)


def _printable(text: str) -> str:
    """A provider's error code, fit for a log line: short, no control characters."""
    return "".join(c for c in text[:50] if c.isprintable())


def _groups(value: object) -> tuple[str, ...]:
    """Keycloak sends a single group as a string rather than a list of one."""
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        return ()
    return tuple(g for g in value if isinstance(g, str) and g)


def _display_name(claims: Mapping[str, Any]) -> str | None:
    """The provider's name for the person; the sign-in cleans it for storage."""
    for claim in ("name", "preferred_username"):
        value = claims.get(claim)
        if isinstance(value, str) and value.strip():
            return value
    return None


def _configured_oidc(
    settings: Settings, http: httpx.AsyncClient | None, provider_id: str
) -> OidcProvider:
    config = next(p for p in settings.oidc_providers if p.id == provider_id)
    return OidcProvider(
        config,
        http or httpx.AsyncClient(timeout=10.0),
        leeway_seconds=settings.jwt_leeway_seconds,
        max_id_token_bytes=settings.oidc_max_id_token_bytes,
    )


IDENTITY_PROVIDERS.configured(
    lambda settings: {p.id for p in settings.oidc_providers}, _configured_oidc
)
