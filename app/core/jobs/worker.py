"""The job worker: claims jobs under a lease, runs them, retries with exponential backoff.

Several worker processes on several machines can share one PostgreSQL database: jobs are
claimed with `SELECT … FOR UPDATE SKIP LOCKED` and a lease (`locked_until`, `lease_token`).
A running job's lease is renewed by a heartbeat; if its worker dies, the lease runs out and
another worker claims the job again (at-least-once). Every write about a claimed job is
guarded by its lease token, so a worker that lost its lease can neither finish nor fail the
job, and the handler's own writes are rolled back with it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import socket
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog
from sqlalchemy import and_, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.core import metrics
from app.core.config import Settings
from app.core.db import Database, rowcount, utcnow
from app.core.jobs.models import Job, JobSchedule, JobStatus
from app.core.jobs.queue import enqueue
from app.core.jobs.registry import JobContext, JobRegistry
from app.core.logging import safe_frames

logger = structlog.get_logger("rathaus.worker")

BACKOFF_BASE_SECONDS = 2.0
BACKOFF_CAP_SECONDS = 3600.0


@dataclass(frozen=True, slots=True)
class ClaimedJob:
    id: uuid.UUID
    name: str
    payload: dict[str, object]
    attempts: int
    max_attempts: int
    lease_token: uuid.UUID


class LeaseLost(Exception):
    """Another worker owns the job now; this run's effects must not be committed."""


def backoff_delay(attempt: int) -> timedelta:
    """Exponential backoff with jitter: about 2 s, 4 s, 8 s … capped at one hour."""
    ceiling = min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * 2 ** max(0, attempt - 1))
    return timedelta(seconds=ceiling / 2 + random.uniform(0, ceiling / 2))  # noqa: S311


def default_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class Worker:
    def __init__(
        self,
        database: Database,
        settings: Settings,
        registry: JobRegistry,
        *,
        worker_id: str | None = None,
    ) -> None:
        self.database = database
        self.settings = settings
        self.registry = registry
        self.worker_id = worker_id or default_worker_id()
        self.lease = timedelta(seconds=settings.job_lease_seconds)
        self._running: set[asyncio.Task[None]] = set()

    async def run(self, stop: asyncio.Event) -> None:
        """Work until `stop` is set, then let running jobs finish."""
        logger.info("worker.started", worker_id=self.worker_id)
        while not stop.is_set():
            claimed = await self._tick()
            if claimed == 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=self.settings.worker_poll_seconds)
            elif len(self._running) >= self.settings.worker_concurrency:
                await asyncio.wait(self._running, return_when=asyncio.FIRST_COMPLETED)
        if self._running:
            await asyncio.wait(self._running)
        logger.info("worker.stopped", worker_id=self.worker_id)

    async def run_until_idle(self, *, max_rounds: int = 100) -> None:
        """Run every job that is due now, including jobs those jobs enqueue (tests, CLI)."""
        for _ in range(max_rounds):
            if await self._tick() == 0 and not self._running:
                return
            if self._running:
                await asyncio.wait(self._running)

    async def _tick(self) -> int:
        try:
            await self.schedule_periodic()
            free = self.settings.worker_concurrency - len(self._running)
            jobs = await self.claim(free) if free > 0 else []
        except Exception as exc:
            logger.error(
                "worker.claim_failed", error_type=type(exc).__name__, frames=safe_frames(exc)
            )
            return 0
        for job in jobs:
            task = asyncio.create_task(self.execute(job))
            self._running.add(task)
            task.add_done_callback(self._running.discard)
        return len(jobs)

    async def schedule_periodic(self) -> None:
        """Enqueue each periodic job once per interval, whichever worker gets there first."""
        if not self.registry.periodic:
            return
        now = utcnow()
        for periodic in self.registry.periodic.values():
            async with self.database.transaction() as session:
                await _ensure_schedule(session, periodic.name, now)
                moved = await session.execute(
                    update(JobSchedule)
                    .where(JobSchedule.name == periodic.name, JobSchedule.next_run_at <= now)
                    .values(next_run_at=now + periodic.every)
                )
                if rowcount(moved) == 1:
                    await enqueue(session, periodic.job_name, {"scheduled_for": now.isoformat()})

    async def claim(self, limit: int) -> list[ClaimedJob]:
        """Lease up to `limit` due jobs to this worker; run each with `execute`."""
        token = uuid.uuid4()
        async with self.database.transaction() as session:
            await _bury_exhausted(session, utcnow())
            # Read the clock only now: the first statement may have waited for a lock (SQLite's
            # write lock, a locked table), and that wait must not eat into the lease.
            now = utcnow()
            due = (
                select(Job.id)
                .where(
                    or_(
                        and_(Job.status == JobStatus.queued.value, Job.run_at <= now),
                        and_(
                            Job.status == JobStatus.running.value,
                            Job.locked_until < now,
                            Job.attempts < Job.max_attempts,
                        ),
                    )
                )
                .order_by(Job.run_at)
                .limit(limit)
                .with_for_update(skip_locked=True)
            )
            ids = list((await session.scalars(due)).all())
            if not ids:
                return []
            result = await session.execute(
                update(Job)
                .where(Job.id.in_(ids))
                .values(
                    status=JobStatus.running.value,
                    lease_token=token,
                    locked_by=self.worker_id,
                    locked_until=now + self.lease,
                    attempts=Job.attempts + 1,
                )
                .returning(Job.id, Job.name, Job.payload, Job.attempts, Job.max_attempts)
            )
            return [
                ClaimedJob(
                    row.id, row.name, dict(row.payload), row.attempts, row.max_attempts, token
                )
                for row in result
            ]

    async def execute(self, job: ClaimedJob) -> None:
        """Run a claimed job; its effects commit only if this worker still holds the lease."""
        log = logger.bind(job_id=str(job.id), job=job.name, attempt=job.attempts)
        definition = self.registry.jobs.get(job.name)
        heartbeat = asyncio.create_task(self._heartbeat(job))
        try:
            if definition is None:
                raise LookupError(f"no handler registered for job {job.name!r}")
            context = JobContext(
                str(job.id), job.name, job.attempts, self.database, self.settings, self.registry
            )
            async with self.database.transaction() as session:
                await definition.handler(session, job.payload, context)
                await self._finish(session, job)
            metrics.JOBS_FINISHED.labels(job=job.name, outcome="done").inc()
            log.info("job.done")
        except LeaseLost:
            metrics.JOBS_FINISHED.labels(job=job.name, outcome="lease_lost").inc()
            log.warning("job.lease_lost")
        except asyncio.CancelledError:
            log.warning("job.cancelled")
            raise
        except Exception as exc:
            outcome = await self._fail(job, exc, definition.max_attempts if definition else None)
            metrics.JOBS_FINISHED.labels(job=job.name, outcome=outcome).inc()
            log.warning("job.failed", error_type=type(exc).__name__, outcome=outcome)
        finally:
            heartbeat.cancel()
            # A renewal cut off mid-transaction rolls back before the connection is reused.
            with contextlib.suppress(asyncio.CancelledError):
                await heartbeat

    async def _heartbeat(self, job: ClaimedJob) -> None:
        interval = self.lease.total_seconds() / 3
        while True:
            await asyncio.sleep(interval)
            try:
                async with self.database.transaction() as session:
                    await session.connection()  # SQLite: wait for the write lock before the clock
                    renewed = await session.execute(
                        update(Job)
                        .where(Job.id == job.id, Job.lease_token == job.lease_token)
                        .values(locked_until=utcnow() + self.lease)
                    )
                if rowcount(renewed) != 1:
                    return
            except Exception:
                logger.warning("job.heartbeat_failed", job_id=str(job.id))

    async def _finish(self, session: AsyncSession, job: ClaimedJob) -> None:
        done = await session.execute(
            update(Job)
            .where(Job.id == job.id, Job.lease_token == job.lease_token)
            .values(
                status=JobStatus.done.value,
                finished_at=utcnow(),
                lease_token=None,
                locked_by=None,
                locked_until=None,
                last_error=None,
            )
        )
        if rowcount(done) != 1:
            raise LeaseLost()

    async def _fail(self, job: ClaimedJob, exc: Exception, max_attempts: int | None) -> str:
        limits = [job.max_attempts, self.settings.job_max_attempts]
        if max_attempts:
            limits.append(max_attempts)
        limit = min(limits)
        exhausted = job.attempts >= limit
        status = JobStatus.dead if exhausted else JobStatus.queued
        async with self.database.transaction() as session:
            failed = await session.execute(
                update(Job)
                .where(Job.id == job.id, Job.lease_token == job.lease_token)
                .values(
                    status=status.value,
                    run_at=utcnow() + backoff_delay(job.attempts),
                    lease_token=None,
                    locked_by=None,
                    locked_until=None,
                    # Only the type: exception texts may carry personal data.
                    last_error=type(exc).__name__,
                    finished_at=utcnow() if exhausted else None,
                )
            )
        if rowcount(failed) != 1:
            return "lease_lost"
        return "dead" if exhausted else "retry"


async def _ensure_schedule(session: AsyncSession, name: str, now: datetime) -> None:
    exists = await session.scalar(select(JobSchedule.name).where(JobSchedule.name == name))
    if exists is not None:
        return
    try:
        async with session.begin_nested():
            session.add(JobSchedule(name=name, next_run_at=now))
    except IntegrityError:
        return


async def _bury_exhausted(session: AsyncSession, now: datetime) -> None:
    """A job whose worker died on its last attempt is dead, not retried forever."""
    await session.execute(
        update(Job)
        .where(
            Job.status == JobStatus.running.value,
            Job.locked_until < now,
            Job.attempts >= Job.max_attempts,
        )
        .values(status=JobStatus.dead.value, last_error="LeaseExpired", finished_at=now)
    )
