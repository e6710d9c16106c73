"""Availability answers are kept between requests, yet stay live: every hold, booking,
cancellation, expiry and change of the rules shows in the very next answer, and so does the
passing of time (lead time, expiring holds, the next day's release)."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import select, update

from app.appointments.models import AppointmentService, CapacityReturn, CapacityUnit
from app.appointments.offers import offer_service
from app.appointments.service import calendar_service
from app.core.config import Settings
from app.core.db import Database
from app.main import create_app
from tests.conftest import client_for, make_settings
from tests.fixtures.appointments import Calendar, create_calendar, stand_at
from tests.fixtures.auth import sign_in
from tests.fixtures.bookings import (
    MONDAY_8,
    MONDAY_9,
    book_with_eid,
    book_with_email,
    hold,
    manage,
)

# Friday 19 March 2027, 10:00 in Berlin; Monday the 22nd is open 8:00 to 12:00.
NOW = datetime(2027, 3, 19, 9, 0, tzinfo=UTC)
MONDAY = "2027-03-22"


async def starts_on(
    client: httpx.AsyncClient, calendar: Calendar, day: str = MONDAY, **params: Any
) -> list[str]:
    """The free starts of `day`, asked twice: the second answer is the kept one, and both
    must agree."""
    query = {"service_id": str(calendar.service.id), "from": day, "to": day, **params}
    answers = [await client.get("/api/v1/appointments/availability", params=query)]
    answers.append(await client.get("/api/v1/appointments/availability", params=query))
    assert [a.status_code for a in answers] == [200, 200]
    assert answers[0].json() == answers[1].json()
    assert answers[0].headers["ETag"] == answers[1].headers["ETag"]
    days = answers[1].json()["days"]
    return [start for branch in days[0]["branches"] for start in branch["starts"]] if days else []


async def open_calendar(app: FastAPI, database: Database, **overrides: Any) -> Calendar:
    async with database.transaction() as session:
        calendar = await create_calendar(session, **overrides)
    stand_at(app, NOW)
    return calendar


async def test_a_hold_its_confirmation_and_a_cancellation_show_in_the_next_answer(
    committed_app: FastAPI, committed_client: httpx.AsyncClient, committed_db: Database
) -> None:
    app, client = committed_app, committed_client
    calendar = await open_calendar(app, committed_db)
    assert {MONDAY_8, MONDAY_9} <= set(await starts_on(client, calendar))

    held = await hold(client, calendar, MONDAY_9)
    assert MONDAY_9 not in await starts_on(client, calendar)

    await book_with_email(client, calendar, MONDAY_8)
    after_booking = await starts_on(client, calendar)
    assert MONDAY_8 not in after_booking
    assert MONDAY_9 not in after_booking

    cancelled = await client.post(f"/api/v1/appointments/bookings/{held}/cancel")
    assert cancelled.status_code == 200, cancelled.text
    after_cancellation = await starts_on(client, calendar)
    assert MONDAY_9 in after_cancellation
    assert MONDAY_8 not in after_cancellation


async def test_a_hold_that_expires_shows_free_at_its_expiry_without_any_write(
    committed_app: FastAPI,
    committed_client: httpx.AsyncClient,
    committed_db: Database,
    settings: Settings,
) -> None:
    app, client = committed_app, committed_client
    calendar = await open_calendar(app, committed_db)
    await hold(client, calendar, MONDAY_9)
    assert MONDAY_9 not in await starts_on(client, calendar)

    expiry = NOW + timedelta(seconds=settings.hold_ttl_seconds)
    stand_at(app, expiry - timedelta(seconds=1))
    assert MONDAY_9 not in await starts_on(client, calendar)
    stand_at(app, expiry)
    assert MONDAY_9 in await starts_on(client, calendar)


async def test_an_unverified_booking_whose_deadline_moves_earlier_frees_its_start_then(
    committed_app: FastAPI,
    committed_client: httpx.AsyncClient,
    committed_db: Database,
    settings: Settings,
) -> None:
    app, client = committed_app, committed_client
    calendar = await open_calendar(app, committed_db)
    # The hold lasts an hour; asking for the e-mail check gives it the shorter deadline.
    settings.hold_ttl_seconds = 3600
    settings.booking_verification_seconds = 600
    held = await hold(client, calendar, MONDAY_9)
    assert MONDAY_9 not in await starts_on(client, calendar)

    confirm = await client.post(
        f"/api/v1/appointments/holds/{held}/confirm",
        json={"name": "Erika Mustermann", "email": "erika@example.org", "language": "de"},
    )
    assert confirm.json()["status"] == "pending_verification"
    assert MONDAY_9 not in await starts_on(client, calendar)

    stand_at(app, NOW + timedelta(seconds=600))
    assert MONDAY_9 in await starts_on(client, calendar)


async def test_a_start_drops_out_of_the_answer_once_it_is_within_the_lead_time(
    committed_app: FastAPI, committed_client: httpx.AsyncClient, committed_db: Database
) -> None:
    app, client = committed_app, committed_client
    calendar = await open_calendar(app, committed_db, hours=((4, time(8), time(14)),))
    today = "2027-03-19"
    # 10:00 in Berlin with two hours' lead time: the first start is 12:00.
    assert (await starts_on(client, calendar, today))[0] == "2027-03-19T12:00:00+01:00"

    stand_at(app, NOW + timedelta(minutes=1))
    assert (await starts_on(client, calendar, today))[0] == "2027-03-19T12:10:00+01:00"


async def test_the_next_day_shows_once_it_is_released(
    committed_app: FastAPI, committed_client: httpx.AsyncClient, committed_db: Database
) -> None:
    app, client = committed_app, committed_client
    # 61 days ahead, released at 7:00 Berlin each morning: on Friday the 19th at 6:59 the
    # last bookable day is 18 May, at 7:00 it is 19 May.
    calendar = await open_calendar(
        app, committed_db, hours=tuple((d, time(8), time(12)) for d in range(7)), horizon_days=61
    )
    before_release = datetime(2027, 3, 19, 5, 59, tzinfo=UTC)
    stand_at(app, before_release)
    params = {"from": "2027-05-18", "to": "2027-05-19"}
    query = {"service_id": str(calendar.service.id), **params}
    first = await client.get("/api/v1/appointments/availability", params=query)
    assert [d["date"] for d in first.json()["days"]] == ["2027-05-18"]

    stand_at(app, before_release + timedelta(minutes=1))
    released = await client.get("/api/v1/appointments/availability", params=query)
    assert [d["date"] for d in released.json()["days"]] == ["2027-05-18", "2027-05-19"]


async def test_changes_of_the_rules_and_of_capacity_show_in_the_next_answer(
    committed_app: FastAPI, committed_client: httpx.AsyncClient, committed_db: Database
) -> None:
    app, client = committed_app, committed_client
    calendar = await open_calendar(app, committed_db)
    assert MONDAY_9 in await starts_on(client, calendar)

    # A closure from 9:00 to 10:00, as staff would add it.
    async with committed_db.transaction() as session:
        await calendar_service.add_closure(
            session,
            calendar.branch.id,
            datetime(2027, 3, 22, 8, 0, tzinfo=UTC),
            datetime(2027, 3, 22, 9, 0, tzinfo=UTC),
        )
    closed = await starts_on(client, calendar)
    assert MONDAY_9 not in closed
    assert MONDAY_8 in closed

    # Any writer of capacity, even one that bypasses the services.
    async with committed_db.transaction() as session:
        await session.execute(
            update(CapacityUnit)
            .where(CapacityUnit.branch_id == calendar.branch.id)
            .values(used=CapacityUnit.capacity)
        )
    assert await starts_on(client, calendar) == []

    # And the service's own rules: persons beyond its maximum are refused at once.
    async with committed_db.transaction() as session:
        await session.execute(
            update(AppointmentService)
            .where(AppointmentService.id == calendar.service.id)
            .values(max_persons=1)
        )
    refused = await client.get(
        "/api/v1/appointments/availability",
        params={"service_id": str(calendar.service.id), "from": MONDAY, "persons": 2},
    )
    assert refused.status_code == 422


async def test_a_cancelled_booking_shows_free_when_its_capacity_is_given_back(
    committed_app: FastAPI, committed_client: httpx.AsyncClient, committed_db: Database
) -> None:
    app, client = committed_app, committed_client
    calendar = await open_calendar(app, committed_db)
    tokens = await sign_in(client, "erika")
    booking = await book_with_eid(client, calendar, tokens.access_token, MONDAY_9)
    assert MONDAY_9 not in await starts_on(client, calendar)

    cancelled = await client.post(
        f"/api/v1/appointments/bookings/{booking['id']}/cancel",
        headers=manage(booking["manage_token"]),
    )
    assert cancelled.status_code == 200, cancelled.text
    # A confirmed booking's slot comes back after a delay, by the return job.
    assert MONDAY_9 not in await starts_on(client, calendar)
    async with committed_db.transaction() as session:
        returns_at = await session.scalar(select(CapacityReturn.returns_at))
        assert returns_at is not None
        settings = app.state.settings
        assert await offer_service.return_capacity(session, returns_at, settings) == 1
    assert MONDAY_9 in await starts_on(client, calendar)


async def test_a_browser_gets_the_same_answer_compressed_and_304_for_either_tag(
    committed_app: FastAPI, committed_client: httpx.AsyncClient, committed_db: Database
) -> None:
    app, client = committed_app, committed_client
    calendar = await open_calendar(app, committed_db)
    # Two weeks, the default: large enough to be worth compressing.
    query = {"service_id": str(calendar.service.id)}
    path = "/api/v1/appointments/availability"

    plain = await client.get(path, params=query, headers={"Accept-Encoding": "identity"})
    async with client.stream(
        "GET", path, params=query, headers={"Accept-Encoding": "gzip, deflate, br"}
    ) as compressed:
        raw = b"".join([chunk async for chunk in compressed.aiter_raw()])

    assert "Content-Encoding" not in plain.headers
    assert compressed.headers["Content-Encoding"] == "gzip"
    assert "Accept-Encoding" in compressed.headers["Vary"]
    assert json.loads(gzip.decompress(raw)) == plain.json()
    assert compressed.headers["ETag"] != plain.headers["ETag"]
    for tag in (plain.headers["ETag"], compressed.headers["ETag"]):
        again = await client.get(path, params=query, headers={"If-None-Match": tag})
        assert again.status_code == 304

    await hold(client, calendar, MONDAY_8)
    changed = await client.get(path, params=query, headers={"If-None-Match": plain.headers["ETag"]})
    assert changed.status_code == 200
    (monday,) = [d for d in changed.json()["days"] if d["date"] == MONDAY]
    assert MONDAY_8 not in monday["branches"][0]["starts"]
    assert MONDAY_9 in monday["branches"][0]["starts"]


async def test_a_day_past_midnight_is_answered_for_the_new_day(
    committed_app: FastAPI, committed_client: httpx.AsyncClient, committed_db: Database
) -> None:
    app, client = committed_app, committed_client
    calendar = await open_calendar(
        app, committed_db, hours=tuple((d, time(8), time(12)) for d in range(7))
    )
    stand_at(app, datetime(2027, 3, 19, 22, 59, tzinfo=UTC))
    query = {"service_id": str(calendar.service.id)}
    friday = await client.get("/api/v1/appointments/availability", params=query)
    assert friday.json()["from"] == "2027-03-19"

    stand_at(app, datetime(2027, 3, 19, 23, 0, tzinfo=UTC))
    saturday = await client.get("/api/v1/appointments/availability", params=query)
    assert saturday.json()["from"] == "2027-03-20"
    assert date.fromisoformat(saturday.json()["days"][0]["date"]) >= date(2027, 3, 20)


async def earliest_start(client: httpx.AsyncClient, calendar: Calendar) -> str | None:
    """The earliest start, asked twice: the second answer is the kept one."""
    params = {"service_id": str(calendar.service.id)}
    answers = [await client.get("/api/v1/appointments/earliest", params=params)]
    answers.append(await client.get("/api/v1/appointments/earliest", params=params))
    assert [a.status_code for a in answers] == [200, 200]
    assert answers[0].json() == answers[1].json()
    found = answers[1].json()["earliest"]
    return None if found is None else str(found["start"])


async def test_the_earliest_start_moves_on_with_a_hold_and_back_when_it_expires(
    committed_app: FastAPI,
    committed_client: httpx.AsyncClient,
    committed_db: Database,
    settings: Settings,
) -> None:
    app, client = committed_app, committed_client
    # Open only on Mondays: the first start is Monday 8:00.
    calendar = await open_calendar(app, committed_db, hours=((0, time(8), time(9)),))
    assert await earliest_start(client, calendar) == MONDAY_8

    await hold(client, calendar, MONDAY_8)
    assert await earliest_start(client, calendar) == "2027-03-22T08:10:00+01:00"

    stand_at(app, NOW + timedelta(seconds=settings.hold_ttl_seconds))
    assert await earliest_start(client, calendar) == MONDAY_8


async def test_the_earliest_start_moves_on_when_it_comes_within_the_lead_time(
    committed_app: FastAPI, committed_client: httpx.AsyncClient, committed_db: Database
) -> None:
    app, client = committed_app, committed_client
    calendar = await open_calendar(app, committed_db, hours=((4, time(8), time(14)),))
    # 10:00 in Berlin with two hours' lead time.
    assert await earliest_start(client, calendar) == "2027-03-19T12:00:00+01:00"

    stand_at(app, NOW + timedelta(minutes=1))
    assert await earliest_start(client, calendar) == "2027-03-19T12:10:00+01:00"


async def test_the_first_answer_of_the_day_releases_its_days_with_one_connection_at_a_time(
    committed_db: Database, database_url: str
) -> None:
    """A reader that finds days not yet released releases them in a transaction of its own,
    with its read connection given back first: a process whose pool has a single
    connection still answers, instead of waiting on itself until the pool's timeout (503)."""
    async with committed_db.transaction() as session:
        calendar = await create_calendar(session)
    app = create_app(make_settings(database_url, database_pool_size=1, anti_automation=False))
    stand_at(app, NOW)
    async with client_for(app) as client:
        assert MONDAY_9 in await starts_on(client, calendar)
        earliest = await client.get(
            "/api/v1/appointments/earliest", params={"service_id": str(calendar.service.id)}
        )
    assert earliest.status_code == 200, earliest.text
    assert earliest.json()["earliest"] is not None
    await app.state.database.dispose()
