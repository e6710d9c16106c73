"""Jobs: send a queued message; purge the delivery log after its retention."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.config import Settings
from app.core.db import utcnow
from app.core.jobs.registry import JobContext, JobRegistry
from app.notifications.message import compose, envelope_address, message_id_for
from app.notifications.repository import PendingDelivery, delivery_repository
from app.notifications.transports import build_transport
from app.notifications.transports.base import DeliveryFailed, OutgoingMail, PermanentFailure

logger = structlog.get_logger("rathaus.notifications")

SEND_JOB = "notifications.send"
PURGE_JOB = "notifications.purge_deliveries"


async def send_delivery(
    session: AsyncSession, payload: dict[str, Any], context: JobContext
) -> None:
    """Send one queued message, at least once.

    The transport is called before the job's own session touches the database: on SQLite the
    first write of a transaction takes the database-wide write lock, and no writer may wait
    for an SMTP timeout. So the delivery is read in a short read-only transaction first.

    At least once: if the worker dies after the server took the message but before the
    outcome is committed, another worker sends it again, with the same `Message-ID`.

    A permanent failure, or a temporary one on the last attempt, ends the delivery `failed`.
    Any other failure is recorded on the delivery in a transaction of its own (the job's writes
    roll back when it raises) and raised again, so the worker retries with backoff.
    """
    delivery_id = uuid.UUID(str(payload["delivery_id"]))
    async with context.database.session(read_only=True) as reading:
        delivery = await delivery_repository.pending(
            reading, delivery_id, uuid.UUID(context.job_id), context.settings.job_max_attempts
        )
    if delivery is None:
        logger.info("notification.not_pending", delivery_id=str(delivery_id))
        return
    log = logger.bind(
        delivery_id=str(delivery.id), template=delivery.template, attempt=context.attempt
    )
    try:
        provider_message_id = await _transmit(delivery, context.settings)
    except PermanentFailure as failure:
        await delivery_repository.mark_failed(session, delivery, failure.error_type)
        log.warning("notification.failed", error_type=failure.error_type)
        return
    except Exception as exc:
        error_type = exc.error_type if isinstance(exc, DeliveryFailed) else type(exc).__name__
        if context.attempt >= delivery.attempt_limit:
            await delivery_repository.mark_failed(session, delivery, error_type)
            log.warning("notification.failed", error_type=error_type)
            return
        async with context.database.transaction() as recording:
            await delivery_repository.defer(recording, delivery, error_type)
        log.info("notification.deferred", error_type=error_type)
        raise
    await delivery_repository.mark_sent(session, delivery, provider_message_id)
    log.info("notification.sent")


async def _transmit(delivery: PendingDelivery, settings: Settings) -> str:
    transport = build_transport(settings)
    message_id = message_id_for(delivery.id, settings.mail_from)
    message = compose(
        delivery.content,
        sender=settings.mail_from,
        recipient=delivery.recipient_address,
        message_id=message_id,
        date=delivery.created_at,
        language=delivery.language,
    )
    return await transport.send(
        OutgoingMail(
            delivery_id=delivery.id,
            envelope_sender=envelope_address(settings.mail_from),
            envelope_recipient=delivery.recipient_address,
            message=message,
            message_id=message_id,
        )
    )


async def purge_deliveries(
    session: AsyncSession, payload: dict[str, Any], context: JobContext
) -> None:
    """The delivery log is kept RATHAUS_MAIL_DELIVERY_RETENTION_DAYS, whatever the outcome."""
    cutoff = utcnow() - timedelta(days=context.settings.mail_delivery_retention_days)
    await delivery_repository.purge_older_than(session, cutoff)


def notifications_registry() -> JobRegistry:
    registry = JobRegistry()
    registry.job(SEND_JOB)(send_delivery)
    registry.job(PURGE_JOB)(purge_deliveries)
    registry.every(timedelta(hours=1), PURGE_JOB)
    return registry
