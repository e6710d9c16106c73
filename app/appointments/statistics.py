"""Figures per branch and day, for the branches' supervisors and, anonymised, as open data.

Computed from the calendar at the moment of the request, never kept apart from it, so they
cannot disagree with the day views: the online slot units offered and booked, the
appointments booked, used, missed and cancelled, the waiting time from check-in to call, the
service time, and the walk-ins served and turned away.

The open-data feed carries only ended days and no names, no references and no single
visit's times: a median or percentile over fewer than `MIN_OBSERVATIONS` visits is left out
(null), since with three visits on a quiet day the median is one citizen's wait.
"""

from __future__ import annotations

import csv
import io
import statistics
import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field, fields
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, func, literal, select, union_all
from sqlalchemy.ext.asyncio import AsyncSession

from app.appointments.branch_day import BranchAccess
from app.appointments.calendar import day_bounds
from app.appointments.errors import StatisticsRangeRefused
from app.appointments.models import (
    Booking,
    BranchCalendar,
    CapacityUnit,
    QueueCall,
    WalkInBudget,
    WalkInTicket,
)
from app.appointments.repository import BookingStatus
from app.appointments.tickets import TicketStatus
from app.core.auth import MissingRole
from app.core.db import UTCDateTime
from app.organisation.service import branch_service

MAX_DAYS = 92
"""The longest range one request covers: a quarter, so that an answer stays a few hundred
kilobytes and its queries a few hundred milliseconds on a city's data."""
MIN_OBSERVATIONS = 5
"""Fewer visits than this give no median or percentile in the open-data feed."""
OPEN_DATA_LICENSE = "dl-de/by-2-0"
OPEN_DATA_LICENSE_URL = "https://www.govdata.de/dl-de/by-2-0"

BOOKED = (
    BookingStatus.confirmed,
    BookingStatus.checked_in,
    BookingStatus.called,
    BookingStatus.completed,
    BookingStatus.no_show,
)
"""Statuses of an appointment that was booked (not a mere hold, not cancelled)."""
USED = (BookingStatus.checked_in, BookingStatus.called, BookingStatus.completed)
"""Statuses of an appointment the citizen came to."""


@dataclass(slots=True)
class DayFigures:
    """One branch's figures for one day; the shape of a `StatisticsDay` and a CSV row."""

    date: str
    branch_id: str
    branch_code: str
    branch_name: str
    slots_offered: int = 0
    slots_booked: int = 0
    appointments_booked: int = 0
    appointments_used: int = 0
    appointments_no_show: int = 0
    appointments_cancelled: int = 0
    no_show_rate: float | None = None
    waiting_seconds_median: int | None = None
    waiting_seconds_p90: int | None = None
    service_seconds_median: int | None = None
    walk_ins_served: int = 0
    walk_ins_turned_away: int = 0


COLUMNS = tuple(item.name for item in fields(DayFigures))


@dataclass(slots=True)
class _Observations:
    """The single visits' times behind one day's medians."""

    waiting: list[int] = field(default_factory=list)
    service: list[int] = field(default_factory=list)


def median(values: Sequence[int], minimum: int) -> int | None:
    if len(values) < max(1, minimum):
        return None
    return round(statistics.median(values))


def percentile_90(values: Sequence[int], minimum: int) -> int | None:
    """The 90th percentile, interpolated between the closest ranks (as spreadsheets do)."""
    if len(values) < max(1, minimum):
        return None
    if len(values) == 1:
        return values[0]
    return round(statistics.quantiles(values, n=10, method="inclusive")[8])


def no_show_rate(used: int, no_show: int) -> float | None:
    """Missed among the appointments whose outcome is known; null before any is."""
    known = used + no_show
    return None if known == 0 else round(no_show / known, 4)


def check_range(first: date, last: date, *, last_allowed: date | None = None) -> None:
    if last < first:
        raise StatisticsRangeRefused()
    if (last - first).days + 1 > MAX_DAYS:
        raise StatisticsRangeRefused()
    if last_allowed is not None and last > last_allowed:
        raise StatisticsRangeRefused(StatisticsRangeRefused.only_ended_days)


def _days_table(first: date, last: date) -> Any:
    """The range's Berlin days as rows of (index, first instant, next day's first instant),
    so one `GROUP BY` splits UTC-stored times by local day on both databases."""
    rows: list[Select[int, datetime, datetime]] = []
    for index in range((last - first).days + 1):
        starts, ends = day_bounds(first + timedelta(days=index))
        rows.append(
            select(
                literal(index).label("day_index"),
                literal(starts, UTCDateTime()).label("starts"),
                literal(ends, UTCDateTime()).label("ends"),
            )
        )
    return (union_all(*rows) if len(rows) > 1 else rows[0]).cte("days")


class StatisticsService:
    async def branches_for(
        self, session: AsyncSession, access: BranchAccess, branch_id: uuid.UUID | None
    ) -> list[uuid.UUID]:
        """The branches a supervisor's report covers: the chosen one, or every branch with a
        calendar that the caller works at or supervises."""
        if branch_id is not None:
            if not access.allows(branch_id):
                raise MissingRole()
            await branch_service.get(session, branch_id)
            return [branch_id]
        calendars = (await session.scalars(select(BranchCalendar.branch_id))).all()
        allowed = [branch for branch in calendars if access.allows(branch)]
        if not allowed:
            raise MissingRole()
        return allowed

    async def all_branches(self, session: AsyncSession) -> list[uuid.UUID]:
        return list((await session.scalars(select(BranchCalendar.branch_id))).all())

    async def figures(
        self,
        session: AsyncSession,
        branch_ids: Sequence[uuid.UUID],
        first: date,
        last: date,
        *,
        minimum_observations: int = 1,
    ) -> list[DayFigures]:
        """One row per day and branch from `first` to `last` (Berlin days, inclusive), in
        order of day, then branch name."""
        if not branch_ids:
            return []
        days = _days_table(first, last)
        low, _ = day_bounds(first)
        _, high = day_bounds(last)
        names = await branch_service.names(session, branch_ids)
        ordered = sorted(branch_ids, key=lambda branch: (names[branch][1], str(branch)))
        rows = {
            (index, branch): DayFigures(
                date=(first + timedelta(days=index)).isoformat(),
                branch_id=str(branch),
                branch_code=names[branch][0],
                branch_name=names[branch][1],
            )
            for index in range((last - first).days + 1)
            for branch in ordered
        }
        in_range = (low, high, branch_ids)
        await self._add_capacity(session, days, in_range, rows)
        await self._add_bookings(session, days, in_range, rows)
        await self._add_walk_ins(session, first, last, branch_ids, rows)
        observations = await self._observations(session, days, in_range)
        for key, row in rows.items():
            seen = observations.get(key, _Observations())
            row.no_show_rate = no_show_rate(row.appointments_used, row.appointments_no_show)
            row.waiting_seconds_median = median(seen.waiting, minimum_observations)
            row.waiting_seconds_p90 = percentile_90(seen.waiting, minimum_observations)
            row.service_seconds_median = median(seen.service, minimum_observations)
        return list(rows.values())

    async def _add_capacity(
        self,
        session: AsyncSession,
        days: Any,
        in_range: tuple[datetime, datetime, Sequence[uuid.UUID]],
        rows: dict[tuple[int, uuid.UUID], DayFigures],
    ) -> None:
        low, high, branch_ids = in_range
        query = (
            select(days.c.day_index, CapacityUnit.branch_id, func.sum(CapacityUnit.capacity))
            .join(days, _within(CapacityUnit.starts_at, days))
            .where(
                CapacityUnit.starts_at >= low,
                CapacityUnit.starts_at < high,
                CapacityUnit.branch_id.in_(branch_ids),
            )
            .group_by(days.c.day_index, CapacityUnit.branch_id)
        )
        for index, branch, offered in (await session.execute(query)).all():
            rows[(index, branch)].slots_offered = int(offered or 0)

    async def _add_bookings(
        self,
        session: AsyncSession,
        days: Any,
        in_range: tuple[datetime, datetime, Sequence[uuid.UUID]],
        rows: dict[tuple[int, uuid.UUID], DayFigures],
    ) -> None:
        low, high, branch_ids = in_range
        query = (
            select(
                days.c.day_index,
                Booking.branch_id,
                Booking.status,
                func.count(),
                func.sum(Booking.units),
            )
            .join(days, _within(Booking.starts_at, days))
            .where(
                Booking.starts_at >= low,
                Booking.starts_at < high,
                Booking.branch_id.in_(branch_ids),
                Booking.status.in_((*BOOKED, BookingStatus.cancelled)),
            )
            .group_by(days.c.day_index, Booking.branch_id, Booking.status)
        )
        for index, branch, status, count, units in (await session.execute(query)).all():
            row = rows[(index, branch)]
            if status == BookingStatus.cancelled:
                row.appointments_cancelled += count
                continue
            row.appointments_booked += count
            row.slots_booked += int(units or 0)
            if status in USED:
                row.appointments_used += count
            elif status == BookingStatus.no_show:
                row.appointments_no_show += count

    async def _observations(
        self,
        session: AsyncSession,
        days: Any,
        in_range: tuple[datetime, datetime, Sequence[uuid.UUID]],
    ) -> dict[tuple[int, uuid.UUID], _Observations]:
        low, high, branch_ids = in_range
        query = (
            select(days.c.day_index, Booking.branch_id, Booking.service_seconds)
            .join(days, _within(Booking.starts_at, days))
            .where(
                Booking.starts_at >= low,
                Booking.starts_at < high,
                Booking.branch_id.in_(branch_ids),
                Booking.status == BookingStatus.completed,
                Booking.service_seconds.is_not(None),
            )
        )
        found: dict[tuple[int, uuid.UUID], _Observations] = defaultdict(_Observations)
        for index, branch, seconds in (await session.execute(query)).all():
            found[(index, branch)].service.append(int(seconds))
        # Waiting: from check-in to the first call (a recall moves `called_at` on, so the
        # first call is the earliest in `queue_calls`).
        first_call = (
            select(func.min(QueueCall.called_at))
            .where(QueueCall.booking_id == Booking.id)
            .scalar_subquery()
        )
        waits = (
            select(days.c.day_index, Booking.branch_id, Booking.checked_in_at, first_call)
            .join(days, _within(Booking.starts_at, days))
            .where(
                Booking.starts_at >= low,
                Booking.starts_at < high,
                Booking.branch_id.in_(branch_ids),
                Booking.checked_in_at.is_not(None),
                Booking.called_at.is_not(None),
            )
        )
        for index, branch, checked_in_at, called_at in (await session.execute(waits)).all():
            if called_at is not None:
                waited = max(0, int((called_at - checked_in_at).total_seconds()))
                found[(index, branch)].waiting.append(waited)
        await self._walk_in_observations(session, days, in_range, found)
        return found

    async def _walk_in_observations(
        self,
        session: AsyncSession,
        days: Any,
        in_range: tuple[datetime, datetime, Sequence[uuid.UUID]],
        found: dict[tuple[int, uuid.UUID], _Observations],
    ) -> None:
        """Walk-ins wait from drawing the ticket to its first call, and are served from the
        call to the completion."""
        low, high, branch_ids = in_range
        first_call = (
            select(func.min(QueueCall.called_at))
            .where(QueueCall.ticket_id == WalkInTicket.id)
            .scalar_subquery()
        )
        query = (
            select(
                days.c.day_index,
                WalkInTicket.branch_id,
                WalkInTicket.drawn_at,
                first_call,
                WalkInTicket.service_seconds,
                WalkInTicket.status,
            )
            .join(days, _within(WalkInTicket.drawn_at, days))
            .where(
                WalkInTicket.drawn_at >= low,
                WalkInTicket.drawn_at < high,
                WalkInTicket.branch_id.in_(branch_ids),
                WalkInTicket.called_at.is_not(None),
            )
        )
        for index, branch, drawn_at, called_at, seconds, status in (
            await session.execute(query)
        ).all():
            seen = found[(index, branch)]
            if called_at is not None:
                seen.waiting.append(max(0, int((called_at - drawn_at).total_seconds())))
            if status == TicketStatus.completed and seconds is not None:
                seen.service.append(int(seconds))

    async def _add_walk_ins(
        self,
        session: AsyncSession,
        first: date,
        last: date,
        branch_ids: Sequence[uuid.UUID],
        rows: dict[tuple[int, uuid.UUID], DayFigures],
    ) -> None:
        """Walk-ins served (tickets completed) and turned away (refused for want of walk-in
        capacity), from the day's tickets and walk-in budget."""
        served = await session.execute(
            select(WalkInTicket.day, WalkInTicket.branch_id, func.count())
            .where(
                WalkInTicket.day >= first,
                WalkInTicket.day <= last,
                WalkInTicket.branch_id.in_(branch_ids),
                WalkInTicket.status == TicketStatus.completed,
            )
            .group_by(WalkInTicket.day, WalkInTicket.branch_id)
        )
        for day, branch, count in served.all():
            rows[((day - first).days, branch)].walk_ins_served = count
        turned_away = await session.execute(
            select(WalkInBudget.day, WalkInBudget.branch_id, WalkInBudget.turned_away).where(
                WalkInBudget.day >= first,
                WalkInBudget.day <= last,
                WalkInBudget.branch_id.in_(branch_ids),
            )
        )
        for day, branch, count in turned_away.all():
            rows[((day - first).days, branch)].walk_ins_turned_away = count


def _within(instant: Any, days: Any) -> ColumnElement[bool]:
    return and_(instant >= days.c.starts, instant < days.c.ends)


def as_json(rows: Iterable[DayFigures]) -> list[dict[str, Any]]:
    return [asdict(row) for row in rows]


def as_csv(rows: Iterable[DayFigures]) -> str:
    """RFC 4180 CSV with a header row; empty cells where JSON has null."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    for row in rows:
        writer.writerow(["" if value is None else value for value in asdict(row).values()])
    return out.getvalue()


statistics_service = StatisticsService()
