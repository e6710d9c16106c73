"""`notification_service.send` in the caller's transaction: what it stores and what it refuses."""

from __future__ import annotations

import pytest
from jinja2 import UndefinedError
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.i18n import Language
from app.core.jobs.models import Job, JobStatus
from app.notifications.errors import InvalidRecipientAddress
from app.notifications.message import MailContent
from app.notifications.models import NotificationDelivery
from app.notifications.tasks import SEND_JOB
from tests.fixtures.notifications import (
    BOOKING_MAIL,
    ICS,
    booking_context,
    calendar_file,
    citizen,
    probe_service,
)


async def count(session: AsyncSession, model: type[object]) -> int:
    return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def test_send_queues_the_rendered_message_and_a_job_that_names_only_the_delivery(
    session: AsyncSession,
) -> None:
    delivery_id = await probe_service().send(
        session,
        citizen(Language.en, address="Erika.Mustermann@Example.ORG"),
        BOOKING_MAIL,
        booking_context(),
        attachments=[calendar_file()],
    )

    delivery = await session.get(NotificationDelivery, delivery_id)
    assert delivery is not None
    assert (delivery.status, delivery.attempts, delivery.language, delivery.recipient_kind) == (
        "queued",
        0,
        "en",
        "citizen",
    )
    assert delivery.recipient_address == "Erika.Mustermann@example.org"
    assert delivery.content is not None
    content = MailContent.from_json(delivery.content)
    assert content.subject == "Your appointment on 08.12.2026 at 10:30"
    assert [(a.filename, a.content_type, a.data) for a in content.attachments] == [
        ("termin.ics", "text/calendar", ICS)
    ]
    [job] = (await session.scalars(select(Job).where(Job.name == SEND_JOB))).all()
    assert (job.status, job.payload) == (JobStatus.queued, {"delivery_id": str(delivery_id)})


async def test_an_invalid_address_is_refused_without_repeating_it(session: AsyncSession) -> None:
    with pytest.raises(InvalidRecipientAddress) as refused:
        await probe_service().send(
            session, citizen(address="erika mustermann@"), BOOKING_MAIL, booking_context()
        )

    assert "erika" not in str(refused.value).lower()
    assert await count(session, NotificationDelivery) == 0
    assert await count(session, Job) == 0


async def test_a_template_mistake_fails_the_caller_before_anything_is_queued(
    session: AsyncSession,
) -> None:
    context = booking_context()
    del context["branch"]

    with pytest.raises(UndefinedError, match="'branch' is undefined"):
        await probe_service().send(session, citizen(), BOOKING_MAIL, context)

    assert await count(session, NotificationDelivery) == 0
    assert await count(session, Job) == 0
