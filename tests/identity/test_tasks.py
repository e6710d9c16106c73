"""Sign-in data is deleted when its purpose has passed."""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.config import Settings
from app.core.db import Database, utcnow
from app.core.jobs.queue import enqueue
from app.core.jobs.worker import Worker
from app.identity.models import AuthorizationCode, AuthSession, LoginAttempt, RefreshToken
from app.identity.tasks import PURGE_JOB
from app.tasks import build_registry


def _login(state: str, expires_in: timedelta) -> LoginAttempt:
    return LoginAttempt(
        state=state,
        provider="mock-eid",
        nonce="n",
        code_verifier="v",
        redirect_uri="http://testserver/cb",
        return_to="http://localhost:3000/callback",
        code_challenge="c" * 43,
        required_level=2,
        expires_at=utcnow() + expires_in,
    )


async def _count(session: AsyncSession, model: type) -> int:
    return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def test_purge_job_deletes_expired_logins_codes_tokens_and_old_sessions(
    committed_db: Database, settings: Settings
) -> None:
    db = committed_db
    async with db.transaction() as session:
        session.add_all(
            [_login("stale", timedelta(minutes=-1)), _login("fresh", timedelta(minutes=5))]
        )
        live = AuthSession(
            id=uuid.uuid4(),
            principal_type="citizen",
            principal_id=uuid.uuid4(),
            level=2,
            expires_at=utcnow() + timedelta(hours=1),
        )
        ended = AuthSession(
            id=uuid.uuid4(),
            principal_type="citizen",
            principal_id=uuid.uuid4(),
            level=2,
            expires_at=utcnow() - timedelta(days=31),
        )
        session.add_all([live, ended])
        await session.flush()
        session.add_all(
            [
                AuthorizationCode(
                    code_hash="a" * 64,
                    session_id=live.id,
                    code_challenge="c",
                    expires_at=utcnow() - timedelta(seconds=1),
                ),
                RefreshToken(
                    token_hash="b" * 64,
                    session_id=live.id,
                    expires_at=utcnow() + timedelta(hours=1),
                ),
                RefreshToken(
                    token_hash="d" * 64,
                    session_id=live.id,
                    expires_at=utcnow() - timedelta(seconds=1),
                ),
            ]
        )
        await enqueue(session, PURGE_JOB)

    await Worker(db, settings, build_registry()).run_until_idle()

    async with db.session() as session:
        states = set((await session.scalars(select(LoginAttempt.state))).all())
        sessions = set((await session.scalars(select(AuthSession.id))).all())
        assert states == {"fresh"}
        assert sessions == {live.id}
        assert await _count(session, AuthorizationCode) == 0
        assert set((await session.scalars(select(RefreshToken.token_hash))).all()) == {"b" * 64}
