"""The transactional job queue: enqueue and emit with the change, retries, leases, schedules."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.config import Settings
from app.core.db import Database, create_engine, utcnow
from app.core.jobs.models import Event, Job, JobSchedule, JobStatus
from app.core.jobs.queue import DISPATCH_EVENT_JOB, emit, enqueue
from app.core.jobs.registry import JobContext, JobRegistry
from app.core.jobs.worker import Worker, backoff_delay
from app.organisation.models import Department
from app.tasks import build_registry
from tests.conftest import make_settings, run_cli
from tests.fixtures.factories import create_department
from tests.fixtures.jobs import (
    count_rows,
    enqueue_committed,
    jobs_named,
    load_job,
    make_due,
    wait_until,
)

LEASE_SECONDS = 2


class ApplicationRejected(Exception):
    """Stands for any business rule that aborts a transaction."""


@pytest.fixture
def worker_settings(database_url: str) -> Settings:
    return make_settings(database_url, job_lease_seconds=LEASE_SECONDS)


@pytest.fixture
def registry() -> JobRegistry:
    """No platform jobs, so the periodic purge does not show up in the queue."""
    return JobRegistry()


@pytest.fixture
async def second_db(worker_settings: Settings, committed_db: Database) -> AsyncIterator[Database]:
    """Another connection pool on the same database, as a second worker process has."""
    database = Database(create_engine(worker_settings))
    yield database
    await database.dispose()


async def expire_lease(database: Database, job_id: uuid.UUID) -> None:
    """As if the job's worker had stalled for longer than its lease."""
    async with database.transaction() as session:
        await session.execute(
            update(Job).where(Job.id == job_id).values(locked_until=utcnow() - timedelta(seconds=1))
        )


async def events_named(database: Database, name: str) -> list[Event]:
    async with database.session(read_only=True) as session:
        return list((await session.scalars(select(Event).where(Event.name == name))).all())


async def emit_attempt(session: AsyncSession, context: JobContext) -> None:
    """A write made by a job handler: it must commit with the job, or not at all."""
    await emit(
        session,
        "test.attempted",
        aggregate_type="job",
        aggregate_id=context.job_id,
        payload={"attempt": context.attempt},
    )


def jobs_finished(job: str, outcome: str) -> float:
    """The operator's view: `rathaus_jobs_finished_total{job, outcome}`."""
    labels = {"job": job, "outcome": outcome}
    return REGISTRY.get_sample_value("rathaus_jobs_finished_total", labels) or 0.0


def seconds_between(start: datetime, end: datetime) -> float:
    return (end - start).total_seconds()


# Writing jobs and events with the business change


async def test_rolled_back_change_leaves_neither_its_job_nor_its_event(
    committed_db: Database,
) -> None:
    async def create_department_then_reject() -> None:
        async with committed_db.transaction() as session:
            department = await create_department(session)
            await enqueue(session, "test.welcome_department", {"id": str(department.id)})
            await emit(
                session,
                "department.created",
                aggregate_type="department",
                aggregate_id=department.id,
            )
            raise ApplicationRejected

    with pytest.raises(ApplicationRejected):
        await create_department_then_reject()

    assert await count_rows(committed_db, Department) == 0
    assert await count_rows(committed_db, Job) == 0
    assert await count_rows(committed_db, Event) == 0


async def test_committed_change_carries_its_job_and_its_event(committed_db: Database) -> None:
    async with committed_db.transaction() as session:
        department = await create_department(session, code="032")
        job_id = await enqueue(session, "test.welcome_department", {"id": str(department.id)})
        event_id = await emit(
            session,
            "department.created",
            aggregate_type="department",
            aggregate_id=department.id,
            payload={"code": "032"},
        )

    job = await load_job(committed_db, job_id)
    assert (job.status, job.payload) == (JobStatus.queued, {"id": str(department.id)})
    [event] = await events_named(committed_db, "department.created")
    assert (event.id, event.aggregate_id, event.payload) == (
        event_id,
        str(department.id),
        {"code": "032"},
    )
    [dispatch] = await jobs_named(committed_db, DISPATCH_EVENT_JOB)
    assert dispatch.payload == {"event_id": str(event_id)}


async def test_second_enqueue_with_same_dedupe_key_returns_the_first_job(
    committed_db: Database,
) -> None:
    first = await enqueue_committed(committed_db, "test.reminder", dedupe_key="reminder:A-7")
    second = await enqueue_committed(committed_db, "test.reminder", dedupe_key="reminder:A-7")

    assert second == first
    assert len(await jobs_named(committed_db, "test.reminder")) == 1


async def test_duplicate_dedupe_key_keeps_the_callers_own_unflushed_change(
    committed_db: Database,
) -> None:
    await enqueue_committed(committed_db, "test.reminder", dedupe_key="reminder:A-7")

    async with committed_db.transaction() as session:
        session.add(Department(code="077", name_de="Ordnungsamt", name_en="Public order office"))
        await enqueue(session, "test.reminder", dedupe_key="reminder:A-7")

    assert await count_rows(committed_db, Department) == 1


# Running jobs


async def test_worker_runs_a_due_job_once_and_marks_it_done(
    committed_db: Database, worker_settings: Settings, registry: JobRegistry
) -> None:
    calls: list[tuple[dict[str, Any], int]] = []

    @registry.job("test.greet")
    async def greet(session: AsyncSession, payload: dict[str, Any], context: JobContext) -> None:
        calls.append((payload, context.attempt))
        await emit_attempt(session, context)

    job_id = await enqueue_committed(committed_db, "test.greet", {"name": "Ada"})
    await Worker(committed_db, worker_settings, registry).run_until_idle()
    await Worker(committed_db, worker_settings, registry).run_until_idle()

    assert calls == [({"name": "Ada"}, 1)]
    job = await load_job(committed_db, job_id)
    assert (job.status, job.attempts, job.last_error) == (JobStatus.done, 1, None)
    assert job.finished_at is not None
    assert (job.lease_token, job.locked_by, job.locked_until) == (None, None, None)
    assert len(await events_named(committed_db, "test.attempted")) == 1


async def test_failed_job_is_retried_with_growing_delays_and_keeps_only_its_last_writes(
    committed_db: Database, worker_settings: Settings, registry: JobRegistry
) -> None:
    @registry.job("test.send_mail")
    async def send_mail(
        session: AsyncSession, payload: dict[str, Any], context: JobContext
    ) -> None:
        await emit_attempt(session, context)
        if context.attempt < 3:
            raise ConnectionError("mail.example.org refused mail for max@example.org")

    job_id = await enqueue_committed(committed_db, "test.send_mail")
    worker = Worker(committed_db, worker_settings, registry)
    for attempt, (shortest, longest) in [(1, (1, 2)), (2, (2, 4))]:
        before = utcnow()
        await worker.run_until_idle()
        after = utcnow()

        job = await load_job(committed_db, job_id)
        assert (job.status, job.attempts, job.last_error) == (
            JobStatus.queued,
            attempt,
            "ConnectionError",
        )
        assert seconds_between(before, job.run_at) >= shortest
        assert seconds_between(after, job.run_at) <= longest
        assert await events_named(committed_db, "test.attempted") == []
        await make_due(committed_db, job_id)

    await worker.run_until_idle()

    job = await load_job(committed_db, job_id)
    assert (job.status, job.attempts, job.last_error) == (JobStatus.done, 3, None)
    [written] = await events_named(committed_db, "test.attempted")
    assert written.payload == {"attempt": 3}


async def test_job_that_keeps_failing_is_dead_after_max_attempts_and_stores_no_error_text(
    committed_db: Database, worker_settings: Settings, registry: JobRegistry
) -> None:
    attempts: list[int] = []

    @registry.job("test.check_id_card")
    async def check_id_card(
        session: AsyncSession, payload: dict[str, Any], context: JobContext
    ) -> None:
        attempts.append(context.attempt)
        raise ValueError("Personalausweis L01X00T47 of Erika Mustermann is invalid")

    job_id = await enqueue_committed(committed_db, "test.check_id_card", max_attempts=2)
    worker = Worker(committed_db, worker_settings, registry)
    for _ in range(3):
        await worker.run_until_idle()
        await make_due(committed_db, job_id)

    assert attempts == [1, 2]
    job = await load_job(committed_db, job_id)
    assert (job.status, job.attempts, job.last_error) == (JobStatus.dead, 2, "ValueError")
    assert job.finished_at is not None


async def test_handler_limit_on_attempts_makes_the_job_dead_sooner(
    committed_db: Database, worker_settings: Settings, registry: JobRegistry
) -> None:
    @registry.job("test.charge_card", max_attempts=1)
    async def charge_card(
        session: AsyncSession, payload: dict[str, Any], context: JobContext
    ) -> None:
        raise TimeoutError

    job_id = await enqueue_committed(committed_db, "test.charge_card")
    await Worker(committed_db, worker_settings, registry).run_until_idle()

    job = await load_job(committed_db, job_id)
    assert (job.status, job.attempts, job.last_error) == (JobStatus.dead, 1, "TimeoutError")


async def test_job_without_a_handler_fails_like_any_other_job(
    committed_db: Database, worker_settings: Settings, registry: JobRegistry
) -> None:
    job_id = await enqueue_committed(committed_db, "test.removed_in_last_release", max_attempts=1)

    await Worker(committed_db, worker_settings, registry).run_until_idle()

    job = await load_job(committed_db, job_id)
    assert (job.status, job.last_error) == (JobStatus.dead, "LookupError")


def test_retry_delay_doubles_per_attempt_and_stops_growing_at_one_hour() -> None:
    for attempt, longest in [(1, 2), (2, 4), (3, 8), (10, 1024), (12, 3600), (60, 3600)]:
        delays = [backoff_delay(attempt).total_seconds() for _ in range(50)]
        assert all(longest / 2 <= delay <= longest for delay in delays), (attempt, delays)


async def test_scheduled_job_runs_once_its_run_at_has_come_and_not_before(
    committed_db: Database, worker_settings: Settings, registry: JobRegistry
) -> None:
    started: dict[str, datetime] = {}

    @registry.job("test.reminder")
    async def reminder(session: AsyncSession, payload: dict[str, Any], context: JobContext) -> None:
        started[context.job_id] = utcnow()

    soon = utcnow() + timedelta(seconds=1)
    soon_id = await enqueue_committed(committed_db, "test.reminder", run_at=soon)
    tomorrow_id = await enqueue_committed(
        committed_db, "test.reminder", run_at=utcnow() + timedelta(days=1)
    )
    stop = asyncio.Event()
    worker = asyncio.create_task(Worker(committed_db, worker_settings, registry).run(stop))

    async def soon_is_done() -> bool:
        return (await load_job(committed_db, soon_id)).status == JobStatus.done

    try:
        await wait_until(soon_is_done, within=15, what="the job scheduled in one second")
    finally:
        stop.set()
        await worker

    assert started[str(soon_id)] >= soon
    assert str(tomorrow_id) not in started
    assert (await load_job(committed_db, tomorrow_id)).status == JobStatus.queued


async def test_periodic_job_is_enqueued_once_per_interval_even_with_two_workers(
    committed_db: Database, second_db: Database, worker_settings: Settings, registry: JobRegistry
) -> None:
    runs: list[str] = []

    @registry.job("test.nightly_report")
    async def nightly_report(
        session: AsyncSession, payload: dict[str, Any], context: JobContext
    ) -> None:
        runs.append(context.job_id)

    registry.every(timedelta(hours=1), "test.nightly_report")
    workers = [
        Worker(committed_db, worker_settings, registry),
        Worker(second_db, worker_settings, registry),
    ]

    async def schedule_repeatedly() -> None:
        for _ in range(3):
            await asyncio.gather(*(worker.schedule_periodic() for worker in workers))

    await schedule_repeatedly()
    assert len(await jobs_named(committed_db, "test.nightly_report")) == 1

    async with committed_db.transaction() as session:  # an hour later
        await session.execute(
            update(JobSchedule)
            .where(JobSchedule.name == "test.nightly_report")
            .values(next_run_at=utcnow())
        )
    await schedule_repeatedly()
    assert len(await jobs_named(committed_db, "test.nightly_report")) == 2

    await workers[0].run_until_idle()
    assert len(runs) == 2


# Leases: several workers on one database


async def test_two_workers_never_claim_the_same_job(
    committed_db: Database, second_db: Database, worker_settings: Settings, registry: JobRegistry
) -> None:
    async with committed_db.transaction() as session:
        queued = {await enqueue(session, "test.thumbnail", {"n": n}) for n in range(20)}
    first = Worker(committed_db, worker_settings, registry, worker_id="first")
    second = Worker(second_db, worker_settings, registry, worker_id="second")

    claimed_first, claimed_second = await asyncio.gather(first.claim(15), second.claim(15))

    ids_first = {job.id for job in claimed_first}
    ids_second = {job.id for job in claimed_second}
    assert ids_first.isdisjoint(ids_second)
    assert ids_first | ids_second == queued
    for job in claimed_first:
        assert (await load_job(committed_db, job.id)).locked_by == "first"


async def test_job_of_a_worker_that_died_is_claimed_again_only_after_its_lease_expires(
    committed_db: Database, second_db: Database, worker_settings: Settings, registry: JobRegistry
) -> None:
    job_id = await enqueue_committed(committed_db, "test.thumbnail")
    died = Worker(committed_db, worker_settings, registry, worker_id="died")
    survivor = Worker(second_db, worker_settings, registry, worker_id="survivor")
    [claimed] = await died.claim(1)  # and never runs it: the process is gone

    assert await survivor.claim(1) == []
    await asyncio.sleep(LEASE_SECONDS + 0.2)
    [reclaimed] = await survivor.claim(1)

    assert (reclaimed.id, reclaimed.attempts) == (job_id, 2)
    assert reclaimed.lease_token != claimed.lease_token
    assert (await load_job(committed_db, job_id)).locked_by == "survivor"


async def test_job_running_longer_than_its_lease_is_not_taken_by_another_worker(
    committed_db: Database, second_db: Database, worker_settings: Settings, registry: JobRegistry
) -> None:
    # A lease of 4 s, renewed every 1.3 s: a heartbeat may be late by 2.6 s on a busy machine
    # (with 2 s it was late once in a parallel suite) and the job still outlives the lease.
    lease_seconds = 4
    worker_settings = worker_settings.model_copy(update={"job_lease_seconds": lease_seconds})

    @registry.job("test.render_pdf")
    async def render_pdf(
        session: AsyncSession, payload: dict[str, Any], context: JobContext
    ) -> None:
        await asyncio.sleep(lease_seconds * 1.5)

    job_id = await enqueue_committed(committed_db, "test.render_pdf")
    owner = asyncio.create_task(Worker(committed_db, worker_settings, registry).run_until_idle())
    other = Worker(second_db, worker_settings, registry)
    taken_by_other = []
    while not owner.done():
        taken_by_other += await other.claim(1)
        await asyncio.sleep(0.1)
    await owner

    assert taken_by_other == []
    job = await load_job(committed_db, job_id)
    assert (job.status, job.attempts) == (JobStatus.done, 1)


async def block_job_claims(session: AsyncSession) -> None:
    """Hold what a claim needs: SQLite's write lock, or the jobs table on PostgreSQL."""
    assert session.bind is not None
    if session.bind.dialect.name == "postgresql":
        await session.execute(text("LOCK TABLE jobs IN EXCLUSIVE MODE"))
        return
    await session.execute(text("SELECT 1"))  # the session's BEGIN IMMEDIATE took the write lock


async def test_job_claimed_after_waiting_for_a_lock_still_gets_a_full_lease(
    committed_db: Database, second_db: Database, worker_settings: Settings, registry: JobRegistry
) -> None:
    job_id = await enqueue_committed(committed_db, "test.thumbnail")
    first = Worker(second_db, worker_settings, registry, worker_id="first")
    second = Worker(second_db, worker_settings, registry, worker_id="second")
    locked = asyncio.Event()

    async def hold_lock_longer_than_a_lease() -> None:
        async with committed_db.transaction() as session:
            await block_job_claims(session)
            locked.set()
            await asyncio.sleep(LEASE_SECONDS + 0.5)

    holder = asyncio.create_task(hold_lock_longer_than_a_lease())
    await locked.wait()
    [claimed] = await first.claim(1)
    claimed_at = utcnow()
    await holder

    assert claimed.id == job_id
    assert await second.claim(1) == []
    locked_until = (await load_job(committed_db, job_id)).locked_until
    assert locked_until is not None
    assert seconds_between(claimed_at, locked_until) > LEASE_SECONDS - 0.5


async def test_worker_that_lost_its_lease_cannot_finish_the_job_and_its_writes_are_rolled_back(
    committed_db: Database, second_db: Database, worker_settings: Settings, registry: JobRegistry
) -> None:
    @registry.job("test.issue_permit")
    async def issue_permit(
        session: AsyncSession, payload: dict[str, Any], context: JobContext
    ) -> None:
        await emit_attempt(session, context)

    job_id = await enqueue_committed(committed_db, "test.issue_permit")
    stalled = Worker(committed_db, worker_settings, registry, worker_id="stalled")
    rescuer = Worker(second_db, worker_settings, registry, worker_id="rescuer")
    [stale] = await stalled.claim(1)
    await expire_lease(committed_db, job_id)
    [fresh] = await rescuer.claim(1)

    await stalled.execute(stale)

    job = await load_job(committed_db, job_id)
    assert (job.status, job.locked_by, job.attempts) == (JobStatus.running, "rescuer", 2)
    assert await events_named(committed_db, "test.attempted") == []

    await rescuer.execute(fresh)

    assert (await load_job(committed_db, job_id)).status == JobStatus.done
    [written] = await events_named(committed_db, "test.attempted")
    assert written.payload == {"attempt": 2}


async def test_worker_that_lost_its_lease_cannot_fail_the_job(
    committed_db: Database, second_db: Database, worker_settings: Settings, registry: JobRegistry
) -> None:
    @registry.job("test.issue_permit")
    async def issue_permit(
        session: AsyncSession, payload: dict[str, Any], context: JobContext
    ) -> None:
        if context.attempt == 1:
            raise ConnectionError

    job_id = await enqueue_committed(committed_db, "test.issue_permit")
    stalled = Worker(committed_db, worker_settings, registry, worker_id="stalled")
    rescuer = Worker(second_db, worker_settings, registry, worker_id="rescuer")
    [stale] = await stalled.claim(1)
    await expire_lease(committed_db, job_id)
    [fresh] = await rescuer.claim(1)
    retries_before = jobs_finished("test.issue_permit", "retry")
    lost_before = jobs_finished("test.issue_permit", "lease_lost")

    await stalled.execute(stale)

    job = await load_job(committed_db, job_id)
    assert (job.status, job.locked_by, job.last_error) == (JobStatus.running, "rescuer", None)
    assert jobs_finished("test.issue_permit", "retry") == retries_before
    assert jobs_finished("test.issue_permit", "lease_lost") == lost_before + 1

    await rescuer.execute(fresh)

    assert (await load_job(committed_db, job_id)).status == JobStatus.done


async def test_job_whose_worker_died_on_its_last_attempt_is_dead_not_run_again(
    committed_db: Database, second_db: Database, worker_settings: Settings, registry: JobRegistry
) -> None:
    runs: list[int] = []

    @registry.job("test.import_register")
    async def import_register(
        session: AsyncSession, payload: dict[str, Any], context: JobContext
    ) -> None:
        runs.append(context.attempt)

    job_id = await enqueue_committed(committed_db, "test.import_register", max_attempts=1)
    await Worker(committed_db, worker_settings, registry).claim(1)
    await expire_lease(committed_db, job_id)

    await Worker(second_db, worker_settings, registry).run_until_idle()

    assert runs == []
    job = await load_job(committed_db, job_id)
    assert (job.status, job.last_error) == (JobStatus.dead, "LeaseExpired")
    assert job.finished_at is not None


# Events


async def test_event_reaches_each_subscriber_once_with_its_payload(
    committed_db: Database, worker_settings: Settings
) -> None:
    registry = build_registry()
    received: list[tuple[str, dict[str, Any]]] = []

    async def receive(session: AsyncSession, payload: dict[str, Any], context: JobContext) -> None:
        received.append((context.name, payload))

    for job_name in ["test.send_confirmation", "test.update_statistics"]:
        registry.job(job_name)(receive)
        registry.subscribe("application.submitted", job_name)
    registry.job("test.unrelated")(receive)
    registry.subscribe("application.withdrawn", "test.unrelated")

    async with committed_db.transaction() as session:
        event_id = await emit(
            session,
            "application.submitted",
            aggregate_type="application",
            aggregate_id="A-7K3M",
            payload={"service": "residence-registration"},
        )
    worker = Worker(committed_db, worker_settings, registry)
    await worker.run_until_idle()
    async with committed_db.transaction() as session:  # the dispatch runs again
        await enqueue(session, DISPATCH_EVENT_JOB, {"event_id": str(event_id)})
    await worker.run_until_idle()

    expected = {
        "event_id": str(event_id),
        "event": "application.submitted",
        "service": "residence-registration",
    }
    assert sorted(received, key=lambda item: item[0]) == [
        ("test.send_confirmation", expected),
        ("test.update_statistics", expected),
    ]
    dispatches = await jobs_named(committed_db, DISPATCH_EVENT_JOB)
    assert [job.status for job in dispatches] == [JobStatus.done, JobStatus.done]


async def test_subscriber_gets_the_real_event_id_even_if_the_payload_has_one(
    committed_db: Database, worker_settings: Settings
) -> None:
    registry = build_registry()
    received: list[dict[str, Any]] = []

    @registry.job("test.archive")
    async def archive(session: AsyncSession, payload: dict[str, Any], context: JobContext) -> None:
        received.append(payload)

    registry.subscribe("document.uploaded", "test.archive")
    async with committed_db.transaction() as session:
        event_id = await emit(
            session,
            "document.uploaded",
            aggregate_type="document",
            aggregate_id="D-1",
            payload={"event_id": "from-the-scanner", "event": "scan"},
        )
    await Worker(committed_db, worker_settings, registry).run_until_idle()

    assert received == [{"event_id": str(event_id), "event": "document.uploaded"}]


# The operator's command


async def test_rathaus_worker_once_runs_due_core_jobs_and_exits(
    committed_db: Database, database_url: str
) -> None:
    long_ago = utcnow() - timedelta(days=40)
    async with committed_db.transaction() as session:
        await emit(session, "test.nobody_listens", aggregate_type="test", aggregate_id="1")
        session.add(
            Job(
                name="test.old",
                status=JobStatus.done,
                run_at=long_ago,
                created_at=long_ago,
                finished_at=long_ago,
            )
        )

    result = run_cli(
        "worker", "--once", env={"RATHAUS_DATABASE_URL": database_url, "RATHAUS_ENV": "test"}
    )

    assert result.returncode == 0, result.stderr
    [dispatch] = await jobs_named(committed_db, DISPATCH_EVENT_JOB)
    [purge] = await jobs_named(committed_db, "core.purge_expired")
    assert (dispatch.status, purge.status) == (JobStatus.done, JobStatus.done)
    assert await jobs_named(committed_db, "test.old") == []
