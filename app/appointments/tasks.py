"""Jobs of the calendar: release new days, give expired holds' slots back, hand cancelled
bookings' slots to the waiting list (passing lapsed offers on), remind citizens, mark the
citizens who did not come as no-shows, and end what the cap, the waiting list and retention
no longer need.

Releasing days and expiring holds are not needed for correctness: availability and holds
release missing days on demand, and a claim reclaims the expired holds in its way. The jobs
keep that work off the requests.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.appointments.booking_service import booking_service
from app.appointments.branch_day import branch_day_service
from app.appointments.offers import offer_service
from app.appointments.service import calendar_service, hold_service
from app.appointments.waiting_list import waiting_list_service
from app.core.db import utcnow
from app.core.jobs.registry import JobContext, JobRegistry

RELEASE_JOB = "appointments.release_days"
EXPIRE_JOB = "appointments.expire_holds"
RETURN_CAPACITY_JOB = "appointments.return_capacity"
REMIND_JOB = "appointments.send_reminders"
SETTLE_QUOTAS_JOB = "appointments.settle_quotas"
ERASE_JOB = "appointments.erase_personal_data"
NO_SHOW_JOB = "appointments.mark_no_shows"


def appointments_registry() -> JobRegistry:
    registry = JobRegistry()

    @registry.job(RELEASE_JOB)
    async def release(session: AsyncSession, payload: dict[str, Any], context: JobContext) -> None:
        await calendar_service.release_all(session, utcnow())

    @registry.job(EXPIRE_JOB)
    async def expire(session: AsyncSession, payload: dict[str, Any], context: JobContext) -> None:
        await hold_service.expire_due(session, utcnow())
        await waiting_list_service.end_due(session, utcnow())

    @registry.job(RETURN_CAPACITY_JOB)
    async def return_capacity(
        session: AsyncSession, payload: dict[str, Any], context: JobContext
    ) -> None:
        # Lapsed offers pass on first, so that returning units find their people waiting.
        now = utcnow()
        await offer_service.pass_lapsed(session, now, context.settings)
        await offer_service.return_capacity(session, now, context.settings)

    @registry.job(REMIND_JOB)
    async def remind(session: AsyncSession, payload: dict[str, Any], context: JobContext) -> None:
        await booking_service.send_reminders(session, utcnow(), context.settings)

    @registry.job(SETTLE_QUOTAS_JOB)
    async def settle(session: AsyncSession, payload: dict[str, Any], context: JobContext) -> None:
        await booking_service.settle_quotas(session, utcnow())

    @registry.job(ERASE_JOB)
    async def erase(session: AsyncSession, payload: dict[str, Any], context: JobContext) -> None:
        await booking_service.erase_personal_data(session, utcnow(), context.settings)

    @registry.job(NO_SHOW_JOB)
    async def no_shows(session: AsyncSession, payload: dict[str, Any], context: JobContext) -> None:
        await branch_day_service.mark_no_shows_due(session, utcnow(), context.settings)

    registry.every(timedelta(minutes=15), RELEASE_JOB)
    registry.every(timedelta(minutes=1), EXPIRE_JOB)
    registry.every(timedelta(minutes=1), RETURN_CAPACITY_JOB)
    registry.every(timedelta(minutes=5), REMIND_JOB)
    registry.every(timedelta(minutes=15), SETTLE_QUOTAS_JOB)
    registry.every(timedelta(hours=1), ERASE_JOB)
    registry.every(timedelta(minutes=1), NO_SHOW_JOB)
    return registry
