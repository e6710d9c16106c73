"""On the embedded SQLite default the job worker runs inside `serve`."""

from __future__ import annotations

import asyncio

from sqlalchemy import select

from app.core.config import Settings
from app.core.db import Database
from app.core.jobs.models import Job, JobStatus
from app.core.jobs.queue import emit
from app.main import create_app


async def test_server_with_in_process_worker_runs_jobs_until_shutdown(
    settings: Settings, committed_db: Database
) -> None:
    app = create_app(settings.model_copy(update={"worker_in_process": True}), database=committed_db)
    async with committed_db.transaction() as session:
        await emit(session, "test.happened", aggregate_type="test", aggregate_id="t-1")

    async with app.router.lifespan_context(app):
        for _ in range(100):
            async with committed_db.session() as session:
                statuses = set((await session.scalars(select(Job.status))).all())
            if statuses == {JobStatus.done.value}:
                break
            await asyncio.sleep(0.05)

    assert statuses == {JobStatus.done.value}


def test_sqlite_default_runs_the_worker_in_process_and_postgresql_does_not() -> None:
    assert Settings(database_url="sqlite+aiosqlite:///x.db").runs_worker_in_process
    assert not Settings(database_url="postgresql+asyncpg://u@h/db").runs_worker_in_process
