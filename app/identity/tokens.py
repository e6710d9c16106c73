"""Sessions and tokens: the one-time code after sign-in, access tokens, rotating refresh
tokens, client credentials, sign-out, and turning a bearer token back into a principal.

Every one-time value (authorization code, refresh token) is consumed by a guarded
`UPDATE … WHERE consumed_at IS NULL` so that two requests racing with the same value cannot
both succeed. A value presented a second time is taken as stolen: the session it belongs to
ends, and that revocation is committed with the refusal.
"""

from __future__ import annotations

import hmac
import secrets
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, NoReturn

import structlog
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.audit import record
from app.core.auth import InvalidAccessToken
from app.core.db import utcnow
from app.core.i18n import Text
from app.core.principal import ClientScope, LevelOfAssurance, Principal, PrincipalType, RoleGrant
from app.core.sealing import token_hash
from app.identity.adapters.oidc import pkce_challenge
from app.identity.clients import authenticate_client
from app.identity.context import IdentityContext
from app.identity.errors import InvalidGrant, InvalidScope
from app.identity.jwt import InvalidToken, new_jti, verify
from app.identity.models import ApiClient, AuthorizationCode, AuthSession, RefreshToken
from app.identity.sessions import active_session, revoke_session
from app.identity.staff import grants_of

logger = structlog.get_logger("rathaus.identity")

ACCESS_TOKEN_AUDIENCE = "rathaus-api"  # noqa: S105 - an audience, not a secret
AUTHORIZATION_CODE_TTL = timedelta(seconds=60)


@dataclass(frozen=True)
class TokenPair:
    access_token: str
    expires_in: int
    refresh_token: str | None
    level: LevelOfAssurance | None
    scope: str | None = None


async def new_session_with_code(
    session: AsyncSession,
    context: IdentityContext,
    principal_type: PrincipalType,
    principal_id: uuid.UUID,
    level: LevelOfAssurance | None,
    code_challenge: str,
    *,
    provider: str,
    id_token: str | None,
) -> str:
    """Start a signed-in session; the returned one-time code lets the frontend collect it.
    The provider's ID token is kept sealed, for logging out there too."""
    auth_session = AuthSession(
        id=uuid.uuid4(),
        principal_type=principal_type.value,
        principal_id=principal_id,
        level=int(level) if level else None,
        expires_at=utcnow() + _session_lifetime(context, principal_type),
        provider=provider,
        provider_logout_hint=context.logout_hints.seal(id_token) if id_token else None,
    )
    session.add(auth_session)
    code = secrets.token_urlsafe(32)
    session.add(
        AuthorizationCode(
            code_hash=token_hash(code),
            session_id=auth_session.id,
            code_challenge=code_challenge,
            expires_at=utcnow() + AUTHORIZATION_CODE_TTL,
        )
    )
    await session.flush()
    return code


def _session_lifetime(context: IdentityContext, principal_type: PrincipalType) -> timedelta:
    """Staff sessions are short: roles come from the staff provider's groups at sign-in, so a
    role taken away there is gone here at the latest when the session ends."""
    if principal_type is PrincipalType.staff:
        return timedelta(seconds=context.settings.staff_session_ttl_seconds)
    return timedelta(seconds=context.settings.refresh_token_ttl_seconds)


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
                AuthorizationCode.code_hash == token_hash(code),
                AuthorizationCode.consumed_at.is_(None),
                AuthorizationCode.expires_at > utcnow(),
            )
            .values(consumed_at=utcnow())
            .returning(AuthorizationCode.session_id, AuthorizationCode.code_challenge)
        )
        row = consumed.one_or_none()
        if row is None:
            await self._revoke_session_of_replayed_code(session, code)
        session_id, challenge = row
        if not hmac.compare_digest(pkce_challenge(verifier), challenge):
            raise InvalidGrant(
                Text(de="Der PKCE-Verifier passt nicht.", en="The PKCE verifier does not match.")
            )
        auth_session = await active_session(session, session_id)
        if auth_session is None:
            raise InvalidGrant()
        return await self._issue(session, context, auth_session)

    async def _revoke_session_of_replayed_code(self, session: AsyncSession, code: str) -> NoReturn:
        """A code used twice may be stolen: end the session it started (RFC 6749 §4.1.2)."""
        session_id = await session.scalar(
            select(AuthorizationCode.session_id).where(
                AuthorizationCode.code_hash == token_hash(code),
                AuthorizationCode.consumed_at.is_not(None),
            )
        )
        if session_id is None:
            raise InvalidGrant()
        await revoke_session(session, session_id, "code_replayed")
        raise InvalidGrant(keeps_changes=True)

    async def refresh(
        self, session: AsyncSession, context: IdentityContext, token: str | None
    ) -> TokenPair:
        if not token or len(token) > 200:
            raise InvalidGrant()
        rotated = await session.execute(
            update(RefreshToken)
            .where(
                RefreshToken.token_hash == token_hash(token),
                RefreshToken.rotated_at.is_(None),
                RefreshToken.expires_at > utcnow(),
            )
            .values(rotated_at=utcnow())
            .returning(RefreshToken.session_id)
        )
        session_id = rotated.scalar_one_or_none()
        if session_id is None:
            await self._revoke_family_of_reused_token(session, token)
        auth_session = await active_session(session, session_id)
        if auth_session is None:
            raise InvalidGrant()
        return await self._issue(session, context, auth_session)

    async def _revoke_family_of_reused_token(self, session: AsyncSession, token: str) -> NoReturn:
        """A rotated refresh token used again means theft: revoke its whole family."""
        session_id = await session.scalar(
            select(RefreshToken.session_id).where(
                RefreshToken.token_hash == token_hash(token), RefreshToken.rotated_at.is_not(None)
            )
        )
        if session_id is None:
            raise InvalidGrant()
        await revoke_session(session, session_id, "refresh_token_reused")
        logger.warning("auth.refresh_token_reused", session_id=str(session_id))
        raise InvalidGrant(keeps_changes=True)

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
                token_hash=token_hash(refresh),
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
        client = await authenticate_client(context.database, client_id, client_secret)
        granted = set(client.scopes)
        requested = set((scope or "").split()) or granted
        if not requested <= granted:
            raise InvalidScope()
        scopes = " ".join(sorted(requested))
        access, expires_in = _access_token(
            context,
            {
                "typ": PrincipalType.client.value,
                "sub": str(client.id),
                "client_id": client.client_id,
                "scope": scopes,
            },
        )
        await record(
            session,
            action="auth.client_token_issued",
            object_type="api_client",
            object_id=client.id,
            actor=Principal(PrincipalType.client, client.id, client_id=client.client_id).actor,
            summary={"scope": scopes},
        )
        return TokenPair(access, expires_in, None, None, scopes)

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
        auth_session = await active_session(session, session_id)
        if (
            auth_session is None
            or auth_session.principal_id != principal_id
            or auth_session.principal_type != principal_type.value
        ):
            raise InvalidAccessToken()
        level = LevelOfAssurance(auth_session.level) if auth_session.level else None
        grants: tuple[RoleGrant, ...] = ()
        if principal_type is PrincipalType.staff:
            grants = await grants_of(session, principal_id)
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


async def _client_principal(
    session: AsyncSession, client_uuid: uuid.UUID, claims: Mapping[str, Any]
) -> Principal:
    client = await session.get(ApiClient, client_uuid)
    if client is None or not client.is_active:
        raise InvalidAccessToken()
    token_scopes = set(str(claims.get("scope", "")).split())
    return Principal(
        PrincipalType.client,
        client.id,
        scopes=frozenset(ClientScope(s) for s in token_scopes & set(client.scopes)),
        client_id=client.client_id,
        branch_id=client.branch_id,
    )


token_service = TokenService()
