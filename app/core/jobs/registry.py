"""Which job names exist, their handlers, periodic schedules and event subscribers."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.core.config import Settings
from app.core.db import Database


@dataclass(frozen=True, slots=True)
class JobContext:
    job_id: str
    name: str
    attempt: int
    database: Database
    settings: Settings
    registry: JobRegistry


JobHandler = Callable[[AsyncSession, dict[str, Any], JobContext], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class JobDefinition:
    name: str
    handler: JobHandler
    max_attempts: int | None = None


@dataclass(frozen=True, slots=True)
class PeriodicJob:
    name: str
    job_name: str
    every: timedelta


@dataclass
class JobRegistry:
    jobs: dict[str, JobDefinition] = field(default_factory=dict)
    periodic: dict[str, PeriodicJob] = field(default_factory=dict)
    subscribers: dict[str, list[str]] = field(default_factory=dict)

    def job(
        self, name: str, *, max_attempts: int | None = None
    ) -> Callable[[JobHandler], JobHandler]:
        """Register a handler. It runs in a transaction that also marks the job done."""

        def register(handler: JobHandler) -> JobHandler:
            if name in self.jobs:
                raise ValueError(f"job {name!r} is registered twice")
            self.jobs[name] = JobDefinition(name, handler, max_attempts)
            return handler

        return register

    def every(self, interval: timedelta, job_name: str) -> None:
        """Run `job_name` once per interval across all workers."""
        self.periodic[job_name] = PeriodicJob(job_name, job_name, interval)

    def subscribe(self, event_name: str, job_name: str) -> None:
        """Enqueue `job_name` with the event's payload whenever `event_name` is emitted."""
        self.subscribers.setdefault(event_name, []).append(job_name)

    def include(self, other: JobRegistry) -> None:
        for definition in other.jobs.values():
            self.job(definition.name, max_attempts=definition.max_attempts)(definition.handler)
        self.periodic.update(other.periodic)
        for event_name, job_names in other.subscribers.items():
            for job_name in job_names:
                self.subscribe(event_name, job_name)
