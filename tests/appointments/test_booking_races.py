"""Booking under concurrency, on real transactions: confirm against cancel, confirm against
expiry, the per-person cap, and a retried request with the same `Idempotency-Key` all end in
exactly one state, and capacity and bookings agree afterwards."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select

from app.appointments.models import Booking, PersonQuota
from app.appointments.service import hold_service
from app.core.config import Settings
from app.core.db import Database
from tests.conftest import make_settings
from tests.fixtures.appointments import create_calendar, stand_at
from tests.fixtures.auth import sign_in
from tests.fixtures.bookings import bearer, contact, hold, hold_body

NOW = datetime(2027, 3, 19, 9, 0, tzinfo=UTC)


@pytest.fixture
def settings(database_url: str) -> Settings:
    """All requests come from one address here; the limits per address are proven in
    test_rate_limits.py."""
    return make_settings(database_url, anti_automation=False)


STARTS = [f"2027-03-22T{hour:02d}:{minute:02d}:00+01:00" for hour in (8, 9) for minute in (0, 10)]


async def assert_invariant_holds(database: Database) -> None:
    async with database.transaction(read_only=True) as session:
        report = await hold_service.invariant_report(session)
    assert report.ok, report


async def booking_statuses(database: Database) -> dict[uuid.UUID, str]:
    async with database.transaction(read_only=True) as session:
        return dict((await session.execute(select(Booking.id, Booking.status))).all())


async def test_confirm_and_cancel_of_one_hold_end_in_exactly_one_state(
    committed_app: FastAPI, committed_client: httpx.AsyncClient, committed_db: Database
) -> None:
    async with committed_db.transaction() as session:
        calendar = await create_calendar(session)
    stand_at(committed_app, NOW)
    holds = [await hold(committed_client, calendar, start) for start in STARTS]

    async def confirm(hold_id: str) -> httpx.Response:
        return await committed_client.post(
            f"/api/v1/appointments/holds/{hold_id}/confirm",
            json=contact(email=f"person-{hold_id[:8]}@example.org"),
        )

    async def cancel(hold_id: str) -> httpx.Response:
        return await committed_client.post(f"/api/v1/appointments/bookings/{hold_id}/cancel")

    answers = await asyncio.gather(*(call(h) for h in holds for call in (confirm, cancel)))

    statuses = await booking_statuses(committed_db)
    for index, hold_id in enumerate(holds):
        confirmed, cancelled = answers[2 * index], answers[2 * index + 1]
        if confirmed.status_code == 200:
            # Once confirmed, the hold's id alone no longer cancels it: 401, or 409 when the
            # cancellation lost the race on the row itself.
            assert cancelled.status_code in (401, 409), cancelled.text
            assert statuses[uuid.UUID(hold_id)] == "pending_verification"
        else:
            assert (confirmed.status_code, cancelled.status_code) == (409, 200)
            assert statuses[uuid.UUID(hold_id)] == "cancelled"
    assert not any(a.status_code >= 500 for a in answers)
    await assert_invariant_holds(committed_db)


async def test_a_confirmation_racing_the_expiry_sweep_ends_in_one_state(
    committed_app: FastAPI, committed_client: httpx.AsyncClient, committed_db: Database
) -> None:
    async with committed_db.transaction() as session:
        calendar = await create_calendar(session)
    stand_at(committed_app, NOW)
    holds = [await hold(committed_client, calendar, start) for start in STARTS]
    tokens = await sign_in(committed_client, "erika")
    after_expiry = NOW + timedelta(minutes=11)

    async def confirm(hold_id: str) -> httpx.Response:
        return await committed_client.post(
            f"/api/v1/appointments/holds/{hold_id}/confirm",
            json={},
            headers=bearer(tokens.access_token),
        )

    async def sweep() -> int:
        async with committed_db.transaction() as session:
            return await hold_service.expire_due(session, after_expiry)

    results = await asyncio.gather(*(confirm(h) for h in holds[:2]), sweep(), sweep())

    statuses = await booking_statuses(committed_db)
    confirmed = [h for h in holds[:2] if statuses[uuid.UUID(h)] == "confirmed"]
    expired = [h for h, s in statuses.items() if s == "expired"]
    assert len(confirmed) + len(expired) == len(holds)
    assert sum(1 for r in results[:2] if r.status_code == 200) == len(confirmed)  # type: ignore[union-attr]
    assert results[2] + results[3] == len(expired)  # type: ignore[operator]
    async with committed_db.transaction(read_only=True) as session:
        active = await session.scalar(select(func.sum(PersonQuota.active)))
    assert (active or 0) == len(confirmed)
    await assert_invariant_holds(committed_db)


async def test_parallel_confirmations_of_one_person_stop_at_the_cap(
    committed_app: FastAPI, committed_client: httpx.AsyncClient, committed_db: Database
) -> None:
    async with committed_db.transaction() as session:
        calendar = await create_calendar(session)
    stand_at(committed_app, NOW)
    holds = [await hold(committed_client, calendar, start) for start in STARTS]
    tokens = await sign_in(committed_client, "erika")

    answers = await asyncio.gather(
        *(
            committed_client.post(
                f"/api/v1/appointments/holds/{hold_id}/confirm",
                json={},
                headers=bearer(tokens.access_token),
            )
            for hold_id in holds
        )
    )

    codes = Counter(a.status_code for a in answers)
    assert codes == {200: 2, 409: len(holds) - 2}, [a.text for a in answers]
    assert all(
        a.json()["type"].endswith("/person-cap-reached") for a in answers if a.status_code == 409
    )
    statuses = Counter((await booking_statuses(committed_db)).values())
    assert statuses == {"confirmed": 2, "held": len(holds) - 2}
    async with committed_db.transaction(read_only=True) as session:
        assert await session.scalar(select(PersonQuota.active)) == 2
    await assert_invariant_holds(committed_db)


async def test_20_identical_hold_requests_with_one_idempotency_key_claim_one_slot(
    committed_app: FastAPI, committed_client: httpx.AsyncClient, committed_db: Database
) -> None:
    async with committed_db.transaction() as session:
        calendar = await create_calendar(session, shares=(100, 100, 100))
    stand_at(committed_app, NOW)
    headers = {"Idempotency-Key": str(uuid.uuid4())}
    body = hold_body(calendar)

    answers = await asyncio.gather(
        *(
            committed_client.post("/api/v1/appointments/holds", json=body, headers=headers)
            for _ in range(20)
        )
    )
    retry = await committed_client.post("/api/v1/appointments/holds", json=body, headers=headers)

    created = {a.json()["id"] for a in answers if a.status_code == 201}
    assert len(created) == 1, [a.text for a in answers]
    assert {a.status_code for a in answers} <= {201, 409}
    assert all(
        a.json()["type"].endswith("/idempotency-in-flight") for a in answers if a.status_code == 409
    )
    assert retry.status_code == 201
    assert retry.json()["id"] in created
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert len(await booking_statuses(committed_db)) == 1
    await assert_invariant_holds(committed_db)


async def test_a_retried_confirmation_returns_the_same_booking_and_token(
    committed_app: FastAPI, committed_client: httpx.AsyncClient, committed_db: Database
) -> None:
    async with committed_db.transaction() as session:
        calendar = await create_calendar(session)
    stand_at(committed_app, NOW)
    hold_id = await hold(committed_client, calendar)
    headers = {"Idempotency-Key": str(uuid.uuid4())}
    path = f"/api/v1/appointments/holds/{hold_id}/confirm"

    first = await committed_client.post(path, json=contact(), headers=headers)
    retried = await committed_client.post(path, json=contact(), headers=headers)
    other_body = await committed_client.post(path, json=contact(name="Jonas"), headers=headers)

    assert first.status_code == 200, first.text
    assert retried.status_code == 200
    assert retried.json()["manage_token"] == first.json()["manage_token"]
    assert retried.headers["Idempotent-Replayed"] == "true"
    assert other_body.status_code == 422
    async with committed_db.transaction(read_only=True) as session:
        assert await session.scalar(select(PersonQuota.active)) == 1
