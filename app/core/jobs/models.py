"""Tables of the transactional job queue and the event outbox."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.core.db import Base, UUIDPrimaryKey, utcnow


class JobStatus(StrEnum):
    queued = "queued"
    running = "running"
    done = "done"
    dead = "dead"


class Job(UUIDPrimaryKey, Base):
    __tablename__ = "jobs"
    __table_args__ = (
        Index(None, "status", "run_at"),
        Index(None, "status", "locked_until"),
    )

    name: Mapped[str] = mapped_column(String(100))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(20), default=JobStatus.queued.value)
    attempts: Mapped[int] = mapped_column(default=0)
    max_attempts: Mapped[int] = mapped_column(default=8)
    run_at: Mapped[datetime] = mapped_column(default=utcnow)
    dedupe_key: Mapped[str | None] = mapped_column(String(200), unique=True)
    lease_token: Mapped[uuid.UUID | None] = mapped_column()
    locked_by: Mapped[str | None] = mapped_column(String(200))
    locked_until: Mapped[datetime | None] = mapped_column()
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column()


class JobSchedule(Base):
    """One row per periodic job: whoever moves `next_run_at` forward enqueues the run."""

    __tablename__ = "job_schedules"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    next_run_at: Mapped[datetime] = mapped_column()


class Event(UUIDPrimaryKey, Base):
    """A domain event, written in the same transaction as the change it announces."""

    __tablename__ = "events"
    __table_args__ = (Index(None, "aggregate_type", "aggregate_id"), Index(None, "occurred_at"))

    name: Mapped[str] = mapped_column(String(100))
    aggregate_type: Mapped[str] = mapped_column(String(50))
    aggregate_id: Mapped[str] = mapped_column(String(100))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    request_id: Mapped[str | None] = mapped_column(String(128))
    occurred_at: Mapped[datetime] = mapped_column(default=utcnow)
