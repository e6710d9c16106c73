"""Many citizens at once: a start is never given more often than it has room, multi-unit
claims do not deadlock, and capacity and bookings always agree afterwards."""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from datetime import UTC, datetime, time

import httpx
import pytest
from fastapi import FastAPI

from app.appointments.service import hold_service
from app.core.config import Settings
from app.core.db import Database
from tests.conftest import make_settings
from tests.fixtures.appointments import create_calendar, stand_at

NOW = datetime(2027, 3, 19, 9, 0, tzinfo=UTC)
HOT_START = "2027-03-22T08:00:00+01:00"
CONCURRENT = 200


@pytest.fixture
def settings(database_url: str) -> Settings:
    """The 200 citizens come from one address here, as in a load test; the limits per address
    are proven in test_rate_limits.py."""
    return make_settings(database_url, anti_automation=False)


async def assert_invariant_holds(database: Database) -> None:
    async with database.transaction(read_only=True) as session:
        report = await hold_service.invariant_report(session)
    assert report.ok, report


async def test_200_citizens_holding_one_start_with_room_for_3_let_exactly_3_win(
    committed_app: FastAPI, committed_client: httpx.AsyncClient, committed_db: Database
) -> None:
    async with committed_db.transaction() as session:
        calendar = await create_calendar(session, shares=(100, 100, 100))
    stand_at(committed_app, NOW)
    body = {
        "service_id": str(calendar.service.id),
        "branch_id": str(calendar.branch.id),
        "start": HOT_START,
    }

    responses = await asyncio.gather(
        *(committed_client.post("/api/v1/appointments/holds", json=body) for _ in range(CONCURRENT))
    )

    statuses = Counter(r.status_code for r in responses)
    assert statuses == {201: 3, 409: CONCURRENT - 3}, statuses
    assert all(r.json()["type"].endswith("/slot-taken") for r in responses if r.status_code == 409)
    await assert_invariant_holds(committed_db)


async def test_overlapping_multi_unit_holds_never_deadlock_or_overbook(
    committed_app: FastAPI, committed_client: httpx.AsyncClient, committed_db: Database
) -> None:
    async with committed_db.transaction() as session:
        calendar = await create_calendar(
            session,
            shares=(100, 100),
            hours=((0, time(8), time(9)),),
            units=1,
            units_per_extra_person=1,
        )
    stand_at(committed_app, NOW)
    draw = random.Random(9)
    bodies = [
        {
            "service_id": str(calendar.service.id),
            "branch_id": str(calendar.branch.id),
            "start": f"2027-03-22T08:{draw.choice([0, 10, 20, 30]):02d}:00+01:00",
            "persons": draw.randint(1, 3),
        }
        for _ in range(60)
    ]

    responses = await asyncio.gather(
        *(committed_client.post("/api/v1/appointments/holds", json=b) for b in bodies)
    )

    statuses = Counter(r.status_code for r in responses)
    assert set(statuses) <= {201, 409}, [r.text for r in responses if r.status_code >= 500]
    assert statuses[201] >= 2
    await assert_invariant_holds(committed_db)
