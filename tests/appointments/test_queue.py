"""The branch's one queue: walk-ins draw tickets on the walk-in share of the day's capacity,
counters call the next citizen by the call rule, the calls are listed for the call-up
display; at the branch's own staff only, with bad input refused and nothing changed."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.appointments.calendar import day_bounds
from app.appointments.models import CapacityUnit, QueueCall, WalkInTicket
from app.appointments.queue import recent_calls
from app.appointments.service import calendar_service
from app.appointments.statistics import statistics_service
from app.core.config import Settings
from tests.conftest import make_settings
from tests.fixtures.appointments import stand_at
from tests.fixtures.auth import sign_in
from tests.fixtures.bookings import assert_invariant_holds, book_with_eid, used_units
from tests.fixtures.queue import (
    API,
    FRIDAY,
    MONDAY,
    PROBLEM,
    Branches,
    call_next,
    create_branches,
    draw,
    kiosk_headers,
    monday_at,
)

MONDAY_DATE = date(2027, 3, 22)


@pytest.fixture
def settings(database_url: str) -> Settings:
    return make_settings(database_url, anti_automation=False, booking_max_active_per_person=50)


@pytest.fixture
async def branches(session: AsyncSession) -> Branches:
    """Hörde's two counters are open 8–12, one half and one fully for online booking: of
    their 48 units on Monday, 36 are online capacity and 12 the walk-in budget."""
    return await create_branches(session, shares=(50, 100))


@pytest.fixture
async def clerk(client: httpx.AsyncClient) -> dict[str, str]:
    return (await sign_in(client, "branch-hoerde", staff=True)).headers


@pytest.fixture
async def kiosk(client: httpx.AsyncClient, branches: Branches) -> dict[str, str]:
    """Hörde's ticket kiosk."""
    return await kiosk_headers(client, "appointments:tickets", branch=branches.hoerde)


async def book(
    client: httpx.AsyncClient, app: FastAPI, branches: Branches, starts: list[str]
) -> list[dict[str, Any]]:
    """Booked on Friday by a citizen with the online ID card."""
    stand_at(app, FRIDAY)
    citizen = await sign_in(client, "erika")
    return [
        await book_with_eid(
            client, branches.hoerde, citizen.access_token, start, name="Erika Mustermann"
        )
        for start in starts
    ]


async def queue_of(
    client: httpx.AsyncClient, headers: dict[str, str], branches: Branches
) -> dict[str, Any]:
    answer = await client.get(f"{API}/branches/{branches.hoerde.branch.id}/queue", headers=headers)
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


async def test_kiosk_draws_numbered_tickets_until_the_walk_in_share_is_gone_then_is_refused(
    app: FastAPI,
    client: httpx.AsyncClient,
    session: AsyncSession,
    branches: Branches,
    clerk: dict[str, str],
    kiosk: dict[str, str],
) -> None:
    stand_at(app, monday_at(8, 30))
    online_before = await used_units(session)

    first = await draw(client, kiosk, branches.hoerde)
    assert first.status_code == 201, first.text
    ticket = first.json()
    assert (ticket["call_number"], ticket["status"], ticket["tickets_ahead"]) == (
        "W001",
        "waiting",
        0,
    )
    assert ticket["date"] == MONDAY
    family = await draw(client, kiosk, branches.hoerde, persons=3)  # three units
    assert family.json()["call_number"] == "W002"
    assert family.json()["tickets_ahead"] == 1
    at_the_counter = await draw(client, clerk, branches.hoerde)  # staff may draw too
    assert at_the_counter.json()["call_number"] == "W003"
    for _ in range(7):
        assert (await draw(client, kiosk, branches.hoerde)).status_code == 201
    budget = (await queue_of(client, clerk, branches))["walk_in_budget"]
    assert budget == {"capacity": 12, "used": 12, "remaining": 0, "turned_away": 0}

    refused = await draw(client, kiosk, branches.hoerde)
    assert refused.status_code == 409
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["type"] == f"{PROBLEM}walk-in-capacity-exhausted"
    assert "ohne Termin" in refused.json()["detail"]
    english = await client.post(
        f"{API}/branches/{branches.hoerde.branch.id}/tickets",
        json={"service_id": str(branches.hoerde.service.id)},
        headers={**kiosk, "Accept-Language": "en"},
    )
    assert "without an appointment today is taken" in english.json()["detail"]
    budget = (await queue_of(client, clerk, branches))["walk_in_budget"]
    assert budget["turned_away"] == 2
    [figures] = await statistics_service.figures(
        session, [branches.hoerde.branch.id], MONDAY_DATE, MONDAY_DATE
    )
    assert figures.walk_ins_turned_away == 2

    # Walk-ins took none of the online calendar, and the two shares add up to the open units.
    drawn_by = await session.scalars(select(WalkInTicket.drawn_by).order_by(WalkInTicket.number))
    assert [who.split(":")[0] for who in drawn_by][:3] == ["client", "client", "staff"]
    assert await used_units(session) == online_before
    start, end = day_bounds(MONDAY_DATE)
    await calendar_service.release_day(session, branches.hoerde.branch.id, MONDAY_DATE)
    online = await session.scalar(
        select(func.sum(CapacityUnit.capacity)).where(
            CapacityUnit.branch_id == branches.hoerde.branch.id,
            CapacityUnit.starts_at >= start,
            CapacityUnit.starts_at < end,
        )
    )
    assert (online, budget["capacity"]) == (36, 12)
    await assert_invariant_holds(session)


async def test_call_next_serves_the_due_appointment_first_then_walk_ins_in_ticket_order(
    app: FastAPI,
    client: httpx.AsyncClient,
    session: AsyncSession,
    branches: Branches,
    clerk: dict[str, str],
    kiosk: dict[str, str],
) -> None:
    booked = await book(client, app, branches, [f"{MONDAY}T08:00:00+01:00"])
    stand_at(app, monday_at(7, 45))
    walk_ins = [(await draw(client, kiosk, branches.hoerde)).json() for _ in range(2)]
    checked_in = await client.post(
        f"{API}/check-ins", json={"reference": booked[0]["reference"]}, headers=clerk
    )
    assert checked_in.json()["call_number"] == "A001"
    counter_1, counter_2 = branches.hoerde.counters

    # 7:50: the 8:00 appointment is early, so the first walk-in is called.
    stand_at(app, monday_at(7, 50))
    waiting = await queue_of(client, clerk, branches)
    assert [(i["call_number"], i["group"]) for i in waiting["items"]] == [
        ("W001", "walk_in"),
        ("W002", "walk_in"),
        ("A001", "early"),
    ]
    called = await call_next(client, clerk, branches.hoerde, counter=0)
    assert called.status_code == 200, called.text
    assert (called.json()["call_number"], called.json()["kind"]) == ("W001", "walk_in")
    assert called.json()["counter_name"] == counter_1.name

    # 7:56: its window has begun; it goes before the second walk-in.
    stand_at(app, monday_at(7, 56))
    called = await call_next(client, clerk, branches.hoerde, counter=1)
    assert called.json()["call_number"] == "A001"
    assert (called.json()["reference"], called.json()["name"]) == (
        booked[0]["reference"],
        "Erika Mustermann",
    )
    day = await client.get(f"{API}/branches/{branches.hoerde.branch.id}/day", headers=clerk)
    visit = day.json()["items"][0]
    assert (visit["status"], visit["counter_id"]) == ("called", str(counter_2.id))
    stand_at(app, monday_at(7, 57))
    assert (await call_next(client, clerk, branches.hoerde)).json()["call_number"] == "W002"
    empty = await call_next(client, clerk, branches.hoerde)
    assert empty.status_code == 409
    assert empty.json()["type"] == f"{PROBLEM}queue-empty"

    # A recall shows the number again; the display's list is newest first.
    stand_at(app, monday_at(7, 58))
    recalled = await client.post(f"{API}/tickets/{walk_ins[0]['id']}/recall", headers=clerk)
    assert recalled.status_code == 200, recalled.text
    calls = await client.get(f"{API}/branches/{branches.hoerde.branch.id}/calls", headers=clerk)
    assert [(c["call_number"], c["counter_name"]) for c in calls.json()["items"]] == [
        ("W001", counter_1.name),
        ("W002", counter_1.name),
        ("A001", counter_2.name),
        ("W001", counter_1.name),
    ]
    shown = await recent_calls(session, branches.hoerde.branch.id, MONDAY_DATE, 2)
    assert [c.call_number for c in shown] == ["W001", "W002"]

    # Service times run from the call: the appointment's from 7:56, the walk-in's recall.
    stand_at(app, monday_at(8, 10))
    completed = await client.post(f"{API}/bookings/{booked[0]['id']}/complete", headers=clerk)
    assert completed.json()["service_seconds"] == 14 * 60
    finished = await client.post(f"{API}/tickets/{walk_ins[0]['id']}/complete", headers=clerk)
    assert (finished.json()["status"], finished.json()["service_seconds"]) == (
        "completed",
        12 * 60,
    )
    no_show = await client.post(f"{API}/tickets/{walk_ins[1]['id']}/no-show", headers=clerk)
    assert no_show.json()["status"] == "no_show"
    twice = await client.post(f"{API}/tickets/{walk_ins[1]['id']}/complete", headers=clerk)
    assert twice.status_code == 409
    assert twice.json()["current_status"] == "no_show"

    # The day's figures: waits of 5 (W001), 11 (A001) and 12 (W002) minutes to the first
    # call; 14 and 12 minutes of service; one walk-in served.
    [figures] = await statistics_service.figures(
        session, [branches.hoerde.branch.id], MONDAY_DATE, MONDAY_DATE
    )
    assert (figures.appointments_used, figures.waiting_seconds_median) == (1, 11 * 60)
    assert figures.service_seconds_median == 13 * 60
    assert (figures.walk_ins_served, figures.walk_ins_turned_away) == (1, 0)
    await assert_invariant_holds(session)


async def test_a_called_appointment_that_does_not_come_is_recalled_then_a_no_show(
    app: FastAPI,
    client: httpx.AsyncClient,
    session: AsyncSession,
    branches: Branches,
    clerk: dict[str, str],
) -> None:
    booked = await book(client, app, branches, [f"{MONDAY}T08:00:00+01:00"])
    stand_at(app, monday_at(7, 58))
    await client.post(f"{API}/check-ins", json={"reference": booked[0]["reference"]}, headers=clerk)
    assert (await call_next(client, clerk, branches.hoerde)).status_code == 200

    again = await client.post(f"{API}/bookings/{booked[0]['id']}/recall", headers=clerk)
    assert (again.status_code, again.json()["call_number"]) == (200, "A001")
    gone = await client.post(f"{API}/bookings/{booked[0]['id']}/no-show", headers=clerk)
    assert gone.json()["status"] == "no_show"
    late_recall = await client.post(f"{API}/bookings/{booked[0]['id']}/recall", headers=clerk)
    assert late_recall.status_code == 409
    assert await session.scalar(select(func.count(QueueCall.id))) == 2
    await assert_invariant_holds(session)


async def test_a_cancelled_ticket_gives_its_units_to_the_next_walk_in_but_not_its_number(
    app: FastAPI,
    client: httpx.AsyncClient,
    session: AsyncSession,
    branches: Branches,
    clerk: dict[str, str],
    kiosk: dict[str, str],
) -> None:
    stand_at(app, monday_at(9, 0))
    tickets = [(await draw(client, kiosk, branches.hoerde, persons=3)).json() for _ in range(4)]
    assert (await draw(client, kiosk, branches.hoerde)).status_code == 409

    left = await client.post(f"{API}/tickets/{tickets[1]['id']}/cancel", headers=clerk)
    assert left.json()["status"] == "cancelled"
    assert (
        await client.post(f"{API}/tickets/{tickets[1]['id']}/cancel", headers=clerk)
    ).status_code == 409
    later = await draw(client, kiosk, branches.hoerde, persons=3)
    assert later.json()["call_number"] == "W005"
    assert later.json()["tickets_ahead"] == 3
    shown = await client.get(f"{API}/tickets/{tickets[2]['id']}", headers=clerk)
    assert shown.json()["tickets_ahead"] == 1
    assert (await call_next(client, clerk, branches.hoerde)).json()["call_number"] == "W001"
    called = await client.post(f"{API}/tickets/{tickets[0]['id']}/cancel", headers=clerk)
    assert called.json()["current_status"] == "called"
    await assert_invariant_holds(session)


async def test_the_walk_in_budget_follows_closures_and_is_empty_on_closed_days(
    app: FastAPI,
    client: httpx.AsyncClient,
    session: AsyncSession,
    branches: Branches,
    clerk: dict[str, str],
    kiosk: dict[str, str],
) -> None:
    stand_at(app, monday_at(8, 5))
    assert (await draw(client, kiosk, branches.hoerde)).status_code == 201
    half_online = branches.hoerde.counters[0]
    await calendar_service.add_closure(
        session,
        branches.hoerde.branch.id,
        monday_at(8, 0),
        monday_at(12, 0),
        counter_id=half_online.id,
    )
    await session.commit()

    # The only counter with a walk-in share is closed: the ticket drawn stays, no more.
    budget = (await queue_of(client, clerk, branches))["walk_in_budget"]
    assert (budget["capacity"], budget["used"], budget["remaining"]) == (1, 1, 0)
    assert (await draw(client, kiosk, branches.hoerde)).status_code == 409

    stand_at(app, monday_at(12, 0))  # the hours are over
    other_kiosk = await kiosk_headers(client, "appointments:tickets", branch=branches.other)
    over = await draw(client, other_kiosk, branches.other)
    assert over.status_code == 409
    assert "nach der Öffnungszeit" in over.json()["detail"]
    stand_at(app, datetime(2027, 3, 27, 9, 0, tzinfo=UTC))  # a Saturday
    assert (await draw(client, kiosk, branches.hoerde)).status_code == 409
    stand_at(app, datetime(2027, 3, 29, 7, 0, tzinfo=UTC))  # Easter Monday, 9:00
    holiday = await draw(client, kiosk, branches.hoerde)
    assert (holiday.status_code, holiday.json()["type"]) == (
        409,
        f"{PROBLEM}walk-in-capacity-exhausted",
    )
    assert "Feiertag" in holiday.json()["detail"]
    await assert_invariant_holds(session)


async def test_only_the_branch_s_staff_reach_its_queue_and_only_kiosks_and_staff_draw(
    app: FastAPI,
    client: httpx.AsyncClient,
    session: AsyncSession,
    branches: Branches,
    clerk: dict[str, str],
    kiosk: dict[str, str],
) -> None:
    stand_at(app, monday_at(9, 0))
    other_kiosk = await kiosk_headers(client, "appointments:tickets", branch=branches.other)
    theirs = (await draw(client, other_kiosk, branches.other)).json()
    # A kiosk draws at its own branch only.
    elsewhere = await draw(client, kiosk, branches.other)
    assert (elsewhere.status_code, elsewhere.json()["type"]) == (
        403,
        f"{PROBLEM}kiosk-not-at-branch",
    )
    assert elsewhere.headers["content-type"] == "application/problem+json"
    citizen = (await sign_in(client, "erika")).headers
    other_client = await kiosk_headers(client, "appointments:read")
    supervisor = (await sign_in(client, "supervisor-buergerdienste", staff=True)).headers
    other = branches.other
    other_branch = f"{API}/branches/{other.branch.id}"

    for path in ("queue", "calls"):
        assert (await client.get(f"{other_branch}/{path}", headers=clerk)).status_code == 403
        assert (await client.get(f"{other_branch}/{path}", headers=supervisor)).status_code == 200
    assert (await call_next(client, clerk, other)).status_code == 403
    for action in ("recall", "complete", "no-show", "cancel"):
        answer = await client.post(f"{API}/tickets/{theirs['id']}/{action}", headers=clerk)
        assert answer.status_code == 404
        assert answer.json()["type"] == f"{PROBLEM}walk-in-ticket-not-found"
    assert (await client.get(f"{API}/tickets/{theirs['id']}", headers=clerk)).status_code == 404
    assert (await draw(client, clerk, other)).status_code == 403

    # Citizens, anonymous callers and clients without the scope are refused before their
    # input is looked at; a kiosk draws, but does not call.
    for headers, expected in ((citizen, 403), ({}, 401), (other_client, 403)):
        refused = await draw(client, headers, branches.hoerde, persons="lots")
        assert refused.status_code == expected, refused.text
    assert (await draw(client, other_client, branches.hoerde)).json()["type"] == (
        f"{PROBLEM}missing-scope"
    )
    assert (await call_next(client, kiosk, branches.hoerde)).status_code == 403
    youth_office = (await sign_in(client, "clerk-jugendamt", staff=True)).headers
    not_a_counter = f"{API}/branches/{branches.hoerde.branch.id}/counters/nope/call-next"
    assert (await client.post(not_a_counter, headers=youth_office)).status_code == 403
    assert (await call_next(client, citizen, branches.hoerde)).status_code == 403
    assert (await call_next(client, {}, branches.hoerde)).status_code == 401
    assert (
        await client.get(f"{API}/branches/{branches.hoerde.branch.id}/queue", headers=kiosk)
    ).status_code == 403
    assert (await client.get(f"{API}/tickets/{theirs['id']}", headers=citizen)).status_code == 403

    assert await session.scalar(select(func.count(WalkInTicket.id))) == 1
    assert await session.scalar(select(func.count(QueueCall.id))) == 0


async def test_bad_input_gets_a_problem_and_changes_nothing(
    app: FastAPI,
    client: httpx.AsyncClient,
    session: AsyncSession,
    branches: Branches,
    clerk: dict[str, str],
    kiosk: dict[str, str],
) -> None:
    stand_at(app, monday_at(9, 0))
    hoerde = branches.hoerde
    tickets = f"{API}/branches/{hoerde.branch.id}/tickets"
    service = str(hoerde.service.id)

    for body, status, pointer in (
        ({"service_id": service, "persons": "2"}, 422, "#/persons"),
        ({"service_id": service, "persons": 4}, 422, "#/persons"),
        ({"service_id": service, "persons": 0}, 422, "#/persons"),
        ({"service_id": service, "colour": "red"}, 422, "#/colour"),
        ({"service_id": "not-a-uuid"}, 422, "#/service_id"),
        ({}, 422, "#/service_id"),
    ):
        answer = await client.post(tickets, json=body, headers=kiosk)
        assert answer.status_code == status, (body, answer.text)
        assert answer.headers["content-type"] == "application/problem+json"
        assert pointer in [e["pointer"] for e in answer.json()["errors"]], answer.json()
    unknown = await client.post(
        tickets, json={"service_id": "00000000-0000-4000-8000-000000000000"}, headers=kiosk
    )
    assert unknown.status_code == 404
    nowhere = await client.post(
        f"{API}/branches/00000000-0000-4000-8000-000000000000/tickets",
        json={"service_id": service},
        headers=kiosk,
    )
    # A kiosk is refused anywhere but at its branch, before the branch is looked up.
    assert (nowhere.status_code, nowhere.json()["type"]) == (403, f"{PROBLEM}kiosk-not-at-branch")
    assert (
        await client.post(f"{API}/branches/nope/tickets", json={}, headers=kiosk)
    ).status_code == 422

    counter = f"{API}/branches/{hoerde.branch.id}/counters"
    strangers = branches.other.counters[0].id
    for counter_id, status in ((strangers, 404), ("nope", 422)):
        answer = await client.post(f"{counter}/{counter_id}/call-next", headers=clerk)
        assert answer.status_code == status, answer.text
    listed = f"{API}/branches/{hoerde.branch.id}/calls"
    for query in ("limit=0", "limit=51", "date=yesterday", "lmit=5"):
        assert (await client.get(f"{listed}?{query}", headers=clerk)).status_code == 422
    assert (await client.get(f"{listed}?date=9999-12-31", headers=clerk)).json()["items"] == []
    for path in ("tickets/nope", "tickets/00000000-0000-4000-8000-000000000000"):
        answer = await client.post(f"{API}/{path}/complete", headers=clerk)
        assert answer.status_code in (404, 422)

    assert await session.scalar(select(func.count(WalkInTicket.id))) == 0
    assert await session.scalar(select(func.count(QueueCall.id))) == 0
    await assert_invariant_holds(session)


async def test_a_kiosk_retrying_with_its_idempotency_key_gets_the_same_ticket(
    app: FastAPI,
    client: httpx.AsyncClient,
    session: AsyncSession,
    branches: Branches,
    kiosk: dict[str, str],
) -> None:
    stand_at(app, monday_at(9, 0))
    headers = {**kiosk, "Idempotency-Key": "kiosk-1-print-0042"}

    first = await draw(client, headers, branches.hoerde)
    retry = await draw(client, headers, branches.hoerde)

    assert (first.status_code, retry.status_code) == (201, 201)
    assert retry.json()["id"] == first.json()["id"]
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert (await draw(client, kiosk, branches.hoerde)).json()["call_number"] == "W002"
    await assert_invariant_holds(session)
