"""Signed-in sessions: finding a running one, and ending one or all of a person's.

A session is a row in `auth_sessions`; its refresh tokens and the one-time code that started
it hang off it. Ending it (`revoked_at`) ends them all.
"""

from __future__ import annotations

import uuid

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.db import rowcount, utcnow
from app.core.principal import PrincipalType
from app.identity.models import AuthSession


async def active_session(session: AsyncSession, session_id: uuid.UUID) -> AuthSession | None:
    found: AuthSession | None = await session.scalar(
        select(AuthSession).where(
            AuthSession.id == session_id,
            AuthSession.revoked_at.is_(None),
            AuthSession.expires_at > utcnow(),
        )
    )
    return found


async def provider_of(
    session: AsyncSession, session_id: uuid.UUID
) -> tuple[str | None, str | None]:
    """The provider a session came from, and its sealed logout hint (if still kept)."""
    row = (
        await session.execute(
            select(AuthSession.provider, AuthSession.provider_logout_hint).where(
                AuthSession.id == session_id
            )
        )
    ).one_or_none()
    return (row.provider, row.provider_logout_hint) if row else (None, None)


async def revoke_session(session: AsyncSession, session_id: uuid.UUID, reason: str) -> None:
    """End one session; the ID token kept for logging out at its provider goes with it."""
    await session.execute(
        update(AuthSession)
        .where(AuthSession.id == session_id, AuthSession.revoked_at.is_(None))
        .values(revoked_at=utcnow(), revoked_reason=reason, provider_logout_hint=None)
    )


async def revoke_sessions_of(
    session: AsyncSession, principal_type: PrincipalType, principal_id: uuid.UUID, reason: str
) -> int:
    """End every running session of one person at once; their tokens stop working."""
    ended = await session.execute(
        update(AuthSession)
        .where(
            AuthSession.principal_type == principal_type.value,
            AuthSession.principal_id == principal_id,
            AuthSession.revoked_at.is_(None),
        )
        .values(revoked_at=utcnow(), revoked_reason=reason, provider_logout_hint=None)
    )
    return rowcount(ended)
