"""The branch's day: clerks see the day's appointments with names, check citizens in with a
call number, complete visits with their service time and mark no-shows, at their own branch
only; capacity and bookings agree throughout."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.appointments.branch_day import branch_day_service
from app.appointments.models import BOOKING, Booking, PersonQuota
from app.appointments.service import hold_service
from app.appointments.tasks import NO_SHOW_JOB, appointments_registry
from app.core.config import Settings
from app.core.db import Database
from tests.conftest import make_settings
from tests.fixtures.appointments import Calendar, create_calendar, stand_at
from tests.fixtures.auth import Tokens, sign_in
from tests.fixtures.bookings import assert_invariant_holds, book_with_eid, used_units
from tests.fixtures.factories import create_department

FRIDAY = datetime(2027, 3, 19, 9, 0, tzinfo=UTC)
MONDAY = "2027-03-22"
MONDAY_7_50 = datetime(2027, 3, 22, 6, 50, tzinfo=UTC)  # Berlin, winter time: UTC+1
MONDAY_8_12 = datetime(2027, 3, 22, 7, 12, tzinfo=UTC)
MONDAY_8_21 = datetime(2027, 3, 22, 7, 21, tzinfo=UTC)
API = "/api/v1/appointments"
PROBLEM = "https://rathaus.example/problems/"


@pytest.fixture
def settings(database_url: str) -> Settings:
    """One citizen books the whole day here; the cap and the limits per address are proven
    in their own tests."""
    return make_settings(database_url, anti_automation=False, booking_max_active_per_person=50)


@dataclass
class Day:
    hoerde: Calendar
    other: Calendar
    clerk: dict[str, str]
    bookings: dict[str, dict[str, Any]]


async def create_branches(session: AsyncSession, *, shares: tuple[int, ...]) -> Day:
    """Hörde (whose staff the dev-login persona `branch-hoerde` is) and another branch
    offering the same service, the department that runs the branches, and another one."""
    hoerde = await create_calendar(session, shares=shares)
    hoerde.branch.code = "hoerde"
    other = await create_calendar(session, service=hoerde.service)
    await create_department(session, code="33")
    await create_department(session, code="51")  # the youth office, of `clerk-jugendamt`
    await session.commit()
    return Day(hoerde, other, {}, {})


async def book(
    client: httpx.AsyncClient, calendar: Calendar, citizen: Tokens, start: str
) -> dict[str, Any]:
    return await book_with_eid(
        client, calendar, citizen.access_token, start, name="Erika Mustermann"
    )


@pytest.fixture
async def day(app: FastAPI, client: httpx.AsyncClient, session: AsyncSession) -> Day:
    """Booked on Friday: Monday 8:00, 8:10 and 8:20 and Tuesday 8:00 at Hörde, Monday 8:00
    at the other branch; then it is Monday 7:50."""
    day = await create_branches(session, shares=(100, 100))
    stand_at(app, FRIDAY)
    citizen = await sign_in(client, "erika")
    for key, start in {
        "first": f"{MONDAY}T08:00:00+01:00",
        "second": f"{MONDAY}T08:10:00+01:00",
        "third": f"{MONDAY}T08:20:00+01:00",
        "tuesday": "2027-03-23T08:00:00+01:00",
    }.items():
        day.bookings[key] = await book(client, day.hoerde, citizen, start)
    day.bookings["other"] = await book(client, day.other, citizen, f"{MONDAY}T08:00:00+01:00")
    day.clerk = (await sign_in(client, "branch-hoerde", staff=True)).headers
    stand_at(app, MONDAY_7_50)
    return day


def day_path(calendar: Calendar) -> str:
    return f"{API}/branches/{calendar.branch.id}/day"


async def check_in(
    client: httpx.AsyncClient, headers: dict[str, str], reference: object, **body: object
) -> httpx.Response:
    return await client.post(
        f"{API}/check-ins", json={"reference": reference, **body}, headers=headers
    )


async def test_clerk_sees_the_day_checks_in_with_call_numbers_and_completes_with_service_time(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession, day: Day
) -> None:
    before = await used_units(session)
    counter = day.hoerde.counters[1]
    first, second = day.bookings["first"], day.bookings["second"]

    schedule = await client.get(day_path(day.hoerde), headers=day.clerk)
    assert schedule.status_code == 200, schedule.text
    assert [
        (v["reference"], v["status"], v["name"], v["persons"]) for v in schedule.json()["items"]
    ] == [
        (day.bookings[k]["reference"], "confirmed", "Erika Mustermann", 1)
        for k in ("first", "second", "third")
    ]

    checked_in = await check_in(client, day.clerk, first["reference"], counter_id=str(counter.id))
    assert checked_in.status_code == 200, checked_in.text
    visit = checked_in.json()
    assert (visit["status"], visit["call_number"], visit["counter_id"]) == (
        "checked_in",
        "A001",
        str(counter.id),
    )
    typed = str(second["reference"]).lower().replace("-", " ")
    assert (await check_in(client, day.clerk, typed)).json()["call_number"] == "A002"

    again = await check_in(client, day.clerk, first["reference"])
    assert again.status_code == 409
    assert again.json()["current_status"] == "checked_in"
    tuesday = await check_in(client, day.clerk, day.bookings["tuesday"]["reference"])
    assert tuesday.status_code == 409
    assert tuesday.json()["type"] == f"{PROBLEM}booking-not-today"
    assert tuesday.json()["booking_date"] == "2027-03-23"
    english = await client.post(
        f"{API}/check-ins",
        json={"reference": day.bookings["tuesday"]["reference"]},
        headers={**day.clerk, "Accept-Language": "en"},
    )
    assert "Only today's appointments" in english.json()["detail"]
    assert (await check_in(client, day.clerk, BOOKING.example)).status_code == 404
    assert (await check_in(client, day.clerk, "T-0000")).status_code == 404
    assert (await check_in(client, day.clerk, "")).status_code == 422
    elsewhere = await check_in(
        client, day.clerk, first["reference"], counter_id=str(day.other.counters[0].id)
    )
    assert elsewhere.json()["errors"][0]["pointer"] == "#/counter_id"

    at_counter = await client.get(
        day_path(day.hoerde), params={"counter_id": str(counter.id)}, headers=day.clerk
    )
    assert [v["call_number"] for v in at_counter.json()["items"]] == ["A001"]

    stand_at(app, MONDAY_8_12)
    completed = await client.post(f"{API}/bookings/{first['id']}/complete", headers=day.clerk)
    assert completed.status_code == 200, completed.text
    # Checked in at 7:50 for 8:00: served from the start, for 12 minutes.
    assert completed.json()["service_seconds"] == 12 * 60
    assert completed.json()["status"] == "completed"
    twice = await client.post(f"{API}/bookings/{first['id']}/complete", headers=day.clerk)
    assert twice.status_code == 409
    not_here = await client.post(
        f"{API}/bookings/{day.bookings['third']['id']}/complete", headers=day.clerk
    )
    assert not_here.json()["current_status"] == "confirmed"

    assert await used_units(session) == before
    await assert_invariant_holds(session)


async def test_no_show_by_hand_after_the_start_and_by_the_job_keeps_the_slot_and_leaves_the_cap(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession, day: Day, settings: Settings
) -> None:
    before = await used_units(session)
    active = await session.scalar(select(func.sum(PersonQuota.active)))
    third = day.bookings["third"]

    early = await client.post(f"{API}/bookings/{third['id']}/no-show", headers=day.clerk)
    assert early.status_code == 409
    assert early.json()["type"] == f"{PROBLEM}appointment-not-begun"
    stand_at(app, MONDAY_8_21)
    marked = await client.post(f"{API}/bookings/{third['id']}/no-show", headers=day.clerk)
    assert marked.status_code == 200, marked.text
    assert marked.json()["status"] == "no_show"
    late = await check_in(client, day.clerk, third["reference"])
    assert late.json()["current_status"] == "no_show"

    assert NO_SHOW_JOB in appointments_registry().jobs
    # Only the 8:00 appointments, here and at the other branch, began 15 minutes before.
    assert await branch_day_service.mark_no_shows_due(session, MONDAY_8_21, settings) == 2
    assert await branch_day_service.mark_no_shows_due(session, MONDAY_8_21, settings) == 0
    statuses = dict((await session.execute(select(Booking.reference, Booking.status))).all())
    assert statuses[day.bookings["second"]["reference"]] == "confirmed"
    assert statuses[day.bookings["tuesday"]["reference"]] == "confirmed"

    assert await used_units(session) == before
    assert await session.scalar(select(func.sum(PersonQuota.active))) == (active or 0) - 3
    await assert_invariant_holds(session)


async def test_only_the_branch_s_staff_supervisors_and_admins_reach_its_day(
    client: httpx.AsyncClient, day: Day
) -> None:
    other = day.bookings["other"]
    citizen = (await sign_in(client, "erika")).headers
    clerk_51 = (await sign_in(client, "clerk-jugendamt", staff=True)).headers
    supervisor = (await sign_in(client, "supervisor-buergerdienste", staff=True)).headers
    admin = (await sign_in(client, "admin", staff=True)).headers

    # Callers who may not be here at all are refused before their input is looked at.
    assert (await client.get(f"{day_path(day.hoerde)}?date=nope")).status_code == 401
    for headers in ({}, citizen):
        refused = await client.post(f"{API}/check-ins", json={"reference": 5}, headers=headers)
        assert refused.status_code in (401, 403), refused.text
    assert (
        await client.get(f"{day_path(day.hoerde)}?date=nope", headers=citizen)
    ).status_code == 403

    assert (await client.get(day_path(day.other), headers=day.clerk)).status_code == 403
    assert (await client.get(day_path(day.hoerde), headers=clerk_51)).status_code == 403
    assert (await check_in(client, day.clerk, other["reference"])).status_code == 404
    for action in ("no-show", "complete"):
        answer = await client.post(f"{API}/bookings/{other['id']}/{action}", headers=day.clerk)
        assert answer.status_code == 404

    assert (await client.get(day_path(day.other), headers=supervisor)).status_code == 200
    last_day = await client.get(f"{day_path(day.hoerde)}?date=9999-12-31", headers=admin)
    assert last_day.json()["items"] == []
    admin_check_in = await check_in(client, admin, other["reference"])
    assert admin_check_in.json()["call_number"] == "A001"


async def test_clerks_checking_in_at_the_same_moment_get_distinct_consecutive_call_numbers(
    committed_app: FastAPI, committed_client: httpx.AsyncClient, committed_db: Database
) -> None:
    async with committed_db.transaction() as session:
        day = await create_branches(session, shares=(100,) * 4)
    stand_at(committed_app, FRIDAY)
    citizen = await sign_in(committed_client, "erika")
    starts = [f"{MONDAY}T{h:02d}:{m:02d}:00+01:00" for h in (8, 9, 10) for m in range(0, 60, 10)]
    booked = [await book(committed_client, day.hoerde, citizen, start) for start in starts]
    clerks = [
        (await sign_in(committed_client, "branch-hoerde", staff=True)).headers for _ in range(2)
    ]
    stand_at(committed_app, MONDAY_7_50)

    answers = await asyncio.gather(
        *(check_in(committed_client, clerks[i % 2], b["reference"]) for i, b in enumerate(booked))
    )

    assert [a.status_code for a in answers] == [200] * len(booked), [a.text for a in answers]
    numbers = sorted(a.json()["call_number"] for a in answers)
    assert numbers == [f"A{n:03d}" for n in range(1, len(booked) + 1)]
    async with committed_db.transaction(read_only=True) as session:
        assert (await hold_service.invariant_report(session)).ok
