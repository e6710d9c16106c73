"""The races again, against a real `rathaus serve` with several worker processes on
PostgreSQL (the deployment that runs several): the hot start, confirm against cancel, the
per-person cap and a replayed `Idempotency-Key`. The database alone keeps the count, whichever
process a request reaches. The in-process concurrency tests cover both databases (and the
race with the expiry sweep, which needs a clock the test controls)."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import date, datetime, time, timedelta

import httpx
import pytest

from app.appointments.calendar import holiday_name, local_day, local_instant, rfc3339
from app.appointments.service import hold_service
from app.core.db import Database, create_engine, utcnow
from bench.server import running_server
from tests.conftest import (
    _require_or_skip_postgres,
    create_pg_database,
    drop_pg_database,
    make_settings,
    run_cli,
)
from tests.fixtures.appointments import create_calendar

WORKERS = 2
CONCURRENT = 200
# Each server process keeps 10 connections (and 5 more at a peak): the 200 requests queue for
# them, and the suite's other worker still finds room on PostgreSQL (max_connections 100).
SERVER_SETTINGS = {"RATHAUS_DATABASE_POOL_SIZE": "10"}


def a_working_day_ahead() -> date:
    day = local_day(utcnow()) + timedelta(days=3)
    while holiday_name(day) is not None:
        day += timedelta(days=1)
    return day


async def create_hot_start(database_url: str) -> dict[str, str]:
    """A calendar with room for 3 at each start; the body of a hold of its 9:00 start."""
    database = Database(create_engine(make_settings(database_url), pooled=False))
    try:
        async with database.transaction() as session:
            calendar = await create_calendar(
                session,
                shares=(100, 100, 100),
                hours=tuple((weekday, time(8), time(12)) for weekday in range(7)),
            )
    finally:
        await database.dispose()
    return {
        "service_id": str(calendar.service.id),
        "branch_id": str(calendar.branch.id),
        "start": rfc3339(local_instant(a_working_day_ahead(), time(9))),
    }


async def invariant_is_clean(database_url: str) -> bool:
    database = Database(create_engine(make_settings(database_url), pooled=False))
    try:
        async with database.transaction(read_only=True) as session:
            return (await hold_service.invariant_report(session)).ok
    finally:
        await database.dispose()


@pytest.fixture
def postgres_url(worker_id: str) -> Iterator[str]:
    _require_or_skip_postgres()
    name = f"rathaus_processes_{worker_id}_{os.getpid()}"
    yield create_pg_database(name)
    drop_pg_database(name)


def at(body: dict[str, str], minutes: int) -> dict[str, str]:
    """The hold body for `minutes` after the hot start."""
    start = datetime.fromisoformat(body["start"]) + timedelta(minutes=minutes)
    return {**body, "start": rfc3339(start)}


def contact(email: str) -> dict[str, str]:
    return {"name": "Erika Mustermann", "email": email, "language": "de"}


async def hot_start(http: httpx.AsyncClient, body: dict[str, str]) -> Counter[int]:
    responses = await asyncio.gather(
        *(http.post("/api/v1/appointments/holds", json=body) for _ in range(CONCURRENT))
    )
    return Counter(r.status_code for r in responses)


async def hold_ids(http: httpx.AsyncClient, body: dict[str, str], count: int) -> list[str]:
    ids = []
    for n in range(count):
        response = await http.post("/api/v1/appointments/holds", json=at(body, 10 * n))
        assert response.status_code == 201, response.text
        ids.append(response.json()["id"])
    return ids


async def confirm_and_cancel(http: httpx.AsyncClient, ids: list[str]) -> list[tuple[int, int]]:
    async def race(hold_id: str) -> tuple[int, int]:
        confirmed, cancelled = await asyncio.gather(
            http.post(
                f"/api/v1/appointments/holds/{hold_id}/confirm",
                json=contact(f"{hold_id[:8]}@example.org"),
            ),
            http.post(f"/api/v1/appointments/bookings/{hold_id}/cancel"),
        )
        return confirmed.status_code, cancelled.status_code

    return list(await asyncio.gather(*(race(hold_id) for hold_id in ids)))


async def one_person(http: httpx.AsyncClient, ids: list[str]) -> Counter[int]:
    responses = await asyncio.gather(
        *(
            http.post(
                f"/api/v1/appointments/holds/{hold_id}/confirm", json=contact("erika@example.org")
            )
            for hold_id in ids
        )
    )
    return Counter(r.status_code for r in responses)


async def replayed(http: httpx.AsyncClient, body: dict[str, str]) -> set[str]:
    headers = {"Idempotency-Key": str(uuid.uuid4())}
    responses = await asyncio.gather(
        *(http.post("/api/v1/appointments/holds", json=body, headers=headers) for _ in range(20))
    )
    assert {r.status_code for r in responses} <= {201, 409}
    return {r.json()["id"] for r in responses if r.status_code == 201}


def test_races_through_2_server_processes_end_as_the_database_decides(
    postgres_url: str,
) -> None:
    database_url = postgres_url
    assert run_cli("migrate", env={"RATHAUS_DATABASE_URL": database_url}).returncode == 0
    body = asyncio.run(create_hot_start(database_url))

    async def run_all(
        port: int,
    ) -> tuple[Counter[int], list[tuple[int, int]], Counter[int], set[str]]:
        limits = httpx.Limits(max_connections=64)
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{port}", timeout=60, limits=limits
        ) as http:
            hot = await hot_start(http, body)
            raced = await confirm_and_cancel(http, await hold_ids(http, at(body, 10), 6))
            capped = await one_person(http, await hold_ids(http, at(body, 70), 6))
            replays = await replayed(http, at(body, 130))
        return hot, raced, capped, replays

    with running_server(database_url, workers=WORKERS, settings=SERVER_SETTINGS) as port:
        hot, raced, capped, replays = asyncio.run(run_all(port))

    assert hot == {201: 3, 409: CONCURRENT - 3}, hot
    for confirmed, cancelled in raced:
        assert (confirmed, cancelled) in {(200, 401), (200, 409), (409, 200)}, raced
    assert capped == {200: 2, 409: 4}, capped
    assert len(replays) == 1
    assert asyncio.run(invariant_is_clean(database_url))


async def free_starts(http: httpx.AsyncClient, body: dict[str, str]) -> list[set[str]]:
    """The free starts of the hot start's day, asked 24 times at once: each server process
    answers some of them, most from the answer it keeps."""
    day = datetime.fromisoformat(body["start"]).date().isoformat()
    params = {"service_id": body["service_id"], "from": day, "to": day}
    answers = await asyncio.gather(
        *(http.get("/api/v1/appointments/availability", params=params) for _ in range(24))
    )
    assert {a.status_code for a in answers} == {200}
    return [
        {start for branch in a.json()["days"][0]["branches"] for start in branch["starts"]}
        for a in answers
    ]


def test_a_hold_and_its_cancellation_show_at_once_in_every_process(postgres_url: str) -> None:
    database_url = postgres_url
    assert run_cli("migrate", env={"RATHAUS_DATABASE_URL": database_url}).returncode == 0
    body = asyncio.run(create_hot_start(database_url))

    async def run_all(port: int) -> list[list[set[str]]]:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=60) as http:
            seen = [await free_starts(http, body), await free_starts(http, body)]
            held = []
            # Room for 3: the start is listed until the third hold takes it.
            for _ in range(3):
                response = await http.post("/api/v1/appointments/holds", json=body)
                assert response.status_code == 201, response.text
                held.append(response.json()["id"])
                seen.append(await free_starts(http, body))
            cancelled = await http.post(f"/api/v1/appointments/bookings/{held[0]}/cancel")
            assert cancelled.status_code == 200, cancelled.text
            seen.append(await free_starts(http, body))
        return seen

    with running_server(database_url, workers=WORKERS, settings=SERVER_SETTINGS) as port:
        seen = asyncio.run(run_all(port))

    listed = [[body["start"] in starts for starts in round_] for round_ in seen]
    assert listed == [[True] * 24] * 4 + [[False] * 24] + [[True] * 24]
