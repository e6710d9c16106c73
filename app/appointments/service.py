"""Business rules of the appointment calendar: releasing capacity, changing the rules that
make it, live availability, and holds.

Availability is computed from `capacity_units` when asked; nothing precomputes free slots.
An answer is kept per process only while it is provably what a new computation would give
(see `AvailabilityService.cached_availability`).
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from weakref import WeakKeyDictionary

from sqlalchemy import Select, Uuid, bindparam, delete, func, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from app.appointments.calendar import (
    BERLIN,
    CounterPlan,
    DayRules,
    Period,
    bookable_starts,
    day_bounds,
    day_capacity,
    holiday_name,
    is_aligned,
    local_day,
    rfc3339,
)
from app.appointments.errors import (
    BookingsWouldNotFit,
    BranchClosed,
    InvalidDateRange,
    ServiceNotFound,
    ServiceNotOffered,
    SlotTaken,
    StartBeforeLeadTime,
    StartBeyondHorizon,
    StartInPast,
    StartNotAligned,
    TooManyPersons,
)
from app.appointments.models import (
    BOOKING,
    AppointmentService,
    Booking,
    BranchCalendar,
    BranchService,
    CapacityDay,
    CapacityUnit,
    Closure,
    Counter,
    OpeningHours,
)
from app.appointments.repository import (
    BOOKINGS,
    GLOBAL_VERSION,
    OCCUPYING_STATUSES,
    BookingRepository,
    BookingStatus,
    CapacityVersions,
    ClaimOutcome,
    InvariantReport,
)
from app.appointments.schemas import HoldCreate
from app.core.audit import record
from app.core.caching import AnswerCache, CachedAnswer, EncodedAnswer, encode_answer
from app.core.db import Database
from app.core.i18n import Text
from app.core.jobs.queue import emit
from app.core.references import allocate
from app.core.uow import UnitOfWork
from app.organisation.service import branch_service

DEFAULT_RANGE_DAYS = 14
MAX_EARLIEST_CHUNK_DAYS = 16
EARLIEST_PROBE_UNITS = 64
"""Free units the earliest start's search reads first, in time across the branches: about
an hour of a dozen branches, which settles it unless the calendar is nearly full."""
EXPIRY_BATCH = 500

bookings = BookingRepository()


@dataclass(frozen=True, slots=True)
class Terms:
    """A service's booking rules."""

    id: uuid.UUID
    max_persons: int
    lead_time_minutes: int
    horizon_days: int
    release_minute: int


@dataclass(frozen=True, slots=True)
class Offer:
    """A service as one branch offers it."""

    service: Terms
    branch_id: uuid.UUID
    unit_minutes: int
    units: int
    units_per_extra_person: int

    @classmethod
    def of(cls, row: Any) -> Offer:
        return cls(Terms(*row[:5]), *row[5:])

    def units_for(self, persons: int) -> int:
        return self.units + self.units_per_extra_person * (persons - 1)

    def duration(self, persons: int) -> timedelta:
        return timedelta(minutes=self.unit_minutes * self.units_for(persons))


@dataclass(frozen=True, slots=True)
class Window:
    """When a service can be booked from `now`: starts from `earliest` on, days up to
    `last_day` (the next day is released at the service's release time)."""

    earliest: datetime
    last_day: date

    @classmethod
    def of(cls, service: Terms, now: datetime) -> Window:
        local_now = now.astimezone(BERLIN)
        released_today = local_now.hour * 60 + local_now.minute >= service.release_minute
        days_ahead = service.horizon_days if released_today else service.horizon_days - 1
        return cls(
            earliest=now + timedelta(minutes=service.lead_time_minutes),
            last_day=local_now.date() + timedelta(days=days_ahead),
        )


_OFFER_COLUMNS = (
    AppointmentService.id,
    AppointmentService.max_persons,
    AppointmentService.lead_time_minutes,
    AppointmentService.horizon_days,
    AppointmentService.release_minute,
    BranchService.branch_id,
    BranchCalendar.unit_minutes,
    BranchService.units,
    BranchService.units_per_extra_person,
)


def _offers_query() -> Select[*tuple[Any, ...]]:
    return (
        select(*_OFFER_COLUMNS)
        .join(BranchService, BranchService.service_id == AppointmentService.id)
        .join(BranchCalendar, BranchCalendar.branch_id == BranchService.branch_id)
        .where(AppointmentService.active.is_(True))
    )


def _insert_ignoring_duplicates(dialect: str, model: Any) -> Any:
    return (pg_insert if dialect == "postgresql" else sqlite_insert)(model)


class CalendarService:
    """Materialises capacity from the rules, and keeps it right when the rules change.

    Releasing days and changing rules both lock the branch's calendar row first, so a day is
    never released from rules that a concurrent change is replacing.
    """

    async def lock_branch(self, session: AsyncSession, branch_id: uuid.UUID) -> None:
        await session.execute(
            select(BranchCalendar.branch_id)
            .where(BranchCalendar.branch_id == branch_id)
            .with_for_update()
        )

    async def day_rules(
        self, session: AsyncSession, branch_id: uuid.UUID, first: date, last: date
    ) -> dict[date, DayRules]:
        """The rules of each day from `first` to `last`, from four queries."""
        unit_minutes = await session.scalar(
            select(BranchCalendar.unit_minutes).where(BranchCalendar.branch_id == branch_id)
        )
        if unit_minutes is None:
            return {}
        periods = tuple(
            Period(row.weekday, row.opens, row.closes, row.valid_from, row.valid_until)
            for row in await session.scalars(
                select(OpeningHours).where(OpeningHours.branch_id == branch_id)
            )
        )
        counters = (
            await session.scalars(
                select(Counter).where(Counter.branch_id == branch_id, Counter.active.is_(True))
            )
        ).all()
        start, end = day_bounds(first)[0], day_bounds(last)[1]
        closures = (
            await session.scalars(
                select(Closure).where(
                    Closure.branch_id == branch_id,
                    Closure.starts_at < end,
                    Closure.ends_at > start,
                )
            )
        ).all()
        branch_closures = tuple((c.starts_at, c.ends_at) for c in closures if c.counter_id is None)
        plans = tuple(
            CounterPlan(
                counter.online_share_percent,
                tuple((c.starts_at, c.ends_at) for c in closures if c.counter_id == counter.id),
            )
            for counter in counters
        )
        rules = DayRules(unit_minutes, periods, plans, branch_closures)
        return dict.fromkeys(_days(first, last), rules)

    async def release_day(self, session: AsyncSession, branch_id: uuid.UUID, day: date) -> bool:
        """Create the day's capacity rows unless they exist; True if this call created them."""
        exists = await session.scalar(
            select(CapacityDay.day).where(
                CapacityDay.branch_id == branch_id, CapacityDay.day == day
            )
        )
        if exists is not None:
            return False
        return await self._release_days(session, branch_id, [day]) == 1

    async def release_through(
        self, session: AsyncSession, branch_id: uuid.UUID, today: date, last: date
    ) -> int:
        """Release every day from `today` to `last` not yet released; how many were."""
        released = set(
            (
                await session.scalars(
                    select(CapacityDay.day).where(
                        CapacityDay.branch_id == branch_id,
                        CapacityDay.day >= today,
                        CapacityDay.day <= last,
                    )
                )
            ).all()
        )
        missing = [day for day in _days(today, last) if day not in released]
        return await self._release_days(session, branch_id, missing)

    async def _release_days(
        self, session: AsyncSession, branch_id: uuid.UUID, days: list[date]
    ) -> int:
        if not days:
            return 0
        await self.lock_branch(session, branch_id)
        dialect = session.get_bind().dialect.name
        rules = await self.day_rules(session, branch_id, min(days), max(days))
        if not rules:
            return 0
        # Of two processes releasing the same days at once, each writes capacity rows only
        # for the days whose marker it inserted.
        marked = (
            await session.scalars(
                _insert_ignoring_duplicates(dialect, CapacityDay)
                .values([{"branch_id": branch_id, "day": day} for day in days])
                .on_conflict_do_nothing(index_elements=["branch_id", "day"])
                .returning(CapacityDay.day)
            )
        ).all()
        rows = [
            {"branch_id": branch_id, "starts_at": start, "capacity": capacity, "used": 0}
            for day in marked
            for start, capacity in day_capacity(day, rules[day]).items()
        ]
        if rows:
            await session.execute(insert(CapacityUnit), rows)
        return len(marked)

    async def release_all(self, session: AsyncSession, now: datetime) -> int:
        """The job's work: every branch's days up to its longest service horizon."""
        today = local_day(now)
        horizons = await session.execute(
            select(BranchService.branch_id, func.max(AppointmentService.horizon_days))
            .join(AppointmentService, AppointmentService.id == BranchService.service_id)
            .where(AppointmentService.active.is_(True))
            .group_by(BranchService.branch_id)
        )
        released = 0
        for branch_id, horizon_days in horizons.all():
            last = today + timedelta(days=horizon_days)
            released += await self.release_through(session, branch_id, today, last)
        return released

    async def ensure_released(
        self,
        database: Database,
        connection: AsyncConnection,
        branch_ids: list[uuid.UUID],
        today: date,
        last: date,
    ) -> None:
        """For a reader: availability never waits for the release job to have run. Raises
        `DaysNotReleased` when days are missing, for the caller to release them in a short
        transaction of its own (`release_missing`) once it has given back its connection."""
        if not branch_ids or last < today:
            return
        counts = dict(
            (
                await connection.execute(
                    select(CapacityDay.branch_id, func.count())
                    .where(
                        CapacityDay.branch_id.in_(branch_ids),
                        CapacityDay.day >= today,
                        CapacityDay.day <= last,
                    )
                    .group_by(CapacityDay.branch_id)
                )
            ).all()
        )
        expected = (last - today).days + 1
        behind = [b for b in branch_ids if counts.get(b, 0) < expected]
        # Once released for this request, what is still missing cannot be (a branch without
        # a calendar): the reader goes on with what there is.
        if behind and not _released_for_this_request.get():
            raise DaysNotReleased(behind, today, last)

    async def release_missing(self, database: Database, missing: DaysNotReleased) -> None:
        async with database.transaction() as session:
            for branch_id in missing.branch_ids:
                await self.release_through(session, branch_id, missing.today, missing.last)

    async def recompute(
        self, session: AsyncSession, branch_id: uuid.UUID, first: date, last: date
    ) -> None:
        """Bring the released days from `first` to `last` in line with the current rules, or
        refuse with the bookings that would lose their place (409, nothing changed)."""
        await self.lock_branch(session, branch_id)
        days = (
            await session.scalars(
                select(CapacityDay.day)
                .where(
                    CapacityDay.branch_id == branch_id,
                    CapacityDay.day >= first,
                    CapacityDay.day <= last,
                )
                .order_by(CapacityDay.day)
            )
        ).all()
        if not days:
            return
        rules = await self.day_rules(session, branch_id, days[0], days[-1])
        wanted: dict[datetime, int] = {}
        for day in days:
            wanted.update(day_capacity(day, rules[day]))
        start, end = day_bounds(days[0])[0], day_bounds(days[-1])[1]
        existing = (
            await session.execute(
                select(CapacityUnit.starts_at, CapacityUnit.capacity, CapacityUnit.used)
                .where(
                    CapacityUnit.branch_id == branch_id,
                    CapacityUnit.starts_at >= start,
                    CapacityUnit.starts_at < end,
                )
                .order_by(CapacityUnit.starts_at)
                .with_for_update()
            )
        ).all()
        released_days = set(days)
        over = [
            s
            for s, _, used in existing
            if used > wanted.get(s, 0) and local_day(s) in released_days
        ]
        if over:
            raise BookingsWouldNotFit(await self._bookings_covering(session, branch_id, over))
        await self._write_capacity(session, branch_id, existing, wanted, released_days)

    async def _write_capacity(
        self,
        session: AsyncSession,
        branch_id: uuid.UUID,
        existing: Iterable[Any],
        wanted: dict[datetime, int],
        released_days: set[date],
    ) -> None:
        current = {s: (capacity, used) for s, capacity, used in existing}
        changed = [
            {"branch_id": branch_id, "starts_at": s, "capacity": c}
            for s, c in wanted.items()
            if s in current and current[s][0] != c
        ]
        added = [
            {"branch_id": branch_id, "starts_at": s, "capacity": c, "used": 0}
            for s, c in wanted.items()
            if s not in current
        ]
        gone = [s for s in current if s not in wanted and local_day(s) in released_days]
        if changed:
            await session.execute(update(CapacityUnit), changed)
        if added:
            await session.execute(insert(CapacityUnit), added)
        if gone:
            await session.execute(
                delete(CapacityUnit).where(
                    CapacityUnit.branch_id == branch_id, CapacityUnit.starts_at.in_(gone)
                )
            )

    async def _bookings_covering(
        self, session: AsyncSession, branch_id: uuid.UUID, starts: list[datetime]
    ) -> list[dict[str, str]]:
        found: dict[uuid.UUID, Booking] = {}
        for booking in await session.scalars(
            select(Booking)
            .where(
                Booking.branch_id == branch_id,
                Booking.status.in_(OCCUPYING_STATUSES),
                Booking.starts_at <= max(starts),
                Booking.ends_at > min(starts),
            )
            .order_by(Booking.starts_at, Booking.reference)
        ):
            if any(booking.starts_at <= s < booking.ends_at for s in starts):
                found[booking.id] = booking
        return [
            {
                "id": str(b.id),
                "reference": b.reference,
                "status": b.status,
                "start": rfc3339(b.starts_at),
                "end": rfc3339(b.ends_at),
            }
            for b in found.values()
        ]

    async def add_closure(
        self,
        session: AsyncSession,
        branch_id: uuid.UUID,
        starts_at: datetime,
        ends_at: datetime,
        *,
        counter_id: uuid.UUID | None = None,
        reason: Text | None = None,
    ) -> Closure:
        """Close the branch (or one counter) from `starts_at` to `ends_at`; refused with the
        affected bookings when they would no longer fit."""
        async with session.begin_nested():
            closure = Closure(
                branch_id=branch_id,
                counter_id=counter_id,
                starts_at=starts_at,
                ends_at=ends_at,
                reason_de=reason.de if reason else "",
                reason_en=reason.en if reason else "",
            )
            session.add(closure)
            await session.flush()
            await self.recompute(session, branch_id, local_day(starts_at), local_day(ends_at))
        await record(
            session,
            action="closure.added",
            object_type="branch",
            object_id=branch_id,
            summary={"counter_id": str(counter_id) if counter_id else None},
        )
        return closure

    async def replace_opening_hours(
        self, session: AsyncSession, branch_id: uuid.UUID, periods: list[Period], today: date
    ) -> None:
        """Replace the branch's weekly hours; refused with the affected bookings when they
        would no longer fit."""
        async with session.begin_nested():
            await session.execute(delete(OpeningHours).where(OpeningHours.branch_id == branch_id))
            session.add_all(
                OpeningHours(
                    branch_id=branch_id,
                    weekday=p.weekday,
                    opens=p.opens,
                    closes=p.closes,
                    valid_from=p.valid_from,
                    valid_until=p.valid_until,
                )
                for p in periods
            )
            await session.flush()
            await self.recompute(session, branch_id, today, date.max - timedelta(days=1))
        await record(
            session,
            action="opening_hours.replaced",
            object_type="branch",
            object_id=branch_id,
            summary={"periods": len(periods)},
        )

    async def save_counter(
        self,
        session: AsyncSession,
        branch_id: uuid.UUID,
        name: str,
        online_share_percent: int,
        today: date,
        *,
        active: bool = True,
    ) -> Counter:
        """Add a counter or change its online share; refused with the affected bookings when
        they would no longer fit."""
        async with session.begin_nested():
            counter = await session.scalar(
                select(Counter).where(Counter.branch_id == branch_id, Counter.name == name)
            )
            if counter is None:
                counter = Counter(branch_id=branch_id, name=name)
                session.add(counter)
            counter.online_share_percent = online_share_percent
            counter.active = active
            await session.flush()
            await self.recompute(session, branch_id, today, date.max - timedelta(days=1))
        await record(
            session,
            action="counter.saved",
            object_type="counter",
            object_id=counter.id,
            summary={"online_share_percent": online_share_percent, "active": active},
        )
        return counter


# The offers of a service, built once: a statement built per request costs more than running
# it. The branches' type is named (a foreign key column has its type only once the tables are
# all known).
_OFFERS = (
    _offers_query()
    .where(AppointmentService.id == bindparam("service_id"))
    .order_by(BranchService.branch_id)
)
_OFFERS_AT = _OFFERS.where(
    BranchService.branch_id.in_(bindparam("branch_ids", expanding=True, type_=Uuid()))
)


class AvailabilityService:
    """Live answers for citizens: what can be booked, where and when."""

    async def list_services(self, connection: AsyncConnection) -> list[dict[str, Any]]:
        rows = await connection.execute(
            select(
                *AppointmentService.__table__.c,
                BranchService.branch_id,
                BranchCalendar.unit_minutes,
                BranchService.units,
                BranchService.units_per_extra_person,
            )
            .join(BranchService, BranchService.service_id == AppointmentService.id)
            .join(BranchCalendar, BranchCalendar.branch_id == BranchService.branch_id)
            .where(AppointmentService.active.is_(True))
            .order_by(AppointmentService.name_de, AppointmentService.id, BranchService.branch_id)
        )
        services: dict[uuid.UUID, dict[str, Any]] = {}
        for row in rows.mappings():
            service = services.get(row["id"])
            if service is None:
                service = services[row["id"]] = _service_json(row)
            service["branches"].append(
                {
                    "branch_id": str(row["branch_id"]),
                    "duration_minutes": row["unit_minutes"] * row["units"],
                    "minutes_per_extra_person": row["unit_minutes"] * row["units_per_extra_person"],
                }
            )
        return list(services.values())

    async def _offers(
        self,
        connection: AsyncConnection,
        service_id: uuid.UUID,
        branch_ids: list[uuid.UUID] | None,
    ) -> tuple[Terms, list[Offer]]:
        """The service's rules and the chosen branches' offers of it (all when none chosen);
        branches that do not offer it are left out."""
        statement = _OFFERS_AT if branch_ids else _OFFERS
        values = {"service_id": service_id, "branch_ids": branch_ids}
        rows = (await connection.execute(statement, values)).all()
        if rows:
            offers = [Offer.of(row) for row in rows]
            return offers[0].service, offers
        terms = (
            await connection.execute(
                select(*_OFFER_COLUMNS[:5]).where(
                    AppointmentService.id == service_id, AppointmentService.active.is_(True)
                )
            )
        ).first()
        if terms is None:
            raise ServiceNotFound()
        return Terms(*terms), []

    async def availability(
        self,
        database: Database,
        connection: AsyncConnection,
        *,
        service_id: uuid.UUID,
        persons: int,
        branch_ids: list[uuid.UUID] | None,
        first: date | None,
        last: date | None,
        now: datetime,
    ) -> dict[str, Any]:
        """Free starts per day and branch, from `first` to `last` (Berlin dates)."""
        answer = await self._availability(
            database, connection, service_id, persons, branch_ids, first, last, now, None
        )
        return answer.content

    async def cached_availability(
        self,
        database: Database,
        uow: UnitOfWork,
        *,
        service_id: uuid.UUID,
        persons: int,
        branch_ids: list[uuid.UUID] | None,
        first: date | None,
        last: date | None,
        now: datetime,
    ) -> EncodedAnswer:
        """`availability` encoded, reused while it is exactly what `availability` would
        answer now: within its time bounds (`_LiveAnswer.valid_until`), and while the
        capacity versions of its branches have not moved. A change commits its version
        with it, so the first request after any hold, booking, cancellation, expiry or change
        of the rules, in any process, computes the answer anew."""
        key = ("availability", service_id, persons, _branch_key(branch_ids), first, last)

        async def compute(
            connection: AsyncConnection, versions: CapacityVersions | None
        ) -> _LiveAnswer:
            return await self._availability(
                database, connection, service_id, persons, branch_ids, first, last, now, versions
            )

        return await _kept(database, uow, key, now, compute)

    async def _availability(
        self,
        database: Database,
        connection: AsyncConnection,
        service_id: uuid.UUID,
        persons: int,
        branch_ids: list[uuid.UUID] | None,
        first: date | None,
        last: date | None,
        now: datetime,
        versions: CapacityVersions | None,
    ) -> _LiveAnswer:
        # The versions are read before what they cover: the global one before the offers,
        # the branches' before their capacity. A change committed after either read moves
        # the sum on, so the answer is never kept under a version it does not reflect.
        version = await versions.read(connection, [GLOBAL_VERSION]) if versions else 0
        terms, offers = await self._offers(connection, service_id, branch_ids)
        _check_persons(terms, persons, pointer="#/query/persons")
        today = local_day(now)
        first = max(first or today, today)
        last = last or first + timedelta(days=min(DEFAULT_RANGE_DAYS, terms.horizon_days) - 1)
        if last < first or (last - first).days >= terms.horizon_days:
            raise InvalidDateRange()
        valid_until = _next_change_of_window(terms, now)
        days: dict[date, list[dict[str, Any]]] = defaultdict(list)
        offering = [offer.branch_id for offer in offers]
        if offers:
            if versions:
                version += await versions.read(connection, offering)
            window = Window.of(terms, now)
            found = await self._starts(
                database, connection, offers, persons, first, min(last, window.last_day), now
            )
            for branch_id, starts in found:
                if starts:
                    # A start is listed while it is at least the lead time ahead.
                    lead = timedelta(minutes=terms.lead_time_minutes)
                    valid_until = min(valid_until, starts[0] - lead)
                by_day: dict[date, list[str]] = defaultdict(list)
                for start in starts:
                    local = start.astimezone(BERLIN)
                    by_day[local.date()].append(local.isoformat(timespec="seconds"))
                for day, texts in by_day.items():
                    days[day].append({"branch_id": str(branch_id), "starts": texts})
            if versions:
                expiry = await bookings.next_expiry(
                    connection, offering, day_bounds(first)[0], day_bounds(last)[1], now
                )
                if expiry is not None:
                    valid_until = min(valid_until, expiry)
        content = {
            "service_id": str(service_id),
            "persons": persons,
            "from": first.isoformat(),
            "to": last.isoformat(),
            "days": [{"date": day.isoformat(), "branches": days[day]} for day in sorted(days)],
        }
        return _LiveAnswer(content, version, tuple(offering), valid_until)

    async def earliest(
        self,
        database: Database,
        connection: AsyncConnection,
        *,
        service_id: uuid.UUID,
        persons: int,
        branch_ids: list[uuid.UUID] | None,
        now: datetime,
    ) -> dict[str, Any]:
        """The first free start across the branches. The search reads two days, then four,
        eight, … (at most 16) at a time, and of each the first free units in time before all
        of them: usually the answer is near, and then only a few dozen units are read."""
        answer = await self._earliest(
            database, connection, service_id, persons, branch_ids, now, None
        )
        return answer.content

    async def cached_earliest(
        self,
        database: Database,
        uow: UnitOfWork,
        *,
        service_id: uuid.UUID,
        persons: int,
        branch_ids: list[uuid.UUID] | None,
        now: datetime,
    ) -> EncodedAnswer:
        """`earliest` encoded, kept as `cached_availability` keeps its answers."""
        key = ("earliest", service_id, persons, _branch_key(branch_ids))

        async def compute(
            connection: AsyncConnection, versions: CapacityVersions | None
        ) -> _LiveAnswer:
            return await self._earliest(
                database, connection, service_id, persons, branch_ids, now, versions
            )

        return await _kept(database, uow, key, now, compute)

    async def _earliest(
        self,
        database: Database,
        connection: AsyncConnection,
        service_id: uuid.UUID,
        persons: int,
        branch_ids: list[uuid.UUID] | None,
        now: datetime,
        versions: CapacityVersions | None,
    ) -> _LiveAnswer:
        # The versions are read before what they cover, as in `_availability`.
        version = await versions.read(connection, [GLOBAL_VERSION]) if versions else 0
        terms, offers = await self._offers(connection, service_id, branch_ids)
        _check_persons(terms, persons, pointer="#/query/persons")
        answer: dict[str, Any] = {"service_id": str(service_id), "persons": persons}
        valid_until = _next_change_of_window(terms, now)
        if not offers:
            return _LiveAnswer({**answer, "earliest": None}, version, (), valid_until)
        offering = [offer.branch_id for offer in offers]
        if versions:
            version += await versions.read(connection, offering)
        window = Window.of(terms, now)
        first = local_day(now)
        # One check that the whole horizon is released, rather than one per chunk; and
        # today with tomorrow first, since late in the day the lead time leaves today empty.
        await calendar_service.ensure_released(
            database, connection, offering, first, window.last_day
        )
        found: tuple[datetime, uuid.UUID] | None = None
        chunk_days = 2
        while found is None and first <= window.last_day:
            last = min(first + timedelta(days=chunk_days - 1), window.last_day)
            chunk_days = min(chunk_days * 2, MAX_EARLIEST_CHUNK_DAYS)
            found = await self._earliest_between(connection, offers, persons, first, last, now)
            first = last + timedelta(days=1)
        # Time alone changes the answer when its start comes within the lead time, or when
        # a hold that might cover an earlier start expires.
        searched_until = day_bounds(window.last_day)[1]
        if found is not None:
            valid_until = min(valid_until, found[0] - (window.earliest - now))
            searched_until = found[0] + max(offer.duration(persons) for offer in offers)
        if versions:
            expiry = await bookings.next_expiry(
                connection, offering, window.earliest, searched_until, now
            )
            if expiry is not None:
                valid_until = min(valid_until, expiry)
        if found is None:
            return _LiveAnswer({**answer, "earliest": None}, version, tuple(offering), valid_until)
        start, branch_id = found
        content = {**answer, "earliest": {"branch_id": str(branch_id), "start": rfc3339(start)}}
        return _LiveAnswer(content, version, tuple(offering), valid_until)

    async def _earliest_between(
        self,
        connection: AsyncConnection,
        offers: list[Offer],
        persons: int,
        first: date,
        last: date,
        now: datetime,
    ) -> tuple[datetime, uuid.UUID] | None:
        """The earliest start from `first` to `last`, and its branch. The first free units
        in time usually settle it: a start found among them is the earliest when every
        earlier start would have ended before the last of them was read. Else all are read."""
        if last < first:
            return None
        branch_ids, start, end = _instants(offers, first, last, now)
        free, complete_before = await bookings.first_free_units(
            connection, branch_ids, start, end, now, EARLIEST_PROBE_UNITS
        )
        found = _earliest(_bookable(offers, persons, free))
        longest = max(offer.duration(persons) for offer in offers)
        if complete_before is None or (found and found[0] + longest <= complete_before):
            return found
        free = await bookings.free_units(connection, branch_ids, start, end, now)
        return _earliest(_bookable(offers, persons, free))

    async def _starts(
        self,
        database: Database,
        connection: AsyncConnection,
        offers: list[Offer],
        persons: int,
        first: date,
        last: date,
        now: datetime,
    ) -> list[tuple[uuid.UUID, list[datetime]]]:
        if last < first:
            return []
        branch_ids, start, end = await self._released_range(
            database, connection, offers, first, last, now
        )
        free = await bookings.free_units(connection, branch_ids, start, end, now)
        return _bookable(offers, persons, free)

    async def _released_range(
        self,
        database: Database,
        connection: AsyncConnection,
        offers: list[Offer],
        first: date,
        last: date,
        now: datetime,
    ) -> tuple[list[uuid.UUID], datetime, datetime]:
        """The offering branches and the instants to read from `first` to `last`, whose
        days are released by now."""
        await calendar_service.ensure_released(
            database, connection, [offer.branch_id for offer in offers], local_day(now), last
        )
        return _instants(offers, first, last, now)


@dataclass(frozen=True, slots=True)
class _LiveAnswer:
    """An availability answer with what keeping it needs: the capacity version it was
    computed at (0 when not read), its branches, and the first moment at which time alone
    could change it."""

    content: dict[str, Any]
    version: int
    branch_ids: tuple[uuid.UUID, ...]
    valid_until: datetime


AVAILABILITY_CACHE_BYTES = 64 * 2**20
"""Per process, for the encoded answers and their gzip copies."""

_answer_caches: WeakKeyDictionary[Database, tuple[AnswerCache, CapacityVersions]] = (
    WeakKeyDictionary()
)


def _answer_cache(database: Database) -> tuple[AnswerCache, CapacityVersions]:
    """The process's kept answers for `database`, and its reader of capacity versions."""
    found = _answer_caches.get(database)
    if found is None:
        found = _answer_caches[database] = (
            AnswerCache(AVAILABILITY_CACHE_BYTES),
            CapacityVersions(database),
        )
    return found


def _branch_key(branch_ids: list[uuid.UUID] | None) -> frozenset[uuid.UUID] | None:
    return frozenset(branch_ids) if branch_ids else None


async def _kept(
    database: Database,
    uow: UnitOfWork,
    key: tuple[Any, ...],
    now: datetime,
    compute: Callable[[AsyncConnection, CapacityVersions | None], Awaitable[_LiveAnswer]],
) -> EncodedAnswer:
    """The answer `compute` gives, encoded; reused while it is exactly what `compute` would
    give now: within its time bounds (`_LiveAnswer.valid_until`), and while the capacity
    versions of its branches have not moved. Every change commits its version with it, so
    the first request after any hold, booking, cancellation, expiry or change of the rules,
    in any process, computes the answer anew. A check costs one `SELECT` of an indexed sum,
    on SQLite without leaving the event loop (`CapacityVersions`)."""
    if not database.commits:
        return await encode_answer((await _computed(database, uow, compute, None)).content)
    cache, versions = _answer_cache(database)
    entry = cache.get(key)
    if entry is not None and entry.current_at(now):
        version = versions.read_own(entry.scope)
        if version is None:
            version = await versions.read(await uow.connection(), entry.scope)
        if version == entry.version:
            return entry.answer
        cache.discard(key)
    answer = await _computed(database, uow, compute, versions)
    encoded = await encode_answer(answer.content)
    scope = (GLOBAL_VERSION, *answer.branch_ids)
    cache.put(key, CachedAnswer(encoded, answer.version, scope, now, answer.valid_until))
    return encoded


_released_for_this_request: ContextVar[bool] = ContextVar("released_for_request", default=False)


class DaysNotReleased(Exception):
    """Days a reader needs are not released yet: the caller releases them
    (`CalendarService.release_missing`) with its read connection given back, then asks again."""

    def __init__(self, branch_ids: list[uuid.UUID], today: date, last: date) -> None:
        super().__init__("days not released")
        self.branch_ids, self.today, self.last = branch_ids, today, last


async def _computed(
    database: Database,
    uow: UnitOfWork,
    compute: Callable[[AsyncConnection, CapacityVersions | None], Awaitable[_LiveAnswer]],
    versions: CapacityVersions | None,
) -> _LiveAnswer:
    """`compute`'s answer, releasing missing days first when it needs them. The request's
    read connection goes back to the pool before the release takes a connection for its
    transaction: holding one while waiting for another, a burst of first requests of the
    day took the whole pool and waited on each other until the pool's timeout."""
    try:
        return await compute(await uow.connection(), versions)
    except DaysNotReleased as missing:
        await uow.give_back_connection()
        await calendar_service.release_missing(database, missing)
    released = _released_for_this_request.set(True)
    try:
        return await compute(await uow.connection(), versions)
    finally:
        _released_for_this_request.reset(released)


def _next_change_of_window(terms: Terms, now: datetime) -> datetime:
    """The next moment at which the booking window moves without any write: Berlin's next
    midnight (today changes), or before it the release of the next day."""
    local_now = now.astimezone(BERLIN)
    midnight = day_bounds(local_now.date())[1]
    release = datetime.combine(
        local_now.date(),
        time(terms.release_minute // 60, terms.release_minute % 60),
        tzinfo=BERLIN,
    ).astimezone(UTC)
    return release if now < release < midnight else midnight


def _instants(
    offers: list[Offer], first: date, last: date, now: datetime
) -> tuple[list[uuid.UUID], datetime, datetime]:
    """The offering branches and the instants to read from `first` to `last`."""
    window = Window.of(offers[0].service, now)
    branch_ids = [offer.branch_id for offer in offers]
    return branch_ids, max(day_bounds(first)[0], window.earliest), day_bounds(last)[1]


def _bookable(
    offers: list[Offer], persons: int, free: dict[uuid.UUID, list[tuple[datetime, int]]]
) -> list[tuple[uuid.UUID, list[datetime]]]:
    return [
        (
            offer.branch_id,
            bookable_starts(
                free.get(offer.branch_id, []), offer.units_for(persons), offer.unit_minutes
            ),
        )
        for offer in offers
    ]


def _earliest(found: list[tuple[uuid.UUID, list[datetime]]]) -> tuple[datetime, uuid.UUID] | None:
    candidates = [(starts[0], branch_id) for branch_id, starts in found if starts]
    return min(candidates) if candidates else None


class HoldService:
    """Short holds on a start while the citizen completes the booking."""

    async def create(
        self, session: AsyncSession, request: HoldCreate, now: datetime, ttl_seconds: int
    ) -> Booking:
        """Hold `request.start` for `ttl_seconds`, or refuse without changing anything."""
        offer = await self.offer(session, request.service_id, request.branch_id)
        _check_persons(offer.service, request.persons, pointer="#/persons")
        start = request.start.astimezone(UTC)
        check_start(offer, start, now)
        end = start + offer.duration(request.persons)
        units = offer.units_for(request.persons)
        await calendar_service.release_day(session, offer.branch_id, local_day(start))
        await bookings.expire_overlapping(session, offer.branch_id, start, end, now)
        outcome = await bookings.claim(session, offer.branch_id, start, end, units)
        if outcome is ClaimOutcome.closed:
            raise closed_problem(start)
        if outcome is ClaimOutcome.taken:
            raise SlotTaken()
        booking = await bookings.add(
            session,
            Booking(
                reference=await allocate(session, BOOKING),
                status=BookingStatus.held,
                branch_id=offer.branch_id,
                service_id=offer.service.id,
                starts_at=start,
                ends_at=end,
                units=units,
                persons=request.persons,
                expires_at=now + timedelta(seconds=ttl_seconds),
            ),
        )
        await record(
            session,
            action="booking.hold",
            object_type=BOOKINGS.aggregate,
            object_id=booking.id,
            summary={"status": BookingStatus.held, "units": units},
        )
        await emit(
            session,
            "booking.hold",
            aggregate_type=BOOKINGS.aggregate,
            aggregate_id=booking.id,
            payload={"status": BookingStatus.held, "branch_id": str(offer.branch_id)},
        )
        return booking

    async def offer(
        self, session: AsyncSession, service_id: uuid.UUID, branch_id: uuid.UUID
    ) -> Offer:
        row = (
            await session.execute(
                _offers_query().where(
                    AppointmentService.id == service_id, BranchService.branch_id == branch_id
                )
            )
        ).first()
        if row is not None:
            return Offer.of(row)
        service = await session.scalar(
            select(AppointmentService.id).where(
                AppointmentService.id == service_id, AppointmentService.active.is_(True)
            )
        )
        if service is None:
            raise ServiceNotFound()
        await branch_service.get(session, branch_id)
        raise ServiceNotOffered()

    async def expire_due(self, session: AsyncSession, now: datetime) -> int:
        return await bookings.expire_due(session, now, EXPIRY_BATCH)

    async def invariant_report(self, session: AsyncSession) -> InvariantReport:
        return await bookings.invariant_report(session)


def _check_persons(service: Terms, persons: int, *, pointer: str) -> None:
    if persons <= service.max_persons:
        return
    if service.max_persons == 1:
        raise TooManyPersons(
            Text(
                de="Diese Dienstleistung kann nur für eine Person gebucht werden.",
                en="This service can be booked for one person only.",
            ),
            pointer=pointer,
        )
    raise TooManyPersons(
        Text(
            de=f"Für diese Dienstleistung können höchstens {service.max_persons} Personen "
            "einen Termin teilen.",
            en=f"At most {service.max_persons} persons can share an appointment for this service.",
        ),
        pointer=pointer,
    )


def check_start(offer: Offer, start: datetime, now: datetime) -> None:
    window = Window.of(offer.service, now)
    if start < now:
        raise StartInPast()
    if start < window.earliest:
        raise StartBeforeLeadTime(earliest_start=rfc3339(window.earliest))
    if local_day(start) > window.last_day:
        raise StartBeyondHorizon(last_bookable_day=window.last_day.isoformat())
    if not is_aligned(start, offer.unit_minutes):
        raise StartNotAligned()


def closed_problem(start: datetime) -> BranchClosed:
    day = local_day(start)
    holiday = holiday_name(day)
    if holiday is None:
        return BranchClosed()
    return BranchClosed(
        Text(
            de=f"An diesem Tag ist Feiertag ({holiday}); der Standort ist geschlossen.",
            en=f"This day is a public holiday ({holiday_name(day, 'en')}); the branch is closed.",
        )
    )


def _service_json(row: Any) -> dict[str, Any]:
    return {
        "id": str(row["id"]),
        "code": row["code"],
        "name": {"de": row["name_de"], "en": row["name_en"]},
        "description": {"de": row["description_de"], "en": row["description_en"]},
        "leika_key": row["leika_key"],
        "what_to_bring": {"de": row["bring_de"], "en": row["bring_en"]},
        "max_persons": row["max_persons"],
        "lead_time_minutes": row["lead_time_minutes"],
        "horizon_days": row["horizon_days"],
        "branches": [],
    }


def _days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


calendar_service = CalendarService()
availability_service = AvailabilityService()
hold_service = HoldService()
