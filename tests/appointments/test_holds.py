"""Citizens hold a free start: it is theirs for a while, nobody else gets it, and every
refusal says why in German and English and changes nothing."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, time, timedelta
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.appointments.models import Booking, CapacityUnit
from app.appointments.service import hold_service
from tests.fixtures.appointments import Calendar, create_calendar, stand_at

NOW = datetime(2027, 3, 19, 9, 0, tzinfo=UTC)
MONDAY_8 = "2027-03-22T08:00:00+01:00"


def hold_body(calendar: Calendar, start: str = MONDAY_8, **changes: Any) -> dict[str, Any]:
    return {
        "service_id": str(calendar.service.id),
        "branch_id": str(calendar.branch.id),
        "start": start,
        "persons": 1,
        **changes,
    }


async def used_units(session: AsyncSession) -> list[int]:
    return list(
        (
            await session.scalars(
                select(CapacityUnit.used)
                .where(CapacityUnit.used > 0)
                .order_by(CapacityUnit.starts_at)
            )
        ).all()
    )


async def assert_invariant_holds(session: AsyncSession) -> None:
    report = await hold_service.invariant_report(session)
    assert report.ok, report


async def test_a_hold_claims_its_units_until_it_expires(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession
) -> None:
    calendar = await create_calendar(session, units=2, units_per_extra_person=1)
    await session.commit()
    stand_at(app, NOW)

    response = await client.post("/api/v1/appointments/holds", json=hold_body(calendar, persons=2))

    assert response.status_code == 201, response.text
    hold = response.json()
    assert hold["status"] == "held"
    assert hold["start"] == MONDAY_8
    assert hold["end"] == "2027-03-22T08:30:00+01:00"
    assert hold["expires_at"] == "2027-03-19T10:10:00+01:00"
    assert hold["reference"].startswith("T-")
    assert await used_units(session) == [1, 1, 1]
    await assert_invariant_holds(session)


async def test_second_hold_of_a_full_start_gets_409(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession
) -> None:
    calendar = await create_calendar(session)
    await session.commit()
    stand_at(app, NOW)

    first = await client.post("/api/v1/appointments/holds", json=hold_body(calendar))
    second = await client.post(
        "/api/v1/appointments/holds",
        json=hold_body(calendar),
        headers={"Accept-Language": "en"},
    )

    assert first.status_code == 201
    assert second.status_code == 409
    assert second.headers["content-type"] == "application/problem+json"
    assert second.json()["title"] == "Slot already taken"
    assert second.json()["type"].endswith("/slot-taken")
    assert await used_units(session) == [1]
    await assert_invariant_holds(session)


async def test_a_taken_start_disappears_from_availability(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession
) -> None:
    calendar = await create_calendar(session, hours=((0, time(8), time(8, 30)),))
    await session.commit()
    stand_at(app, NOW)
    params = {"service_id": str(calendar.service.id), "from": "2027-03-22", "to": "2027-03-22"}

    await client.post("/api/v1/appointments/holds", json=hold_body(calendar))
    response = await client.get("/api/v1/appointments/availability", params=params)

    assert response.json()["days"][0]["branches"][0]["starts"] == [
        "2027-03-22T08:10:00+01:00",
        "2027-03-22T08:20:00+01:00",
    ]


async def test_an_expired_hold_frees_its_start_at_once(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession
) -> None:
    calendar = await create_calendar(session)
    await session.commit()
    stand_at(app, NOW)
    first = await client.post("/api/v1/appointments/holds", json=hold_body(calendar))
    params = {"service_id": str(calendar.service.id), "from": "2027-03-22", "to": "2027-03-22"}

    stand_at(app, NOW + timedelta(minutes=10))
    listed = await client.get("/api/v1/appointments/availability", params=params)
    second = await client.post("/api/v1/appointments/holds", json=hold_body(calendar))

    assert listed.json()["days"][0]["branches"][0]["starts"][0] == MONDAY_8
    assert second.status_code == 201, second.text
    statuses = dict((await session.execute(select(Booking.id, Booking.status))).all())
    assert statuses == {
        uuid.UUID(first.json()["id"]): "expired",
        uuid.UUID(second.json()["id"]): "held",
    }
    assert await used_units(session) == [1]
    await assert_invariant_holds(session)


async def test_the_repeated_hour_in_october_can_be_held_twice_over(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession
) -> None:
    calendar = await create_calendar(session, hours=((6, time(1), time(4)),))
    await session.commit()
    stand_at(app, datetime(2027, 10, 28, 9, 0, tzinfo=UTC))

    summer = await client.post(
        "/api/v1/appointments/holds", json=hold_body(calendar, "2027-10-31T02:00:00+02:00")
    )
    winter = await client.post(
        "/api/v1/appointments/holds", json=hold_body(calendar, "2027-10-31T02:00:00+01:00")
    )
    again = await client.post(
        "/api/v1/appointments/holds", json=hold_body(calendar, "2027-10-31T01:00:00Z")
    )

    assert (summer.status_code, winter.status_code, again.status_code) == (201, 201, 409)
    assert winter.json()["start"] == "2027-10-31T02:00:00+01:00"
    await assert_invariant_holds(session)


async def test_the_hour_skipped_in_march_is_never_offered(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession
) -> None:
    calendar = await create_calendar(session, hours=((6, time(1), time(4)),))
    await session.commit()
    stand_at(app, NOW)

    listed = await client.get(
        "/api/v1/appointments/availability",
        params={"service_id": str(calendar.service.id), "from": "2027-03-28", "to": "2027-03-28"},
    )

    starts = listed.json()["days"][0]["branches"][0]["starts"]
    assert len(starts) == 12
    assert not [s for s in starts if "T02:" in s]


REFUSALS = [
    ({"start": "2027-03-19T08:00:00+01:00"}, 422, "start-in-past"),
    ({"start": "2027-03-19T11:00:00+01:00"}, 422, "start-before-lead-time"),
    ({"start": "2027-06-01T08:00:00+02:00"}, 422, "start-beyond-horizon"),
    ({"start": "2027-03-22T08:05:00+01:00"}, 422, "start-not-aligned"),
    ({"start": "2027-03-22T13:00:00+01:00"}, 422, "branch-closed"),
    ({"start": "2027-03-29T08:00:00+02:00"}, 422, "branch-closed"),
    ({"persons": 4}, 422, "too-many-persons"),
    ({"service_id": str(uuid.UUID(int=1))}, 404, "appointment-service-not-found"),
    ({"branch_id": str(uuid.UUID(int=2))}, 404, "branch-not-found"),
    ({"start": "2027-03-22T08:00:00"}, 422, "validation-failed"),
    ({"start": 1774162800}, 422, "validation-failed"),
    ({"persons": "2"}, 422, "validation-failed"),
    ({"colour": "blue"}, 422, "validation-failed"),
]


async def test_each_refusal_names_its_reason_and_changes_nothing(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession
) -> None:
    calendar = await create_calendar(session)
    other = await create_calendar(session)
    await session.commit()
    stand_at(app, NOW)

    for changes, status, slug in REFUSALS:
        response = await client.post(
            "/api/v1/appointments/holds", json=hold_body(calendar, **changes)
        )
        assert response.status_code == status, (changes, response.text)
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["type"].endswith("/" + slug), (changes, response.json())
        assert response.json()["title"]

    not_offered = await client.post(
        "/api/v1/appointments/holds",
        json=hold_body(calendar, branch_id=str(other.branch.id))
        | {"service_id": str(uuid.uuid4())},
    )
    assert not_offered.status_code == 404
    holiday = await client.post(
        "/api/v1/appointments/holds",
        json=hold_body(calendar, "2027-03-29T08:00:00+02:00"),
        headers={"Accept-Language": "en"},
    )
    assert "Easter Monday" in holiday.json()["detail"]
    assert holiday.json()["errors"] == [{"pointer": "#/start", "detail": holiday.json()["detail"]}]
    assert (await session.scalars(select(Booking))).all() == []
    assert await used_units(session) == []


async def test_the_next_day_becomes_bookable_at_its_release_time(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession
) -> None:
    calendar = await create_calendar(session, horizon_days=10, release_minute=7 * 60)
    await session.commit()
    body = hold_body(calendar, "2027-04-01T08:00:00+02:00")

    stand_at(app, datetime(2027, 3, 22, 5, 59, tzinfo=UTC))
    before = await client.post("/api/v1/appointments/holds", json=body)
    stand_at(app, datetime(2027, 3, 22, 6, 0, tzinfo=UTC))
    after = await client.post("/api/v1/appointments/holds", json=body)

    assert before.status_code == 422
    assert before.json()["type"].endswith("/start-beyond-horizon")
    assert before.json()["last_bookable_day"] == "2027-03-31"
    assert after.status_code == 201, after.text


async def test_the_sweeper_frees_the_places_of_expired_holds(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession
) -> None:
    calendar = await create_calendar(session, units=3)
    await session.commit()
    stand_at(app, NOW)
    await client.post("/api/v1/appointments/holds", json=hold_body(calendar))

    expired = await hold_service.expire_due(session, NOW + timedelta(minutes=10))

    assert expired == 1
    assert await used_units(session) == []
    assert (await session.scalars(select(Booking.status))).all() == ["expired"]
    await assert_invariant_holds(session)


async def test_starts_at_the_ends_of_the_calendar_get_422_not_500(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession
) -> None:
    calendar = await create_calendar(session)
    await session.commit()
    stand_at(app, NOW)

    for start in ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00"]:
        response = await client.post("/api/v1/appointments/holds", json=hold_body(calendar, start))
        assert response.status_code == 422, (start, response.text)
    far = await client.get(
        "/api/v1/appointments/availability",
        params={"service_id": str(calendar.service.id), "from": "9999-12-30", "to": "9999-12-31"},
    )
    assert far.status_code == 200
    assert far.json()["days"] == []
