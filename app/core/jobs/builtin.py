"""Jobs the platform itself needs: event fan-out and retention of its own tables."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.audit import AuditEntry
from app.core.db import utcnow
from app.core.idempotency import purge_expired_idempotency_keys
from app.core.jobs.models import Event, Job, JobStatus
from app.core.jobs.queue import DISPATCH_EVENT_JOB, enqueue
from app.core.jobs.registry import JobContext, JobRegistry

FINISHED_JOB_RETENTION = timedelta(days=30)


def core_registry() -> JobRegistry:
    registry = JobRegistry()

    @registry.job(DISPATCH_EVENT_JOB)
    async def dispatch_event(
        session: AsyncSession, payload: dict[str, Any], context: JobContext
    ) -> None:
        event = await session.get(Event, uuid.UUID(str(payload["event_id"])))
        if event is None:
            return
        for job_name in context.registry.subscribers.get(event.name, []):
            await enqueue(
                session,
                job_name,
                {**event.payload, "event_id": str(event.id), "event": event.name},
                dedupe_key=f"event:{event.id}:{job_name}",
            )

    @registry.job("core.purge_expired")
    async def purge_expired(
        session: AsyncSession, payload: dict[str, Any], context: JobContext
    ) -> None:
        now = utcnow()
        await purge_expired_idempotency_keys(session)
        await session.execute(
            delete(Job).where(
                Job.status == JobStatus.done.value, Job.finished_at < now - FINISHED_JOB_RETENTION
            )
        )
        audit_cutoff = now - timedelta(days=context.settings.audit_retention_days)
        await session.execute(delete(AuditEntry).where(AuditEntry.occurred_at < audit_cutoff))
        await session.execute(delete(Event).where(Event.occurred_at < audit_cutoff))

    registry.every(timedelta(hours=1), "core.purge_expired")
    return registry
