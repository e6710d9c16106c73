"""Clerks change hours, closures and counters: capacity follows in the same transaction, and
a change that would leave booked citizens without a place is refused, naming them."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.appointments.calendar import Period
from app.appointments.errors import BookingsWouldNotFit
from app.appointments.models import CapacityDay, CapacityUnit, Closure
from app.appointments.schemas import HoldCreate
from app.appointments.service import calendar_service, hold_service
from app.appointments.tasks import appointments_registry
from tests.fixtures.appointments import Calendar, create_calendar

NOW = datetime(2027, 3, 19, 9, 0, tzinfo=UTC)
MONDAY = date(2027, 3, 22)
MONDAY_8 = datetime(2027, 3, 22, 7, 0, tzinfo=UTC)


async def hold(session: AsyncSession, calendar: Calendar, start: datetime = MONDAY_8) -> str:
    booking = await hold_service.create(
        session,
        HoldCreate(service_id=calendar.service.id, branch_id=calendar.branch.id, start=start),
        NOW,
        600,
    )
    return booking.reference


async def monday_capacity(session: AsyncSession, calendar: Calendar) -> int:
    total = await session.scalar(
        select(func.coalesce(func.sum(CapacityUnit.capacity), 0)).where(
            CapacityUnit.branch_id == calendar.branch.id,
            CapacityUnit.starts_at >= MONDAY_8,
            CapacityUnit.starts_at < MONDAY_8 + timedelta(hours=4),
        )
    )
    return int(total or 0)


async def test_closing_over_a_held_start_is_refused_with_that_booking(
    session: AsyncSession,
) -> None:
    calendar = await create_calendar(session)
    reference = await hold(session, calendar)

    with pytest.raises(BookingsWouldNotFit) as refused:
        await calendar_service.add_closure(
            session, calendar.branch.id, MONDAY_8, MONDAY_8 + timedelta(hours=1)
        )

    assert [b["reference"] for b in refused.value.extensions["bookings"]] == [reference]
    assert refused.value.extensions["bookings"][0]["start"] == "2027-03-22T08:00:00+01:00"
    assert await session.scalar(select(func.count()).select_from(Closure)) == 0
    assert await monday_capacity(session, calendar) == 24
    assert (await hold_service.invariant_report(session)).ok


async def test_a_closure_on_a_free_morning_takes_its_units_away(session: AsyncSession) -> None:
    calendar = await create_calendar(session, shares=(100, 50))
    await calendar_service.release_day(session, calendar.branch.id, MONDAY)
    assert await monday_capacity(session, calendar) == 36

    await calendar_service.add_closure(
        session,
        calendar.branch.id,
        MONDAY_8 + timedelta(hours=2),
        MONDAY_8 + timedelta(hours=4),
        counter_id=calendar.counters[0].id,
    )

    # 08:00-10:00 at 1.5 counters, 10:00-12:00 only the half-online one: 18 + 6 units.
    assert await monday_capacity(session, calendar) == 18 + 6


async def test_fewer_online_counters_are_refused_only_while_bookings_need_them(
    session: AsyncSession,
) -> None:
    calendar = await create_calendar(session, shares=(100, 100))
    first = await hold(session, calendar)
    second = await hold(session, calendar)

    with pytest.raises(BookingsWouldNotFit) as refused:
        await calendar_service.save_counter(
            session, calendar.branch.id, "Schalter 2", 0, date(2027, 3, 19)
        )
    await calendar_service.save_counter(
        session, calendar.branch.id, "Schalter 3", 100, date(2027, 3, 19)
    )

    assert {b["reference"] for b in refused.value.extensions["bookings"]} == {first, second}
    assert await monday_capacity(session, calendar) == 72
    assert (await hold_service.invariant_report(session)).ok


async def test_new_opening_hours_move_the_capacity_of_released_days(
    session: AsyncSession,
) -> None:
    calendar = await create_calendar(session)
    await calendar_service.release_day(session, calendar.branch.id, MONDAY)

    await calendar_service.replace_opening_hours(
        session,
        calendar.branch.id,
        [Period(0, time(8), time(10), date(2027, 1, 1), None)],
        date(2027, 3, 19),
    )

    assert await monday_capacity(session, calendar) == 12


async def test_the_release_job_releases_each_day_of_the_horizon_once(
    session: AsyncSession,
) -> None:
    calendar = await create_calendar(session, horizon_days=30)

    first = await calendar_service.release_all(session, NOW)
    again = await calendar_service.release_all(session, NOW)

    days = await session.scalar(
        select(func.count())
        .select_from(CapacityDay)
        .where(CapacityDay.branch_id == calendar.branch.id)
    )
    assert first >= 31
    assert again == 0
    assert days == 31
    assert "appointments.release_days" in appointments_registry().periodic


async def test_the_invariant_query_finds_a_miscounted_unit(session: AsyncSession) -> None:
    calendar = await create_calendar(session)
    await hold(session, calendar)
    await session.execute(
        update(CapacityUnit)
        .where(CapacityUnit.branch_id == calendar.branch.id, CapacityUnit.starts_at > MONDAY_8)
        .where(CapacityUnit.starts_at < MONDAY_8 + timedelta(minutes=30))
        .values(used=1)
    )

    report = await hold_service.invariant_report(session)

    assert not report.ok
    assert len(report.miscounted) == 2
