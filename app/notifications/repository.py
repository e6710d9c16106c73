"""Deliveries: their declared lifecycle and the queries the send job needs.

    queued ──send──▶ sent        the transport took the message
    queued ──defer─▶ queued      a temporary failure; the job is retried with backoff
    queued ──fail──▶ failed      a permanent failure, or the last attempt failed

Every transition counts the attempt, and `send` and `fail` clear the address and the content.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.db import utcnow
from app.core.i18n import Language
from app.core.jobs.models import Job
from app.core.state_machine import StateMachine, Transition
from app.notifications.message import MailContent
from app.notifications.models import DeliveryStatus, NotificationDelivery

QUEUED, SENT, FAILED = DeliveryStatus.queued, DeliveryStatus.sent, DeliveryStatus.failed
# Once a message is sent or given up, the log keeps neither its address nor its content.
_FORGET_MESSAGE: Mapping[str, object] = {"recipient_address": None, "content": None}

DELIVERY_LIFECYCLE = StateMachine(
    "notification_delivery",
    NotificationDelivery,
    [
        Transition.of("send", {QUEUED}, SENT),
        Transition.of("defer", {QUEUED}, QUEUED),
        Transition.of("fail", {QUEUED}, FAILED),
    ],
    initial=QUEUED,
)


@dataclass(frozen=True, slots=True)
class PendingDelivery:
    """A queued delivery as the send job needs it, read before any network I/O."""

    id: uuid.UUID
    template: str
    language: Language
    recipient_address: str
    content: MailContent
    created_at: datetime
    attempt_limit: int


class DeliveryRepository:
    async def pending(
        self, session: AsyncSession, delivery_id: uuid.UUID, job_id: uuid.UUID, max_attempts: int
    ) -> PendingDelivery | None:
        """The delivery if it still waits to be sent, with the attempt the worker gives up at
        (the smaller of the job's own limit and `max_attempts`, as the worker decides it)."""
        delivery = await session.get(NotificationDelivery, delivery_id)
        if (
            delivery is None
            or delivery.status != QUEUED
            or delivery.recipient_address is None
            or delivery.content is None
        ):
            return None
        job_limit = await session.scalar(select(Job.max_attempts).where(Job.id == job_id))
        return PendingDelivery(
            id=delivery.id,
            template=delivery.template,
            language=Language(delivery.language),
            recipient_address=delivery.recipient_address,
            content=MailContent.from_json(delivery.content),
            created_at=delivery.created_at,
            attempt_limit=min(job_limit or max_attempts, max_attempts),
        )

    async def mark_sent(
        self, session: AsyncSession, delivery: PendingDelivery, provider_message_id: str
    ) -> None:
        values = {"provider_message_id": provider_message_id, "sent_at": utcnow()}
        await self._apply(session, delivery, "send", {**values, **_FORGET_MESSAGE})

    async def defer(
        self, session: AsyncSession, delivery: PendingDelivery, error_type: str
    ) -> None:
        await self._apply(session, delivery, "defer", {}, error_type)

    async def mark_failed(
        self, session: AsyncSession, delivery: PendingDelivery, error_type: str
    ) -> None:
        await self._apply(session, delivery, "fail", _FORGET_MESSAGE, error_type)

    async def purge_older_than(self, session: AsyncSession, cutoff: datetime) -> None:
        await session.execute(
            delete(NotificationDelivery).where(NotificationDelivery.created_at < cutoff)
        )

    @staticmethod
    async def _apply(
        session: AsyncSession,
        delivery: PendingDelivery,
        action: str,
        values: Mapping[str, object],
        error_type: str | None = None,
    ) -> None:
        """One transition, counting the attempt; the audit entry names the error type only."""
        summary = {"template": delivery.template}
        changes = {"attempts": NotificationDelivery.attempts + 1, **values}
        if error_type is not None:
            changes["last_error_type"] = summary["error_type"] = error_type
        await DELIVERY_LIFECYCLE.apply(
            session,
            delivery.id,
            action,
            values=changes,
            summary=summary,
            payload={"template": delivery.template},
        )


delivery_repository = DeliveryRepository()
