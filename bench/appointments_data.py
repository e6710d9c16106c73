"""A city-scale appointment calendar for the appointments bench, on a migrated database.

`python -m bench.appointments_data --database-url URL` adds, by default, 12 branches with 8
counters each and 10-minute units, 40 services, 90 released days and confirmed bookings for
70% of the online places. Refused when `RATHAUS_ENV` is production.

Capacity comes from the app's own calendar code (`CalendarService.release_through`), so it is
exactly what the app computes for these rules. The bookings are then placed in Python and
written in bulk: one `UPDATE` per touched unit (an executemany), the booking rows (confirmed
through the eID, each of another person, counted in that person's quota), so that `used` of
every unit equals the live bookings covering it and the invariant
(`hold_service.invariant_report`) holds.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import random
import sys
import time
import uuid
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from datetime import time as wall_time

from sqlalchemy import func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.appointments.calendar import local_day
from app.appointments.models import (
    BOOKING,
    AppointmentService,
    Booking,
    BranchCalendar,
    BranchService,
    CapacityUnit,
    Counter,
    OpeningHours,
    PersonQuota,
)
from app.appointments.repository import BookingStatus
from app.appointments.service import calendar_service
from app.core.config import Environment, Settings
from app.core.db import Database, create_engine, utcnow
from app.core.references import ALPHABET, RANDOM_LENGTH, ReferenceNumber, _with_check
from app.organisation.models import Branch

BRANCH_CODE_PREFIX = "bench-"
UNIT_MINUTES = 10
HORIZON_DAYS = 90
# Online shares of a branch's counters, repeated when a branch has more than eight.
COUNTER_SHARES = (80, 80, 70, 70, 60, 60, 50, 50)
# Units per appointment of the services, in turn: most take 20 minutes, some 10 or 30.
SERVICE_UNITS = (2, 1, 2, 3, 2, 1, 2, 2)
# Monday to Friday: long mornings, afternoons on Monday and Tuesday, a long Thursday.
WEEKLY_HOURS = (
    (0, wall_time(7, 30), wall_time(12, 30)),
    (0, wall_time(13, 30), wall_time(16)),
    (1, wall_time(7, 30), wall_time(12, 30)),
    (1, wall_time(13, 30), wall_time(16)),
    (2, wall_time(7, 30), wall_time(13, 30)),
    (3, wall_time(8), wall_time(18)),
    (4, wall_time(7, 30), wall_time(13, 30)),
)
SATURDAY_HOURS = (5, wall_time(9), wall_time(13))
# Attempts to place a booking per place still to fill, before a day is left less full (only
# when long appointments no longer fit into the gaps left).
PLACEMENT_ATTEMPTS = 20
INSERT_BATCH = 5000


@dataclass(frozen=True)
class Plan:
    branches: int = 12
    counters: int = 8
    services: int = 40
    days: int = 90
    booked_share: float = 0.7
    seed: int = 1


@dataclass
class Summary:
    branches: int = 0
    counters: int = 0
    services: int = 0
    days_released: int = 0
    capacity_units: int = 0
    places: int = 0
    booked_places: int = 0
    bookings: int = 0
    seconds: float = 0.0

    @property
    def booked_share(self) -> float:
        return self.booked_places / self.places if self.places else 0.0

    def describe(self) -> str:
        return (
            f"{self.branches} branches, {self.counters} counters, {self.services} services, "
            f"{self.days_released} branch-days released: {self.capacity_units} capacity units "
            f"with {self.places} places, {self.bookings} bookings on {self.booked_places} "
            f"places ({self.booked_share:.1%}), in {self.seconds:.1f} s."
        )


@dataclass(frozen=True)
class ServiceOffer:
    service_id: uuid.UUID
    units: int


@dataclass
class Unit:
    starts_at: datetime
    capacity: int
    used: int = 0


@dataclass
class BranchDay:
    """One branch's units on one day, and the bookings placed on them."""

    branch_id: uuid.UUID
    units: list[Unit]
    placed: list[tuple[ServiceOffer, int]] = field(default_factory=list)
    """(offer, index of the first unit) per booking."""


class GenerationRefused(Exception):
    """The generator must not run here; the message says why."""


async def generate(database: Database, plan: Plan, now: datetime | None = None) -> Summary:
    """Add the calendar of `plan` to the database and book it; see the module docstring."""
    started = time.perf_counter()
    now = now or utcnow()
    rng = random.Random(plan.seed)
    summary = Summary()
    async with database.transaction() as session:
        await _refuse_existing(session)
        branch_ids = await _add_branches(session, plan, rng, summary)
        offers = await _add_services(session, plan, branch_ids, rng, summary)
        today = local_day(now)
        last = today + timedelta(days=plan.days - 1)
        for branch_id in branch_ids:
            summary.days_released += await calendar_service.release_through(
                session, branch_id, today, last
            )
        days = await _branch_days(session, branch_ids)
        for day in days:
            _book(day, offers[day.branch_id], plan.booked_share, rng)
        await _write_bookings(session, days, now, rng, summary)
    summary.seconds = time.perf_counter() - started
    return summary


async def _refuse_existing(session: AsyncSession) -> None:
    existing = await session.scalar(
        select(func.count()).where(Branch.code.startswith(BRANCH_CODE_PREFIX))
    )
    if existing:
        raise GenerationRefused(
            f"The database already has {existing} bench branches: generate into a fresh one."
        )


async def _add_branches(
    session: AsyncSession, plan: Plan, rng: random.Random, summary: Summary
) -> list[uuid.UUID]:
    branch_ids = [_uuid(rng) for _ in range(plan.branches)]
    await session.execute(
        insert(Branch),
        [
            {
                "id": branch_id,
                "code": f"{BRANCH_CODE_PREFIX}{number:02d}",
                "name": f"Bürgerdienste Bench {number:02d}",
                "street": "Benchstraße",
                "house_number": str(number),
                "postal_code": "44137",
                "city": "Dortmund",
                "wheelchair_accessible": True,
            }
            for number, branch_id in enumerate(branch_ids, start=1)
        ],
    )
    await session.execute(
        insert(BranchCalendar),
        [{"branch_id": b, "unit_minutes": UNIT_MINUTES} for b in branch_ids],
    )
    counters = [
        {
            "branch_id": branch_id,
            "name": f"Schalter {number}",
            "online_share_percent": COUNTER_SHARES[(number - 1) % len(COUNTER_SHARES)],
        }
        for branch_id in branch_ids
        for number in range(1, plan.counters + 1)
    ]
    await session.execute(insert(Counter), counters)
    # Every other branch also opens on Saturday mornings.
    hours = [
        {
            "branch_id": branch_id,
            "weekday": weekday,
            "opens": opens,
            "closes": closes,
            "valid_from": date(2026, 1, 1),
        }
        for index, branch_id in enumerate(branch_ids)
        for weekday, opens, closes in WEEKLY_HOURS + ((SATURDAY_HOURS,) if index % 2 else ())
    ]
    await session.execute(insert(OpeningHours), hours)
    summary.branches, summary.counters = len(branch_ids), len(counters)
    return branch_ids


async def _add_services(
    session: AsyncSession,
    plan: Plan,
    branch_ids: Sequence[uuid.UUID],
    rng: random.Random,
    summary: Summary,
) -> dict[uuid.UUID, list[ServiceOffer]]:
    """The first half of the services at every branch, each of the others at half of them."""
    offers: dict[uuid.UUID, list[ServiceOffer]] = defaultdict(list)
    services, branch_services = [], []
    for number in range(1, plan.services + 1):
        service_id = _uuid(rng)
        units = SERVICE_UNITS[(number - 1) % len(SERVICE_UNITS)]
        services.append(
            {
                "id": service_id,
                "code": f"bench-service-{number:02d}",
                "name_de": f"Bench-Dienstleistung {number:02d}",
                "name_en": f"Bench service {number:02d}",
                "max_persons": 4,
                "horizon_days": HORIZON_DAYS,
            }
        )
        everywhere = number <= (plan.services + 1) // 2
        offered_at = (
            branch_ids if everywhere else rng.sample(list(branch_ids), max(1, len(branch_ids) // 2))
        )
        for branch_id in offered_at:
            branch_services.append(
                {
                    "branch_id": branch_id,
                    "service_id": service_id,
                    "units": units,
                    "units_per_extra_person": 1,
                }
            )
            offers[branch_id].append(ServiceOffer(service_id, units))
    await session.execute(insert(AppointmentService), services)
    await session.execute(insert(BranchService), branch_services)
    summary.services = len(services)
    return offers


async def _branch_days(session: AsyncSession, branch_ids: Sequence[uuid.UUID]) -> list[BranchDay]:
    rows = await session.execute(
        select(CapacityUnit.branch_id, CapacityUnit.starts_at, CapacityUnit.capacity)
        .where(CapacityUnit.branch_id.in_(branch_ids))
        .order_by(CapacityUnit.branch_id, CapacityUnit.starts_at)
    )
    days: dict[tuple[uuid.UUID, date], BranchDay] = {}
    for branch_id, starts_at, capacity in rows:
        key = (branch_id, local_day(starts_at))
        day = days.get(key)
        if day is None:
            day = days[key] = BranchDay(branch_id, [])
        day.units.append(Unit(starts_at, capacity))
    return list(days.values())


def runs(units: Sequence[Unit], length: int, unit_minutes: int = UNIT_MINUTES) -> list[int]:
    """Indexes of the units from which `length` units follow each other without a gap."""
    step = timedelta(minutes=unit_minutes)
    return [
        index
        for index in range(len(units) - length + 1)
        if units[index + length - 1].starts_at - units[index].starts_at == step * (length - 1)
    ]


def _book(day: BranchDay, offers: Sequence[ServiceOffer], share: float, rng: random.Random) -> None:
    """Place random bookings of the branch's services until `share` of the day's places is
    taken (or no more fit)."""
    places = sum(unit.capacity for unit in day.units)
    wanted = round(places * share)
    starts = {units: runs(day.units, units) for units in {offer.units for offer in offers}}
    booked = 0
    attempts = wanted * PLACEMENT_ATTEMPTS
    while booked < wanted and attempts > 0:
        attempts -= 1
        offer = rng.choice(offers)
        if not starts[offer.units]:
            continue
        first = rng.choice(starts[offer.units])
        covered = day.units[first : first + offer.units]
        if any(unit.used >= unit.capacity for unit in covered):
            continue
        for unit in covered:
            unit.used += 1
        day.placed.append((offer, first))
        booked += offer.units


async def _write_bookings(
    session: AsyncSession,
    days: Sequence[BranchDay],
    now: datetime,
    rng: random.Random,
    summary: Summary,
) -> None:
    step = timedelta(minutes=UNIT_MINUTES)
    used = [
        {"branch_id": day.branch_id, "starts_at": unit.starts_at, "used": unit.used}
        for day in days
        for unit in day.units
        if unit.used
    ]
    if used:
        await session.execute(update(CapacityUnit), used)
    references = _references(rng)
    bookings = []
    for day in days:
        for offer, first in day.placed:
            starts_at = day.units[first].starts_at
            bookings.append(
                {
                    "id": _uuid(rng),
                    "reference": next(references),
                    "status": BookingStatus.confirmed,
                    "branch_id": day.branch_id,
                    "service_id": offer.service_id,
                    "starts_at": starts_at,
                    "ends_at": starts_at + step * offer.units,
                    "units": offer.units,
                    "persons": 1,
                    "person_key": hashlib.sha256(rng.randbytes(16)).hexdigest(),
                    "counts_in_quota": True,
                    "confirmed_via": "eid",
                    "confirmed_at": now,
                    "created_at": now,
                    "updated_at": now,
                }
            )
    for batch in _batches(bookings):
        await session.execute(
            insert(ReferenceNumber),
            [{"kind": BOOKING.name, "value": b["reference"], "created_at": now} for b in batch],
        )
        await session.execute(insert(Booking), batch)
        await session.execute(
            insert(PersonQuota), [{"person_key": b["person_key"], "active": 1} for b in batch]
        )
    summary.capacity_units = sum(len(day.units) for day in days)
    summary.places = sum(unit.capacity for day in days for unit in day.units)
    summary.booked_places = sum(unit.used for day in days for unit in day.units)
    summary.bookings = len(bookings)


def _uuid(rng: random.Random) -> uuid.UUID:
    """Ids from the seed, so that one seed gives the same data set on either database."""
    return uuid.UUID(int=rng.getrandbits(128), version=4)


def _references(rng: random.Random) -> Iterator[str]:
    """Booking references as the app draws them (`app.core.references`), each once; the
    reference_numbers rows written with them keep later allocations from repeating one."""
    seen: set[str] = set()
    while True:
        body = "".join(rng.choice(ALPHABET) for _ in range(RANDOM_LENGTH))
        reference = _with_check(BOOKING.prefix, body)
        if reference not in seen:
            seen.add(reference)
            yield reference


def _batches(rows: list[dict[str, object]]) -> Iterator[list[dict[str, object]]]:
    for start in range(0, len(rows), INSERT_BATCH):
        yield rows[start : start + INSERT_BATCH]


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    defaults = Plan()
    parser = argparse.ArgumentParser(
        prog="python -m bench.appointments_data",
        description="Add a city-scale, partly booked appointment calendar to a migrated "
        "database, for the appointments bench. Refused in production.",
    )
    parser.add_argument(
        "--database-url", help="The database (default: RATHAUS_DATABASE_URL or its default)."
    )
    parser.add_argument("--branches", type=int, default=defaults.branches)
    parser.add_argument("--counters", type=int, default=defaults.counters, help="Per branch.")
    parser.add_argument("--services", type=int, default=defaults.services)
    parser.add_argument(
        "--days", type=int, default=defaults.days, help="Days released, from today."
    )
    parser.add_argument(
        "--booked",
        type=float,
        default=defaults.booked_share,
        help="Share of the online places booked (0.7).",
    )
    parser.add_argument("--seed", type=int, default=defaults.seed, help="Random seed (1).")
    return parser.parse_args(argv)


def bench_settings(database_url: str | None) -> Settings:
    """The caller's settings, on `database_url`; refused in production."""
    settings = Settings() if database_url is None else Settings(database_url=database_url)
    if settings.env is Environment.production:
        raise GenerationRefused(
            "Refusing to generate bench data: it adds branches, services and thousands of "
            "bookings, and RATHAUS_ENV is production."
        )
    return settings


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    plan = Plan(
        branches=args.branches,
        counters=args.counters,
        services=args.services,
        days=args.days,
        booked_share=args.booked,
        seed=args.seed,
    )

    async def run(settings: Settings) -> Summary:
        database = Database(create_engine(settings, pooled=False))
        try:
            return await generate(database, plan)
        finally:
            await database.dispose()

    try:
        summary = asyncio.run(run(bench_settings(args.database_url)))
    except GenerationRefused as exc:
        print(exc, file=sys.stderr)
        return 2
    print(f"Bench data: {summary.describe()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
