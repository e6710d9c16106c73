"""Access tokens for bench users, signed in through the app's own session and token code (a
session with a one-time code, redeemed with its PKCE verifier), as a browser's sign-in ends."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Sequence

from app.core.config import Settings
from app.core.db import Database, create_engine
from app.core.principal import LevelOfAssurance, PrincipalType
from app.identity.adapters.oidc import pkce_challenge
from app.identity.context import IdentityContext
from app.identity.jwt import load_signing_key
from app.identity.registry import build_registry
from app.identity.tokens import new_session_with_code, token_service


async def signed_in_tokens(
    settings: Settings,
    principal_type: PrincipalType,
    ids: Sequence[uuid.UUID],
    *,
    level: LevelOfAssurance | None,
    provider: str,
) -> list[str]:
    """One access token for each of `ids`, whose accounts exist already."""
    database = Database(create_engine(settings, pooled=False))
    context = IdentityContext(
        settings=settings,
        registry=build_registry(settings),
        signing_key=load_signing_key(settings),
        database=database,
    )
    tokens = []
    try:
        async with database.transaction() as session:
            for principal_id in ids:
                verifier = secrets.token_urlsafe(32)
                code = await new_session_with_code(
                    session,
                    context,
                    principal_type,
                    principal_id,
                    level,
                    pkce_challenge(verifier),
                    provider=provider,
                    id_token=None,
                )
                pair = await token_service.exchange_code(session, context, code, verifier)
                tokens.append(pair.access_token)
    finally:
        await database.dispose()
    return tokens
