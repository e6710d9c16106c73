"""The OAuth 2.0 token endpoint, sign-out, and the public keys of our access tokens."""

from __future__ import annotations

import base64
import binascii
from typing import Annotated
from urllib.parse import unquote_plus

from fastapi import Depends, Form, Request, Response
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.auth import CurrentPrincipal
from app.core.errors import TooManyRequests
from app.core.principal import AssuranceLevel
from app.core.ratelimit import client_address, hit
from app.core.routing import api_router, problem_responses
from app.core.uow import WriteSession
from app.identity.clients import MAX_CLIENT_ID_LENGTH
from app.identity.context import IdentityContext, identity_context
from app.identity.errors import (
    InvalidClient,
    InvalidGrant,
    InvalidScope,
    ReturnToNotAllowed,
    UnsupportedGrantType,
)
from app.identity.schemas import (
    GrantType,
    JwksRead,
    LogoutRequest,
    LogoutResponse,
    TokenRequest,
    TokenResponse,
)
from app.identity.sign_in import login_service
from app.identity.tokens import TokenPair, token_service

router = api_router("identity")
pages = api_router("identity", prefix="")

Context = Annotated[IdentityContext, Depends(identity_context)]


@router.post(
    "/auth/token",
    response_model=TokenResponse,
    summary="Exchange a code, refresh a session, or authenticate a client",
    description="OAuth 2.0 token endpoint (form-encoded). `authorization_code` needs `code` and "
    "`code_verifier`; `refresh_token` needs `refresh_token` (single use: the response has a "
    "new one, and reusing an old one ends the session); `client_credentials` needs the "
    "client's id and secret (HTTP Basic or form) and an optional `scope`. Attempts are "
    "rate-limited per address, and client credentials also per client id (429 with "
    "Retry-After).",
    responses=problem_responses(
        InvalidGrant, InvalidClient, UnsupportedGrantType, InvalidScope, TooManyRequests
    ),
)
async def token(
    request: Request,
    session: WriteSession,
    context: Context,
    response: Response,
    form: Annotated[TokenRequest, Form()],
) -> TokenResponse:
    limit = context.settings.token_rate_limit_per_minute
    await hit(context.database, f"token:{client_address(request)}", limit=limit)
    credentials = _client_credentials(request, form)
    if credentials is not None and credentials[0] and len(credentials[0]) <= MAX_CLIENT_ID_LENGTH:
        # Guessing one client's secret from many addresses is limited too.
        await hit(context.database, f"token-client:{credentials[0]}", limit=limit)
    response.headers["Cache-Control"] = "no-store"
    pair = await _grant(session, context, form, credentials)
    return TokenResponse(
        access_token=pair.access_token,
        expires_in=pair.expires_in,
        refresh_token=pair.refresh_token,
        level=AssuranceLevel.of(pair.level) if pair.level else None,
        scope=pair.scope,
    )


async def _grant(
    session: AsyncSession,
    context: IdentityContext,
    form: TokenRequest,
    credentials: tuple[str | None, str | None] | None,
) -> TokenPair:
    if form.grant_type == GrantType.authorization_code:
        return await token_service.exchange_code(session, context, form.code, form.code_verifier)
    if form.grant_type == GrantType.refresh_token:
        return await token_service.refresh(session, context, form.refresh_token)
    if credentials is not None:
        client_id, client_secret = credentials
        return await token_service.client_credentials(
            session, context, client_id, client_secret, form.scope
        )
    raise UnsupportedGrantType()


def _client_credentials(
    request: Request, form: TokenRequest
) -> tuple[str | None, str | None] | None:
    """The client's id and secret for a client-credentials grant (HTTP Basic or form)."""
    if form.grant_type != GrantType.client_credentials:
        return None
    basic_id, basic_secret = _basic_credentials(request)
    return basic_id or form.client_id, basic_secret or form.client_secret


def _basic_credentials(request: Request) -> tuple[str | None, str | None]:
    header = request.headers.get("authorization", "")
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic" or not encoded:
        return None, None
    try:
        decoded = base64.b64decode(encoded, validate=True).decode()
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise InvalidClient() from exc
    client_id, separator, secret = decoded.partition(":")
    if not separator:
        raise InvalidClient()
    # RFC 6749 §2.3.1: both parts are form-urlencoded before Basic encoding.
    return unquote_plus(client_id), unquote_plus(secret)


NO_LOGOUT_OPTIONS = LogoutRequest()
"""The body of a logout sent without one."""


@router.post(
    "/auth/logout",
    response_model=LogoutResponse,
    responses=problem_responses(ReturnToNotAllowed),
    summary="Sign out here and at the identity provider",
    description="Ends the session the access token belongs to: its refresh tokens stop "
    "working at once and the access token is refused from now on. Other sessions of the same "
    "person stay signed in. The identity provider (BundID, the city's Keycloak) keeps a login "
    "session of its own: send the browser to `logout_url` to end that too (OpenID Connect "
    "RP-initiated logout with `id_token_hint`); the provider then redirects to `return_to` "
    "with your `state`. The body is optional. Works the same for citizens and staff.",
)
async def logout(
    principal: CurrentPrincipal,
    session: WriteSession,
    context: Context,
    body: LogoutRequest = NO_LOGOUT_OPTIONS,
) -> LogoutResponse:
    url = await login_service.logout(
        session, context, principal, return_to=body.return_to, state=body.state
    )
    return LogoutResponse(logout_url=url)


@pages.get(
    "/.well-known/jwks.json",
    response_model=JwksRead,
    summary="Public keys that sign our access tokens",
    description="A JSON Web Key Set (RFC 7517) for checking our access tokens' signatures "
    "offline. Keys are chosen by `kid`; each key is for one algorithm only.",
)
async def jwks(context: Context) -> JwksRead:
    return JwksRead.model_validate({"keys": [context.signing_key.jwks_entry()]})
