"""Jobs of the calendar: release new days, and give expired holds' slots back.

Neither is needed for correctness: availability and holds release missing days on demand,
and a claim reclaims the expired holds in its way. The jobs keep the work off the requests.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.appointments.service import calendar_service, hold_service
from app.core.db import utcnow
from app.core.jobs.registry import JobContext, JobRegistry

RELEASE_JOB = "appointments.release_days"
EXPIRE_JOB = "appointments.expire_holds"


def appointments_registry() -> JobRegistry:
    registry = JobRegistry()

    @registry.job(RELEASE_JOB)
    async def release(session: AsyncSession, payload: dict[str, Any], context: JobContext) -> None:
        await calendar_service.release_all(session, utcnow())

    @registry.job(EXPIRE_JOB)
    async def expire(session: AsyncSession, payload: dict[str, Any], context: JobContext) -> None:
        await hold_service.expire_due(session, utcnow())

    registry.every(timedelta(minutes=15), RELEASE_JOB)
    registry.every(timedelta(minutes=1), EXPIRE_JOB)
    return registry
