"""The delivery log: one row per message to one recipient."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from app.core.db import EMAIL_LENGTH, Base, UUIDPrimaryKey, utcnow


class DeliveryStatus(StrEnum):
    queued = "queued"
    sent = "sent"
    failed = "failed"


class RecipientKind(StrEnum):
    citizen = "citizen"
    staff = "staff"
    operator = "operator"


class NotificationDelivery(UUIDPrimaryKey, Base):
    """A message and the log of its delivery.

    `recipient_address` and `content` (the rendered subject, text, HTML and attachments) exist
    only while the message waits to be sent. They are cleared when it is sent or given up, so
    that the log keeps neither addresses nor message bodies.
    """

    __tablename__ = "notification_deliveries"
    __table_args__ = (Index(None, "created_at"),)

    recipient_kind: Mapped[str] = mapped_column(String(20))
    template: Mapped[str] = mapped_column(String(100))
    language: Mapped[str] = mapped_column(String(2))
    status: Mapped[str] = mapped_column(String(20), default=DeliveryStatus.queued.value)
    attempts: Mapped[int] = mapped_column(default=0)
    last_error_type: Mapped[str | None] = mapped_column(String(100))
    provider_message_id: Mapped[str | None] = mapped_column(String(255))
    recipient_address: Mapped[str | None] = mapped_column(String(EMAIL_LENGTH))
    content: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column()
