"""The queue under concurrency, on real transactions: counters calling at the same moment
never get the same citizen, and kiosks drawing at the same moment never exceed the day's
walk-in budget nor share a number."""

from __future__ import annotations

import asyncio
from collections import Counter

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select

from app.appointments.models import Booking, QueueCall, WalkInBudget, WalkInTicket
from app.appointments.service import hold_service
from app.core.config import Settings
from app.core.db import Database
from tests.conftest import make_settings
from tests.fixtures.appointments import stand_at
from tests.fixtures.auth import sign_in
from tests.fixtures.bookings import book_with_eid
from tests.fixtures.queue import (
    API,
    FRIDAY,
    MONDAY,
    call_next,
    create_branches,
    draw,
    kiosk_headers,
    monday_at,
)

COUNTERS = 8
APPOINTMENTS = 6
WALK_INS = 6
CALLS = 2 * COUNTERS


@pytest.fixture
def settings(database_url: str) -> Settings:
    return make_settings(database_url, anti_automation=False, booking_max_active_per_person=50)


async def assert_invariant_holds(database: Database) -> None:
    async with database.transaction(read_only=True) as session:
        report = await hold_service.invariant_report(session)
    assert report.ok, report


async def test_counters_calling_at_the_same_moment_each_get_a_different_citizen(
    committed_app: FastAPI, committed_client: httpx.AsyncClient, committed_db: Database
) -> None:
    async with committed_db.transaction() as session:
        branches = await create_branches(session, shares=(50,) * COUNTERS)
    hoerde = branches.hoerde
    stand_at(committed_app, FRIDAY)
    citizen = await sign_in(committed_client, "erika")
    booked = [
        await book_with_eid(
            committed_client, hoerde, citizen.access_token, f"{MONDAY}T08:{10 * n:02d}:00+01:00"
        )
        for n in range(APPOINTMENTS)
    ]
    clerks = [
        (await sign_in(committed_client, "branch-hoerde", staff=True)).headers for _ in range(2)
    ]
    kiosk = await kiosk_headers(committed_client, "appointments:tickets", branch=hoerde)
    stand_at(committed_app, monday_at(7, 50))
    for booking in booked:
        checked_in = await committed_client.post(
            f"{API}/check-ins", json={"reference": booking["reference"]}, headers=clerks[0]
        )
        assert checked_in.status_code == 200, checked_in.text
    for _ in range(WALK_INS):
        assert (await draw(committed_client, kiosk, hoerde)).status_code == 201
    stand_at(committed_app, monday_at(8, 30))

    answers = await asyncio.gather(
        *(
            call_next(committed_client, clerks[n % 2], hoerde, counter=n % COUNTERS)
            for n in range(CALLS)
        )
    )

    codes = Counter(answer.status_code for answer in answers)
    assert codes == {200: APPOINTMENTS + WALK_INS, 409: CALLS - APPOINTMENTS - WALK_INS}, [
        a.text for a in answers if a.status_code >= 500
    ]
    called = [a.json()["id"] for a in answers if a.status_code == 200]
    assert len(set(called)) == len(called)
    numbers = sorted(a.json()["call_number"] for a in answers if a.status_code == 200)
    assert numbers == [f"A{n:03d}" for n in range(1, 7)] + [f"W{n:03d}" for n in range(1, 7)]
    async with committed_db.transaction(read_only=True) as session:
        per_item = Counter(
            (await session.execute(select(QueueCall.booking_id, QueueCall.ticket_id))).all()
        )
        assert len(per_item) == APPOINTMENTS + WALK_INS
        assert set(per_item.values()) == {1}
        statuses = (await session.scalars(select(Booking.status))).all()
        assert set(statuses) == {"called"}
        tickets = (await session.scalars(select(WalkInTicket.status))).all()
        assert set(tickets) == {"called"}
    await assert_invariant_holds(committed_db)


async def test_kiosks_drawing_at_the_same_moment_never_exceed_the_walk_in_budget(
    committed_app: FastAPI, committed_client: httpx.AsyncClient, committed_db: Database
) -> None:
    async with committed_db.transaction() as session:
        branches = await create_branches(session, shares=(50,))
    # The other branch's one counter is half for walk-ins: 12 of its 24 units on Monday.
    other = branches.other
    kiosks = [
        await kiosk_headers(committed_client, "appointments:tickets", branch=other)
        for _ in range(2)
    ]
    stand_at(committed_app, monday_at(9, 0))
    persons = [1 + n % 3 for n in range(16)]  # 32 units asked for

    answers = await asyncio.gather(
        *(draw(committed_client, kiosks[n % 2], other, persons=p) for n, p in enumerate(persons))
    )

    assert {a.status_code for a in answers} <= {201, 409}, [a.text for a in answers]
    drawn = [a.json() for a in answers if a.status_code == 201]
    numbers = sorted(int(t["call_number"].removeprefix("W")) for t in drawn)
    assert numbers == list(range(1, len(drawn) + 1))
    async with committed_db.transaction(read_only=True) as session:
        budget = await session.get(WalkInBudget, (other.branch.id, monday_at(9, 0).date()))
        assert budget is not None
        units = await session.scalar(select(func.sum(WalkInTicket.units)))
    assert budget.capacity == 12
    assert budget.used == units <= 12
    refused = [p for a, p in zip(answers, persons, strict=True) if a.status_code == 409]
    assert refused, "more was asked for than the budget holds"
    # Capacity only shrank meanwhile: each refusal asked for more than was left at the end.
    assert all(p > budget.capacity - budget.used for p in refused)
    assert budget.turned_away == len(refused)
    await assert_invariant_holds(committed_db)
