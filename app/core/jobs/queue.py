"""Enqueue jobs and emit events inside the caller's transaction (transactional outbox)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import structlog
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.db import utcnow
from app.core.jobs.models import Event, Job, JobStatus

DISPATCH_EVENT_JOB = "core.dispatch_event"


async def enqueue(
    session: AsyncSession,
    name: str,
    payload: dict[str, Any] | None = None,
    *,
    run_at: datetime | None = None,
    dedupe_key: str | None = None,
    max_attempts: int | None = None,
) -> uuid.UUID:
    """Add a job to the caller's transaction: it exists only if the change commits.

    With `dedupe_key`, a second enqueue of the same key is a no-op that returns the first id.
    """
    job = Job(
        id=uuid.uuid4(),
        name=name,
        payload=payload or {},
        status=JobStatus.queued.value,
        attempts=0,
        run_at=run_at or utcnow(),
        dedupe_key=dedupe_key,
        created_at=utcnow(),
    )
    if max_attempts is not None:
        job.max_attempts = max_attempts
    if dedupe_key is None:
        session.add(job)
        await session.flush()
        return job.id
    try:
        async with session.begin_nested():
            session.add(job)
        return job.id
    except IntegrityError:
        existing = await session.scalar(select(Job.id).where(Job.dedupe_key == dedupe_key))
        if existing is None:
            raise
        return existing


async def emit(
    session: AsyncSession,
    name: str,
    *,
    aggregate_type: str,
    aggregate_id: uuid.UUID | str,
    payload: dict[str, Any] | None = None,
) -> uuid.UUID:
    """Record a domain event with the change; subscribers get it through the job queue."""
    event = Event(
        id=uuid.uuid4(),
        name=name,
        aggregate_type=aggregate_type,
        aggregate_id=str(aggregate_id),
        payload=payload or {},
        request_id=structlog.contextvars.get_contextvars().get("request_id"),
        occurred_at=utcnow(),
    )
    session.add(event)
    await session.flush()
    await enqueue(session, DISPATCH_EVENT_JOB, {"event_id": str(event.id)})
    return event.id
