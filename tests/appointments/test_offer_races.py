"""Offers under load: accepts racing the lapse job, and many releases at once, never give a
slot to two people or two live offers to one person; capacity and bookings agree afterwards.
And the offer mail as the citizen receives it, over real SMTP."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.appointments.models import Booking, CapacityOffer, CapacityReturn, WaitingListEntry
from app.appointments.offers import offer_service
from app.appointments.service import hold_service
from app.core.config import Settings
from app.core.db import Database
from tests.conftest import make_settings
from tests.fixtures.appointments import create_calendar, stand_at
from tests.fixtures.auth import sign_in
from tests.fixtures.bookings import (
    MONDAY_8,
    attachments_of,
    bearer,
    book_with_eid,
    code_in,
    deliver,
    manage,
    text_of,
)
from tests.fixtures.smtp_server import Mailbox
from tests.fixtures.waiting_list import API, OFFER_LINK, join, join_body, offer_link, offer_token

NOW = datetime(2027, 3, 19, 9, 0, tzinfo=UTC)
ANNA = "anna.beispiel@example.org"


@pytest.fixture
def settings(database_url: str) -> Settings:
    """Two citizens book and wait for several places here; the cap is proven elsewhere."""
    return make_settings(database_url, anti_automation=False, booking_max_active_per_person=10)


async def assert_invariant_holds(database: Database) -> None:
    async with database.transaction(read_only=True) as session:
        report = await hold_service.invariant_report(session)
    assert report.ok, report


async def live_offers(database: Database) -> list[uuid.UUID | None]:
    async with database.transaction(read_only=True) as session:
        return list(
            await session.scalars(
                select(CapacityOffer.entry_id).where(CapacityOffer.status == "offered")
            )
        )


async def cancel(client: httpx.AsyncClient, booking: dict[str, str]) -> None:
    response = await client.post(
        f"{API}/bookings/{booking['id']}/cancel", headers=manage(booking["manage_token"])
    )
    assert response.status_code == 200, response.text


async def test_an_accept_racing_the_lapse_job_gives_the_slot_to_one_person_only(
    committed_app: FastAPI,
    committed_client: httpx.AsyncClient,
    committed_db: Database,
    settings: Settings,
) -> None:
    client = committed_client
    async with committed_db.transaction() as session:
        calendar = await create_calendar(session)
    stand_at(committed_app, NOW)
    erika = await sign_in(client, "erika")
    jonas = await sign_in(client, "jonas")
    booking = await book_with_eid(client, calendar, erika.access_token)
    await join(client, join_body(calendar, "erika@example.org"), bearer(erika.access_token))
    await join(client, join_body(calendar, "jonas@example.org"), bearer(jonas.access_token))
    await cancel(client, booking)
    async with committed_db.transaction() as session:
        returns_at = await session.scalar(select(CapacityReturn.returns_at))
        assert returns_at is not None
        await offer_service.return_capacity(session, returns_at, settings)
    async with committed_db.transaction(read_only=True) as session:
        offer_id, token = await offer_link(session, "erika@example.org")
    lapse = returns_at + timedelta(minutes=settings.waiting_list_offer_minutes)
    stand_at(committed_app, lapse - timedelta(seconds=1))

    async def lapse_job() -> int:
        async with committed_db.transaction() as session:
            return await offer_service.pass_lapsed(session, lapse, settings)

    accepts = [
        client.post(f"{API}/offers/{offer_id}/accept", headers=offer_token(token)) for _ in range(8)
    ]
    results = await asyncio.gather(*accepts, *(lapse_job() for _ in range(4)))

    answers = [r for r in results if isinstance(r, httpx.Response)]
    passes = sum(r for r in results if isinstance(r, int))
    codes = Counter(answer.status_code for answer in answers)
    assert set(codes) <= {200, 404, 409}, codes
    assert codes[200] + passes == 1, (codes, passes)
    async with committed_db.transaction(read_only=True) as session:
        booked = await session.scalar(
            select(func.count(Booking.id)).where(Booking.status == "confirmed")
        )
    assert booked == codes[200]
    assert len(await live_offers(committed_db)) == passes
    await assert_invariant_holds(committed_db)


async def test_many_releases_at_once_offer_each_slot_to_a_different_person_in_order(
    committed_app: FastAPI,
    committed_client: httpx.AsyncClient,
    committed_db: Database,
    settings: Settings,
) -> None:
    client = committed_client
    async with committed_db.transaction() as session:
        calendar = await create_calendar(session, shares=(100, 100, 100))
    stand_at(committed_app, NOW)
    erika = await sign_in(client, "erika")
    jonas = await sign_in(client, "jonas")
    booked = [await book_with_eid(client, calendar, erika.access_token) for _ in range(3)]
    waiting = [
        await join(client, join_body(calendar, f"{name}@example.org"), bearer(tokens))
        for name, tokens in [
            ("erika", erika.access_token),
            ("jonas", jonas.access_token),
            ("erika2", erika.access_token),
            ("jonas2", jonas.access_token),
        ]
    ]
    for booking in booked:
        await cancel(client, booking)
    async with committed_db.transaction() as session:
        await session.execute(update(CapacityReturn).values(returns_at=NOW))

    async def return_job() -> int:
        async with committed_db.transaction() as session:
            return await offer_service.return_capacity(session, NOW, settings)

    returned = await asyncio.gather(*(return_job() for _ in range(6)))

    assert sum(returned) == 3
    offered_to = await live_offers(committed_db)
    assert sorted(map(str, offered_to)) == sorted(entry.id for entry in waiting[:3])
    async with committed_db.transaction(read_only=True) as session:
        last = await session.get(WaitingListEntry, uuid.UUID(waiting[3].id))
    assert last is not None
    assert last.status == "waiting"
    public = await client.post(
        f"{API}/holds",
        json={
            "service_id": str(calendar.service.id),
            "branch_id": str(calendar.branch.id),
            "start": MONDAY_8,
        },
    )
    assert public.status_code == 409
    await assert_invariant_holds(committed_db)


async def test_the_database_refuses_a_second_live_offer_for_one_person(
    session: AsyncSession,
) -> None:
    calendar = await create_calendar(session)
    entry = WaitingListEntry(
        id=uuid.uuid4(),
        status="offered",
        service_id=calendar.service.id,
        persons=1,
        language="de",
        confirmed_via="eid",
        ends_at=NOW + timedelta(days=1),
    )
    session.add(entry)
    await session.flush()
    start = datetime(2027, 3, 22, 7, 0, tzinfo=UTC)
    for minutes in (0, 10):
        session.add(
            CapacityOffer(
                status="offered",
                branch_id=calendar.branch.id,
                starts_at=start + timedelta(minutes=minutes),
                ends_at=start + timedelta(minutes=minutes + 10),
                units=1,
                entry_id=entry.id,
                token_hash=f"{minutes:064d}",
                expires_at=NOW,
            )
        )

    with pytest.raises(IntegrityError):
        await session.flush()


async def test_an_email_entry_gets_its_code_and_the_offer_by_mail_and_books_from_it(
    committed_app: FastAPI,
    committed_client: httpx.AsyncClient,
    committed_db: Database,
    smtp_settings: Settings,
    mailbox: Mailbox,
) -> None:
    client = committed_client
    async with committed_db.transaction() as session:
        calendar = await create_calendar(session)
    stand_at(committed_app, NOW)
    erika = await sign_in(client, "erika")
    booking = await book_with_eid(client, calendar, erika.access_token)
    entry = await join(client, join_body(calendar, ANNA, language="en"))
    [verification] = await deliver(committed_db, smtp_settings, mailbox)
    path = f"{API}/waiting-list/{entry.id}/verify"
    verified = await client.post(path, json={"code": code_in(verification)})
    await cancel(client, booking)
    async with committed_db.transaction() as session:
        returns_at = await session.scalar(select(CapacityReturn.returns_at))
        assert returns_at is not None
        await offer_service.return_capacity(session, returns_at, smtp_settings)
    [offer_mail] = await deliver(committed_db, smtp_settings, mailbox)
    link = OFFER_LINK.search(text_of(offer_mail))
    assert link is not None, text_of(offer_mail)
    page = await client.get(link.group(0))
    shown = await client.get(f"{API}/offers/{link.group(1)}", headers=offer_token(link.group(2)))
    accepted = await client.post(
        f"/appointments/offers/{link.group(1)}/accept", data={"token": link.group(2)}
    )
    again = await client.post(
        f"/appointments/offers/{link.group(1)}/accept", data={"token": link.group(2)}
    )
    [confirmation] = await deliver(committed_db, smtp_settings, mailbox)

    assert verification.envelope_to == [ANNA]
    assert "waiting list" in str(verification.parsed()["Subject"])
    assert verified.status_code == 200, verified.text
    assert verified.json()["status"] == "waiting"
    assert offer_mail.envelope_to == [ANNA]
    assert str(offer_mail.parsed()["Subject"]).startswith("Earlier slot free")
    assert "held for you alone" in text_of(offer_mail)
    assert text_of(offer_mail).count(smtp_settings.public_base_url) >= 1
    assert page.status_code == 200
    assert "Annehmen" in page.text
    assert "Decline" in page.text
    assert shown.json()["start"] == MONDAY_8
    assert accepted.status_code == 200, accepted.text
    assert "Termin gebucht" in accepted.text
    assert again.status_code == 404
    assert "Offer not found" in again.text
    async with committed_db.transaction(read_only=True) as session:
        booked = await session.scalar(select(Booking).where(Booking.status == "confirmed"))
    assert booked is not None
    assert booked.language == "en"
    assert booked.email == ANNA
    assert confirmation.envelope_to == [ANNA]
    assert booked.reference in text_of(confirmation)
    assert len(attachments_of(confirmation)) == 1
    async with committed_db.transaction(read_only=True) as session:
        count = await session.scalar(
            select(func.count(WaitingListEntry.id)).where(WaitingListEntry.email.is_not(None))
        )
    assert count == 0
    await assert_invariant_holds(committed_db)
