"""Sign-in, sessions and tokens, staff roles and integrator clients.

Every one-time thing (login state, authorization code, refresh token) is consumed by a guarded
`UPDATE … WHERE consumed_at IS NULL` so that two requests racing with the same value cannot
both succeed.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import unquote, urlencode, urlsplit

import structlog
from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.appointments.service import branch_id_for_code
from app.core.audit import Actor, ActorType, record
from app.core.config import Settings
from app.core.db import Database, utcnow
from app.core.i18n import Text
from app.identity.adapters.base import (
    FailureKind,
    IdentityFailure,
    LoginRequirements,
    LoginState,
    VerifiedIdentity,
)
from app.identity.adapters.oidc import pkce_challenge
from app.identity.attributes import Attribute
from app.identity.errors import (
    ClientNotFound,
    InvalidAccessToken,
    InvalidClient,
    InvalidGrant,
    InvalidLoginState,
    InvalidScope,
    ReturnToNotAllowed,
    SessionNotFound,
)
from app.identity.jwt import InvalidToken, SigningKey, new_jti, verify
from app.identity.loa import LevelOfAssurance
from app.identity.models import (
    ApiClient,
    AuthorizationCode,
    AuthSession,
    CitizenAccount,
    CitizenAttribute,
    LoginAttempt,
    RefreshToken,
    StaffRoleGrant,
    StaffUser,
)
from app.identity.principal import Principal, PrincipalType, Role, RoleGrant, ScopeType
from app.identity.registry import ProviderRegistry
from app.services.service import department_service

logger = structlog.get_logger("rathaus.identity")

ACCESS_TOKEN_AUDIENCE = "rathaus-api"  # noqa: S105 - an audience, not a secret
AUTHORIZATION_CODE_TTL = timedelta(seconds=60)
MAX_SUBJECT_LENGTH = 255  # bPK2 and restrictedID are far shorter; longer is not a pseudonym
MAX_DISPLAY_NAME_LENGTH = 200
CLIENT_SCOPES = frozenset(
    {
        "departments:read",
        "branches:read",
        "applications:read",
        "applications:export",
        "payments:reconcile",
        "appointments:read",
    }
)
DEFAULT_ATTRIBUTES = frozenset({Attribute.family_names, Attribute.given_names})
_GROUP = re.compile(
    r"^/rathaus/(?P<role>[a-z_]+)(?:/(?P<scope>department|branch)/(?P<code>[A-Za-z0-9_-]+))?$"
)


@dataclass(frozen=True)
class IdentityContext:
    """What the identity service needs from the running app."""

    settings: Settings
    registry: ProviderRegistry
    signing_key: SigningKey
    database: Database

    @property
    def issuer(self) -> str:
        return self.settings.public_base_url.rstrip("/")

    def callback_url(self, provider_id: str, *, for_staff: bool) -> str:
        middle = "auth/staff" if for_staff else "auth"
        return f"{self.issuer}/api/v1/{middle}/{provider_id}/callback"


@dataclass(frozen=True)
class TokenPair:
    access_token: str
    expires_in: int
    refresh_token: str | None
    level: LevelOfAssurance | None
    scope: str | None = None


def _hash(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def _rowcount(result: object) -> int:
    return int(getattr(result, "rowcount", 0) or 0)


def return_to_allowed(return_to: str, allowlist: Sequence[str]) -> bool:
    """Exact scheme and host, and a path under an allowed prefix; nothing that could redirect."""
    if len(return_to) > 500 or any(c in return_to for c in "\\\r\n\t "):
        return False
    target = urlsplit(return_to)
    if (
        target.scheme not in ("https", "http")
        or not target.netloc
        or target.username
        or target.password
    ):
        return False
    # Browsers resolve `..` (also as `%2e%2e`), which would climb out of an allowed path.
    if target.fragment or any(unquote(s) in (".", "..") for s in target.path.split("/")):
        return False
    for allowed in allowlist:
        prefix = urlsplit(allowed)
        if (target.scheme, target.netloc.lower()) != (prefix.scheme, prefix.netloc.lower()):
            continue
        base = prefix.path or "/"
        path = target.path or "/"
        if path == base.rstrip("/") or path.startswith(base if base.endswith("/") else base + "/"):
            return True
    return False


def _with_query(url: str, params: Mapping[str, str | None]) -> str:
    clean = {k: v for k, v in params.items() if v is not None}
    separator = "&" if urlsplit(url).query else "?"
    return f"{url}{separator}{urlencode(clean)}"


def _failure_redirect(
    provider_id: str, return_to: str, failure: IdentityFailure, client_state: str | None
) -> str:
    """Back to the (already validated) frontend with an OAuth-style error and our reason."""
    logger.info("auth.login_failed", provider=provider_id, kind=failure.kind.value)
    error = (
        "temporarily_unavailable"
        if failure.kind is FailureKind.provider_unavailable
        else "access_denied"
    )
    return _with_query(
        return_to, {"error": error, "error_code": failure.kind.value, "state": client_state}
    )


class LoginService:
    async def start(
        self,
        session: AsyncSession,
        context: IdentityContext,
        *,
        provider_id: str,
        for_staff: bool,
        return_to: str,
        code_challenge: str,
        client_state: str | None,
        level: LevelOfAssurance,
        attributes: frozenset[Attribute],
        required_attributes: frozenset[Attribute],
    ) -> str:
        provider = context.registry.get(provider_id, for_staff=for_staff)
        if not return_to_allowed(return_to, context.settings.auth_return_to_allowlist):
            raise ReturnToNotAllowed()
        requested = (
            attributes | required_attributes | (frozenset() if for_staff else DEFAULT_ATTRIBUTES)
        )
        requirements = LoginRequirements(level, requested, required_attributes)
        ttl = timedelta(seconds=context.settings.login_ttl_seconds)
        try:
            begun = await provider.begin(
                requirements, context.callback_url(provider_id, for_staff=for_staff), ttl
            )
        except IdentityFailure as failure:
            return _failure_redirect(provider_id, return_to, failure, client_state)
        session.add(
            LoginAttempt(
                state=begun.state.state,
                provider=provider_id,
                nonce=begun.state.nonce,
                code_verifier=begun.state.code_verifier,
                redirect_uri=begun.state.redirect_uri,
                return_to=return_to,
                client_state=client_state,
                code_challenge=code_challenge,
                required_level=int(level),
                attributes=sorted(a.value for a in requested),
                required_attributes=sorted(a.value for a in required_attributes),
                expires_at=begun.state.expires_at,
            )
        )
        await session.flush()
        return begun.redirect_url

    async def finish(
        self,
        session: AsyncSession,
        context: IdentityContext,
        *,
        provider_id: str,
        for_staff: bool,
        callback: Mapping[str, str],
    ) -> str:
        """The URL to send the browser to: `return_to` with a one-time code, or with an error."""
        provider = context.registry.get(provider_id, for_staff=for_staff)
        attempt = await self._consume_attempt(session, provider_id, callback.get("state"))
        state = LoginState(
            state=attempt.state,
            nonce=attempt.nonce,
            code_verifier=attempt.code_verifier,
            expires_at=attempt.expires_at,
            redirect_uri=attempt.redirect_uri,
            requirements=LoginRequirements(
                LevelOfAssurance(attempt.required_level),
                frozenset(Attribute(a) for a in attempt.attributes),
                frozenset(Attribute(a) for a in attempt.required_attributes),
            ),
        )
        try:
            identity = await provider.complete(callback, state)
            _recheck(
                identity,
                state.requirements,
                provider.description.issuers,
                provider.description.max_level,
            )
            if for_staff:
                principal_id, level = await self._staff_signed_in(session, provider_id, identity)
                principal_type = PrincipalType.staff
            else:
                principal_id = await self._citizen_signed_in(
                    session, provider_id, identity, state.requirements
                )
                level, principal_type = identity.level, PrincipalType.citizen
        except IdentityFailure as failure:
            return _failure_redirect(provider_id, attempt.return_to, failure, attempt.client_state)
        code = await _new_session_with_code(
            session, context, principal_type, principal_id, level, attempt.code_challenge
        )
        await record(
            session,
            action="auth.signed_in",
            object_type=principal_type.value,
            object_id=principal_id,
            actor=Actor(ActorType(principal_type.value), str(principal_id)),
            summary={"provider": provider_id, "level": level.name if level else None},
        )
        return _with_query(attempt.return_to, {"code": code, "state": attempt.client_state})

    async def _consume_attempt(
        self, session: AsyncSession, provider_id: str, state: str | None
    ) -> LoginAttempt:
        if not state or len(state) > 100:
            raise InvalidLoginState()
        consumed = await session.execute(
            update(LoginAttempt)
            .where(
                LoginAttempt.state == state,
                LoginAttempt.provider == provider_id,
                LoginAttempt.consumed_at.is_(None),
                LoginAttempt.expires_at > utcnow(),
            )
            .values(consumed_at=utcnow())
            .returning(LoginAttempt.id)
        )
        attempt_id = consumed.scalar_one_or_none()
        if attempt_id is None:
            raise InvalidLoginState()
        attempt = await session.get(LoginAttempt, attempt_id)
        assert attempt is not None
        return attempt

    async def _citizen_signed_in(
        self,
        session: AsyncSession,
        provider_id: str,
        identity: VerifiedIdentity,
        requirements: LoginRequirements,
    ) -> uuid.UUID:
        account: CitizenAccount = await self._locked_account(
            session, CitizenAccount, provider_id, identity
        )
        account.level = int(identity.level)
        account.last_login_at = utcnow()
        for name, value in identity.attributes.items():
            if name not in requirements.attributes:
                continue
            await _store_attribute(
                session, account.id, name, value.value, value.level, value.verified
            )
        await session.flush()
        return account.id

    async def _staff_signed_in(
        self, session: AsyncSession, provider_id: str, identity: VerifiedIdentity
    ) -> tuple[uuid.UUID, LevelOfAssurance]:
        grants = await grants_from_groups(session, identity.groups)
        if not grants:
            raise IdentityFailure(FailureKind.missing_attribute, "no rathaus role in groups")
        user: StaffUser = await self._locked_account(session, StaffUser, provider_id, identity)
        if not user.active:
            raise IdentityFailure(FailureKind.not_permitted, "staff account disabled")
        user.display_name = _display_name(identity.display_name or user.display_name)
        email = identity.attributes.get(Attribute.email)
        user.email = str(email.value) if email else user.email
        user.last_login_at = utcnow()
        await session.execute(delete(StaffRoleGrant).where(StaffRoleGrant.staff_user_id == user.id))
        for grant in grants:
            session.add(
                StaffRoleGrant(
                    staff_user_id=user.id,
                    role=grant.role.value,
                    scope_type=grant.scope_type.value,
                    scope_id=grant.scope_id,
                )
            )
        await session.flush()
        return user.id, identity.level

    async def _locked_account(
        self,
        session: AsyncSession,
        model: type[CitizenAccount] | type[StaffUser],
        provider_id: str,
        identity: VerifiedIdentity,
    ) -> Any:
        """The account, locked until commit: two sign-ins of one person then run one after the
        other instead of both inserting the same new attribute or role grant."""
        account = await _upsert_account(session, model, provider_id, identity)
        await session.refresh(account, with_for_update=True)
        return account


def _recheck(
    identity: VerifiedIdentity,
    requirements: LoginRequirements,
    issuers: frozenset[str],
    max_level: LevelOfAssurance,
) -> None:
    """Re-check what the adapter returned, so a faulty adapter cannot lower assurance."""
    if identity.issuer not in issuers:
        raise IdentityFailure(FailureKind.invalid_response, "issuer not allowed")
    if not identity.subject or len(identity.subject) > MAX_SUBJECT_LENGTH:
        raise IdentityFailure(FailureKind.invalid_response, "no subject, or an overlong one")
    if identity.level < requirements.level or identity.level > max_level:
        raise IdentityFailure(FailureKind.insufficient_level, "level below requirement")
    missing = requirements.required_attributes - set(identity.attributes)
    if missing:
        raise IdentityFailure(FailureKind.missing_attribute, "required attribute missing")


def _display_name(name: str | None) -> str:
    """What the provider calls the person, cut to what the column holds."""
    return (name or "Mitarbeiter:in")[:MAX_DISPLAY_NAME_LENGTH]


async def _upsert_account(
    session: AsyncSession,
    model: type[CitizenAccount] | type[StaffUser],
    provider_id: str,
    identity: VerifiedIdentity,
) -> Any:
    """Find the account by its pseudonym, or create it; safe when two logins race."""
    where = (
        model.provider == provider_id,
        model.issuer == identity.issuer,
        model.subject == identity.subject,
    )
    existing = await session.scalar(select(model).where(*where))
    if existing is not None:
        return existing
    values: dict[str, Any] = {
        "provider": provider_id,
        "issuer": identity.issuer,
        "subject": identity.subject,
    }
    if model is CitizenAccount:
        values["level"] = int(identity.level)
    else:
        values["display_name"] = _display_name(identity.display_name)
    try:
        async with session.begin_nested():
            account = model(**values)
            session.add(account)
        return account
    except IntegrityError:
        return await session.scalar(select(model).where(*where))


async def _store_attribute(
    session: AsyncSession,
    account_id: uuid.UUID,
    name: Attribute,
    value: Any,
    level: LevelOfAssurance,
    verified: bool,
) -> None:
    existing = await session.scalar(
        select(CitizenAttribute).where(
            CitizenAttribute.account_id == account_id, CitizenAttribute.name == name.value
        )
    )
    if existing is None:
        session.add(
            CitizenAttribute(
                account_id=account_id,
                name=name.value,
                value=value,
                level=int(level),
                verified=verified,
            )
        )
        return
    existing.value = value
    existing.level = int(level)
    existing.verified = verified
    existing.updated_at = utcnow()


# The one kind of scope each role is granted for; a group naming another grants nothing.
_SCOPE_OF_ROLE = {
    Role.admin: ScopeType.global_,
    Role.clerk: ScopeType.department,
    Role.supervisor: ScopeType.department,
    Role.branch_staff: ScopeType.branch,
}


async def grants_from_groups(session: AsyncSession, groups: Sequence[str]) -> list[RoleGrant]:
    """Map Keycloak groups like `/rathaus/clerk/department/51` to role grants.

    Unknown roles, departments and branches are ignored: they grant nothing. So is a role with
    the wrong kind of scope: `/rathaus/admin/department/51` does not make a global admin.
    """
    grants: set[RoleGrant] = set()
    for group in groups:
        match = _GROUP.fullmatch(group)
        if match is None or match["role"] not in Role.__members__:
            continue
        role = Role(match["role"])
        scope_type = ScopeType(match["scope"] or ScopeType.global_.value)
        if scope_type is not _SCOPE_OF_ROLE[role]:
            continue
        if scope_type is ScopeType.global_:
            grants.add(RoleGrant(role, scope_type))
            continue
        if scope_type is ScopeType.department:
            scope_id = await department_service.id_for_code(session, match["code"])
        else:
            scope_id = await branch_id_for_code(session, match["code"])
        if scope_id is not None:
            grants.add(RoleGrant(role, scope_type, scope_id))
    return sorted(grants, key=lambda g: (g.role.value, g.scope_type.value, str(g.scope_id)))


async def _new_session_with_code(
    session: AsyncSession,
    context: IdentityContext,
    principal_type: PrincipalType,
    principal_id: uuid.UUID,
    level: LevelOfAssurance | None,
    code_challenge: str,
) -> str:
    auth_session = AuthSession(
        id=uuid.uuid4(),
        principal_type=principal_type.value,
        principal_id=principal_id,
        level=int(level) if level else None,
        expires_at=utcnow() + timedelta(seconds=context.settings.refresh_token_ttl_seconds),
    )
    session.add(auth_session)
    code = secrets.token_urlsafe(32)
    session.add(
        AuthorizationCode(
            code_hash=_hash(code),
            session_id=auth_session.id,
            code_challenge=code_challenge,
            expires_at=utcnow() + AUTHORIZATION_CODE_TTL,
        )
    )
    await session.flush()
    return code


class TokenService:
    async def exchange_code(
        self,
        session: AsyncSession,
        context: IdentityContext,
        code: str | None,
        verifier: str | None,
    ) -> TokenPair:
        if not code or not verifier or len(code) > 200 or len(verifier) > 200:
            raise InvalidGrant()
        consumed = await session.execute(
            update(AuthorizationCode)
            .where(
                AuthorizationCode.code_hash == _hash(code),
                AuthorizationCode.consumed_at.is_(None),
                AuthorizationCode.expires_at > utcnow(),
            )
            .values(consumed_at=utcnow())
            .returning(AuthorizationCode.session_id, AuthorizationCode.code_challenge)
        )
        row = consumed.one_or_none()
        if row is None:
            await session.rollback()
            await self._revoke_session_of_replayed_code(context, code)
            raise InvalidGrant()
        session_id, challenge = row
        if not hmac.compare_digest(pkce_challenge(verifier), challenge):
            raise InvalidGrant(
                Text(de="Der PKCE-Verifier passt nicht.", en="The PKCE verifier does not match.")
            )
        auth_session = await _active_session(session, session_id)
        if auth_session is None:
            raise InvalidGrant()
        return await self._issue(session, context, auth_session)

    async def _revoke_session_of_replayed_code(self, context: IdentityContext, code: str) -> None:
        """A code used twice may be stolen: end the session it started (RFC 6749 §4.1.2)."""
        async with context.database.transaction() as session:
            session_id = await session.scalar(
                select(AuthorizationCode.session_id).where(
                    AuthorizationCode.code_hash == _hash(code),
                    AuthorizationCode.consumed_at.is_not(None),
                )
            )
            if session_id is not None:
                await _revoke(session, session_id, "code_replayed")

    async def refresh(
        self, session: AsyncSession, context: IdentityContext, token: str | None
    ) -> TokenPair:
        if not token or len(token) > 200:
            raise InvalidGrant()
        rotated = await session.execute(
            update(RefreshToken)
            .where(
                RefreshToken.token_hash == _hash(token),
                RefreshToken.rotated_at.is_(None),
                RefreshToken.expires_at > utcnow(),
            )
            .values(rotated_at=utcnow())
            .returning(RefreshToken.session_id)
        )
        session_id = rotated.scalar_one_or_none()
        if session_id is None:
            await session.rollback()
            await self._revoke_family_of_reused_token(context, token)
            raise InvalidGrant()
        auth_session = await _active_session(session, session_id)
        if auth_session is None:
            raise InvalidGrant()
        return await self._issue(session, context, auth_session)

    async def _revoke_family_of_reused_token(self, context: IdentityContext, token: str) -> None:
        """A rotated refresh token used again means theft: revoke its whole family.

        Own transaction: the refusal rolls the request back, the revocation must stay.
        """
        async with context.database.transaction() as session:
            session_id = await session.scalar(
                select(RefreshToken.session_id).where(
                    RefreshToken.token_hash == _hash(token), RefreshToken.rotated_at.is_not(None)
                )
            )
            if session_id is not None:
                await _revoke(session, session_id, "refresh_token_reused")
                logger.warning("auth.refresh_token_reused", session_id=str(session_id))

    async def _issue(
        self, session: AsyncSession, context: IdentityContext, auth_session: AuthSession
    ) -> TokenPair:
        level = LevelOfAssurance(auth_session.level) if auth_session.level else None
        claims: dict[str, Any] = {
            "typ": auth_session.principal_type,
            "sub": str(auth_session.principal_id),
            "sid": str(auth_session.id),
        }
        if level is not None:
            claims["acr"] = level.eidas_uri
        access, expires_in = _access_token(context, claims)
        refresh = secrets.token_urlsafe(32)
        session.add(
            RefreshToken(
                token_hash=_hash(refresh),
                session_id=auth_session.id,
                expires_at=auth_session.expires_at,
            )
        )
        await session.flush()
        return TokenPair(access, expires_in, refresh, level)

    async def client_credentials(
        self,
        session: AsyncSession,
        context: IdentityContext,
        client_id: str | None,
        client_secret: str | None,
        scope: str | None,
    ) -> TokenPair:
        client = await authenticate_client(session, client_id, client_secret)
        granted = set(client.scopes)
        requested = set((scope or "").split()) or granted
        if not requested <= granted:
            raise InvalidScope()
        access, expires_in = _access_token(
            context,
            {
                "typ": PrincipalType.client.value,
                "sub": str(client.id),
                "client_id": client.client_id,
                "scope": " ".join(sorted(requested)),
            },
        )
        await record(
            session,
            action="auth.client_token_issued",
            object_type="api_client",
            object_id=client.id,
            actor=Actor(ActorType.client, client.client_id),
            summary={"scope": " ".join(sorted(requested))},
        )
        return TokenPair(access, expires_in, None, None, " ".join(sorted(requested)))

    async def logout(self, session: AsyncSession, principal: Principal) -> None:
        if principal.session_id is not None:
            await _revoke(session, principal.session_id, "logout")
            await record(
                session,
                action="auth.signed_out",
                object_type=principal.type.value,
                object_id=principal.id,
            )

    async def authenticate(
        self, session: AsyncSession, context: IdentityContext, token: str
    ) -> Principal:
        """The principal behind a bearer token; its session or client must still be active."""
        try:
            claims = verify(
                token,
                [context.signing_key.verification_key()],
                issuer=context.issuer,
                audience=ACCESS_TOKEN_AUDIENCE,
                leeway_seconds=context.settings.jwt_leeway_seconds,
            )
            principal_type = PrincipalType(str(claims.get("typ")))
            principal_id = uuid.UUID(str(claims.get("sub")))
        except (InvalidToken, ValueError) as exc:
            raise InvalidAccessToken() from exc
        if principal_type is PrincipalType.client:
            return await _client_principal(session, principal_id, claims)
        try:
            session_id = uuid.UUID(str(claims.get("sid")))
        except ValueError as exc:
            raise InvalidAccessToken() from exc
        auth_session = await _active_session(session, session_id)
        if (
            auth_session is None
            or auth_session.principal_id != principal_id
            or auth_session.principal_type != principal_type.value
        ):
            raise InvalidAccessToken()
        level = LevelOfAssurance(auth_session.level) if auth_session.level else None
        grants: tuple[RoleGrant, ...] = ()
        if principal_type is PrincipalType.staff:
            grants = await _grants_of(session, principal_id)
        return Principal(
            principal_type, principal_id, session_id=session_id, level=level, grants=grants
        )


def _access_token(context: IdentityContext, claims: Mapping[str, Any]) -> tuple[str, int]:
    now = int(utcnow().timestamp())
    ttl = context.settings.access_token_ttl_seconds
    token = context.signing_key.sign(
        {
            **claims,
            "iss": context.issuer,
            "aud": ACCESS_TOKEN_AUDIENCE,
            "iat": now,
            "nbf": now,
            "exp": now + ttl,
            "jti": new_jti(),
        }
    )
    return token, ttl


async def _active_session(session: AsyncSession, session_id: uuid.UUID) -> AuthSession | None:
    found: AuthSession | None = await session.scalar(
        select(AuthSession).where(
            AuthSession.id == session_id,
            AuthSession.revoked_at.is_(None),
            AuthSession.expires_at > utcnow(),
        )
    )
    return found


async def _revoke(session: AsyncSession, session_id: uuid.UUID, reason: str) -> None:
    await session.execute(
        update(AuthSession)
        .where(AuthSession.id == session_id, AuthSession.revoked_at.is_(None))
        .values(revoked_at=utcnow(), revoked_reason=reason)
    )


async def _grants_of(session: AsyncSession, staff_user_id: uuid.UUID) -> tuple[RoleGrant, ...]:
    active = await session.scalar(select(StaffUser.active).where(StaffUser.id == staff_user_id))
    if not active:
        raise InvalidAccessToken()
    rows = await session.scalars(
        select(StaffRoleGrant).where(StaffRoleGrant.staff_user_id == staff_user_id)
    )
    return tuple(RoleGrant(Role(g.role), ScopeType(g.scope_type), g.scope_id) for g in rows)


async def _client_principal(
    session: AsyncSession, client_uuid: uuid.UUID, claims: Mapping[str, Any]
) -> Principal:
    client = await session.get(ApiClient, client_uuid)
    if client is None or not client.active:
        raise InvalidAccessToken()
    token_scopes = set(str(claims.get("scope", "")).split())
    return Principal(
        PrincipalType.client,
        client.id,
        scopes=frozenset(token_scopes & set(client.scopes)),
        client_id=client.client_id,
    )


def hash_client_secret(secret: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(secret.encode(), salt=salt, n=2**14, r=8, p=1, dklen=32)
    return f"scrypt${salt.hex()}${digest.hex()}"


_DUMMY_SECRET_HASH = "scrypt$" + "00" * 16 + "$" + "00" * 32


def client_secret_matches(secret: str, stored: str) -> bool:
    try:
        scheme, salt_hex, digest_hex = stored.split("$")
    except ValueError:
        return False
    if scheme != "scrypt":
        return False
    digest = hashlib.scrypt(
        secret.encode(), salt=bytes.fromhex(salt_hex), n=2**14, r=8, p=1, dklen=32
    )
    return hmac.compare_digest(digest.hex(), digest_hex)


async def authenticate_client(
    session: AsyncSession, client_id: str | None, client_secret: str | None
) -> ApiClient:
    if not client_id or not client_secret or len(client_id) > 64 or len(client_secret) > 200:
        raise InvalidClient()
    client = await session.scalar(select(ApiClient).where(ApiClient.client_id == client_id))
    if client is None:
        # Same work as for a known client, so timing does not reveal which ids exist.
        client_secret_matches(client_secret, _DUMMY_SECRET_HASH)
        raise InvalidClient()
    if (
        client is None
        or not client.active
        or not client_secret_matches(client_secret, client.secret_hash)
    ):
        raise InvalidClient()
    return client


login_service = LoginService()
token_service = TokenService()


class AccountService:
    """The citizen's view of their own account: Akteneinsicht and GDPR rights."""

    async def account(self, session: AsyncSession, principal: Principal) -> CitizenAccount:
        account = await session.get(CitizenAccount, principal.id)
        if account is None:
            raise InvalidAccessToken()
        return account

    async def attributes(
        self, session: AsyncSession, account_id: uuid.UUID
    ) -> list[CitizenAttribute]:
        rows = await session.scalars(
            select(CitizenAttribute)
            .where(CitizenAttribute.account_id == account_id)
            .order_by(CitizenAttribute.name)
        )
        return list(rows)

    async def sessions(self, session: AsyncSession, principal: Principal) -> list[AuthSession]:
        rows = await session.scalars(
            select(AuthSession)
            .where(
                AuthSession.principal_type == PrincipalType.citizen.value,
                AuthSession.principal_id == principal.id,
            )
            .order_by(AuthSession.created_at.desc())
        )
        return list(rows)

    async def end_session(
        self, session: AsyncSession, principal: Principal, session_id: uuid.UUID
    ) -> None:
        """Sign out one device. Another citizen's session id is simply not found."""
        ended = await session.execute(
            update(AuthSession)
            .where(
                AuthSession.id == session_id,
                AuthSession.principal_type == PrincipalType.citizen.value,
                AuthSession.principal_id == principal.id,
            )
            .values(
                revoked_at=func.coalesce(AuthSession.revoked_at, utcnow()),
                revoked_reason=func.coalesce(AuthSession.revoked_reason, "signed_out_elsewhere"),
            )
        )
        if _rowcount(ended) != 1:
            raise SessionNotFound()
        await record(
            session, action="auth.session_ended", object_type="auth_session", object_id=session_id
        )

    async def delete(self, session: AsyncSession, principal: Principal) -> None:
        """Erase the account and its attributes; sessions end at once."""
        await session.execute(
            update(AuthSession)
            .where(
                AuthSession.principal_type == PrincipalType.citizen.value,
                AuthSession.principal_id == principal.id,
                AuthSession.revoked_at.is_(None),
            )
            .values(revoked_at=utcnow(), revoked_reason="account_deleted")
        )
        await session.execute(
            delete(CitizenAttribute).where(CitizenAttribute.account_id == principal.id)
        )
        await session.execute(delete(CitizenAccount).where(CitizenAccount.id == principal.id))
        await record(
            session, action="citizen.account_deleted", object_type="citizen", object_id=principal.id
        )


class ClientService:
    """Integrators' machine clients, managed by administrators."""

    async def create(
        self, session: AsyncSession, name: str, scopes: Sequence[str]
    ) -> tuple[ApiClient, str]:
        unknown = set(scopes) - CLIENT_SCOPES
        if unknown:
            raise InvalidScope()
        secret = secrets.token_urlsafe(32)
        client = ApiClient(
            client_id="cl_" + secrets.token_hex(12),
            name=name,
            secret_hash=hash_client_secret(secret),
            scopes=sorted(set(scopes)),
        )
        session.add(client)
        await session.flush()
        await record(
            session,
            action="client.created",
            object_type="api_client",
            object_id=client.id,
            summary={"name": name, "scopes": " ".join(client.scopes)},
        )
        return client, secret

    async def list(self, session: AsyncSession) -> list[ApiClient]:
        return list(await session.scalars(select(ApiClient).order_by(ApiClient.created_at)))

    async def get(self, session: AsyncSession, client_uuid: uuid.UUID) -> ApiClient:
        client = await session.get(ApiClient, client_uuid)
        if client is None:
            raise ClientNotFound()
        return client

    async def revoke(self, session: AsyncSession, client_uuid: uuid.UUID) -> ApiClient:
        """Idempotent: revoking a revoked client keeps (and audits) only the first revocation."""
        client = await self.get(session, client_uuid)
        revoked = await session.execute(
            update(ApiClient)
            .where(ApiClient.id == client_uuid, ApiClient.active.is_(True))
            .values(active=False, revoked_at=utcnow(), version=ApiClient.version + 1)
        )
        await session.refresh(client)
        if _rowcount(revoked) == 1:
            await record(
                session, action="client.revoked", object_type="api_client", object_id=client.id
            )
        return client

    async def rotate_secret(
        self, session: AsyncSession, client_uuid: uuid.UUID
    ) -> tuple[ApiClient, str]:
        """A new secret for an active client; guarded, so a revocation in between wins."""
        client = await self.get(session, client_uuid)
        secret = secrets.token_urlsafe(32)
        rotated = await session.execute(
            update(ApiClient)
            .where(ApiClient.id == client_uuid, ApiClient.active.is_(True))
            .values(secret_hash=hash_client_secret(secret), version=ApiClient.version + 1)
        )
        if _rowcount(rotated) != 1:
            raise ClientNotFound()
        await session.refresh(client)
        await record(
            session, action="client.secret_rotated", object_type="api_client", object_id=client.id
        )
        return client, secret


account_service = AccountService()
client_service = ClientService()
