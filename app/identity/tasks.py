"""Retention of sign-in data: nothing about a login outlives its purpose."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import delete, or_, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.db import utcnow
from app.core.jobs.registry import JobContext, JobRegistry
from app.core.ratelimit import purge_old_windows
from app.identity.models import AuthorizationCode, AuthSession, LoginAttempt, RefreshToken

ENDED_SESSION_RETENTION = timedelta(days=30)
PURGE_JOB = "identity.purge_expired"


async def purge_expired_sign_in_data(session: AsyncSession) -> None:
    """Delete finished logins, used or stale codes and tokens, and long-ended sessions.

    Ended sessions are kept 30 days so that a citizen can see recent sign-ins in their export.
    """
    now = utcnow()
    await session.execute(delete(LoginAttempt).where(LoginAttempt.expires_at < now))
    await session.execute(delete(AuthorizationCode).where(AuthorizationCode.expires_at < now))
    await session.execute(delete(RefreshToken).where(RefreshToken.expires_at < now))
    # An ended session keeps no ID token: it was only kept to log out at the provider.
    await session.execute(
        update(AuthSession)
        .where(AuthSession.expires_at < now, AuthSession.provider_logout_hint.is_not(None))
        .values(provider_logout_hint=None)
    )
    cutoff = now - ENDED_SESSION_RETENTION
    await session.execute(
        delete(AuthSession).where(
            or_(AuthSession.expires_at < cutoff, AuthSession.revoked_at < cutoff)
        )
    )
    await purge_old_windows(session)


def identity_registry() -> JobRegistry:
    registry = JobRegistry()

    @registry.job(PURGE_JOB)
    async def purge(session: AsyncSession, payload: dict[str, Any], context: JobContext) -> None:
        await purge_expired_sign_in_data(session)

    registry.every(timedelta(minutes=15), PURGE_JOB)
    return registry
