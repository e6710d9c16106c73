"""Bookings and the capacity they claim: the queries, the guarded claims and transitions,
and the invariant that ties them together.

Lock order, so that concurrent claims cannot deadlock on PostgreSQL: first the expired holds
being reclaimed, one by one in id order, then the capacity units, in order of their start.
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Any
from urllib.parse import quote

from sqlalchemy import (
    ColumnElement,
    Uuid,
    and_,
    bindparam,
    delete,
    func,
    or_,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from app.appointments.errors import BookingNotFound
from app.appointments.models import (
    OFFERED,
    Booking,
    BranchCalendar,
    CallNumberCounter,
    CapacityOffer,
    CapacityReturn,
    CapacityUnit,
    CapacityVersion,
    PersonQuota,
)
from app.appointments.tickets import WalkInInvariantReport, walk_in_budgets
from app.core.db import Database, rowcount
from app.core.errors import AppError
from app.core.i18n import Text
from app.core.state_machine import StateMachine, Transition


class BookingStatus(StrEnum):
    held = "held"
    pending_verification = "pending_verification"
    confirmed = "confirmed"
    cancelled = "cancelled"
    expired = "expired"
    checked_in = "checked_in"
    called = "called"
    completed = "completed"
    no_show = "no_show"


LIVE_STATUSES = (
    BookingStatus.held,
    BookingStatus.pending_verification,
    BookingStatus.confirmed,
)
"""The statuses of a booking that is still ahead: it can be cancelled."""

OCCUPYING_STATUSES = (
    *LIVE_STATUSES,
    BookingStatus.checked_in,
    BookingStatus.called,
    BookingStatus.completed,
    BookingStatus.no_show,
)
"""The statuses in which a booking counts in `used` of each unit it covers. A visit that
took place keeps its units. A no-show keeps only the units begun before it was marked
(`no_show_at`): the rest is held back and handed to the waiting list first, like a
cancellation's (`BookingRepository.hand_back_after_no_show`)."""


def occupies(
    unit_start: ColumnElement[datetime] | InstrumentedAttribute[datetime],
) -> ColumnElement[bool]:
    """Whether a booking counts in `used` of the unit that starts at `unit_start`, which it
    covers."""
    return and_(
        Booking.status.in_(OCCUPYING_STATUSES),
        or_(Booking.status != BookingStatus.no_show, Booking.no_show_at > unit_start),
    )


EXPIRING_STATUSES = (BookingStatus.held, BookingStatus.pending_verification)
"""The statuses that end by themselves at `expires_at`."""

BOOKINGS = StateMachine(
    "booking",
    Booking,
    [
        Transition.of("request_verification", [BookingStatus.held], "pending_verification"),
        Transition.of("confirm", EXPIRING_STATUSES, BookingStatus.confirmed),
        Transition.of("expire", EXPIRING_STATUSES, BookingStatus.expired),
        Transition.of("cancel", LIVE_STATUSES, BookingStatus.cancelled),
        Transition.of("reschedule", [BookingStatus.confirmed], BookingStatus.confirmed),
        Transition.of("check_in", [BookingStatus.confirmed], BookingStatus.checked_in),
        Transition.of("call", [BookingStatus.checked_in], BookingStatus.called),
        Transition.of("recall", [BookingStatus.called], BookingStatus.called),
        Transition.of(
            "complete", [BookingStatus.checked_in, BookingStatus.called], BookingStatus.completed
        ),
        Transition.of("mark_no_show", [BookingStatus.confirmed], BookingStatus.no_show),
        # Called to a counter, but did not come to it.
        Transition.of("call_unanswered", [BookingStatus.called], BookingStatus.no_show),
    ],
    not_found=BookingNotFound,
    initial=BookingStatus.held,
    labels={
        BookingStatus.held: Text(de="reserviert", en="held"),
        BookingStatus.pending_verification: Text(de="wartet auf Bestätigung", en="unverified"),
        BookingStatus.confirmed: Text(de="gebucht", en="confirmed"),
        BookingStatus.cancelled: Text(de="abgesagt", en="cancelled"),
        BookingStatus.expired: Text(de="abgelaufen", en="expired"),
        BookingStatus.checked_in: Text(de="angemeldet", en="checked in"),
        BookingStatus.called: Text(de="aufgerufen", en="called"),
        BookingStatus.completed: Text(de="erledigt", en="completed"),
        BookingStatus.no_show: Text(de="nicht erschienen", en="no-show"),
    },
)


class ClaimOutcome(StrEnum):
    claimed = "claimed"
    closed = "closed"
    """At least one unit has no capacity row: closed, a holiday or outside opening hours."""
    taken = "taken"


@dataclass
class InvariantReport:
    """What the invariant query found; all empty when capacity and bookings agree."""

    over_capacity: list[tuple[uuid.UUID, datetime]] = field(default_factory=list)
    miscounted: list[tuple[uuid.UUID, datetime, int, int]] = field(default_factory=list)
    bookings_without_units: list[uuid.UUID] = field(default_factory=list)
    offers_without_person: list[uuid.UUID] = field(default_factory=list)
    walk_ins: WalkInInvariantReport = field(default_factory=WalkInInvariantReport)

    @property
    def ok(self) -> bool:
        return self.walk_ins.ok and not (
            self.over_capacity
            or self.miscounted
            or self.bookings_without_units
            or self.offers_without_person
        )


def _units_between(
    branch_id: uuid.UUID, start: datetime, end: datetime
) -> list[ColumnElement[bool]]:
    return [
        CapacityUnit.branch_id == branch_id,
        CapacityUnit.starts_at >= start,
        CapacityUnit.starts_at < end,
    ]


# The availability reads, built once (statements built per request cost more than running
# them): the branches, `start`, `end` and `now` are bound per call. The branches' type is
# named: a foreign key column has its type only once the tables are all known.
_FREE_PLACES = CapacityUnit.capacity - CapacityUnit.used
_FREE_IN_RANGE = (
    CapacityUnit.branch_id.in_(bindparam("branch_ids", expanding=True, type_=Uuid())),
    CapacityUnit.starts_at >= bindparam("start"),
    CapacityUnit.starts_at < bindparam("end"),
)
_FREE_UNITS = select(CapacityUnit.branch_id, CapacityUnit.starts_at, _FREE_PLACES).where(
    *_FREE_IN_RANGE, CapacityUnit.used < CapacityUnit.capacity
)
_FREE_UNITS_BY_BRANCH = _FREE_UNITS.order_by(CapacityUnit.branch_id, CapacityUnit.starts_at)
_FIRST_FREE_UNITS = _FREE_UNITS.order_by(CapacityUnit.starts_at, CapacityUnit.branch_id).limit(
    bindparam("limit")
)
_RECLAIMABLE_UNITS = (
    select(CapacityUnit.branch_id, CapacityUnit.starts_at, _FREE_PLACES + func.count(Booking.id))
    .join(
        Booking,
        and_(
            Booking.branch_id == CapacityUnit.branch_id,
            Booking.starts_at <= CapacityUnit.starts_at,
            Booking.ends_at > CapacityUnit.starts_at,
        ),
    )
    .where(
        *_FREE_IN_RANGE,
        Booking.status.in_(EXPIRING_STATUSES),
        Booking.expires_at <= bindparam("now"),
    )
    .group_by(
        CapacityUnit.branch_id, CapacityUnit.starts_at, CapacityUnit.capacity, CapacityUnit.used
    )
)


_NEXT_EXPIRY = select(func.min(Booking.expires_at)).where(
    Booking.branch_id.in_(bindparam("branch_ids", expanding=True, type_=Uuid())),
    Booking.status.in_(EXPIRING_STATUSES),
    Booking.expires_at > bindparam("now"),
    Booking.starts_at < bindparam("end"),
    Booking.ends_at > bindparam("start"),
)

GLOBAL_VERSION = uuid.UUID(int=0)
"""The row of `capacity_versions` that changes of services, offers and branch calendars
move on (migration `5b1f0c9a7e21`)."""

_VERSION_SUM = select(func.coalesce(func.sum(CapacityVersion.version), 0)).where(
    CapacityVersion.branch_id.in_(bindparam("branch_ids", expanding=True, type_=Uuid()))
)
_PG_VERSION_SUM = (
    "SELECT coalesce(sum(version), 0) FROM capacity_versions WHERE branch_id = any($1::uuid[])"
)

_SQLITE_VERSION_SUM = (
    "SELECT coalesce(sum(version), 0) FROM capacity_versions "
    "WHERE branch_id IN (SELECT value FROM json_each(?))"
)


class CapacityVersions:
    """Reads the capacity versions of branches, as one number: their sum. Triggers move a
    branch's version on with every committed change of what availability shows there, and
    versions only grow, so an unchanged sum means none of them changed.

    Cheap on purpose, since every reuse of a kept answer asks: on PostgreSQL one prepared
    statement on the driver's connection, without SQLAlchemy's execution; on SQLite one
    `SELECT` on a read-only connection of this process's own, from the event loop (WAL lets a
    reader go on while others write: a few microseconds, far less than a hop to aiosqlite's
    thread); when that connection cannot read at once, through the request's connection."""

    def __init__(self, database: Database) -> None:
        self._is_sqlite = database.is_sqlite
        path = database.engine.url.database if self._is_sqlite else None
        self._sqlite_path = path if path and path != ":memory:" else None
        self._sqlite: sqlite3.Connection | None = None

    async def read(self, connection: AsyncConnection, branch_ids: Sequence[uuid.UUID]) -> int:
        if self._is_sqlite:
            version = self.read_own(branch_ids)
            if version is not None:
                return version
        else:
            raw = await connection.get_raw_connection()
            driver = raw.driver_connection
            if driver is not None:
                return int(await driver.fetchval(_PG_VERSION_SUM, list(branch_ids)))
        result = await connection.execute(_VERSION_SUM, {"branch_ids": list(branch_ids)})
        return int(result.scalar_one())

    def read_own(self, branch_ids: Sequence[uuid.UUID]) -> int | None:
        """On SQLite, the versions through this process's own connection; None when they
        cannot be read that way (PostgreSQL, an in-memory database, the file busy)."""
        if self._sqlite_path is None:
            return None
        try:
            if self._sqlite is None:
                self._sqlite = sqlite3.connect(
                    f"file:{quote(self._sqlite_path)}?mode=ro",
                    uri=True,
                    timeout=0,
                    isolation_level=None,
                    check_same_thread=False,
                )
            # Read to the end: a statement not stepped to its end keeps its snapshot.
            ((version,),) = self._sqlite.execute(
                _SQLITE_VERSION_SUM, (json.dumps([branch_id.hex for branch_id in branch_ids]),)
            ).fetchall()
        except sqlite3.Error:
            self.close()
            return None
        return int(version)

    def close(self) -> None:
        if self._sqlite is not None:
            self._sqlite.close()
            self._sqlite = None


def _insert(session: AsyncSession, model: type[PersonQuota] | type[CallNumberCounter]) -> Any:
    """An INSERT with `ON CONFLICT` in the session's dialect."""
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    return insert(model)


class BookingRepository:
    async def claim(
        self,
        session: AsyncSession,
        branch_id: uuid.UUID,
        start: datetime,
        end: datetime,
        units: int,
    ) -> ClaimOutcome:
        """Take one place in each of the `units` units from `start` to `end`, all or none.

        The units are locked in order of their start (PostgreSQL; SQLite serialises writing
        transactions), then one guarded `UPDATE … WHERE used < capacity` claims them. When
        it claims fewer than all, the caller must roll its transaction back.
        """
        where = _units_between(branch_id, start, end)
        has_room = (
            await session.scalars(
                select(CapacityUnit.used < CapacityUnit.capacity)
                .where(*where)
                .order_by(CapacityUnit.starts_at)
                .with_for_update()
            )
        ).all()
        if len(has_room) != units:
            return ClaimOutcome.closed
        if not all(has_room):
            return ClaimOutcome.taken
        claimed = await session.execute(
            update(CapacityUnit)
            .where(*where, CapacityUnit.used < CapacityUnit.capacity)
            .values(used=CapacityUnit.used + 1)
            .execution_options(synchronize_session=False)
        )
        return ClaimOutcome.claimed if rowcount(claimed) == units else ClaimOutcome.taken

    async def release(
        self, session: AsyncSession, branch_id: uuid.UUID, start: datetime, end: datetime
    ) -> None:
        await session.execute(
            update(CapacityUnit)
            .where(*_units_between(branch_id, start, end))
            .values(used=CapacityUnit.used - 1)
            .execution_options(synchronize_session=False)
        )

    async def add(self, session: AsyncSession, booking: Booking) -> Booking:
        session.add(booking)
        await session.flush()
        return booking

    async def expire_overlapping(
        self,
        session: AsyncSession,
        branch_id: uuid.UUID,
        start: datetime,
        end: datetime,
        now: datetime,
    ) -> int:
        """End the expired holds that cover any unit from `start` to `end` and give their
        units back, inside the caller's claim: their capacity returns at once."""
        due = (
            await session.scalars(
                select(Booking.id)
                .where(
                    Booking.branch_id == branch_id,
                    Booking.status.in_(EXPIRING_STATUSES),
                    Booking.expires_at <= now,
                    Booking.starts_at < end,
                    Booking.ends_at > start,
                )
                .order_by(Booking.id)
            )
        ).all()
        return await self._expire(session, due, now)

    async def expire_due(self, session: AsyncSession, now: datetime, limit: int) -> int:
        """The sweeper's share: end up to `limit` expired holds anywhere."""
        due = (
            await session.scalars(
                select(Booking.id)
                .where(Booking.status.in_(EXPIRING_STATUSES), Booking.expires_at <= now)
                .order_by(Booking.id)
                .limit(limit)
            )
        ).all()
        return await self._expire(session, due, now)

    async def _expire(self, session: AsyncSession, ids: Sequence[uuid.UUID], now: datetime) -> int:
        """Each hold is expired by one guarded `UPDATE`, so each one's units come back
        exactly once, whoever else is expiring it at the same moment."""
        expired = 0
        for booking_id in ids:
            try:
                booking = await BOOKINGS.apply(
                    session, booking_id, "expire", where=[Booking.expires_at <= now]
                )
            except AppError:
                continue  # expired, confirmed or cancelled by someone else meanwhile
            await self.release(session, booking.branch_id, booking.starts_at, booking.ends_at)
            await self.leave_quota(session, booking.id)
            expired += 1
        return expired

    async def end(self, session: AsyncSession, booking_id: uuid.UUID, now: datetime) -> None:
        """Expire a hold or unverified booking before its time (too many wrong codes)."""
        booking = await BOOKINGS.apply(session, booking_id, "expire", values={"expires_at": now})
        await self.release(session, booking.branch_id, booking.starts_at, booking.ends_at)
        await self.leave_quota(session, booking.id)

    async def next_call_number(self, session: AsyncSession, branch_id: uuid.UUID, day: date) -> int:
        """The branch's next call number of `day`, from 1. One upsert: of two clerks checking
        in at the same moment, the second waits for the first's row lock and counts on."""
        statement = (
            _insert(session, CallNumberCounter)
            .values(branch_id=branch_id, day=day, last=1)
            .on_conflict_do_update(
                index_elements=[CallNumberCounter.branch_id, CallNumberCounter.day],
                set_={"last": CallNumberCounter.last + 1},
            )
            .returning(CallNumberCounter.last)
        )
        return int((await session.execute(statement)).scalar_one())

    async def no_show_due(
        self, session: AsyncSession, started_before: datetime, limit: int
    ) -> list[uuid.UUID]:
        """Confirmed bookings whose citizen has not checked in by `started_before` after
        their start."""
        return list(
            await session.scalars(
                select(Booking.id)
                .where(
                    Booking.status == BookingStatus.confirmed,
                    Booking.starts_at <= started_before,
                )
                .order_by(Booking.starts_at, Booking.id)
                .limit(limit)
            )
        )

    async def take_quota(self, session: AsyncSession, person_key: str, cap: int) -> bool:
        """Count one more active appointment for `person_key`, unless it has `cap` already.

        One guarded upsert: of two parallel confirmations at the cap, the second waits for
        the first's row lock and then finds `active < cap` false."""
        statement = (
            _insert(session, PersonQuota)
            .values(person_key=person_key, active=1)
            .on_conflict_do_update(
                index_elements=[PersonQuota.person_key],
                set_={"active": PersonQuota.active + 1},
                where=PersonQuota.active < cap,
            )
            .returning(PersonQuota.active)
        )
        return (await session.execute(statement)).first() is not None

    async def leave_quota(self, session: AsyncSession, booking_id: uuid.UUID) -> None:
        """Stop counting `booking_id` against its person's cap, once."""
        person_key = await session.scalar(
            update(Booking)
            .where(Booking.id == booking_id, Booking.counts_in_quota.is_(True))
            .values(counts_in_quota=False)
            .returning(Booking.person_key)
            .execution_options(synchronize_session=False)
        )
        if person_key is None:
            return
        await session.execute(
            update(PersonQuota)
            .where(PersonQuota.person_key == person_key)
            .values(active=PersonQuota.active - 1)
        )

    async def past_in_quota(
        self, session: AsyncSession, now: datetime, limit: int
    ) -> list[uuid.UUID]:
        """Bookings that still count against their person's cap though they are over."""
        return list(
            await session.scalars(
                select(Booking.id)
                .where(Booking.counts_in_quota.is_(True), Booking.ends_at <= now)
                .order_by(Booking.id)
                .limit(limit)
            )
        )

    async def hold_back(
        self,
        session: AsyncSession,
        branch_id: uuid.UUID,
        start: datetime,
        end: datetime,
        returns_at: datetime,
    ) -> None:
        """Keep the units from `start` to `end` taken until `returns_at`."""
        session.add(
            CapacityReturn(branch_id=branch_id, starts_at=start, ends_at=end, returns_at=returns_at)
        )
        await session.flush()

    async def hand_back_after_no_show(
        self, session: AsyncSession, booking: Booking, now: datetime
    ) -> None:
        """A no-show's units that have not begun at `now` are held back for the return job
        at once, which offers them to the waiting list first (see `occupies`)."""
        unit_minutes = await session.scalar(
            select(BranchCalendar.unit_minutes).where(BranchCalendar.branch_id == booking.branch_id)
        )
        assert unit_minutes is not None  # a booking's branch has a calendar
        unit = timedelta(minutes=unit_minutes)
        begun = -((booking.starts_at - now) // unit)  # units begun by now, rounded up
        first = booking.starts_at + max(begun, 0) * unit
        if first < booking.ends_at:
            await self.hold_back(session, booking.branch_id, first, booking.ends_at, now)

    async def return_due(self, session: AsyncSession, now: datetime, limit: int) -> int:
        """Give back the units whose return time has come; each exactly once, as its row is
        deleted by one statement whoever else is returning it."""
        returned = await self.take_due_returns(session, now, limit)
        for branch_id, start, end in returned:
            await self.release(session, branch_id, start, end)
        return len(returned)

    async def take_due_returns(
        self, session: AsyncSession, now: datetime, limit: int
    ) -> list[tuple[uuid.UUID, datetime, datetime]]:
        """The held-back ranges whose return time has come, each taken exactly once (its row
        deleted by one statement whoever else is taking it); their units stay `used` until
        the caller releases them or hands them on."""
        due = (
            await session.scalars(
                select(CapacityReturn.id)
                .where(CapacityReturn.returns_at <= now)
                .order_by(CapacityReturn.id)
                .limit(limit)
            )
        ).all()
        taken: list[tuple[uuid.UUID, datetime, datetime]] = []
        for return_id in due:
            row = (
                await session.execute(
                    delete(CapacityReturn)
                    .where(CapacityReturn.id == return_id)
                    .returning(
                        CapacityReturn.branch_id, CapacityReturn.starts_at, CapacityReturn.ends_at
                    )
                )
            ).first()
            if row is not None:
                taken.append((row.branch_id, row.starts_at, row.ends_at))
        return taken

    async def free_units(
        self,
        connection: AsyncConnection,
        branch_ids: list[uuid.UUID],
        start: datetime,
        end: datetime,
        now: datetime,
    ) -> dict[uuid.UUID, list[tuple[datetime, int]]]:
        """Per branch, the units from `start` to `end` with room, ordered by start, counting
        the places of holds that expired but were not yet reclaimed as free."""
        if not branch_ids:
            return {}
        bounds = {"branch_ids": branch_ids, "start": start, "end": end}
        rows = await connection.execute(_FREE_UNITS_BY_BRANCH, bounds)
        return await self._with_reclaimable(connection, rows, bounds, now)

    async def first_free_units(
        self,
        connection: AsyncConnection,
        branch_ids: list[uuid.UUID],
        start: datetime,
        end: datetime,
        now: datetime,
        limit: int,
    ) -> tuple[dict[uuid.UUID, list[tuple[datetime, int]]], datetime | None]:
        """As `free_units`, but only the first `limit` units with room in order of their
        start, across the branches; and the start before which these are all of them, or
        None when fewer were found (then they are all up to `end`)."""
        if not branch_ids:
            return {}, None
        bounds = {"branch_ids": branch_ids, "start": start, "end": end}
        rows = (await connection.execute(_FIRST_FREE_UNITS, {**bounds, "limit": limit})).all()
        complete_before = rows[-1][1] if len(rows) == limit else None
        return await self._with_reclaimable(connection, rows, bounds, now), complete_before

    async def _with_reclaimable(
        self,
        connection: AsyncConnection,
        rows: Iterable[Any],
        bounds: dict[str, Any],
        now: datetime,
    ) -> dict[uuid.UUID, list[tuple[datetime, int]]]:
        """The free units per branch, with the places of expired holds in the range added."""
        by_branch: dict[uuid.UUID, list[tuple[datetime, int]]] = defaultdict(list)
        for branch_id, starts_at, places in rows:
            by_branch[branch_id].append((starts_at, places))
        reclaimable = await connection.execute(_RECLAIMABLE_UNITS, {**bounds, "now": now})
        returned: dict[uuid.UUID, dict[datetime, int]] = defaultdict(dict)
        for branch_id, starts_at, places in reclaimable:
            returned[branch_id][starts_at] = places
        for branch_id, places_by_start in returned.items():
            merged = dict(by_branch[branch_id])
            merged.update(places_by_start)
            by_branch[branch_id] = sorted(merged.items())
        return dict(by_branch)

    async def next_expiry(
        self,
        connection: AsyncConnection,
        branch_ids: list[uuid.UUID],
        start: datetime,
        end: datetime,
        now: datetime,
    ) -> datetime | None:
        """When the next hold (or unverified booking) covering a unit from `start` to `end`
        expires: from then on its places count as free, without any write."""
        if not branch_ids:
            return None
        bounds = {"branch_ids": branch_ids, "start": start, "end": end, "now": now}
        found: datetime | None = (await connection.execute(_NEXT_EXPIRY, bounds)).scalar()
        return found

    async def invariant_report(self, session: AsyncSession) -> InvariantReport:
        """Over the whole database: no unit over its capacity, and every unit's `used`
        equal to the holds and bookings occupying it (`OCCUPYING_STATUSES`) plus the
        cancelled ones whose capacity has not yet returned plus the live waiting-list offers;
        each of those bookings has all its units, and each live offer one person."""
        report = InvariantReport()
        over = await session.execute(
            select(CapacityUnit.branch_id, CapacityUnit.starts_at).where(
                (CapacityUnit.used > CapacityUnit.capacity) | (CapacityUnit.used < 0)
            )
        )
        report.over_capacity = [(b, s) for b, s in over]
        live = (
            select(func.count(Booking.id))
            .where(
                Booking.branch_id == CapacityUnit.branch_id,
                Booking.starts_at <= CapacityUnit.starts_at,
                Booking.ends_at > CapacityUnit.starts_at,
                occupies(CapacityUnit.starts_at),
            )
            .scalar_subquery()
        )
        held_back = (
            select(func.count(CapacityReturn.id))
            .where(
                CapacityReturn.branch_id == CapacityUnit.branch_id,
                CapacityReturn.starts_at <= CapacityUnit.starts_at,
                CapacityReturn.ends_at > CapacityUnit.starts_at,
            )
            .scalar_subquery()
        )
        offered = (
            select(func.count(CapacityOffer.id))
            .where(
                CapacityOffer.branch_id == CapacityUnit.branch_id,
                CapacityOffer.starts_at <= CapacityUnit.starts_at,
                CapacityOffer.ends_at > CapacityUnit.starts_at,
                CapacityOffer.status == OFFERED,
            )
            .scalar_subquery()
        )
        covering = live + held_back + offered
        miscounted = await session.execute(
            select(
                CapacityUnit.branch_id, CapacityUnit.starts_at, CapacityUnit.used, covering
            ).where(CapacityUnit.used != covering)
        )
        report.miscounted = [(b, s, used, count) for b, s, used, count in miscounted]
        units_held = (
            select(func.count())
            .where(
                CapacityUnit.branch_id == Booking.branch_id,
                CapacityUnit.starts_at >= Booking.starts_at,
                CapacityUnit.starts_at < Booking.ends_at,
            )
            .scalar_subquery()
        )
        missing = await session.scalars(
            select(Booking.id).where(
                Booking.status.in_(OCCUPYING_STATUSES), units_held != Booking.units
            )
        )
        report.bookings_without_units = list(missing)
        report.walk_ins = await walk_in_budgets.invariant_report(session)
        unowned = await session.scalars(
            select(CapacityOffer.id).where(
                CapacityOffer.status == OFFERED,
                (CapacityOffer.entry_id.is_(None)) | (CapacityOffer.token_hash.is_(None)),
            )
        )
        report.offers_without_person = list(unowned)
        return report
