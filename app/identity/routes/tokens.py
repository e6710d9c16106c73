"""The OAuth 2.0 token endpoint, sign-out, and the public keys of our access tokens."""

from __future__ import annotations

import base64
import binascii
from enum import StrEnum
from typing import Annotated
from urllib.parse import unquote_plus

from fastapi import Depends, Form, Request, Response
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.auth import CurrentPrincipal
from app.core.errors import TooManyRequests
from app.core.ratelimit import hit
from app.core.routing import api_router, problem_responses
from app.core.uow import WriteSession
from app.identity.context import IdentityContext, identity_context
from app.identity.errors import InvalidClient, InvalidGrant, InvalidScope, UnsupportedGrantType
from app.identity.schemas import JwksRead, TokenResponse
from app.identity.tokens import TokenPair, token_service

router = api_router("identity")
pages = api_router("identity", prefix="")

Context = Annotated[IdentityContext, Depends(identity_context)]


class GrantType(StrEnum):
    authorization_code = "authorization_code"
    refresh_token = "refresh_token"  # noqa: S105 - a grant type, not a secret
    client_credentials = "client_credentials"


@router.post(
    "/auth/token",
    response_model=TokenResponse,
    summary="Exchange a code, refresh a session, or authenticate a client",
    description="OAuth 2.0 token endpoint (form-encoded). `authorization_code` needs `code` and "
    "`code_verifier`; `refresh_token` needs `refresh_token` (single use: the response has a "
    "new one, and reusing an old one ends the session); `client_credentials` needs the "
    "client's id and secret (HTTP Basic or form) and an optional `scope`. Attempts are "
    "rate-limited per address (429 with Retry-After).",
    responses=problem_responses(
        InvalidGrant, InvalidClient, UnsupportedGrantType, InvalidScope, TooManyRequests
    ),
)
async def token(
    request: Request,
    session: WriteSession,
    context: Context,
    response: Response,
    grant_type: Annotated[
        str,
        Form(
            max_length=50,
            description="Any other value gets 400 `unsupported_grant_type`.",
            json_schema_extra={"enum": [g.value for g in GrantType]},
        ),
    ],
    code: Annotated[str | None, Form(max_length=200)] = None,
    code_verifier: Annotated[str | None, Form(max_length=200)] = None,
    refresh_token: Annotated[str | None, Form(max_length=200)] = None,
    client_id: Annotated[str | None, Form(max_length=64)] = None,
    client_secret: Annotated[str | None, Form(max_length=200)] = None,
    scope: Annotated[
        str | None, Form(max_length=500, description="Space-separated client scopes.")
    ] = None,
) -> TokenResponse:
    address = request.client.host if request.client else "unknown"
    await hit(
        context.database, f"token:{address}", limit=context.settings.token_rate_limit_per_minute
    )
    response.headers["Cache-Control"] = "no-store"
    pair = await _grant(
        session,
        context,
        request,
        grant_type,
        code,
        code_verifier,
        refresh_token,
        client_id,
        client_secret,
        scope,
    )
    return TokenResponse(
        access_token=pair.access_token,
        expires_in=pair.expires_in,
        refresh_token=pair.refresh_token,
        level=pair.level.name if pair.level else None,
        scope=pair.scope,
    )


async def _grant(
    session: AsyncSession,
    context: IdentityContext,
    request: Request,
    grant_type: str,
    code: str | None,
    code_verifier: str | None,
    refresh_token: str | None,
    client_id: str | None,
    client_secret: str | None,
    scope: str | None,
) -> TokenPair:
    if grant_type == GrantType.authorization_code:
        return await token_service.exchange_code(session, context, code, code_verifier)
    if grant_type == GrantType.refresh_token:
        return await token_service.refresh(session, context, refresh_token)
    if grant_type == GrantType.client_credentials:
        basic_id, basic_secret = _basic_credentials(request)
        return await token_service.client_credentials(
            session, context, basic_id or client_id, basic_secret or client_secret, scope
        )
    raise UnsupportedGrantType()


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


@router.post(
    "/auth/logout",
    status_code=204,
    response_class=Response,
    summary="Sign out: end this session and all its refresh tokens",
)
async def logout(principal: CurrentPrincipal, session: WriteSession) -> Response:
    await token_service.logout(session, principal)
    return Response(status_code=204)


@pages.get(
    "/.well-known/jwks.json",
    response_model=JwksRead,
    summary="Public keys that sign our access tokens",
)
async def jwks(context: Context) -> JwksRead:
    return JwksRead.model_validate({"keys": [context.signing_key.jwks_entry()]})
