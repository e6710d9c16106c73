"""Staff take capacity away: the preview lists the bookings that lose their place, applying
it with the preview's fingerprint cancels exactly those in the same transaction as the
capacity change, and each citizen is offered the earliest fitting slot nearby by e-mail;
other branches' staff, citizens and anonymous callers are refused, bad input changes
nothing, and capacity and bookings agree throughout."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.appointments.models import Booking, CapacityOffer, Closure
from app.appointments.service import hold_service
from app.core.config import Settings
from app.core.db import Database
from tests.conftest import make_settings
from tests.fixtures.appointments import Calendar, create_calendar, stand_at
from tests.fixtures.auth import sign_in
from tests.fixtures.bookings import (
    MONDAY_8,
    book_with_eid,
    book_with_email,
    deliver,
    hold_body,
    text_of,
)
from tests.fixtures.factories import create_department
from tests.fixtures.smtp_server import Mailbox
from tests.fixtures.waiting_list import OFFER_LINK, offer_token

NOW = datetime(2027, 3, 19, 9, 0, tzinfo=UTC)
API = "/api/v1/appointments"
PROBLEM = "https://rathaus.example/problems/"
JONAS = "jonas.beispiel@example.org"


@pytest.fixture
def settings(database_url: str) -> Settings:
    return make_settings(database_url, anti_automation=False, booking_max_active_per_person=10)


@dataclass
class Branches:
    hoerde: Calendar
    nearby: Calendar


async def create_branches(session: AsyncSession) -> Branches:
    """Hörde (whose staff the dev-login persona `branch-hoerde` is), with two counters, and
    a branch of the same district offering the same service."""
    hoerde = await create_calendar(session, shares=(100, 100))
    hoerde.branch.code = "hoerde"
    hoerde.branch.district = "Hörde"
    nearby = await create_calendar(session, service=hoerde.service)
    nearby.branch.district = "Hörde"
    await create_department(session, code="33")
    return Branches(hoerde, nearby)


def block_body(calendar: Calendar, **changes: Any) -> dict[str, Any]:
    return {
        "starts_at": "2027-03-22T08:00:00+01:00",
        "ends_at": "2027-03-22T09:00:00+01:00",
        "counter_id": str(calendar.counters[1].id),
        "reason_de": "Krankheit",
        "reason_en": "Illness",
        **changes,
    }


def blocks(calendar: Calendar) -> str:
    return f"{API}/branches/{calendar.branch.id}/blocks"


async def assert_invariant_holds(database: Database) -> None:
    async with database.transaction(read_only=True) as session:
        report = await hold_service.invariant_report(session)
    assert report.ok, report


async def test_a_counter_off_sick_cancels_the_latest_booking_and_offers_the_earliest_slot_nearby(
    committed_app: FastAPI,
    committed_client: httpx.AsyncClient,
    committed_db: Database,
    smtp_settings: Settings,
    mailbox: Mailbox,
) -> None:
    client = committed_client
    async with committed_db.transaction() as session:
        branches = await create_branches(session)
    stand_at(committed_app, NOW)
    erika = await sign_in(client, "erika")
    kept = await book_with_eid(client, branches.hoerde, erika.access_token)
    displaced = await book_with_email(client, branches.hoerde, email=JONAS, language="en")
    await deliver(committed_db, smtp_settings, mailbox)  # the code, entered in the database
    async with committed_db.transaction() as session:
        booking = await session.get(Booking, uuid.UUID(displaced["id"]))
        assert booking is not None
        booking.status = "confirmed"
    clerk = (await sign_in(client, "branch-hoerde", staff=True)).headers
    body = block_body(branches.hoerde)

    preview = await client.post(f"{blocks(branches.hoerde)}/preview", json=body, headers=clerk)
    async with committed_db.transaction(read_only=True) as session:
        closures_after_preview = await session.scalar(select(func.count(Closure.id)))
    applied = await client.post(
        blocks(branches.hoerde), json=body, headers={**clerk, "If-Match": preview.headers["ETag"]}
    )
    mails = await deliver(committed_db, smtp_settings, mailbox)

    assert preview.status_code == 200, preview.text
    assert [b["reference"] for b in preview.json()["bookings"]] == [displaced["reference"]]
    assert preview.json()["bookings"][0]["notified_by_email"] is True
    assert closures_after_preview == 0
    assert applied.status_code == 200, applied.text
    assert [b["id"] for b in applied.json()["cancelled"]] == [displaced["id"]]
    assert applied.json()["offered_booking_ids"] == [displaced["id"]]
    async with committed_db.transaction(read_only=True) as session:
        statuses = dict((await session.execute(select(Booking.id, Booking.status))).all())
        offer = await session.scalar(select(CapacityOffer))
    assert statuses[uuid.UUID(kept["id"])] == "confirmed"
    assert statuses[uuid.UUID(displaced["id"])] == "cancelled"
    assert offer is not None
    assert offer.branch_id == branches.nearby.branch.id  # 8:00 nearby beats 8:10 at Hörde
    [mail] = [m for m in mails if m.envelope_to == [JONAS]]
    assert "had to be cancelled" in str(mail.parsed()["Subject"])
    assert "Illness" in text_of(mail)
    link = OFFER_LINK.search(text_of(mail))
    assert link is not None
    await assert_invariant_holds(committed_db)

    accepted = await client.post(
        f"{API}/offers/{link.group(1)}/accept", headers=offer_token(link.group(2))
    )
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["branch_id"] == str(branches.nearby.branch.id)
    assert accepted.json()["start"] == MONDAY_8
    await assert_invariant_holds(committed_db)


async def test_a_stale_preview_or_none_is_refused_and_changes_nothing(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession
) -> None:
    branches = await create_branches(session)
    await session.commit()
    stand_at(app, NOW)
    erika = await sign_in(client, "erika")
    await book_with_eid(client, branches.hoerde, erika.access_token)
    await book_with_eid(client, branches.hoerde, erika.access_token)
    clerk = (await sign_in(client, "branch-hoerde", staff=True)).headers
    body = block_body(branches.hoerde, counter_id=None)

    preview = await client.post(f"{blocks(branches.hoerde)}/preview", json=body, headers=clerk)
    await book_with_eid(client, branches.hoerde, erika.access_token, "2027-03-22T08:10:00+01:00")
    stale = await client.post(
        blocks(branches.hoerde), json=body, headers={**clerk, "If-Match": preview.headers["ETag"]}
    )
    missing = await client.post(blocks(branches.hoerde), json=body, headers=clerk)

    assert len(preview.json()["bookings"]) == 2
    assert stale.status_code == 412
    assert stale.headers["content-type"] == "application/problem+json"
    assert missing.status_code == 428
    assert await session.scalar(select(func.count(Closure.id))) == 0
    statuses = (await session.scalars(select(Booking.status))).all()
    assert statuses == ["confirmed"] * 3
    report = await hold_service.invariant_report(session)
    assert report.ok, report


async def test_other_branches_staff_citizens_anonymous_and_bad_input_are_refused(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession
) -> None:
    branches = await create_branches(session)
    await session.commit()
    stand_at(app, NOW)
    clerk = (await sign_in(client, "branch-hoerde", staff=True)).headers
    supervisor = (await sign_in(client, "supervisor-buergerdienste", staff=True)).headers
    citizen = await sign_in(client, "erika")
    hoerde = f"{blocks(branches.hoerde)}/preview"
    body = block_body(branches.hoerde)

    other_branch = await client.post(
        f"{blocks(branches.nearby)}/preview",
        json={**body, "counter_id": None},
        headers=clerk,
    )
    as_citizen = await client.post(
        hoerde, json=body, headers={"Authorization": f"Bearer {citizen.access_token}"}
    )
    anonymous = await client.post(hoerde, json=body)
    unknown = await client.post(
        f"{API}/branches/{uuid.uuid4()}/blocks/preview", json=body, headers=clerk
    )
    by_supervisor = await client.post(hoerde, json=body, headers=supervisor)
    backwards = await client.post(
        hoerde, json={**body, "ends_at": "2027-03-22T07:00:00+01:00"}, headers=clerk
    )
    past = await client.post(
        hoerde, json={**body, "starts_at": "2027-03-18T08:00:00+01:00"}, headers=clerk
    )
    foreign_counter = await client.post(
        hoerde, json={**body, "counter_id": str(branches.nearby.counters[0].id)}, headers=clerk
    )
    no_reason = await client.post(hoerde, json={**body, "reason_de": ""}, headers=clerk)
    extra = await client.post(hoerde, json={**body, "admin": True}, headers=clerk)

    assert [other_branch.status_code, as_citizen.status_code, unknown.status_code] == [
        403,
        403,
        403,
    ]
    assert anonymous.status_code == 401
    assert by_supervisor.status_code == 200, by_supervisor.text
    assert by_supervisor.json()["bookings"] == []
    for refused, pointer in [
        (backwards, "#/ends_at"),
        (past, "#/starts_at"),
        (foreign_counter, "#/counter_id"),
    ]:
        assert refused.status_code == 422, refused.text
        assert refused.headers["content-type"] == "application/problem+json"
        assert refused.json()["errors"][0]["pointer"] == pointer
    assert no_reason.status_code == 422
    assert extra.status_code == 422
    assert await session.scalar(select(func.count(Closure.id))) == 0


async def test_holds_racing_a_block_wait_for_it_and_never_outlive_it(
    committed_app: FastAPI,
    committed_client: httpx.AsyncClient,
    committed_db: Database,
) -> None:
    """The clerk closes the whole branch from 8:00 to 9:00 while citizens hold starts in that
    hour: the block always applies, each hold either came first and was ended by it or is
    refused, nothing answers 5xx, and capacity and bookings agree afterwards."""
    client = committed_client
    async with committed_db.transaction() as session:
        branches = await create_branches(session)
    stand_at(committed_app, NOW)
    clerk = (await sign_in(client, "branch-hoerde", staff=True)).headers
    body = block_body(branches.hoerde, counter_id=None)
    preview = await client.post(f"{blocks(branches.hoerde)}/preview", json=body, headers=clerk)
    assert preview.status_code == 200, preview.text
    starts = [f"2027-03-22T08:{minute}0:00+01:00" for minute in range(6)] * 4

    block = client.post(
        blocks(branches.hoerde), json=body, headers={**clerk, "If-Match": preview.headers["ETag"]}
    )
    # The block goes out amid the holds, so that some are made before and some after it.
    requests = [client.post(f"{API}/holds", json=hold_body(branches.hoerde, s)) for s in starts]
    answers = await asyncio.gather(*requests[:8], block, *requests[8:])

    applied = answers.pop(8)
    holds = answers
    assert applied.status_code == 200, applied.text
    codes = Counter(answer.status_code for answer in holds)
    assert set(codes) <= {201, 409, 422}, codes
    refusals = {answer.json()["type"] for answer in holds if answer.status_code != 201}
    assert refusals <= {f"{PROBLEM}slot-taken", f"{PROBLEM}branch-closed"}, refusals
    async with committed_db.transaction(read_only=True) as session:
        live = await session.scalar(
            select(func.count(Booking.id)).where(
                Booking.branch_id == branches.hoerde.branch.id,
                Booking.status.in_(["held", "pending_verification", "confirmed"]),
            )
        )
        held_before = await session.scalar(
            select(func.count(Booking.id)).where(Booking.status == "expired")
        )
    assert live == 0
    assert held_before == codes[201]
    await assert_invariant_holds(committed_db)
