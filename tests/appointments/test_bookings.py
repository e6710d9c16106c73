"""Citizens turn a hold into a booking, with eID at once or with a verified e-mail address,
then see, move and cancel it; every refusal says why and changes nothing."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from fastapi import FastAPI
from icalendar import Calendar as ICalendar
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.appointments.booking_service import booking_service, code_hash
from app.appointments.models import Booking, CapacityReturn, PersonQuota
from app.appointments.offers import offer_service
from app.core.config import Settings
from app.core.db import Database
from tests.fixtures.appointments import Calendar, create_calendar, stand_at
from tests.fixtures.auth import sign_in
from tests.fixtures.bookings import (
    ERIKA,
    MONDAY_8,
    MONDAY_9,
    assert_invariant_holds,
    attachments_of,
    bearer,
    book_with_eid,
    book_with_email,
    code_in,
    contact,
    deliver,
    hold,
    hold_body,
    manage,
    statuses,
    text_of,
    used_units,
)
from tests.fixtures.smtp_server import Mailbox

NOW = datetime(2027, 3, 19, 9, 0, tzinfo=UTC)
EIGHT = datetime(2027, 3, 22, 7, 0, tzinfo=UTC)
NINE = datetime(2027, 3, 22, 8, 0, tzinfo=UTC)


@pytest.fixture
async def calendar(app: FastAPI, session: AsyncSession) -> Calendar:
    """A branch open mornings on weekdays with one counter; the app stands on a Friday
    morning three days before."""
    calendar = await create_calendar(session)
    await session.commit()
    stand_at(app, NOW)
    return calendar


async def test_a_citizen_signed_in_with_eid_is_booked_at_once(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession, calendar: Calendar
) -> None:
    tokens = await sign_in(client, "erika")

    booking = await book_with_eid(client, calendar, tokens.access_token, language="en")

    assert booking["status"] == "confirmed"
    assert booking["status_label"] == {"de": "gebucht", "en": "confirmed"}
    assert booking["reference"].startswith("T-")
    assert booking["start"] == MONDAY_8
    assert booking["expires_at"] is None
    assert booking["language"] == "en"
    assert len(booking["manage_token"]) >= 40
    mine = await client.get("/api/v1/appointments/bookings", headers=bearer(tokens.access_token))
    assert mine.status_code == 200, mine.text
    assert [item["id"] for item in mine.json()["items"]] == [booking["id"]]
    assert "manage_token" not in mine.json()["items"][0]
    stored = await session.scalar(select(Booking.manage_token_hash))
    assert stored is not None
    assert booking["manage_token"] not in stored
    assert await used_units(session) == {EIGHT: 1}
    await assert_invariant_holds(session)


async def test_the_manage_token_shows_the_booking_and_nothing_else(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession, calendar: Calendar
) -> None:
    first = await book_with_email(client, calendar)
    second = await book_with_email(client, calendar, MONDAY_9, email="jonas@example.org")
    path = f"/api/v1/appointments/bookings/{first['id']}"

    own = await client.get(path, headers=manage(first["manage_token"]))
    others = await client.get(path, headers=manage(second["manage_token"]))
    forged = await client.get(path, headers=manage("x" * 43))
    without = await client.get(path)
    unknown = await client.get(
        f"/api/v1/appointments/bookings/{uuid.uuid4()}", headers=manage(first["manage_token"])
    )

    assert own.status_code == 200, own.text
    assert own.json()["reference"] == first["reference"]
    assert own.json()["name"] == "Erika Mustermann"
    assert own.json()["what_to_bring"]["de"] == "Biometrisches Passfoto"
    assert [others.status_code, forged.status_code, unknown.status_code] == [404, 404, 404]
    assert others.headers["content-type"] == "application/problem+json"
    assert without.status_code == 401
    assert without.json()["type"].endswith("/booking-credentials-missing")


async def test_another_citizen_cannot_see_or_cancel_a_booking(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession, calendar: Calendar
) -> None:
    erika = await sign_in(client, "erika")
    jonas = await sign_in(client, "jonas")
    booking = await book_with_eid(client, calendar, erika.access_token)
    path = f"/api/v1/appointments/bookings/{booking['id']}"

    seen = await client.get(path, headers=bearer(jonas.access_token))
    cancelled = await client.post(f"{path}/cancel", headers=bearer(jonas.access_token))
    own = await client.get(path, headers=bearer(erika.access_token))
    listed = await client.get("/api/v1/appointments/bookings", headers=bearer(jonas.access_token))

    assert [seen.status_code, cancelled.status_code] == [404, 404]
    assert own.status_code == 200
    assert listed.json()["items"] == []
    assert await statuses(session) == ["confirmed"]


async def test_forged_bearer_token_is_401_before_the_body_is_read(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession, calendar: Calendar
) -> None:
    hold_id = await hold(client, calendar)

    response = await client.post(
        f"/api/v1/appointments/holds/{hold_id}/confirm",
        content=b"{not json",
        headers={**bearer("forged.token.value"), "Content-Type": "application/json"},
    )

    assert response.status_code == 401
    assert await statuses(session) == ["held"]


async def test_without_eid_name_and_email_are_required(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession, calendar: Calendar
) -> None:
    hold_id = await hold(client, calendar)
    path = f"/api/v1/appointments/holds/{hold_id}/confirm"

    no_email = await client.post(path, json={"name": "Erika"}, headers={"Accept-Language": "en"})
    no_name = await client.post(path, json={"email": ERIKA})
    bad_email = await client.post(path, json=contact(email="erika@"))
    bad_phone = await client.post(path, json=contact(phone="call me"))
    bad_language = await client.post(path, json=contact(language="fr"))
    extra = await client.post(path, json=contact(admin=True))

    assert no_email.status_code == 422
    assert no_email.json()["errors"][0]["pointer"] == "#/email"
    assert "e-mail address" in no_email.json()["detail"]
    assert no_name.json()["errors"][0]["pointer"] == "#/name"
    for refused in (bad_email, bad_phone, bad_language, extra):
        assert refused.status_code == 422, refused.text
        assert refused.headers["content-type"] == "application/problem+json"
    assert await statuses(session) == ["held"]


async def test_unknown_expired_and_twice_confirmed_holds_are_refused(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession, calendar: Calendar
) -> None:
    hold_id = await hold(client, calendar)
    late_id = await hold(client, calendar, MONDAY_9)

    unknown = await client.post(
        f"/api/v1/appointments/holds/{uuid.uuid4()}/confirm", json=contact()
    )
    first = await client.post(f"/api/v1/appointments/holds/{hold_id}/confirm", json=contact())
    again = await client.post(f"/api/v1/appointments/holds/{hold_id}/confirm", json=contact())
    stand_at(app, NOW + timedelta(minutes=10))
    late = await client.post(f"/api/v1/appointments/holds/{late_id}/confirm", json=contact())

    assert unknown.status_code == 404
    assert first.status_code == 200
    assert again.status_code == 409
    assert again.json()["type"].endswith("/invalid-state-transition")
    assert late.status_code == 409
    assert late.json()["type"].endswith("/hold-expired")
    assert await statuses(session) == ["pending_verification", "held"]


async def test_email_booking_counts_only_after_the_code_from_the_mail(
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

    booking = await book_with_email(client, calendar)
    [verification] = await deliver(committed_db, smtp_settings, mailbox)
    code = code_in(verification)
    async with committed_db.transaction() as session:
        wrong = await a_wrong_code(session, smtp_settings, booking["id"])
    path = f"/api/v1/appointments/bookings/{booking['id']}/verify"
    refused = await client.post(path, json={"code": wrong}, headers={"Accept-Language": "en"})
    link = next(word for word in text_of(verification).split() if "/verify?code=" in word)
    page = await client.get(link.removeprefix(smtp_settings.public_base_url))
    async with committed_db.transaction() as session:
        before = await statuses(session)
    verified = await client.post(
        f"/appointments/bookings/{booking['id']}/verify", data={"code": code}
    )
    again = await client.post(path, json={"code": code})
    [confirmation] = await deliver(committed_db, smtp_settings, mailbox)

    assert booking["status"] == "pending_verification"
    assert booking["expires_at"] == "2027-03-19T10:30:00+01:00"
    assert verification.envelope_to == [ERIKA]
    assert code in str(verification.parsed()["Subject"])
    assert f"/appointments/bookings/{booking['id']}/verify?code={code}" in text_of(verification)
    assert refused.status_code == 422
    assert refused.json()["attempts_left"] == 4
    assert "4 attempts left" in refused.json()["detail"]
    assert page.status_code == 200
    assert "Termin verbindlich buchen" in page.text
    assert before == ["pending_verification"]
    assert verified.status_code == 200, verified.text
    assert "Termin gebucht" in verified.text
    assert again.status_code == 200
    assert again.json()["status"] == "confirmed"
    assert confirmation.envelope_to == [ERIKA]
    assert booking["reference"] in text_of(confirmation)
    [ics] = attachments_of(confirmation).values()
    event = ICalendar.from_ical(ics).walk("VEVENT")[0]
    assert event.decoded("DTSTART").astimezone(UTC) == EIGHT
    async with committed_db.transaction() as session:
        await assert_invariant_holds(session)


async def a_wrong_code(session: AsyncSession, settings: Settings, booking_id: str) -> str:
    stored = await session.scalar(select(Booking.verification_code_hash))
    for candidate in ("000000", "999999"):
        if code_hash(settings, uuid.UUID(booking_id), candidate) != stored:
            return candidate
    raise AssertionError("two codes cannot both be right")


async def test_five_wrong_codes_end_the_booking_and_free_the_slot(
    app: FastAPI,
    client: httpx.AsyncClient,
    session: AsyncSession,
    settings: Settings,
    calendar: Calendar,
) -> None:
    booking = await book_with_email(client, calendar)
    path = f"/api/v1/appointments/bookings/{booking['id']}/verify"

    wrong = await a_wrong_code(session, settings, booking["id"])

    answers = [(await client.post(path, json={"code": wrong})) for _ in range(6)]

    assert [a.status_code for a in answers] == [422, 422, 422, 422, 409, 409]
    assert [a.json().get("attempts_left") for a in answers[:4]] == [4, 3, 2, 1]
    assert answers[4].json()["type"].endswith("/verification-attempts-exhausted")
    assert await statuses(session) == ["expired"]
    assert await used_units(session) == {}
    assert await session.scalar(select(PersonQuota.active)) == 0
    await assert_invariant_holds(session)


async def test_an_unverified_booking_lapses_after_the_verification_time(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession, calendar: Calendar
) -> None:
    booking = await book_with_email(client, calendar)

    stand_at(app, NOW + timedelta(minutes=30))
    late = await client.post(
        f"/api/v1/appointments/bookings/{booking['id']}/verify", json={"code": "123456"}
    )
    other = await client.post("/api/v1/appointments/holds", json=hold_body(calendar))

    assert late.status_code == 409
    assert late.json()["type"].endswith("/hold-expired")
    assert other.status_code == 201, other.text
    assert await statuses(session) == ["expired", "held"]
    await assert_invariant_holds(session)


async def test_a_person_can_have_two_open_appointments(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession, calendar: Calendar
) -> None:
    tokens = await sign_in(client, "erika")
    await book_with_eid(client, calendar, tokens.access_token)
    await book_with_email(client, calendar, MONDAY_9, email="ERIKA.mustermann@example.org")
    await book_with_email(client, calendar, "2027-03-22T09:10:00+01:00")
    third_id = await hold(client, calendar, "2027-03-22T09:20:00+01:00")

    third = await client.post(
        f"/api/v1/appointments/holds/{third_id}/confirm",
        json=contact(),
        headers={"Accept-Language": "en"},
    )
    by_eid = await client.post(
        f"/api/v1/appointments/holds/{third_id}/confirm",
        json={},
        headers=bearer(tokens.access_token),
    )

    assert third.status_code == 409
    assert third.json()["type"].endswith("/person-cap-reached")
    assert third.json()["cap"] == 2
    assert "2 open appointments" in third.json()["detail"]
    assert by_eid.status_code == 200, by_eid.text
    assert await statuses(session) == [
        "confirmed",
        "pending_verification",
        "pending_verification",
        "confirmed",
    ]


async def test_cancelling_frees_the_cap_and_returns_the_slot_after_a_delay(
    app: FastAPI,
    client: httpx.AsyncClient,
    session: AsyncSession,
    settings: Settings,
    calendar: Calendar,
) -> None:
    tokens = await sign_in(client, "erika")
    booking = await book_with_eid(client, calendar, tokens.access_token)
    path = f"/api/v1/appointments/bookings/{booking['id']}"

    cancelled = await client.post(f"{path}/cancel", headers=manage(booking["manage_token"]))
    twice = await client.post(f"{path}/cancel", headers=manage(booking["manage_token"]))
    taken = await client.post("/api/v1/appointments/holds", json=hold_body(calendar))
    returns_at = await session.scalar(select(CapacityReturn.returns_at))
    assert returns_at is not None
    early = await offer_service.return_capacity(
        session, returns_at - timedelta(seconds=1), settings
    )
    on_time = await offer_service.return_capacity(session, returns_at, settings)
    await session.commit()
    free = await client.post("/api/v1/appointments/holds", json=hold_body(calendar))

    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["status"] == "cancelled"
    assert twice.status_code == 409
    assert taken.status_code == 409
    assert timedelta(minutes=5) <= returns_at - NOW <= timedelta(minutes=30)
    assert (early, on_time) == (0, 1)
    assert free.status_code == 201
    assert await session.scalar(select(PersonQuota.active)) == 0
    await assert_invariant_holds(session)


async def test_cancelling_after_the_start_is_refused(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession, calendar: Calendar
) -> None:
    booking = await book_with_email(client, calendar)

    stand_at(app, EIGHT)
    late = await client.post(
        f"/api/v1/appointments/bookings/{booking['id']}/cancel",
        headers=manage(booking["manage_token"]),
    )

    assert late.status_code == 409
    assert late.json()["type"].endswith("/appointment-begun")


async def test_rescheduling_claims_the_new_start_before_giving_up_the_old(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession, calendar: Calendar
) -> None:
    tokens = await sign_in(client, "erika")
    booking = await book_with_eid(client, calendar, tokens.access_token)
    await hold(client, calendar, MONDAY_9)  # somebody else's
    path = f"/api/v1/appointments/bookings/{booking['id']}/reschedule"
    headers = manage(booking["manage_token"])

    taken = await client.post(path, json={"start": MONDAY_9}, headers=headers)
    misaligned = await client.post(
        path, json={"start": "2027-03-22T09:05:00+01:00"}, headers=headers
    )
    moved = await client.post(path, json={"start": "2027-03-22T10:00:00+01:00"}, headers=headers)

    assert taken.status_code == 409
    assert taken.json()["type"].endswith("/slot-taken")
    assert misaligned.status_code == 422
    assert moved.status_code == 200, moved.text
    assert moved.json()["start"] == "2027-03-22T10:00:00+01:00"
    assert moved.json()["reference"] == booking["reference"]
    # The old start stays taken until its delayed return; the new one is claimed.
    assert await used_units(session) == {
        EIGHT: 1,
        NINE: 1,
        datetime(2027, 3, 22, 9, 0, tzinfo=UTC): 1,
    }
    await assert_invariant_holds(session)


async def test_the_booking_as_an_icalendar_file(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession, calendar: Calendar
) -> None:
    booking = await book_with_email(client, calendar)
    path = f"/api/v1/appointments/bookings/{booking['id']}"

    response = await client.get(f"{path}/ics", headers=manage(booking["manage_token"]))
    await client.post(f"{path}/cancel", headers=manage(booking["manage_token"]))
    after = await client.get(f"{path}/ics", headers=manage(booking["manage_token"]))

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/calendar")
    parsed = ICalendar.from_ical(response.content)
    event = parsed.walk("VEVENT")[0]
    assert event.decoded("DTSTART").astimezone(UTC) == EIGHT
    assert calendar.branch.city in str(event["LOCATION"])
    assert parsed.walk("VALARM")
    assert str(ICalendar.from_ical(after.content)["METHOD"]) == "CANCEL"


async def test_reminder_carries_a_cancel_link_that_acts_only_on_its_button(
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
    tokens = await sign_in(client, "erika")
    await book_with_eid(client, calendar, tokens.access_token, name="Erika", email=ERIKA)
    [confirmation] = await deliver(committed_db, smtp_settings, mailbox)

    async def remind(at: datetime) -> int:
        async with committed_db.transaction() as session:
            return await booking_service.send_reminders(session, at, smtp_settings)

    early = await remind(EIGHT - timedelta(hours=25))
    sent = await remind(EIGHT - timedelta(hours=23))
    again = await remind(EIGHT - timedelta(hours=22))
    [reminder] = await deliver(committed_db, smtp_settings, mailbox)
    link = next(word for word in text_of(reminder).split() if "/cancel?sig=" in word)
    path = link.removeprefix(smtp_settings.public_base_url)
    page = await client.get(path)
    async with committed_db.transaction() as session:
        still = await statuses(session)
    signature = path.split("sig=")[1]
    submitted = await client.post(path.split("?")[0], data={"sig": signature})
    forged = await client.post(path.split("?")[0], data={"sig": "0" * 32})
    [cancellation] = await deliver(committed_db, smtp_settings, mailbox)

    assert "calendar" not in text_of(confirmation) or confirmation.parsed().is_multipart()
    assert (early, sent, again) == (0, 1, 0)
    assert page.status_code == 200
    assert "Termin absagen" in page.text
    assert 'lang="en"' in page.text
    assert still == ["confirmed"]
    assert submitted.status_code == 200
    assert "Termin abgesagt" in submitted.text
    assert forged.status_code == 404
    assert "abgesagt" in str(cancellation.parsed()["Subject"])
    [cancel_ics] = attachments_of(cancellation).values()
    assert str(ICalendar.from_ical(cancel_ics)["METHOD"]) == "CANCEL"
    async with committed_db.transaction() as session:
        assert await statuses(session) == ["cancelled"]


async def test_personal_data_is_erased_after_the_retention(
    app: FastAPI,
    client: httpx.AsyncClient,
    session: AsyncSession,
    settings: Settings,
    calendar: Calendar,
) -> None:
    await book_with_email(client, calendar, phone="+49 231 1234567")
    after_appointment = EIGHT + timedelta(minutes=10, days=settings.booking_retention_days)

    kept = await booking_service.erase_personal_data(session, after_appointment, settings)
    erased = await booking_service.erase_personal_data(
        session, after_appointment + timedelta(hours=1), settings
    )
    booking = await session.scalar(select(Booking).execution_options(populate_existing=True))

    assert (kept, erased) == (0, 1)
    assert booking is not None
    assert (booking.name, booking.email, booking.phone, booking.person_key) == (None,) * 4
    assert booking.reference.startswith("T-")
