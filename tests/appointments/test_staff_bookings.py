"""The analog path: branch staff book, cancel and move appointments for citizens who phone or
come by, with the same capacity, cap and rules as online, the reason of a change kept and
audited, and a printable confirmation with the QR code for check-in; the confirmation e-mail
carries that QR code, and check-in takes what it decodes to."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from typing import Any

import httpx
import png
import pytest
import zxingcpp
from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.appointments.models import Booking, CapacityReturn, PersonQuota
from app.appointments.qr import check_in_payload
from app.core.audit import AuditEntry
from app.core.config import Settings
from app.core.db import Database
from tests.conftest import make_settings
from tests.fixtures.appointments import Calendar, create_calendar, stand_at
from tests.fixtures.auth import sign_in
from tests.fixtures.bookings import (
    assert_invariant_holds,
    attachments_of,
    book_with_eid,
    book_with_email,
    deliver,
    text_of,
    used_units,
)
from tests.fixtures.factories import create_department
from tests.fixtures.smtp_server import Mailbox

FRIDAY = datetime(2027, 3, 19, 9, 0, tzinfo=UTC)
MONDAY_7_50 = datetime(2027, 3, 22, 6, 50, tzinfo=UTC)  # Berlin, winter time: UTC+1
MONDAY_8 = "2027-03-22T08:00:00+01:00"
MONDAY_8_10 = "2027-03-22T08:10:00+01:00"
MONDAY_8_20 = "2027-03-22T08:20:00+01:00"
API = "/api/v1/appointments"
STAFF = f"{API}/staff/bookings"
PROBLEM = "https://rathaus.example/problems/"
CALLER = "caller@example.org"
ADDRESS = {"street": "Hauptstraße 5", "postal_code": "44263", "city": "Dortmund"}


@dataclass
class Branches:
    hoerde: Calendar
    other: Calendar
    clerk: dict[str, str]


async def create_branches(session: AsyncSession) -> Branches:
    """Hörde, whose staff the dev-login persona `branch-hoerde` is, and another branch
    offering the same service; the department that runs the branches, and another one."""
    hoerde = await create_calendar(session)
    hoerde.branch.code = "hoerde"
    other = await create_calendar(session, service=hoerde.service)
    await create_department(session, code="33")
    await create_department(session, code="51")  # the youth office, of `clerk-jugendamt`
    await session.commit()
    return Branches(hoerde, other, {})


@pytest.fixture
async def branches(app: FastAPI, client: httpx.AsyncClient, session: AsyncSession) -> Branches:
    found = await create_branches(session)
    found.clerk = (await sign_in(client, "branch-hoerde", staff=True)).headers
    stand_at(app, FRIDAY)
    return found


def booking_body(calendar: Calendar, start: str = MONDAY_8, **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "service_id": str(calendar.service.id),
        "branch_id": str(calendar.branch.id),
        "start": start,
        "name": "Erika Mustermann",
        "phone": "0231 1234567",
        **changes,
    }
    return {name: value for name, value in body.items() if value is not None}


async def staff_book(
    client: httpx.AsyncClient, headers: dict[str, str], body: dict[str, Any]
) -> httpx.Response:
    return await client.post(STAFF, json=body, headers=headers)


async def booked(
    client: httpx.AsyncClient, headers: dict[str, str], body: dict[str, Any]
) -> dict[str, Any]:
    response = await staff_book(client, headers, body)
    assert response.status_code == 201, response.text
    return dict(response.json())


async def audit_of(session: AsyncSession, booking_id: str, action: str) -> AuditEntry:
    entry = await session.scalar(
        select(AuditEntry).where(AuditEntry.object_id == booking_id, AuditEntry.action == action)
    )
    assert entry is not None, action
    return entry


async def test_staff_book_for_a_caller_by_phone_taking_the_slot_and_marking_who_booked(
    client: httpx.AsyncClient, session: AsyncSession, branches: Branches
) -> None:
    before = await used_units(session)

    answer = await staff_book(client, branches.clerk, booking_body(branches.hoerde))

    assert answer.status_code == 201, answer.text
    booking = answer.json()
    assert answer.headers["content-type"] == "application/json"
    assert (booking["status"], booking["confirmed_via"]) == ("confirmed", "staff")
    assert (booking["name"], booking["phone"], booking["email"]) == (
        "Erika Mustermann",
        "0231 1234567",
        None,
    )
    assert booking["start"] == MONDAY_8
    assert booking["confirmation_page"] == f"{STAFF}/{booking['id']}/confirmation"
    confirmed = await audit_of(session, booking["id"], "booking.confirm")
    assert confirmed.actor_type == "staff"
    assert booking["booked_by"] == confirmed.actor_id
    assert "manage_token" not in booking
    after = await used_units(session)
    assert sum(after.values()) == sum(before.values()) + 1

    # The slot is gone for the next caller and for citizens online alike.
    again = await staff_book(client, branches.clerk, booking_body(branches.hoerde, phone="0231 9"))
    assert again.status_code == 409
    assert again.json()["type"] == f"{PROBLEM}slot-taken"
    online = await client.post(
        f"{API}/holds",
        json={k: booking_body(branches.hoerde)[k] for k in ("service_id", "branch_id", "start")},
    )
    assert online.status_code == 409
    seen = await client.get(f"{STAFF}/{booking['id']}", headers=branches.clerk)
    assert seen.json() == booking
    day = await client.get(
        f"{API}/branches/{branches.hoerde.branch.id}/day",
        params={"date": "2027-03-22"},
        headers=branches.clerk,
    )
    assert [v["reference"] for v in day.json()["items"]] == [booking["reference"]]
    assert await used_units(session) == after
    await assert_invariant_holds(session)


async def test_the_cap_counts_a_phone_number_however_written_a_postal_address_and_an_email(
    client: httpx.AsyncClient, session: AsyncSession, branches: Branches
) -> None:
    hoerde, clerk = branches.hoerde, branches.clerk
    for start, phone in ((MONDAY_8, "0231 1234567"), (MONDAY_8_10, "+49 (231) 123-4567")):
        await booked(client, clerk, booking_body(hoerde, start, phone=phone))
    third = await staff_book(
        client, clerk, booking_body(hoerde, MONDAY_8_20, phone="0049231 1234567")
    )
    assert third.status_code == 409, third.text
    assert third.json()["type"] == f"{PROBLEM}person-cap-reached"

    by_post = booking_body(hoerde, phone=None, postal_address=ADDRESS)
    for start, street in (
        ("2027-03-23T08:00:00+01:00", "Hauptstraße 5"),
        ("2027-03-23T08:10:00+01:00", "hauptstr.5"),
    ):
        await booked(
            client,
            clerk,
            {**by_post, "start": start, "postal_address": {**ADDRESS, "street": street}},
        )
    refused = await staff_book(
        client,
        clerk,
        {**by_post, "start": "2027-03-23T08:20:00+01:00", "name": "ERIKA  mustermann"},
    )
    assert refused.json()["type"] == f"{PROBLEM}person-cap-reached"
    someone_else = await staff_book(
        client, clerk, {**by_post, "start": "2027-03-23T08:20:00+01:00", "name": "Max Mustermann"}
    )
    assert someone_else.status_code == 201, someone_else.text

    # Two open appointments booked online with an address count for the same address here.
    for start in ("2027-03-24T08:00:00+01:00", "2027-03-24T08:10:00+01:00"):
        await book_with_email(client, hoerde, start, email=CALLER)
    with_email = await staff_book(
        client,
        clerk,
        booking_body(hoerde, "2027-03-24T08:20:00+01:00", phone="0231 555", email=CALLER),
    )
    assert with_email.json()["type"] == f"{PROBLEM}person-cap-reached"
    assert await session.scalar(select(func.max(PersonQuota.active))) == 2
    await assert_invariant_holds(session)


@pytest.mark.parametrize(
    ("changes", "status", "pointer"),
    [
        ({"phone": None}, 422, "#/phone"),
        ({"start": "2027-03-19T11:00:00+01:00"}, 422, "#/start"),  # within the lead time
        ({"start": "2027-06-01T08:00:00+02:00"}, 422, "#/start"),  # beyond the horizon
        ({"start": "2027-03-22T08:05:00+01:00"}, 422, "#/start"),
        ({"start": "2027-03-20T08:00:00+01:00"}, 422, "#/start"),  # a Saturday: closed
        ({"persons": 9}, 422, "#/persons"),
        ({"persons": "2"}, 422, "#/persons"),
        ({"name": "   "}, 422, "#/name"),
        ({"phone": "call me"}, 422, "#/phone"),
        ({"phone": None, "postal_address": {**ADDRESS, "postal_code": "4426"}}, 422, None),
        ({"email": "not an address"}, 422, "#/email"),
        ({"language": "fr"}, 422, "#/language"),
        ({"booked_by": str(uuid.uuid4())}, 422, None),
        ({"service_id": str(uuid.uuid4())}, 404, None),
        ({"start": 1774162800}, 422, "#/start"),
    ],
)
async def test_bad_staff_bookings_get_a_problem_in_both_languages_and_change_nothing(
    client: httpx.AsyncClient,
    session: AsyncSession,
    branches: Branches,
    changes: dict[str, Any],
    status: int,
    pointer: str | None,
) -> None:
    before = await used_units(session)
    body = {**booking_body(branches.hoerde), **changes}
    body = {name: value for name, value in body.items() if value is not None}

    german = await staff_book(client, branches.clerk, body)
    english = await staff_book(client, {**branches.clerk, "Accept-Language": "en"}, body)

    assert german.status_code == status, german.text
    assert german.headers["content-type"] == "application/problem+json"
    assert german.json()["detail"] != english.json()["detail"]
    if pointer is not None:
        assert pointer in [e["pointer"] for e in german.json()["errors"]], german.text
    assert await used_units(session) == before
    assert await session.scalar(select(func.count(Booking.id))) == 0


async def test_only_staff_of_the_branch_book_cancel_move_and_print_there(
    client: httpx.AsyncClient, session: AsyncSession, branches: Branches
) -> None:
    hoerde, other = branches.hoerde, branches.other
    citizen = (await sign_in(client, "erika")).headers
    clerk_51 = (await sign_in(client, "clerk-jugendamt", staff=True)).headers
    supervisor = (await sign_in(client, "supervisor-buergerdienste", staff=True)).headers
    there = await booked(client, supervisor, booking_body(other))
    here = await booked(client, branches.clerk, booking_body(hoerde))
    before = await used_units(session)

    # Callers who may not act for citizens at all are refused before their input is read.
    for headers, status in (({}, 401), (citizen, 403)):
        assert (await staff_book(client, headers, {"persons": "x"})).status_code == status
        for action in ("cancel", "reschedule"):
            answer = await client.post(f"{STAFF}/{here['id']}/{action}", json={}, headers=headers)
            assert answer.status_code == status
        for page in ("", "/confirmation"):
            answer = await client.get(f"{STAFF}/{here['id']}{page}", headers=headers)
            assert answer.status_code == status
            assert answer.headers["content-type"] == "application/problem+json"
    # Staff who work at no branch are refused before their input is read, too.
    for body in (booking_body(hoerde, MONDAY_8_10), {"persons": "x"}):
        assert (await staff_book(client, clerk_51, body)).status_code == 403
    refused = await staff_book(client, branches.clerk, booking_body(other, MONDAY_8_10))
    assert refused.status_code == 403
    nowhere = booking_body(hoerde, MONDAY_8_10, branch_id=str(uuid.uuid4()))
    assert (await staff_book(client, branches.clerk, nowhere)).status_code == 403

    reason = {"reason": "Auf Wunsch telefonisch"}
    for booking_id in (there["id"], str(uuid.uuid4())):
        for action, body in (("cancel", reason), ("reschedule", {**reason, "start": MONDAY_8_20})):
            answer = await client.post(
                f"{STAFF}/{booking_id}/{action}", json=body, headers=branches.clerk
            )
            assert answer.status_code == 404, answer.text
        for page in ("", "/confirmation"):
            answer = await client.get(f"{STAFF}/{booking_id}{page}", headers=branches.clerk)
            assert answer.status_code == 404
            assert answer.headers["content-type"] == "application/problem+json"
    assert (await client.get(f"{STAFF}/not-a-uuid", headers=branches.clerk)).status_code == 422
    elsewhere = await client.post(
        f"{STAFF}/{here['id']}/reschedule",
        json={**reason, "start": MONDAY_8_20, "branch_id": str(other.branch.id)},
        headers=branches.clerk,
    )
    assert elsewhere.status_code == 403
    assert await used_units(session) == before


async def test_staff_move_claims_the_new_start_first_and_keep_the_reason_for_the_citizen(
    client: httpx.AsyncClient, session: AsyncSession, branches: Branches
) -> None:
    clerk = branches.clerk
    booking = await booked(client, clerk, booking_body(branches.hoerde))
    citizen = await sign_in(client, "erika")
    await book_with_eid(client, branches.hoerde, citizen.access_token, MONDAY_8_10)
    move = f"{STAFF}/{booking['id']}/reschedule"

    taken = await client.post(move, json={"start": MONDAY_8_10, "reason": "Früher"}, headers=clerk)
    no_reason = await client.post(move, json={"start": MONDAY_8_20, "reason": " "}, headers=clerk)
    reason = "Die Bürgerin kann erst später kommen."
    moved = await client.post(move, json={"start": MONDAY_8_20, "reason": reason}, headers=clerk)

    assert taken.status_code == 409
    assert taken.json()["type"] == f"{PROBLEM}slot-taken"
    assert no_reason.status_code == 422
    assert moved.status_code == 200, moved.text
    assert (moved.json()["start"], moved.json()["change_reason"]) == (MONDAY_8_20, reason)
    assert moved.json()["reference"] == booking["reference"]
    audit = await audit_of(session, booking["id"], "booking.staff_reschedule")
    assert audit.actor_type == "staff"
    assert audit.summary["reason"] == reason
    assert (audit.summary["from"], audit.summary["to"]) == (
        "2027-03-22T07:00:00+00:00",
        "2027-03-22T07:20:00+00:00",
    )
    # The old start returns to the calendar only after the random delay.
    assert await session.scalar(select(func.count(CapacityReturn.id))) == 1
    page = await client.get(f"{STAFF}/{booking['id']}/confirmation", headers=clerk)
    assert f"Hinweis: {reason}" in page.text
    assert "08:20 bis 08:30 Uhr" in page.text
    await assert_invariant_holds(session)


async def test_the_printable_confirmation_has_the_appointment_in_german_and_english(
    client: httpx.AsyncClient, session: AsyncSession, branches: Branches
) -> None:
    by_post = booking_body(branches.hoerde, phone=None, postal_address=ADDRESS, persons=2)
    booking = await booked(client, branches.clerk, by_post)
    other = await booked(client, branches.clerk, booking_body(branches.hoerde, MONDAY_8_20))

    page = await client.get(f"{STAFF}/{booking['id']}/confirmation", headers=branches.clerk)

    assert page.status_code == 200, page.text
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    assert page.headers["cache-control"] == "no-store"
    html = page.text
    branch = branches.hoerde.branch
    for expected in (
        '<html lang="de">',
        "@page{size:A4",
        booking["reference"],
        "Montag, 22. März 2027",
        "Monday, 22 March 2027",
        "08:00 bis 08:10 Uhr",
        "8:00 AM to 8:10 AM",
        branch.name,
        f"{branch.street} {branch.house_number}",
        f"{branch.postal_code} {branch.city}",
        "Bitte bringen Sie mit",
        "Biometrisches Passfoto",
        "Please bring",
        "Biometric passport photo",
        "Erika Mustermann<br>Hauptstraße 5<br>44263 Dortmund",
        f'aria-label="QR-Code mit der Buchungsnummer {booking["reference"]}"',
        "<svg",
        'lang="en"',
    ):
        assert expected in html, expected
    assert other["reference"] not in html
    assert "<script" not in html

    cancelled = await client.post(
        f"{STAFF}/{booking['id']}/cancel",
        json={"reason": "Die Dienststelle ist an diesem Tag geschlossen."},
        headers=branches.clerk,
    )
    assert cancelled.status_code == 200
    again = await client.get(f"{STAFF}/{booking['id']}/confirmation", headers=branches.clerk)
    assert "Dieser Termin ist abgesagt." in again.text
    assert "This appointment has been cancelled." in again.text
    assert "Grund: Die Dienststelle ist an diesem Tag geschlossen." in again.text


def inline_images(mail: EmailMessage) -> dict[str, bytes]:
    """The parts shown inside the HTML, by their Content-ID."""
    return {
        str(part["Content-ID"]).strip("<>"): bytes(part.get_content())
        for part in mail.walk()
        if part.get_content_disposition() == "inline" and part["Content-ID"]
    }


def decoded_qr(image: bytes) -> list[str]:
    """What a scanner reads in the PNG: zxing-cpp on the decoded pixels."""
    width, height, rows, info = png.Reader(bytes=image).asDirect()
    pixels = bytearray()
    for row in rows:
        pixels.extend(255 if value else 0 for value in row) if info["bitdepth"] == 1 else (
            pixels.extend(row)
        )
    found = zxingcpp.read_barcodes(memoryview(bytes(pixels)).cast("B", (height, width)))
    return [barcode.text for barcode in found]


@pytest.fixture
def settings(database_url: str) -> Settings:
    return make_settings(database_url, anti_automation=False)


async def test_the_confirmation_mail_carries_a_qr_code_whose_payload_checks_the_citizen_in(
    committed_app: FastAPI,
    committed_client: httpx.AsyncClient,
    committed_db: Database,
    smtp_settings: Settings,
    mailbox: Mailbox,
) -> None:
    client = committed_client
    async with committed_db.transaction() as session:
        found = await create_branches(session)
    clerk = (await sign_in(client, "branch-hoerde", staff=True)).headers
    stand_at(committed_app, FRIDAY)
    body = booking_body(found.hoerde, email=CALLER, language="en")
    booking = await booked(client, clerk, body)

    [confirmation] = await deliver(committed_db, smtp_settings, mailbox)

    mail = confirmation.parsed()
    assert confirmation.envelope_to == [CALLER]
    html = mail.get_body(preferencelist=("html",))
    assert html is not None
    [(content_id, image)] = inline_images(mail).items()
    assert f'<img src="cid:{content_id}"' in str(html.get_content())
    assert f'alt="QR code to check in at the branch, booking number {booking["reference"]}"' in (
        str(html.get_content())
    )
    assert "show the QR code in this e-mail" in text_of(confirmation)
    assert list(attachments_of(confirmation)) == [f"termin-{booking['reference']}.ics"]
    [payload] = decoded_qr(image)
    assert payload == check_in_payload(booking["reference"]) == booking["reference"]

    stand_at(committed_app, MONDAY_7_50)
    checked_in = await client.post(f"{API}/check-ins", json={"reference": payload}, headers=clerk)
    assert checked_in.status_code == 200, checked_in.text
    assert (checked_in.json()["status"], checked_in.json()["call_number"]) == ("checked_in", "A001")
    async with committed_db.transaction(read_only=True) as session:
        stored = await session.get(Booking, uuid.UUID(booking["id"]))
        assert stored is not None
        assert stored.booked_by == stored.handled_by  # the same clerk booked and checked in


async def test_staff_cancel_keeps_the_reason_audits_it_and_tells_the_citizen(
    committed_app: FastAPI,
    committed_client: httpx.AsyncClient,
    committed_db: Database,
    smtp_settings: Settings,
    mailbox: Mailbox,
) -> None:
    client = committed_client
    async with committed_db.transaction() as session:
        found = await create_branches(session)
    clerk = (await sign_in(client, "branch-hoerde", staff=True)).headers
    stand_at(committed_app, FRIDAY)
    booking = await booked(client, clerk, booking_body(found.hoerde, email=CALLER))
    await deliver(committed_db, smtp_settings, mailbox)
    cancel = f"{STAFF}/{booking['id']}/cancel"
    reason = "Der Schalter ist an diesem Tag nicht besetzt."

    blank = await client.post(cancel, json={"reason": ""}, headers=clerk)
    cancelled = await client.post(cancel, json={"reason": reason}, headers=clerk)
    twice = await client.post(cancel, json={"reason": reason}, headers=clerk)
    [mail] = await deliver(committed_db, smtp_settings, mailbox)

    assert blank.status_code == 422
    assert cancelled.status_code == 200, cancelled.text
    assert (cancelled.json()["status"], cancelled.json()["change_reason"]) == ("cancelled", reason)
    assert twice.status_code == 409
    assert twice.json()["current_status"] == "cancelled"
    assert mail.envelope_to == [CALLER]
    assert f"Grund der Absage: {reason}" in text_of(mail)
    async with committed_db.transaction(read_only=True) as session:
        audit = await audit_of(session, booking["id"], "booking.staff_cancel")
        assert (audit.actor_type, audit.summary["reason"]) == ("staff", reason)
        assert audit.actor_id == booking["booked_by"]
        assert await session.scalar(select(func.count(CapacityReturn.id))) == 1
        assert await session.scalar(select(func.sum(PersonQuota.active))) == 0
        await assert_invariant_holds(session)


async def test_staff_and_citizens_booking_one_slot_at_the_same_moment_get_it_once(
    committed_app: FastAPI, committed_client: httpx.AsyncClient, committed_db: Database
) -> None:
    client = committed_client
    async with committed_db.transaction() as session:
        found = await create_branches(session)
    clerks = [(await sign_in(client, "branch-hoerde", staff=True)).headers for _ in range(2)]
    stand_at(committed_app, FRIDAY)
    hold = {k: booking_body(found.hoerde)[k] for k in ("service_id", "branch_id", "start")}

    answers = await asyncio.gather(
        *(
            staff_book(client, clerks[n % 2], booking_body(found.hoerde, phone=f"0231 {n:04d}"))
            for n in range(6)
        ),
        *(client.post(f"{API}/holds", json=hold) for _ in range(2)),
    )

    assert sorted(a.status_code for a in answers) == [201] + [409] * 7, [a.text for a in answers]
    async with committed_db.transaction(read_only=True) as session:
        assert await session.scalar(select(func.count(Booking.id))) == 1
        await assert_invariant_holds(session)


async def test_a_retried_staff_booking_with_its_idempotency_key_books_once(
    committed_app: FastAPI, committed_client: httpx.AsyncClient, committed_db: Database
) -> None:
    client = committed_client
    async with committed_db.transaction() as session:
        found = await create_branches(session)
    clerk = (await sign_in(client, "branch-hoerde", staff=True)).headers
    stand_at(committed_app, FRIDAY)
    headers = {**clerk, "Idempotency-Key": str(uuid.uuid4())}
    body = booking_body(found.hoerde)

    first = await staff_book(client, headers, body)
    retried = await staff_book(client, headers, body)
    other_body = await staff_book(client, headers, {**body, "name": "Max Mustermann"})

    assert first.status_code == 201, first.text
    assert retried.status_code == 201
    assert retried.json() == first.json()
    assert retried.headers["Idempotent-Replayed"] == "true"
    assert other_body.status_code == 422
    async with committed_db.transaction(read_only=True) as session:
        assert await session.scalar(select(func.count(Booking.id))) == 1
        await assert_invariant_holds(session)
