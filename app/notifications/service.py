"""What domains call to send a message: `notification_service.send(…)`.

from app.notifications.service import Attachment, Recipient, RecipientKind, notification_service

await notification_service.send(
    session,
    Recipient(booking.email, booking.language, RecipientKind.citizen),
    "appointments/booking_confirmed",
    {"booking": booking, "cancel_url": cancel_url},
    attachments=[Attachment("termin.ics", "text/calendar", ics_bytes)],
)
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import structlog
from email_validator import EmailNotValidError, validate_email
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.db import utcnow
from app.core.i18n import Language
from app.core.jobs.queue import enqueue
from app.notifications.errors import InvalidRecipientAddress
from app.notifications.message import Attachment
from app.notifications.models import DeliveryStatus, NotificationDelivery, RecipientKind
from app.notifications.tasks import SEND_JOB
from app.notifications.templates import MailTemplates

__all__ = [
    "TEST_MESSAGE",
    "Attachment",
    "NotificationService",
    "Recipient",
    "RecipientKind",
    "notification_service",
]

logger = structlog.get_logger("rathaus.notifications")

TEST_MESSAGE = "notifications/test_message"


@dataclass(frozen=True, slots=True)
class Recipient:
    address: str
    language: Language
    kind: RecipientKind


class NotificationService:
    def __init__(self, templates: MailTemplates) -> None:
        self.templates = templates

    async def send(
        self,
        session: AsyncSession,
        recipient: Recipient,
        template: str,
        context: Mapping[str, Any],
        *,
        attachments: Sequence[Attachment] = (),
    ) -> uuid.UUID:
        """Render `template` in the recipient's language and queue it with the caller's change.

        A job sends it once the caller's transaction commits; a rollback sends nothing. An
        invalid address, an unknown template or an undefined variable raises here, in the
        caller's transaction. Returns the id of the delivery, whose row logs the outcome.
        """
        address = _checked_address(recipient.address)
        content = self.templates.render(template, recipient.language, context)
        now = utcnow()
        delivery = NotificationDelivery(
            id=uuid.uuid4(),
            recipient_kind=recipient.kind.value,
            template=template,
            language=recipient.language.value,
            status=DeliveryStatus.queued.value,
            attempts=0,
            recipient_address=address,
            content=replace(content, attachments=tuple(attachments)).to_json(),
            created_at=now,
            updated_at=now,
        )
        session.add(delivery)
        await session.flush()
        await enqueue(session, SEND_JOB, {"delivery_id": str(delivery.id)})
        logger.info(
            "notification.queued",
            delivery_id=str(delivery.id),
            template=template,
            recipient_kind=recipient.kind.value,
        )
        return delivery.id

    async def send_test_message(
        self, session: AsyncSession, address: str, language: Language, *, instance: str
    ) -> uuid.UUID:
        """A short message for an operator checking the mail settings (`rathaus mail-test`)."""
        return await self.send(
            session,
            Recipient(address, language, RecipientKind.operator),
            TEST_MESSAGE,
            {"instance": instance},
        )


def _checked_address(address: str) -> str:
    try:
        return str(validate_email(address, check_deliverability=False).normalized)
    except EmailNotValidError:
        raise InvalidRecipientAddress() from None


notification_service = NotificationService(MailTemplates.discover())
