"""Stored outcomes of POST requests sent with an Idempotency-Key."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Index, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.core.db import Base, UUIDPrimaryKey, utcnow


class IdempotencyStatus(StrEnum):
    in_flight = "in_flight"
    completed = "completed"


class IdempotencyRecord(UUIDPrimaryKey, Base):
    __tablename__ = "idempotency_keys"
    __table_args__ = (UniqueConstraint("scope", "key"), Index(None, "expires_at"))

    scope: Mapped[str] = mapped_column(String(200))
    key: Mapped[str] = mapped_column(String(255))
    method: Mapped[str] = mapped_column(String(10))
    path: Mapped[str] = mapped_column(String(500))
    request_hash: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(20), default=IdempotencyStatus.in_flight.value)
    locked_until: Mapped[datetime] = mapped_column()
    response_status: Mapped[int | None] = mapped_column()
    response_headers: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    response_body: Mapped[bytes | None] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column()
