"""Sending through the job queue against a real SMTP server, on both databases."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import select

from app.core.audit import AuditEntry
from app.core.config import Settings
from app.core.db import Database, utcnow
from app.core.i18n import Language
from app.core.jobs.models import JobStatus
from app.core.jobs.worker import Worker
from app.notifications.models import NotificationDelivery
from app.notifications.tasks import SEND_JOB
from app.tasks import build_registry
from tests.conftest import make_settings
from tests.fixtures.factories import create_department
from tests.fixtures.jobs import count_rows, jobs_named, make_due, wait_until
from tests.fixtures.notifications import (
    BOOKING_MAIL,
    CITIZEN_ADDRESS,
    ICS,
    SENDER,
    book_and_confirm,
    booking_context,
    citizen,
    everything_stored,
    load_delivery,
    probe_service,
    run_jobs,
)
from tests.fixtures.smtp_server import LOOPBACK, Mailbox, silent_server

TRY_LATER = "451 4.3.0 Mailbox temporarily unavailable, try again later"


class BookingRejected(Exception):
    """Stands for any business rule that aborts the booking after the mail was queued."""


async def audit_trail(database: Database, delivery_id: uuid.UUID) -> list[tuple[str, object]]:
    async with database.session(read_only=True) as session:
        entries = await session.scalars(
            select(AuditEntry)
            .where(AuditEntry.object_id == str(delivery_id))
            .order_by(AuditEntry.id)
        )
        return [(entry.action, entry.summary) for entry in entries]


async def only_send_job(database: Database) -> tuple[uuid.UUID, str, int]:
    [job] = await jobs_named(database, SEND_JOB)
    return job.id, job.status, job.attempts


async def test_committed_confirmation_arrives_with_text_html_and_the_calendar_file_intact(
    committed_db: Database, smtp_settings: Settings, mailbox: Mailbox
) -> None:
    delivery_id = await book_and_confirm(committed_db, Language.en)
    assert mailbox.received == []

    await run_jobs(committed_db, smtp_settings)

    [mail] = mailbox.received
    assert (mail.envelope_from, mail.envelope_to) == (
        "buergerdienste@stadt.example",
        [CITIZEN_ADDRESS],
    )
    message = mail.parsed()
    assert message["From"] == SENDER
    assert message["To"] == CITIZEN_ADDRESS
    assert message["Subject"] == "Your appointment on 08.12.2026 at 10:30"
    assert message["Message-ID"] == f"<{delivery_id.hex}@stadt.example>"
    assert message["Content-Language"] == "en"
    assert message["Auto-Submitted"] == "auto-generated"
    assert message.get_content_type() == "multipart/mixed"
    text, html = message.get_body(("plain",)), message.get_body(("html",))
    assert text is not None
    assert html is not None
    assert text.get_content().startswith("Hello Erika Mustermann,")
    assert '<html lang="en"' in html.get_content()
    [attachment] = list(message.iter_attachments())
    assert attachment.get_filename() == "termin.ics"
    assert attachment.get_content_type() == "text/calendar"
    assert attachment.get_payload(decode=True) == ICS


async def test_after_sending_the_log_keeps_the_outcome_but_no_address_body_or_attachment(
    committed_db: Database, smtp_settings: Settings, mailbox: Mailbox
) -> None:
    delivery_id = await book_and_confirm(committed_db)

    await run_jobs(committed_db, smtp_settings)

    [mail] = mailbox.received
    delivery = await load_delivery(committed_db, delivery_id)
    assert (delivery.status, delivery.attempts, delivery.last_error_type) == ("sent", 1, None)
    assert (delivery.template, delivery.language, delivery.recipient_kind) == (
        BOOKING_MAIL,
        "de",
        "citizen",
    )
    assert delivery.provider_message_id == mail.queue_id
    assert delivery.sent_at is not None
    assert delivery.sent_at >= delivery.created_at
    assert (delivery.recipient_address, delivery.content) == (None, None)
    async with committed_db.session(read_only=True) as session:
        emptied = await session.scalar(
            select(NotificationDelivery.id).where(NotificationDelivery.content.is_(None))
        )
    assert emptied == delivery_id
    stored = await everything_stored(committed_db)
    for personal in (CITIZEN_ADDRESS, "Erika Mustermann", "Hörder Bahnhofstraße", "absagen?t="):
        assert personal not in stored


async def test_rolled_back_booking_sends_nothing(
    committed_db: Database, smtp_settings: Settings, mailbox: Mailbox
) -> None:
    async def book_then_reject() -> None:
        async with committed_db.transaction() as session:
            await probe_service().send(session, citizen(), BOOKING_MAIL, booking_context())
            raise BookingRejected

    with pytest.raises(BookingRejected):
        await book_then_reject()

    await run_jobs(committed_db, smtp_settings)

    assert mailbox.received == []
    assert mailbox.data_commands == []
    assert await count_rows(committed_db, NotificationDelivery) == 0
    assert await jobs_named(committed_db, SEND_JOB) == []


async def test_temporary_refusal_is_retried_after_a_backoff_and_then_delivered(
    committed_db: Database, smtp_settings: Settings, mailbox: Mailbox
) -> None:
    mailbox.replies.append(TRY_LATER)
    delivery_id = await book_and_confirm(committed_db)

    await run_jobs(committed_db, smtp_settings)

    deferred = await load_delivery(committed_db, delivery_id)
    assert (deferred.status, deferred.attempts, deferred.last_error_type) == (
        "queued",
        1,
        "SMTPDataError",
    )
    assert deferred.recipient_address == CITIZEN_ADDRESS
    [job] = await jobs_named(committed_db, SEND_JOB)
    assert job.status == JobStatus.queued
    assert job.run_at >= utcnow() + timedelta(seconds=0.5)

    async def delivered() -> bool:
        return (await load_delivery(committed_db, delivery_id)).status == "sent"

    stop = asyncio.Event()
    worker = asyncio.create_task(Worker(committed_db, smtp_settings, build_registry()).run(stop))
    try:
        await wait_until(delivered, within=15, what="the second attempt to be delivered")
    finally:
        stop.set()
        await worker

    first, second = mailbox.data_commands
    assert second - first >= 1.0
    [mail] = mailbox.received
    assert mail.parsed()["Message-ID"] == f"<{delivery_id.hex}@stadt.example>"
    sent = await load_delivery(committed_db, delivery_id)
    assert (sent.status, sent.attempts, sent.provider_message_id) == ("sent", 2, mail.queue_id)
    assert sent.last_error_type == "SMTPDataError"
    assert (sent.recipient_address, sent.content) == (None, None)
    assert (await only_send_job(committed_db))[1:] == (JobStatus.done, 2)
    assert await audit_trail(committed_db, delivery_id) == [
        (
            "notification_delivery.defer",
            {"status": "queued", "template": BOOKING_MAIL, "error_type": "SMTPDataError"},
        ),
        ("notification_delivery.send", {"status": "sent", "template": BOOKING_MAIL}),
    ]


async def test_permanently_refused_recipient_ends_failed_at_once_and_is_forgotten(
    committed_db: Database, smtp_settings: Settings, mailbox: Mailbox
) -> None:
    mailbox.refused_recipients[CITIZEN_ADDRESS] = (
        f"550 5.1.1 <{CITIZEN_ADDRESS}>: Recipient address rejected: User unknown"
    )
    delivery_id = await book_and_confirm(committed_db)

    await run_jobs(committed_db, smtp_settings)
    job_id, status, attempts = await only_send_job(committed_db)
    await make_due(committed_db, job_id)
    await run_jobs(committed_db, smtp_settings)

    assert (status, attempts) == (JobStatus.done, 1)
    assert (await only_send_job(committed_db))[1:] == (JobStatus.done, 1)
    assert mailbox.received == []
    delivery = await load_delivery(committed_db, delivery_id)
    assert (delivery.status, delivery.attempts, delivery.last_error_type) == (
        "failed",
        1,
        "SMTPRecipientsRefused",
    )
    assert (delivery.recipient_address, delivery.content, delivery.sent_at) == (None, None, None)
    assert [action for action, _ in await audit_trail(committed_db, delivery_id)] == [
        "notification_delivery.fail"
    ]
    stored = await everything_stored(committed_db)
    assert CITIZEN_ADDRESS not in stored
    assert "User unknown" not in stored


async def test_message_still_refused_on_the_last_attempt_ends_failed(
    committed_db: Database, database_url: str, smtp_port: int, mailbox: Mailbox
) -> None:
    settings = make_settings(
        database_url,
        mail_transport="smtp",
        smtp_host=LOOPBACK,
        smtp_port=smtp_port,
        smtp_security="none",
        job_max_attempts=2,
    )
    mailbox.replies.extend([TRY_LATER] * 3)
    delivery_id = await book_and_confirm(committed_db)

    await run_jobs(committed_db, settings)
    job_id, _, _ = await only_send_job(committed_db)
    await make_due(committed_db, job_id)
    await run_jobs(committed_db, settings)

    assert len(mailbox.data_commands) == 2
    assert mailbox.received == []
    delivery = await load_delivery(committed_db, delivery_id)
    assert (delivery.status, delivery.attempts, delivery.last_error_type) == (
        "failed",
        2,
        "SMTPDataError",
    )
    assert (delivery.recipient_address, delivery.content) == (None, None)
    assert (await only_send_job(committed_db))[1:] == (JobStatus.done, 2)


async def test_a_server_that_never_answers_times_out_without_blocking_other_writers(
    committed_db: Database, database_url: str
) -> None:
    async with silent_server() as silent:
        settings = make_settings(
            database_url,
            mail_transport="smtp",
            smtp_host=LOOPBACK,
            smtp_port=silent.port,
            smtp_security="none",
            smtp_timeout_seconds=4,
        )
        delivery_id = await book_and_confirm(committed_db)

        async def connected() -> bool:
            return silent.connections > 0

        async def deferred() -> bool:
            return (await load_delivery(committed_db, delivery_id)).attempts > 0

        stop = asyncio.Event()
        worker = asyncio.create_task(Worker(committed_db, settings, build_registry()).run(stop))
        try:
            await wait_until(connected, within=10, what="the worker to connect")
            started = time.monotonic()
            async with committed_db.transaction() as session:
                await create_department(session)
            other_write_took = time.monotonic() - started
            still_waiting = not await deferred()
            await wait_until(deferred, within=20, what="the attempt to time out")
        finally:
            stop.set()
            await worker

    assert other_write_took < 2.0
    assert still_waiting
    delivery = await load_delivery(committed_db, delivery_id)
    assert delivery.status == "queued"
    assert delivery.last_error_type is not None
    assert delivery.last_error_type.endswith("TimeoutError")


async def test_deliveries_older_than_the_retention_are_purged(
    committed_db: Database, database_url: str
) -> None:
    now = utcnow()
    async with committed_db.transaction() as session:
        for age in (timedelta(days=31), timedelta(days=29)):
            session.add(
                NotificationDelivery(
                    recipient_kind="citizen",
                    template=BOOKING_MAIL,
                    language="de",
                    status="sent",
                    attempts=1,
                    created_at=now - age,
                    updated_at=now - age,
                    sent_at=now - age,
                )
            )

    await run_jobs(committed_db, make_settings(database_url, mail_delivery_retention_days=30))

    async with committed_db.session(read_only=True) as session:
        kept = (await session.scalars(select(NotificationDelivery.created_at))).all()
    assert kept == [now - timedelta(days=29)]
