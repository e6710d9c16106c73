"""A busy day at one branch: 8 counters serve 400 appointments and 200 walk-ins, calling from
one queue in parallel, while the waiting room's call-up display follows the calls.

For each backend it creates a fresh database, runs `rathaus migrate`, and writes one branch
open all of today (so the bench runs at any hour) with 8 counters, one service of one slot
unit and 400 confirmed appointments spread over the day. Then, against `rathaus serve` with
`--workers` processes:

1. the baseline: `/healthz` from 8 clients for `--baseline-seconds`;
2. the day: a reception desk checks the 400 appointments in and the kiosk draws 200 walk-in
   tickets, in random order, half of them before the counters open and half while they
   call; 8 clerks, one per counter and each on its own connection, call the next citizen
   (`appointments_call_next`) and complete the visit, until all 600 are served; one screen
   follows the display's server-sent events.

It prints the call-next latency (p50, p99) and its ratio to `/healthz` of the same run, the
calls per second, and the display's update latency: from the moment a counter has its call
until the screen receives a board that shows it (only calls still among the board's latest
when the screen polls can be seen: the count says how many were).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from datetime import time as wall_time
from pathlib import Path

import httpx
from sqlalchemy import insert, select, update
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
)
from app.appointments.repository import BookingStatus
from app.appointments.service import calendar_service
from app.core.config import Settings
from app.core.db import Database, create_engine, utcnow
from app.core.principal import PrincipalType, Role, ScopeType
from app.core.references import allocate
from app.identity.jwt import generate_private_pem
from app.identity.models import StaffRoleGrant, StaffUser
from app.organisation.models import Branch
from bench.databases import (
    migrate,
    postgres_backend,
    postgres_unreachable_reason,
    sqlite_backend,
)
from bench.loadgen import LOOPBACK
from bench.rathaus import BenchError
from bench.server import project_server
from bench.tokens import signed_in_tokens

COUNTERS = 8
APPOINTMENTS = 400
WALK_INS = 200
ONLINE_SHARE = 60
UNIT_MINUTES = 10
API = "/api/v1/appointments"
DISPLAY_EVENTS = API + "/branches/{branch_id}/display/events"
EMPTY_QUEUE_PAUSE = 0.01
STAFF_PROVIDER = "dev-login"


@dataclass(frozen=True)
class Day:
    branch_id: uuid.UUID
    service_id: uuid.UUID
    counter_ids: list[uuid.UUID]
    references: list[str]
    tokens: list[str]


@dataclass
class Timings:
    healthz: list[float] = field(default_factory=list)
    call_next: list[float] = field(default_factory=list)
    complete: list[float] = field(default_factory=list)
    called_at: dict[str, float] = field(default_factory=dict)
    seen_at: dict[str, float] = field(default_factory=dict)
    day_seconds: float = 0.0
    refused: int = 0


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.busy_day", description=__doc__)
    parser.add_argument("--backends", nargs="+", default=["sqlite", "postgresql"])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--baseline-seconds", type=float, default=5.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--postgres-dsn", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--postgres-database", default="rathaus_bench_busy_day")
    parser.add_argument("--json", type=Path, help="Also write the figures to this file.")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    load_before = os.getloadavg()[0]
    print(
        f"Busy-day bench on {os.cpu_count()} CPU cores (load average {load_before:.2f}): "
        f"one branch, {COUNTERS} counters, {APPOINTMENTS} appointments, {WALK_INS} walk-ins, "
        f"{args.workers} server workers.",
        flush=True,
    )
    figures: dict[str, dict[str, float]] = {}
    try:
        for name in args.backends:
            if name == "postgresql" and (reason := postgres_unreachable_reason(args.postgres_dsn)):
                print(f"PostgreSQL is not reachable ({reason}): skipped.")
                continue
            figures[name] = _measure(name, args)
    except BenchError as exc:
        print(f"Benchmark aborted: {exc}", file=sys.stderr)
        return 1
    print(f"\n{render_table(figures)}")
    print(f"\nLoad average {load_before:.2f} before the run, {os.getloadavg()[0]:.2f} after.")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
        print(f"Wrote {args.json}.")
    return 0


def _measure(name: str, args: argparse.Namespace) -> dict[str, float]:
    backend_context = (
        postgres_backend(args.postgres_dsn, args.postgres_database)
        if name == "postgresql"
        else sqlite_backend()
    )
    with backend_context as backend, tempfile.TemporaryDirectory() as directory:
        key_file = Path(directory) / "jwt.pem"
        key_file.write_bytes(generate_private_pem())
        settings = Settings(database_url=backend.database_url, jwt_private_key_file=str(key_file))
        migrate(backend)
        day = asyncio.run(build_day(settings, random.Random(args.seed)))
        server_settings = {
            "RATHAUS_JWT_PRIVATE_KEY_FILE": str(key_file),
            "RATHAUS_ANTI_AUTOMATION": "false",
        }
        with project_server(backend.database_url, args.workers, server_settings) as server:
            timings = asyncio.run(simulate(server.port, day, args, random.Random(args.seed)))
    result = summarise(timings)
    if not result["calls_seen_on_display"]:
        raise BenchError("the display's stream showed none of the calls")
    print(f"{name}: {describe(result)}", flush=True)
    return result


async def build_day(settings: Settings, rng: random.Random) -> Day:
    """The branch, its counters and hours, the service, the day's capacity with 400
    confirmed appointments in it, and a clerk for each counter plus the reception."""
    database = Database(create_engine(settings, pooled=False))
    now = utcnow()
    today = local_day(now)
    try:
        async with database.transaction() as session:
            branch = Branch(
                code="bench-busy-day",
                name="Bürgerdienste Bench",
                street="Friedensplatz",
                house_number="1",
                postal_code="44135",
                city="Dortmund",
            )
            service = AppointmentService(
                code="bench-busy-day",
                name_de="Meldebescheinigung",
                name_en="Certificate of residence",
                lead_time_minutes=0,
                horizon_days=1,
            )
            session.add_all([branch, service])
            await session.flush()
            counters = [
                Counter(
                    branch_id=branch.id, name=f"Schalter {n}", online_share_percent=ONLINE_SHARE
                )
                for n in range(1, COUNTERS + 1)
            ]
            session.add_all(
                [
                    BranchCalendar(branch_id=branch.id, unit_minutes=UNIT_MINUTES),
                    BranchService(branch_id=branch.id, service_id=service.id, units=1),
                    *counters,
                    OpeningHours(
                        branch_id=branch.id,
                        weekday=today.weekday(),
                        opens=wall_time(0),
                        closes=wall_time(23, 50),
                        valid_from=today,
                    ),
                ]
            )
            await session.flush()
            await calendar_service.release_day(session, branch.id, today)
            references = await _book(session, branch.id, service.id, now, rng)
            staff_ids = await _staff(session, branch.id, COUNTERS + 1)
        tokens = await signed_in_tokens(
            settings, PrincipalType.staff, staff_ids, level=None, provider=STAFF_PROVIDER
        )
    finally:
        await database.dispose()
    return Day(branch.id, service.id, [c.id for c in counters], references, tokens)


async def _book(
    session: AsyncSession,
    branch_id: uuid.UUID,
    service_id: uuid.UUID,
    now: datetime,
    rng: random.Random,
) -> list[str]:
    """400 confirmed appointments of one unit, at places drawn from the whole day."""
    units = (
        await session.execute(
            select(CapacityUnit.starts_at, CapacityUnit.capacity)
            .where(CapacityUnit.branch_id == branch_id)
            .order_by(CapacityUnit.starts_at)
        )
    ).all()
    places = [start for start, capacity in units for _ in range(capacity)]
    if len(places) < APPOINTMENTS:
        raise BenchError(f"The day has {len(places)} places for {APPOINTMENTS} appointments.")
    chosen = sorted(rng.sample(places, APPOINTMENTS))
    used: dict[datetime, int] = {}
    for start in chosen:
        used[start] = used.get(start, 0) + 1
    await session.execute(
        update(CapacityUnit),
        [{"branch_id": branch_id, "starts_at": s, "used": n} for s, n in used.items()],
    )
    step = timedelta(minutes=UNIT_MINUTES)
    rows = [
        {
            "id": uuid.uuid4(),
            "reference": await allocate(session, BOOKING, random_source=rng),
            "status": BookingStatus.confirmed,
            "branch_id": branch_id,
            "service_id": service_id,
            "starts_at": start,
            "ends_at": start + step,
            "units": 1,
            "persons": 1,
            "name": f"Bürgerin {number}",
            "confirmed_via": "eid",
            "confirmed_at": now,
            "created_at": now,
            "updated_at": now,
        }
        for number, start in enumerate(chosen, start=1)
    ]
    await session.execute(insert(Booking), rows)
    return [str(row["reference"]) for row in rows]


async def _staff(session: AsyncSession, branch_id: uuid.UUID, count: int) -> list[uuid.UUID]:
    users = [
        StaffUser(
            provider=STAFF_PROVIDER,
            issuer="bench",
            subject=f"bench-clerk-{n}",
            display_name=f"Sachbearbeitung {n}",
        )
        for n in range(count)
    ]
    session.add_all(users)
    await session.flush()
    session.add_all(
        StaffRoleGrant(
            staff_user_id=user.id,
            role=Role.branch_staff,
            scope_type=ScopeType.branch,
            scope_id=branch_id,
        )
        for user in users
    )
    await session.flush()
    return [user.id for user in users]


async def simulate(port: int, day: Day, args: argparse.Namespace, rng: random.Random) -> Timings:
    timings = Timings()
    base = f"http://{LOOPBACK}:{port}"
    clients = [
        httpx.AsyncClient(base_url=base, headers={"Authorization": f"Bearer {token}"})
        for token in day.tokens
    ]
    try:
        await _baseline(clients[:COUNTERS], args.baseline_seconds, timings)
        arrivals: list[tuple[str, str | None]] = [("appointment", r) for r in day.references]
        arrivals += [("walk_in", None)] * WALK_INS
        rng.shuffle(arrivals)
        served = Remaining(len(arrivals))
        # The morning rush: half the citizens wait when the counters open, the rest arrive
        # while they call.
        await _reception(clients[COUNTERS], day, arrivals[: len(arrivals) // 2])
        started = time.perf_counter()
        screen = asyncio.create_task(_watch_display(base, day, timings))
        await asyncio.gather(
            _reception(clients[COUNTERS], day, arrivals[len(arrivals) // 2 :]),
            *(
                _counter(client, day, counter_id, timings, served)
                for client, counter_id in zip(clients[:COUNTERS], day.counter_ids, strict=True)
            ),
        )
        timings.day_seconds = time.perf_counter() - started
        await asyncio.sleep(2)  # the screen's last polls
        screen.cancel()
    finally:
        for client in clients:
            await client.aclose()
    return timings


class Remaining:
    """How many citizens are still to be served; the counters stop at zero."""

    def __init__(self, remaining: int) -> None:
        self.remaining = remaining

    def served(self) -> None:
        self.remaining -= 1


async def _baseline(clients: Sequence[httpx.AsyncClient], seconds: float, timings: Timings) -> None:
    deadline = time.perf_counter() + seconds

    async def loop(client: httpx.AsyncClient) -> None:
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            response = await client.get("/healthz")
            if response.status_code != 200:
                raise BenchError(f"/healthz answered {response.status_code}")
            timings.healthz.append(time.perf_counter() - started)

    await asyncio.gather(*(loop(client) for client in clients))


async def _reception(
    client: httpx.AsyncClient,
    day: Day,
    arrivals: Sequence[tuple[str, str | None]],
) -> None:
    for kind, reference in arrivals:
        if kind == "appointment":
            response = await client.post(f"{API}/check-ins", json={"reference": reference})
        else:
            response = await client.post(
                f"{API}/branches/{day.branch_id}/tickets",
                json={"service_id": str(day.service_id), "persons": 1},
            )
        if response.status_code not in (200, 201):
            raise BenchError(f"{kind} refused: {response.status_code} {response.text[:200]}")


async def _counter(
    client: httpx.AsyncClient,
    day: Day,
    counter_id: uuid.UUID,
    timings: Timings,
    served: Remaining,
) -> None:
    path = f"{API}/branches/{day.branch_id}/counters/{counter_id}/call-next"
    while served.remaining > 0:
        started = time.perf_counter()
        response = await client.post(path)
        answered = time.perf_counter()
        if response.status_code == 409:
            await asyncio.sleep(EMPTY_QUEUE_PAUSE)
            continue
        if response.status_code != 200:
            raise BenchError(f"call-next answered {response.status_code}: {response.text[:200]}")
        timings.call_next.append(answered - started)
        call = response.json()
        timings.called_at[call["call_number"]] = answered
        served.served()
        kind = "bookings" if call["kind"] == "appointment" else "tickets"
        started = time.perf_counter()
        done = await client.post(f"{API}/{kind}/{call['id']}/complete")
        if done.status_code != 200:
            raise BenchError(f"complete answered {done.status_code}: {done.text[:200]}")
        timings.complete.append(time.perf_counter() - started)


async def _watch_display(base: str, day: Day, timings: Timings) -> None:
    """The waiting room's screen: reads the stream, reconnecting when it ends."""
    path = DISPLAY_EVENTS.format(branch_id=day.branch_id)
    async with httpx.AsyncClient(base_url=base, timeout=httpx.Timeout(10.0, read=120.0)) as client:
        while True:
            async with client.stream("GET", path) as stream:
                if stream.status_code != 200:
                    raise BenchError(f"the display's stream answered {stream.status_code}")
                async for line in stream.aiter_lines():
                    if not line.startswith("data:"):
                        continue
                    now = time.perf_counter()
                    for number in _call_numbers(json.loads(line.removeprefix("data:"))):
                        timings.seen_at.setdefault(number, now)


def _call_numbers(board: object) -> list[str]:
    calls = board.get("items", []) if isinstance(board, dict) else []
    return [str(call["call_number"]) for call in calls if isinstance(call, dict)]


def summarise(timings: Timings) -> dict[str, float]:
    lags = [
        max(0.0, timings.seen_at[number] - called)
        for number, called in timings.called_at.items()
        if number in timings.seen_at
    ]
    return {
        "healthz_p50_ms": _ms(_percentile(timings.healthz, 50)),
        "call_next_p50_ms": _ms(_percentile(timings.call_next, 50)),
        "call_next_p99_ms": _ms(_percentile(timings.call_next, 99)),
        "call_next_p50_to_healthz_p50": _percentile(timings.call_next, 50)
        / _percentile(timings.healthz, 50),
        "complete_p50_ms": _ms(_percentile(timings.complete, 50)),
        "calls": float(len(timings.call_next)),
        "calls_per_second": len(timings.call_next) / timings.day_seconds,
        "display_p50_ms": _ms(_percentile(lags, 50)),
        "display_p99_ms": _ms(_percentile(lags, 99)),
        "calls_seen_on_display": float(len(lags)),
    }


def describe(result: dict[str, float]) -> str:
    return ", ".join(f"{key} {value:.2f}" for key, value in result.items())


def render_table(figures: dict[str, dict[str, float]]) -> str:
    lines = [
        "| Backend | calls | calls/s | call-next p50 ms | p99 ms | ÷ /healthz p50 | "
        "display p50 ms | p99 ms | calls seen |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, f in figures.items():
        lines.append(
            f"| {name} | {f['calls']:.0f} | {f['calls_per_second']:.1f} | "
            f"{f['call_next_p50_ms']:.1f} | {f['call_next_p99_ms']:.1f} | "
            f"{f['call_next_p50_to_healthz_p50']:.1f} | {f['display_p50_ms']:.0f} | "
            f"{f['display_p99_ms']:.0f} | {f['calls_seen_on_display']:.0f} |"
        )
    return "\n".join(lines)


def _percentile(values: Sequence[float], percent: int) -> float:
    if not values:
        return float("nan")
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[percent - 1]


def _ms(seconds: float) -> float:
    return seconds * 1000


if __name__ == "__main__":
    sys.exit(main())
