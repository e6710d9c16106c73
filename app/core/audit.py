"""Append-only audit log, written in the same transaction as the change it records."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

import structlog
from sqlalchemy import JSON, BigInteger, Index, Integer, String
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from app.core.db import Base, utcnow

SECRET_MARKERS = (
    "password",
    "secret",
    "token",
    "verifier",
    "iban",
    "private_key",
    "api_key",
    "authorization",
    "cookie",
)
MAX_SUMMARY_VALUE = 200


class ActorType(StrEnum):
    citizen = "citizen"
    staff = "staff"
    client = "client"
    system = "system"


@dataclass(frozen=True, slots=True)
class Actor:
    """Who acts: set per request by authentication, `system` for jobs and the CLI."""

    type: ActorType
    id: str | None = None


SYSTEM = Actor(ActorType.system)
current_actor: ContextVar[Actor] = ContextVar("current_actor", default=SYSTEM)


class AuditEntry(Base):
    __tablename__ = "audit_log"
    __table_args__ = (Index(None, "object_type", "object_id"), Index(None, "occurred_at"))

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    occurred_at: Mapped[datetime] = mapped_column(default=utcnow)
    actor_type: Mapped[str] = mapped_column(String(20))
    actor_id: Mapped[str | None] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(100))
    object_type: Mapped[str] = mapped_column(String(50))
    object_id: Mapped[str | None] = mapped_column(String(100))
    request_id: Mapped[str | None] = mapped_column(String(128))
    summary: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


def redact(summary: Mapping[str, Any]) -> dict[str, Any]:
    """Drop anything that looks like a secret and shorten long values: the log is not a copy."""
    clean: dict[str, Any] = {}
    for name, value in summary.items():
        if any(marker in name.lower() for marker in SECRET_MARKERS):
            clean[name] = "[redacted]"
        elif isinstance(value, str) and len(value) > MAX_SUMMARY_VALUE:
            clean[name] = value[:MAX_SUMMARY_VALUE] + "…"
        elif isinstance(value, bool | int | float | str) or value is None:
            clean[name] = value
        else:
            clean[name] = str(value)[:MAX_SUMMARY_VALUE]
    return clean


async def record(
    session: AsyncSession,
    *,
    action: str,
    object_type: str,
    object_id: uuid.UUID | str | None,
    actor: Actor | None = None,
    summary: Mapping[str, Any] | None = None,
) -> AuditEntry:
    """Add an audit entry to the caller's transaction; it commits or rolls back with the change."""
    request_id = structlog.contextvars.get_contextvars().get("request_id")
    who = actor or current_actor.get()
    entry = AuditEntry(
        occurred_at=utcnow(),
        actor_type=who.type.value,
        actor_id=who.id,
        action=action,
        object_type=object_type,
        object_id=str(object_id) if object_id is not None else None,
        request_id=request_id,
        summary=redact(summary or {}),
    )
    session.add(entry)
    await session.flush()
    return entry
