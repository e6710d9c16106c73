"""The waiting list and its offers: a freed slot goes to the waiting citizens one at a time,
in the order they joined, before the public calendar sees it; declined and lapsed offers move
on; accepting moves the citizen's booking or books a new one; every refusal says why and
changes nothing; capacity and bookings agree throughout."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.appointments.models import (
    Booking,
    CapacityOffer,
    CapacityReturn,
    CapacityUnit,
    WaitingListEntry,
    WaitingListQuota,
)
from app.appointments.offers import offer_service
from app.appointments.waiting_list import waiting_list_service
from app.core.config import Settings
from app.core.db import Database
from tests.conftest import make_settings
from tests.fixtures.appointments import Calendar, create_calendar, stand_at
from tests.fixtures.auth import sign_in
from tests.fixtures.bookings import (
    MONDAY_8,
    MONDAY_9,
    assert_invariant_holds,
    bearer,
    book_with_eid,
    hold_body,
    manage,
)
from tests.fixtures.waiting_list import (
    Waiting,
    join,
    join_body,
    offer_link,
    offer_token,
)

NOW = datetime(2027, 3, 19, 9, 0, tzinfo=UTC)
API = "/api/v1/appointments"
PROBLEM = "https://rathaus.example/problems/"
MONDAY_8_10 = "2027-03-22T08:10:00+01:00"
EIGHT = datetime(2027, 3, 22, 7, 0, tzinfo=UTC)
NINE = datetime(2027, 3, 22, 8, 0, tzinfo=UTC)


@pytest.fixture
def settings(database_url: str) -> Settings:
    return make_settings(database_url, anti_automation=False)


@pytest.fixture
async def calendar(app: FastAPI, session: AsyncSession) -> Calendar:
    """A branch open mornings on weekdays with one counter (one place per slot); the app
    stands on a Friday morning three days before."""
    calendar = await create_calendar(session)
    await session.commit()
    stand_at(app, NOW)
    return calendar


async def join_with_eid(
    client: httpx.AsyncClient, calendar: Calendar, persona: str, email: str, **changes: Any
) -> Waiting:
    tokens = await sign_in(client, persona)
    return await join(client, join_body(calendar, email, **changes), bearer(tokens.access_token))


async def cancel_and_return(
    client: httpx.AsyncClient, db: Database, settings: Settings, booking: dict[str, Any]
) -> datetime:
    """Cancel the booking, then run the job that returns its units once their time came;
    the moment they returned."""
    cancelled = await client.post(
        f"{API}/bookings/{booking['id']}/cancel", headers=manage(booking["manage_token"])
    )
    assert cancelled.status_code == 200, cancelled.text
    return await return_held_back(db, settings)


async def return_held_back(db: Database, settings: Settings) -> datetime:
    async with db.transaction() as session:
        returns_at = await session.scalar(select(func.max(CapacityReturn.returns_at)))
        assert returns_at is not None
        await offer_service.return_capacity(session, returns_at, settings)
    return returns_at


async def two_waiting_when_a_slot_frees(
    client: httpx.AsyncClient, db: Database, settings: Settings, calendar: Calendar
) -> tuple[Waiting, Waiting, datetime]:
    """Erika books Monday 8:00 and joins the waiting list, then Jonas does; she cancels and
    the units return (to the first of them). Both entries, and when the units returned."""
    erika = await sign_in(client, "erika")
    cancelled = await book_with_eid(client, calendar, erika.access_token)
    first = await join_with_eid(client, calendar, "erika", "erika@example.org")
    second = await join_with_eid(client, calendar, "jonas", "jonas@example.org")
    returned_at = await cancel_and_return(client, db, settings, cancelled)
    return first, second, returned_at


async def offers_by_status(session: AsyncSession) -> dict[str, int]:
    rows = await session.execute(
        select(CapacityOffer.status, func.count()).group_by(CapacityOffer.status)
    )
    return dict(rows.all())


async def entry_status(session: AsyncSession, entry_id: str) -> str:
    status = await session.scalar(
        select(WaitingListEntry.status)
        .where(WaitingListEntry.id == uuid.UUID(entry_id))
        .execution_options(populate_existing=True)
    )
    assert status is not None
    return status


async def test_a_freed_slot_goes_to_the_first_waiting_citizen_and_not_to_the_public(
    app: FastAPI,
    client: httpx.AsyncClient,
    session: AsyncSession,
    db: Database,
    settings: Settings,
    calendar: Calendar,
) -> None:
    erika = await sign_in(client, "erika")
    cancelled = await book_with_eid(client, calendar, erika.access_token)
    first = await join(client, join_body(calendar, "anna@example.org"))
    second = await join_with_eid(client, calendar, "jonas", "jonas@example.org")
    await db_verify(session, first.id)

    returned_at = await cancel_and_return(client, db, settings, cancelled)
    public = await client.post(f"{API}/holds", json=hold_body(calendar))
    offer_id, token = await offer_link(session, "anna@example.org")
    seen = await client.get(f"{API}/offers/{offer_id}", headers=offer_token(token))

    assert public.status_code == 409
    assert public.json()["type"] == f"{PROBLEM}slot-taken"
    assert seen.status_code == 200, seen.text
    assert seen.json()["start"] == MONDAY_8
    assert seen.json()["moves_booking_id"] is None
    expires_at = datetime.fromisoformat(seen.json()["expires_at"])
    assert expires_at == returned_at.replace(microsecond=0) + timedelta(minutes=15)
    assert await entry_status(session, first.id) == "offered"
    assert await entry_status(session, second.id) == "waiting"
    assert await offers_by_status(session) == {"offered": 1}
    await assert_invariant_holds(session)


async def db_verify(session: AsyncSession, entry_id: str) -> None:
    """Let an entry made with an e-mail address wait, as the code from its mail would."""
    from app.appointments.waiting_list import WAITING_LIST

    await WAITING_LIST.apply(session, uuid.UUID(entry_id), "verify")
    await session.commit()


async def test_accepting_moves_the_citizens_booking_and_its_old_slot_comes_round_again(
    app: FastAPI,
    client: httpx.AsyncClient,
    session: AsyncSession,
    db: Database,
    settings: Settings,
    calendar: Calendar,
) -> None:
    erika = await sign_in(client, "erika")
    jonas = await sign_in(client, "jonas")
    cancelled = await book_with_eid(client, calendar, erika.access_token)
    later = await book_with_eid(client, calendar, jonas.access_token, MONDAY_9)
    moving = await join(
        client,
        {"booking_id": later["id"], "email": "jonas@example.org"},
        manage(later["manage_token"]),
    )
    anyone = await join_with_eid(client, calendar, "erika", "erika@example.org")

    await cancel_and_return(client, db, settings, cancelled)
    offer_id, token = await offer_link(session, "jonas@example.org")
    accepted = await client.post(f"{API}/offers/{offer_id}/accept", headers=offer_token(token))
    again = await client.post(f"{API}/offers/{offer_id}/accept", headers=offer_token(token))
    booking = await client.get(
        f"{API}/bookings/{later['id']}", headers=manage(later["manage_token"])
    )
    await assert_invariant_holds(session)
    await return_held_back(db, settings)
    next_id, _ = await offer_link(session, "erika@example.org")
    next_offer = await session.get(CapacityOffer, uuid.UUID(next_id))

    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["id"] == later["id"]
    assert accepted.json()["reference"] == later["reference"]
    assert accepted.json()["start"] == MONDAY_8
    assert accepted.json()["manage_token"] is None
    assert again.status_code == 404
    assert booking.json()["start"] == MONDAY_8
    held = await session.scalars(
        select(Booking.starts_at).where(Booking.status == "confirmed").order_by(Booking.starts_at)
    )
    assert list(held) == [EIGHT]
    assert await entry_status(session, moving.id) == "fulfilled"
    erased = await session.get(WaitingListEntry, uuid.UUID(moving.id), populate_existing=True)
    assert erased is not None
    assert (erased.email, erased.name, erased.manage_token_hash) == (None, None, None)
    assert next_offer is not None
    assert next_offer.starts_at == NINE
    assert await entry_status(session, anyone.id) == "offered"
    await assert_invariant_holds(session)


async def test_a_declined_offer_passes_to_the_next_citizen_and_then_to_the_public(
    app: FastAPI,
    client: httpx.AsyncClient,
    session: AsyncSession,
    db: Database,
    settings: Settings,
    calendar: Calendar,
) -> None:
    first, second, _ = await two_waiting_when_a_slot_frees(client, db, settings, calendar)
    first_id, first_token = await offer_link(session, "erika@example.org")
    declined = await client.post(
        f"{API}/offers/{first_id}/decline", headers=offer_token(first_token)
    )
    stale = await client.post(f"{API}/offers/{first_id}/accept", headers=offer_token(first_token))
    second_id, second_token = await offer_link(session, "jonas@example.org")
    public_meanwhile = await client.post(f"{API}/holds", json=hold_body(calendar))
    await assert_invariant_holds(session)
    declined_too = await client.post(
        f"{API}/offers/{second_id}/decline", headers=offer_token(second_token)
    )
    public_then = await client.post(f"{API}/holds", json=hold_body(calendar))

    assert declined.status_code == 200, declined.text
    assert declined.json() == {"id": first_id, "status": "declined"}
    assert stale.status_code == 404
    assert stale.json()["type"] == f"{PROBLEM}offer-not-found"
    assert second_id == first_id  # the same units, passed on
    assert public_meanwhile.status_code == 409
    assert declined_too.status_code == 200
    assert public_then.status_code == 201, public_then.text
    assert await entry_status(session, first.id) == "waiting"
    assert await entry_status(session, second.id) == "waiting"
    assert await offers_by_status(session) == {"released": 1}
    await assert_invariant_holds(session)


async def test_a_lapsed_offer_moves_on_with_the_job_and_its_link_no_longer_books(
    app: FastAPI,
    client: httpx.AsyncClient,
    session: AsyncSession,
    db: Database,
    settings: Settings,
    calendar: Calendar,
) -> None:
    first, _, returned_at = await two_waiting_when_a_slot_frees(client, db, settings, calendar)
    offer_id, token = await offer_link(session, "erika@example.org")
    lapse = returned_at + timedelta(minutes=settings.waiting_list_offer_minutes)

    stand_at(app, lapse)
    late = await client.post(f"{API}/offers/{offer_id}/accept", headers=offer_token(token))
    async with db.transaction() as job:
        early = await offer_service.pass_lapsed(job, lapse - timedelta(seconds=1), settings)
        passed = await offer_service.pass_lapsed(job, lapse, settings)
    after = await client.post(f"{API}/offers/{offer_id}/accept", headers=offer_token(token))
    _, next_token = await offer_link(session, "jonas@example.org")
    taken = await client.post(f"{API}/offers/{offer_id}/accept", headers=offer_token(next_token))

    assert late.status_code == 409
    assert late.json()["type"] == f"{PROBLEM}offer-expired"
    assert (early, passed) == (0, 1)
    assert after.status_code == 404
    assert await entry_status(session, first.id) == "waiting"
    assert taken.status_code == 200, taken.text
    assert taken.json()["start"] == MONDAY_8
    assert taken.json()["status"] == "confirmed"
    assert len(taken.json()["manage_token"]) >= 40
    await assert_invariant_holds(session)


async def test_the_offer_skips_citizens_it_does_not_suit_in_order(
    app: FastAPI,
    client: httpx.AsyncClient,
    session: AsyncSession,
    db: Database,
    settings: Settings,
    calendar: Calendar,
) -> None:
    erika = await sign_in(client, "erika")
    jonas = await sign_in(client, "jonas")
    cancelled = await book_with_eid(client, calendar, erika.access_token, MONDAY_8_10)
    earlier = await book_with_eid(client, calendar, jonas.access_token, MONDAY_8)
    too_late = await join(
        client,
        {"booking_id": earlier["id"], "email": "jonas@example.org"},
        manage(earlier["manage_token"]),
    )
    too_soon = await join_with_eid(
        client, calendar, "erika", "erika@example.org", latest_day="2027-03-20"
    )
    fits = await join(client, join_body(calendar, "anna@example.org"))
    await db_verify(session, fits.id)

    await cancel_and_return(client, db, settings, cancelled)

    assert await entry_status(session, too_late.id) == "waiting"
    assert await entry_status(session, too_soon.id) == "waiting"
    assert await entry_status(session, fits.id) == "offered"
    await assert_invariant_holds(session)


async def test_withdrawing_erases_the_entry_and_passes_its_offer_on(
    app: FastAPI,
    client: httpx.AsyncClient,
    session: AsyncSession,
    db: Database,
    settings: Settings,
    calendar: Calendar,
) -> None:
    first, second, _ = await two_waiting_when_a_slot_frees(client, db, settings, calendar)
    path = f"{API}/waiting-list/{first.id}"

    seen = await client.get(path, headers={"Waiting-List-Token": first.token})
    left = await client.delete(path, headers={"Waiting-List-Token": first.token})
    again = await client.delete(path, headers={"Waiting-List-Token": first.token})

    assert seen.status_code == 200, seen.text
    assert seen.json()["status"] == "offered"
    assert left.status_code == 200, left.text
    assert left.json()["status"] == "left"
    assert again.status_code == 404
    stored = await session.get(WaitingListEntry, uuid.UUID(first.id), populate_existing=True)
    assert stored is not None
    assert (stored.email, stored.person_key, stored.manage_token_hash) == (None, None, None)
    assert await entry_status(session, second.id) == "offered"
    quotas = dict(
        (await session.execute(select(WaitingListQuota.person_key, WaitingListQuota.active))).all()
    )
    assert sorted(quotas.values()) == [0, 1]
    await assert_invariant_holds(session)


async def test_bad_or_foreign_requests_are_refused_and_change_nothing(
    app: FastAPI,
    client: httpx.AsyncClient,
    session: AsyncSession,
    settings: Settings,
    calendar: Calendar,
) -> None:
    erika = await sign_in(client, "erika")
    jonas = await sign_in(client, "jonas")
    booking = await book_with_eid(client, calendar, erika.access_token)
    other = await create_calendar(session)
    await session.commit()
    post = f"{API}/waiting-list"
    body = join_body(calendar, "anna@example.org")

    no_email = await client.post(post, json={**body, "email": None})
    no_service = await client.post(post, json={**body, "service_id": None})
    unknown = await client.post(post, json={**body, "service_id": str(uuid.uuid4())})
    not_here = await client.post(post, json={**body, "branch_ids": [str(other.branch.id)]})
    past = await client.post(post, json={**body, "latest_day": "2027-03-18"})
    crowd = await client.post(post, json={**body, "persons": 9})
    extra = await client.post(post, json={**body, "admin": True})
    no_branches = await client.post(post, json={**body, "branch_ids": []})
    foreign = await client.post(
        post, json={"booking_id": booking["id"]}, headers=bearer(jonas.access_token)
    )
    no_proof = await client.post(post, json={"booking_id": booking["id"]})
    forged = await client.post(post, json=body, headers=bearer("forged.token.value"))
    unknown_entry = await client.get(
        f"{API}/waiting-list/{uuid.uuid4()}", headers={"Waiting-List-Token": "x" * 43}
    )
    no_entry_proof = await client.get(f"{API}/waiting-list/{uuid.uuid4()}")
    unknown_offer = await client.get(f"{API}/offers/{uuid.uuid4()}", headers=offer_token("x"))
    no_offer_proof = await client.post(f"{API}/offers/{uuid.uuid4()}/accept")
    malformed = await client.get(f"{API}/offers/not-a-uuid", headers=offer_token("x"))

    for refused, status, slug in [
        (no_email, 422, "waiting-list-contact-required"),
        (no_service, 422, "waiting-list-service-missing"),
        (unknown, 404, "appointment-service-not-found"),
        (not_here, 422, "service-not-offered"),
        (past, 422, "latest-day-in-past"),
        (crowd, 422, "too-many-persons"),
        (foreign, 404, "booking-not-found"),
        (no_proof, 401, "booking-credentials-missing"),
        (unknown_entry, 404, "waiting-list-entry-not-found"),
        (no_entry_proof, 401, "waiting-list-credentials-missing"),
        (unknown_offer, 404, "offer-not-found"),
        (no_offer_proof, 401, "offer-credentials-missing"),
    ]:
        assert refused.status_code == status, refused.text
        assert refused.headers["content-type"] == "application/problem+json"
        assert refused.json()["type"] == f"{PROBLEM}{slug}"
    assert not_here.json()["errors"][0]["pointer"] == "#/branch_ids/0"
    for invalid in (extra, no_branches, malformed):
        assert invalid.status_code == 422, invalid.text
    assert forged.status_code == 401
    assert await session.scalar(select(func.count(WaitingListEntry.id))) == 0
    assert await session.scalar(select(func.count(WaitingListQuota.person_key))) == 0


async def test_a_person_may_wait_in_three_entries_at_most(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession, calendar: Calendar
) -> None:
    tokens = await sign_in(client, "erika")
    body = join_body(calendar, "erika@example.org")
    for _ in range(3):
        await join(client, body, bearer(tokens.access_token))

    fourth = await client.post(
        f"{API}/waiting-list", json=body, headers=bearer(tokens.access_token)
    )

    assert fourth.status_code == 409
    assert fourth.json()["type"] == f"{PROBLEM}waiting-list-limit-reached"
    assert fourth.json()["limit"] == 3
    assert await session.scalar(select(func.count(WaitingListEntry.id))) == 3


async def test_unverified_and_expired_entries_end_with_the_job(
    app: FastAPI,
    client: httpx.AsyncClient,
    session: AsyncSession,
    db: Database,
    settings: Settings,
    calendar: Calendar,
) -> None:
    unverified = await join(client, join_body(calendar, "anna@example.org"))
    short = await join_with_eid(
        client, calendar, "erika", "erika@example.org", latest_day="2027-03-22"
    )

    async with db.transaction() as job:
        none_yet = await waiting_list_service.end_due(job, NOW)
        code_lapsed = await waiting_list_service.end_due(job, NOW + timedelta(minutes=30))
        day_over = await waiting_list_service.end_due(job, datetime(2027, 3, 22, 23, tzinfo=UTC))

    assert (none_yet, code_lapsed, day_over) == (0, 1, 1)
    assert await entry_status(session, unverified.id) == "ended"
    assert await entry_status(session, short.id) == "ended"
    assert (
        await session.scalar(
            select(func.count(WaitingListEntry.id)).where(WaitingListEntry.email.is_not(None))
        )
        == 0
    )


async def test_a_no_show_s_units_not_yet_begun_go_to_the_waiting_list_first(
    app: FastAPI,
    client: httpx.AsyncClient,
    session: AsyncSession,
    settings: Settings,
) -> None:
    """Erika books 8:00 for three persons (three units, to 8:30) and does not come. Marked a
    no-show at 8:05, the unit she began stays taken; 8:10 is offered to Anna, who waits for
    one person, and 8:20, which nobody else waits for, goes to the public calendar."""
    calendar = await create_calendar(
        session, units_per_extra_person=1, lead_time_minutes=0, release_minute=0
    )
    calendar.branch.code = "hoerde"
    await session.commit()
    stand_at(app, NOW)
    erika = await sign_in(client, "erika")
    held = await client.post(f"{API}/holds", json=hold_body(calendar, persons=3))
    assert held.status_code == 201, held.text
    confirmed = await client.post(
        f"{API}/holds/{held.json()['id']}/confirm", json={}, headers=bearer(erika.access_token)
    )
    assert confirmed.status_code == 200, confirmed.text
    anna = await join(client, join_body(calendar, "anna@example.org"))
    await db_verify(session, anna.id)
    clerk = (await sign_in(client, "branch-hoerde", staff=True)).headers

    eight_05 = EIGHT + timedelta(minutes=5)
    stand_at(app, eight_05)
    marked = await client.post(f"{API}/bookings/{confirmed.json()['id']}/no-show", headers=clerk)
    assert marked.status_code == 200, marked.text
    await assert_invariant_holds(session)
    assert await offer_service.return_capacity(session, eight_05, settings) == 1
    await session.commit()

    offer_id, token = await offer_link(session, "anna@example.org")
    seen = await client.get(f"{API}/offers/{offer_id}", headers=offer_token(token))
    assert seen.status_code == 200, seen.text
    assert seen.json()["start"] == MONDAY_8_10
    taken = {}
    for start in (MONDAY_8_10, "2027-03-22T08:20:00+01:00"):
        answer = await client.post(f"{API}/holds", json=hold_body(calendar, start))
        taken[start[11:16]] = answer.status_code
    assert taken == {"08:10": 409, "08:20": 201}
    used = await session.execute(
        select(CapacityUnit.starts_at, CapacityUnit.used)
        .where(
            CapacityUnit.starts_at >= EIGHT, CapacityUnit.starts_at < EIGHT + timedelta(minutes=30)
        )
        .order_by(CapacityUnit.starts_at)
        .execution_options(populate_existing=True)
    )
    # 8:00 begun by the no-show, 8:10 offered to Anna, 8:20 held by the public.
    assert [n for _, n in used] == [1, 1, 1]
    await assert_invariant_holds(session)
