"""Holds and confirmations under concurrency, for the appointments bench.

Every client walks its own list of free starts: it holds one (`POST …/holds`), confirms the
hold as a signed-in citizen (`POST …/holds/{id}/confirm`), then takes the next. The lists are
planned from the database before the load so that no two holds compete for the last place
of a unit: the bench measures what a booking costs, not how often citizens collide (the
concurrency tests cover that). The per-person cap allows each citizen a few active bookings
(two by default), so every citizen's token serves that many items.
"""

from __future__ import annotations

import asyncio
import json
import math
import random
import subprocess
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import insert, select

from app.appointments.calendar import day_bounds, local_day, rfc3339
from app.appointments.models import CapacityUnit
from app.core.config import Settings
from app.core.db import Database, create_engine, utcnow
from app.core.principal import LevelOfAssurance, PrincipalType
from app.identity.models import CitizenAccount
from bench.appointments_data import UNIT_MINUTES, Unit, runs
from bench.loadgen import LOOPBACK, REQUEST_TIMEOUT_SECONDS, ProtocolError, read_response
from bench.rathaus import BenchError
from bench.tokens import signed_in_tokens

HOLDS_PATH = "/api/v1/appointments/holds"
WRK_SCRIPT = Path(__file__).with_name("wrk_holds.lua")
WRK_SUMMARY_PREFIX = "BENCH_WRK_HOLDS "
FIRST_DAY_AHEAD = 2
"""Starts from the day after tomorrow: clear of the lead time whenever the bench runs."""
MOCK_EID_ISSUER = "urn:rathaus:bench"


@dataclass(frozen=True)
class HoldItem:
    branch_id: uuid.UUID
    start: datetime
    token: str | None = None


@dataclass
class HoldFigures:
    """One measured window of the holds scenario."""

    requests: int
    duration_seconds: float
    holds: int
    holds_refused: int
    confirmed: int
    confirms_refused: int
    exhausted: int
    socket_errors: int
    p50_ms: float
    p99_ms: float
    consumed: list[int] = field(default_factory=list)

    @property
    def bookings_per_second(self) -> float:
        """Confirmed bookings per second, or holds per second when nothing is confirmed."""
        done = self.confirmed or self.holds
        return done / self.duration_seconds

    @property
    def requests_per_second(self) -> float:
        return self.requests / self.duration_seconds

    @property
    def errors(self) -> int:
        return self.holds_refused + self.confirms_refused + self.exhausted + self.socket_errors


async def plan_holds(
    database: Database,
    branch_ids: Sequence[uuid.UUID],
    units: int,
    horizon_days: int,
    seed: int,
    now: datetime | None = None,
) -> list[HoldItem]:
    """Every start that can be held at once without taking another's last place, shuffled."""
    today = local_day(now or utcnow())
    first = day_bounds(today + timedelta(days=FIRST_DAY_AHEAD))[0]
    end = day_bounds(today + timedelta(days=horizon_days - 2))[1]
    async with database.transaction(read_only=True) as session:
        rows = await session.execute(
            select(CapacityUnit.branch_id, CapacityUnit.starts_at, CapacityUnit.capacity)
            .add_columns(CapacityUnit.used)
            .where(
                CapacityUnit.branch_id.in_(branch_ids),
                CapacityUnit.starts_at >= first,
                CapacityUnit.starts_at < end,
            )
            .order_by(CapacityUnit.branch_id, CapacityUnit.starts_at)
        )
        by_branch: dict[uuid.UUID, list[Unit]] = {}
        for branch_id, starts_at, capacity, used in rows:
            by_branch.setdefault(branch_id, []).append(Unit(starts_at, capacity, used))
    items = [
        HoldItem(branch_id, start)
        for branch_id, branch_units in by_branch.items()
        for start in _pack(branch_units, units)
    ]
    random.Random(seed).shuffle(items)
    return items


def _pack(units: list[Unit], length: int) -> list[datetime]:
    """Starts of `length` units, as many as fit into the free places together."""
    starts = []
    for first in runs(units, length, UNIT_MINUTES):
        covered = units[first : first + length]
        while all(unit.used < unit.capacity for unit in covered):
            for unit in covered:
                unit.used += 1
            starts.append(units[first].starts_at)
    return starts


async def citizen_tokens(settings: Settings, count: int) -> list[str]:
    """Access tokens of `count` new citizens signed in with the mock eID at level
    `substantial`."""
    citizen_ids = [uuid.uuid4() for _ in range(count)]
    if citizen_ids:
        database = Database(create_engine(settings, pooled=False))
        try:
            async with database.transaction() as session:
                await session.execute(
                    insert(CitizenAccount),
                    [
                        {
                            "id": citizen_id,
                            "provider": "mock-eid",
                            "issuer": MOCK_EID_ISSUER,
                            "subject": f"bench-{citizen_id}",
                            "level": int(LevelOfAssurance.substantial),
                        }
                        for citizen_id in citizen_ids
                    ],
                )
        finally:
            await database.dispose()
    return await signed_in_tokens(
        settings,
        PrincipalType.citizen,
        citizen_ids,
        level=LevelOfAssurance.substantial,
        provider="mock-eid",
    )


def with_tokens(
    items: Sequence[HoldItem], tokens: Sequence[str], per_citizen: int
) -> list[HoldItem]:
    """`per_citizen` items for each citizen: the per-person cap
    (`RATHAUS_BOOKING_MAX_ACTIVE_PER_PERSON`)."""
    return [
        HoldItem(item.branch_id, item.start, tokens[index // per_citizen])
        for index, item in enumerate(items)
    ]


class HoldClients:
    """The items dealt to `clients` clients, each walking its own list across runs."""

    def __init__(self, items: Sequence[HoldItem], clients: int) -> None:
        self.lists = [list(items[number::clients]) for number in range(clients)]
        self.cursors = [0] * clients

    def remaining(self) -> list[list[HoldItem]]:
        return [items[cursor:] for items, cursor in zip(self.lists, self.cursors, strict=True)]

    def advance(self, consumed: Sequence[int]) -> None:
        """Past what each client used, and one more: a hold in flight when a run ended may
        have been taken, and its start is not tried again."""
        for number, used in enumerate(consumed):
            self.cursors[number] += used + 1


def run_holds_wrk(
    executable: str,
    port: int,
    service_id: uuid.UUID,
    clients: HoldClients,
    *,
    seconds: int,
    confirm: bool,
    plan_file: Path,
) -> HoldFigures:
    """wrk with one thread and one connection per client (wrk_holds.lua)."""
    remaining = clients.remaining()
    lines = [
        f"{number}\t{service_id}\t{item.branch_id}\t{rfc3339(item.start)}\t{item.token or '-'}"
        for number, items in enumerate(remaining, start=1)
        for item in items
    ]
    plan_file.write_text("\n".join(lines) + "\n", encoding="utf-8")
    command = [
        executable,
        f"--threads={len(remaining)}",
        f"--connections={len(remaining)}",
        f"--duration={seconds}s",
        f"--timeout={math.ceil(REQUEST_TIMEOUT_SECONDS)}s",
        "--latency",
        f"--script={WRK_SCRIPT}",
        f"http://{LOOPBACK}:{port}",
        "--",
        str(plan_file),
        "1" if confirm else "0",
    ]
    completed = subprocess.run(command, capture_output=True, text=True, check=False)
    if completed.returncode != 0:
        raise BenchError(f"wrk failed on the holds:\n{completed.stderr.strip()}")
    for line in completed.stdout.splitlines():
        if line.startswith(WRK_SUMMARY_PREFIX):
            summary = json.loads(line.removeprefix(WRK_SUMMARY_PREFIX))
            break
    else:
        raise BenchError(f"wrk printed no holds summary:\n{completed.stdout.strip()}")
    figures = HoldFigures(
        requests=summary["requests"],
        duration_seconds=summary["duration_us"] / 1_000_000,
        holds=summary["holds"],
        holds_refused=summary["holds_refused"],
        confirmed=summary["confirmed"],
        confirms_refused=summary["confirms_refused"],
        exhausted=summary["exhausted"],
        socket_errors=summary["socket_errors"],
        p50_ms=summary["p50_us"] / 1000,
        p99_ms=summary["p99_us"] / 1000,
        consumed=summary["consumed"],
    )
    clients.advance(figures.consumed)
    return figures


async def run_holds_python(
    port: int,
    service_id: uuid.UUID,
    clients: HoldClients,
    *,
    seconds: int,
    confirm: bool,
) -> HoldFigures:
    """The same walk as wrk_holds.lua, on asyncio streams (where wrk is not installed)."""
    remaining = clients.remaining()
    figures = HoldFigures(0, seconds, 0, 0, 0, 0, 0, 0, math.nan, math.nan)
    latencies: list[float] = []
    until = time.perf_counter() + seconds
    consumed = await asyncio.gather(
        *(
            _python_client(port, service_id, items, until, confirm, figures, latencies)
            for items in remaining
        )
    )
    figures.requests = len(latencies)
    if latencies:
        ordered = sorted(latencies)
        figures.p50_ms = ordered[max(math.ceil(0.5 * len(ordered)), 1) - 1] * 1000
        figures.p99_ms = ordered[max(math.ceil(0.99 * len(ordered)), 1) - 1] * 1000
    figures.consumed = list(consumed)
    clients.advance(figures.consumed)
    return figures


async def _python_client(
    port: int,
    service_id: uuid.UUID,
    items: Sequence[HoldItem],
    until: float,
    confirm: bool,
    figures: HoldFigures,
    latencies: list[float],
) -> int:
    reader, writer = await asyncio.open_connection(LOOPBACK, port)
    clock = time.perf_counter
    consumed = 0
    try:
        for item in items:
            if clock() >= until:
                break
            body = {
                "service_id": str(service_id),
                "branch_id": str(item.branch_id),
                "start": rfc3339(item.start),
                "persons": 1,
            }
            status, answer = await _post(reader, writer, port, HOLDS_PATH, body, None, latencies)
            consumed += 1
            if status != 201:
                figures.holds_refused += 1
                continue
            figures.holds += 1
            if not confirm or clock() >= until:
                continue
            path = f"{HOLDS_PATH}/{answer['id']}/confirm"
            status, _ = await _post(reader, writer, port, path, {}, item.token, latencies)
            if status == 200:
                figures.confirmed += 1
            else:
                figures.confirms_refused += 1
        else:
            figures.exhausted += 1
    except (OSError, TimeoutError, asyncio.IncompleteReadError, ProtocolError):
        figures.socket_errors += 1
    finally:
        writer.close()
    return consumed


async def _post(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    port: int,
    path: str,
    body: dict[str, object],
    token: str | None,
    latencies: list[float],
) -> tuple[int, dict[str, object]]:
    payload = json.dumps(body).encode()
    authorization = f"Authorization: Bearer {token}\r\n" if token else ""
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {LOOPBACK}:{port}\r\nAccept: application/json\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n"
        f"{authorization}\r\n"
    )
    sent_at = time.perf_counter()
    writer.write(head.encode("ascii") + payload)
    async with asyncio.timeout(REQUEST_TIMEOUT_SECONDS):
        response = await read_response(reader)
    latencies.append(time.perf_counter() - sent_at)
    answer = json.loads(response.body) if response.body else {}
    return response.status, answer if isinstance(answer, dict) else {}
