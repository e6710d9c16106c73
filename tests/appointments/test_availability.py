"""Citizens look for free starts: live, in Berlin time with the right offset, cacheable."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, time, timedelta

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from app.appointments import service as service_module
from tests.fixtures.appointments import create_calendar, stand_at

# Friday 19 March 2027, 10:00 in Berlin: the week before the clocks go forward.
NOW = datetime(2027, 3, 19, 9, 0, tzinfo=UTC)


async def test_services_are_listed_with_the_branches_that_offer_them(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession
) -> None:
    calendar = await create_calendar(session, units=3, units_per_extra_person=2)
    await session.commit()

    response = await client.get("/api/v1/appointments/services")

    assert response.status_code == 200
    (service,) = [s for s in response.json()["items"] if s["id"] == str(calendar.service.id)]
    assert service["name"]["en"].startswith("Apply for an ID card")
    assert service["what_to_bring"]["de"] == "Biometrisches Passfoto"
    assert service["branches"] == [
        {
            "branch_id": str(calendar.branch.id),
            "duration_minutes": 30,
            "minutes_per_extra_person": 20,
        }
    ]


async def test_free_starts_carry_winter_and_summer_offsets(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession
) -> None:
    calendar = await create_calendar(session, hours=((4, time(8), time(9)), (1, time(8), time(9))))
    await session.commit()
    stand_at(app, NOW)

    response = await client.get(
        "/api/v1/appointments/availability",
        params={"service_id": str(calendar.service.id), "from": "2027-03-26", "to": "2027-03-30"},
    )

    assert response.status_code == 200
    days = {d["date"]: d["branches"] for d in response.json()["days"]}
    # Good Friday (26th) and Easter Monday (29th) are public holidays in NRW.
    assert list(days) == ["2027-03-30"]
    (branch,) = days["2027-03-30"]
    assert branch["branch_id"] == str(calendar.branch.id)
    assert branch["starts"][0] == "2027-03-30T08:00:00+02:00"
    assert len(branch["starts"]) == 6

    winter = await client.get(
        "/api/v1/appointments/availability",
        params={"service_id": str(calendar.service.id), "from": "2027-03-23", "to": "2027-03-23"},
    )
    assert winter.json()["days"][0]["branches"][0]["starts"][0] == "2027-03-23T08:00:00+01:00"


async def test_a_start_within_the_lead_time_is_not_offered(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession
) -> None:
    calendar = await create_calendar(session, hours=((4, time(8), time(14)),))
    await session.commit()
    stand_at(app, NOW)

    response = await client.get(
        "/api/v1/appointments/availability",
        params={"service_id": str(calendar.service.id), "from": "2027-03-19", "to": "2027-03-19"},
    )

    starts = response.json()["days"][0]["branches"][0]["starts"]
    assert starts[0] == "2027-03-19T12:00:00+01:00"


async def test_a_longer_appointment_needs_enough_free_units_in_a_row(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession
) -> None:
    calendar = await create_calendar(
        session, hours=((0, time(8), time(9)),), units=2, units_per_extra_person=1
    )
    await session.commit()
    stand_at(app, NOW)
    params = {"service_id": str(calendar.service.id), "from": "2027-03-22", "to": "2027-03-22"}

    one = await client.get("/api/v1/appointments/availability", params=params)
    three = await client.get("/api/v1/appointments/availability", params={**params, "persons": 3})

    assert len(one.json()["days"][0]["branches"][0]["starts"]) == 5
    assert three.json()["days"][0]["branches"][0]["starts"][-1] == "2027-03-22T08:20:00+01:00"


async def test_the_same_answer_again_is_304_with_its_etag(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession
) -> None:
    calendar = await create_calendar(session)
    await session.commit()
    stand_at(app, NOW)
    params = {"service_id": str(calendar.service.id)}

    first = await client.get("/api/v1/appointments/availability", params=params)
    again = await client.get(
        "/api/v1/appointments/availability",
        params=params,
        headers={"If-None-Match": first.headers["etag"]},
    )

    assert first.headers["cache-control"] == "public, max-age=5"
    assert again.status_code == 304
    assert again.content == b""
    assert again.headers["etag"] == first.headers["etag"]


async def test_the_earliest_start_is_found_across_branches(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession
) -> None:
    later = await create_calendar(session, hours=((2, time(8), time(12)),))
    sooner = await create_calendar(session, hours=((0, time(14), time(16)),), service=later.service)
    await session.commit()
    stand_at(app, NOW)

    response = await client.get(
        "/api/v1/appointments/earliest", params={"service_id": str(later.service.id)}
    )

    assert response.status_code == 200
    assert response.json()["earliest"] == {
        "branch_id": str(sooner.branch.id),
        "start": "2027-03-22T14:00:00+01:00",
    }
    only_later = await client.get(
        "/api/v1/appointments/earliest",
        params={"service_id": str(later.service.id), "branch_id": str(later.branch.id)},
    )
    assert only_later.json()["earliest"]["start"] == "2027-03-24T08:00:00+01:00"


@pytest.mark.parametrize("first_units_read", [1, 2, 64])
async def test_the_earliest_start_needs_enough_free_units_in_a_row(
    app: FastAPI,
    client: httpx.AsyncClient,
    session: AsyncSession,
    monkeypatch: pytest.MonkeyPatch,
    first_units_read: int,
) -> None:
    """Whether the first free units the search reads settle it or all are read, the answer
    is the same; an expired hold's places count as free."""
    monkeypatch.setattr(service_module, "EARLIEST_PROBE_UNITS", first_units_read)
    calendar = await create_calendar(session, hours=((0, time(8), time(9)),), units=2)
    await session.commit()
    body = {"service_id": str(calendar.service.id), "branch_id": str(calendar.branch.id)}
    stand_at(app, NOW - timedelta(hours=1))
    expired = await client.post(
        "/api/v1/appointments/holds", json={**body, "start": "2027-03-22T08:40:00+01:00"}
    )
    stand_at(app, NOW)
    live = await client.post(
        "/api/v1/appointments/holds", json={**body, "start": "2027-03-22T08:10:00+01:00"}
    )

    response = await client.get(
        "/api/v1/appointments/earliest", params={"service_id": str(calendar.service.id)}
    )

    assert (expired.status_code, live.status_code) == (201, 201)
    assert response.json()["earliest"]["start"] == "2027-03-22T08:30:00+01:00"


async def test_unknown_service_gets_404_and_unknown_parameter_422(
    client: httpx.AsyncClient,
) -> None:
    unknown = await client.get(
        "/api/v1/appointments/earliest",
        params={"service_id": str(uuid.uuid4())},
        headers={"Accept-Language": "en"},
    )
    typo = await client.get(
        "/api/v1/appointments/availability",
        params={"service_id": str(uuid.uuid4()), "person": "2"},
    )

    assert unknown.status_code == 404
    assert unknown.headers["content-type"] == "application/problem+json"
    assert unknown.json()["title"] == "Service not found"
    assert typo.status_code == 422
    assert typo.json()["errors"][0]["pointer"] == "#/query/person"


async def test_a_range_longer_than_the_horizon_gets_422(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession
) -> None:
    calendar = await create_calendar(session, horizon_days=30)
    await session.commit()
    stand_at(app, NOW)

    response = await client.get(
        "/api/v1/appointments/availability",
        params={"service_id": str(calendar.service.id), "from": "2027-03-20", "to": "2027-04-30"},
    )

    assert response.status_code == 422
    assert response.json()["type"].endswith("/invalid-date-range")


async def test_a_chosen_branch_that_does_not_offer_the_service_lists_nothing(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession
) -> None:
    offering = await create_calendar(session)
    other = await create_calendar(session)
    await session.commit()
    stand_at(app, NOW)

    response = await client.get(
        "/api/v1/appointments/availability",
        params={
            "service_id": str(offering.service.id),
            "branch_id": str(other.branch.id),
            "from": "2027-03-22",
            "to": "2027-03-28",
        },
    )
    earliest = await client.get(
        "/api/v1/appointments/earliest",
        params={"service_id": str(offering.service.id), "branch_id": str(other.branch.id)},
    )

    assert response.status_code == 200
    assert response.json()["days"] == []
    assert earliest.json()["earliest"] is None


async def test_the_service_list_answers_304_and_head_like_get(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    await create_calendar(session)
    await session.commit()

    first = await client.get("/api/v1/appointments/services")
    head = await client.head("/api/v1/appointments/services")
    again = await client.get(
        "/api/v1/appointments/services", headers={"If-None-Match": f"W/{first.headers['etag']}"}
    )

    assert head.status_code == 200
    assert head.headers["etag"] == first.headers["etag"]
    assert again.status_code == 304
