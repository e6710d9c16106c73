"""The hot start again, against a real `rathaus serve` with several worker processes on
PostgreSQL (the deployment that runs several): the database alone keeps the count, whichever
process a request reaches. The in-process concurrency tests cover both databases."""

from __future__ import annotations

import asyncio
import os
from collections import Counter
from collections.abc import Iterator
from datetime import date, time, timedelta

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


def a_working_day_ahead() -> date:
    day = local_day(utcnow()) + timedelta(days=3)
    while holiday_name(day) is not None:
        day += timedelta(days=1)
    return day


async def create_hot_start(database_url: str) -> dict[str, str]:
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


def test_200_holds_through_2_server_processes_let_exactly_3_win(postgres_url: str) -> None:
    database_url = postgres_url
    assert run_cli("migrate", env={"RATHAUS_DATABASE_URL": database_url}).returncode == 0
    body = asyncio.run(create_hot_start(database_url))

    async def hold_all(port: int) -> list[int]:
        limits = httpx.Limits(max_connections=64)
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{port}", timeout=60, limits=limits
        ) as http:
            responses = await asyncio.gather(
                *(http.post("/api/v1/appointments/holds", json=body) for _ in range(CONCURRENT))
            )
        return [r.status_code for r in responses]

    with running_server(database_url, workers=WORKERS) as port:
        statuses = Counter(asyncio.run(hold_all(port)))

    assert statuses == {201: 3, 409: CONCURRENT - 3}, statuses
    assert asyncio.run(invariant_is_clean(database_url))
