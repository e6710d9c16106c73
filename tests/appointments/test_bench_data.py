"""The appointments bench's data generator, at a tiny scale: the calendar it books agrees
with the invariant, and it books about the share asked for."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from app.appointments.models import Booking, CapacityUnit
from app.appointments.service import hold_service
from app.core.db import Database
from bench.appointments_data import GenerationRefused, Plan, bench_settings, generate

# Monday 22 March 2027, 07:00 in Berlin: three working days ahead, none a holiday.
NOW = datetime(2027, 3, 22, 6, 0, tzinfo=UTC)
TINY = Plan(branches=2, counters=3, services=4, days=3, booked_share=0.5)


async def test_generated_calendar_is_booked_as_asked_and_keeps_the_invariant(
    committed_db: Database,
) -> None:
    summary = await generate(committed_db, TINY, now=NOW)

    async with committed_db.transaction(read_only=True) as session:
        report = await hold_service.invariant_report(session)
        used = await session.scalar(select(func.sum(CapacityUnit.used)))
        bookings = await session.scalar(select(func.count()).select_from(Booking))
    assert report.ok, report
    assert (summary.branches, summary.counters, summary.services) == (2, 6, 4)
    assert summary.days_released == 6
    assert summary.bookings == bookings > 0
    assert summary.booked_places == used
    assert summary.booked_share == pytest.approx(0.5, abs=0.03)


async def test_a_second_run_on_the_same_database_is_refused(committed_db: Database) -> None:
    await generate(committed_db, TINY, now=NOW)

    with pytest.raises(GenerationRefused, match="already has 2 bench branches"):
        await generate(committed_db, TINY, now=NOW)


def test_generating_is_refused_in_production(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RATHAUS_ENV", "production")

    with pytest.raises(GenerationRefused, match="RATHAUS_ENV is production"):
        bench_settings("postgresql+asyncpg://rathaus@db.stadt.example/rathaus")
