"""Several worker processes on one database: a killed worker loses no job, none runs twice at once.

Each worker is a real process (`python -m tests.fixtures.worker_process`). The test jobs log
the start and end of every run to a shared file and hold until the test opens a gate, so the
test knows which jobs a worker is in the middle of when it kills it.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import signal
import sys
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import IO

import pytest
from sqlalchemy import select

from app.core.config import PROJECT_ROOT
from app.core.db import Database
from app.core.jobs.models import Job, JobStatus
from app.core.jobs.queue import enqueue
from tests.fixtures.jobs import RECORD_RUN_JOB, Run, read_runs, wait_until

LEASE_SECONDS = 3
STEP_TIMEOUT_SECONDS = 20


class WorkerProcesses:
    """Starts worker processes on one database; whatever still runs at the end is stopped."""

    def __init__(self, database_url: str, log_dir: Path) -> None:
        self.database_url = database_url
        self.log_dir = log_dir
        self.processes: dict[str, asyncio.subprocess.Process] = {}
        self._logs: list[IO[bytes]] = []

    async def start(self, name: str, *, concurrency: int) -> asyncio.subprocess.Process:
        env = {key: value for key, value in os.environ.items() if not key.startswith("RATHAUS_")}
        env.update(
            RATHAUS_DATABASE_URL=self.database_url,
            RATHAUS_ENV="test",
            RATHAUS_JOB_LEASE_SECONDS=str(LEASE_SECONDS),
            RATHAUS_WORKER_POLL_SECONDS="0.1",
            RATHAUS_WORKER_CONCURRENCY=str(concurrency),
        )
        log = self._open_log(name)
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tests.fixtures.worker_process",
            cwd=PROJECT_ROOT,
            env=env,
            stdout=log,
            stderr=log,
        )
        self.processes[name] = process
        return process

    def _open_log(self, name: str) -> IO[bytes]:
        log = (self.log_dir / f"{name}.log").open("wb")
        self._logs.append(log)
        return log

    async def stop_all(self) -> None:
        for process in self.processes.values():
            if process.returncode is None:
                process.send_signal(signal.SIGTERM)
                try:
                    await asyncio.wait_for(process.wait(), timeout=5)
                except TimeoutError:
                    process.kill()
                    await process.wait()
        for log in self._logs:
            log.close()

    def print_logs(self) -> None:
        """Shown by pytest when the test fails."""
        for name in self.processes:
            print(f"--- worker {name} ---\n{(self.log_dir / f'{name}.log').read_text()}")


@pytest.fixture
async def workers(
    database_url: str, committed_db: Database, tmp_path: Path
) -> AsyncIterator[WorkerProcesses]:
    processes = WorkerProcesses(database_url, tmp_path)
    try:
        yield processes
    finally:
        await processes.stop_all()
        processes.print_logs()


def unfinished_runs(runs: list[Run], pid: int) -> list[Run]:
    return [run for run in runs if run.pid == pid and run.ended is None]


async def wait_for_runs(runs_file: Path, condition: Callable[[list[Run]], bool], what: str) -> None:
    async def holds() -> bool:
        return condition(read_runs(runs_file))

    await wait_until(holds, within=STEP_TIMEOUT_SECONDS, what=what)


async def all_jobs_done(database: Database) -> bool:
    async with database.session(read_only=True) as session:
        statuses = (await session.scalars(select(Job.status))).all()
    return all(status == JobStatus.done for status in statuses)


async def test_job_of_killed_worker_is_rerun_after_lease_expires_and_no_job_runs_twice_at_once(
    committed_db: Database, workers: WorkerProcesses, tmp_path: Path
) -> None:
    runs_file, gate_file = tmp_path / "runs.log", tmp_path / "gate"
    payload = {"runs_file": str(runs_file), "gate_file": str(gate_file)}
    async with committed_db.transaction() as session:
        job_ids = {str(await enqueue(session, RECORD_RUN_JOB, payload)) for _ in range(3)}

    victim = await workers.start("victim", concurrency=2)
    await wait_for_runs(
        runs_file,
        lambda runs: len(unfinished_runs(runs, victim.pid)) == 2,
        "the first worker to be in the middle of two jobs",
    )
    # One slot more than it will need: it could take its own jobs again if their leases ran out.
    survivor = await workers.start("survivor", concurrency=4)
    await wait_for_runs(
        runs_file,
        lambda runs: len(unfinished_runs(runs, survivor.pid)) == 1,
        "the second worker to start the third job",
    )

    victim.kill()
    await victim.wait()
    killed_at = time.monotonic()
    orphaned = {run.job_id for run in unfinished_runs(read_runs(runs_file), victim.pid)}
    await wait_for_runs(
        runs_file,
        lambda runs: orphaned <= {run.job_id for run in unfinished_runs(runs, survivor.pid)},
        "the second worker to take over the killed worker's jobs",
    )
    # Every job now runs for longer than a lease: only the heartbeat keeps it with its worker.
    await asyncio.sleep(LEASE_SECONDS + 1)
    gate_file.touch()

    await wait_until(
        lambda: all_jobs_done(committed_db), within=STEP_TIMEOUT_SECONDS, what="every job done"
    )
    survivor.send_signal(signal.SIGTERM)
    assert await asyncio.wait_for(survivor.wait(), timeout=STEP_TIMEOUT_SECONDS) == 0

    runs = read_runs(runs_file)
    assert len(orphaned) == 2
    assert {run.job_id for run in runs} == job_ids
    for job_id in job_ids:
        job_runs = [run for run in runs if run.job_id == job_id]
        for earlier, later in itertools.pairwise(job_runs):
            earlier_end = earlier.ended if earlier.ended is not None else killed_at
            assert earlier_end <= later.started, f"job {job_id} ran twice at once: {job_runs}"
        finished = [run for run in job_runs if run.ended is not None]
        assert len(finished) == 1, f"job {job_id} finished {len(finished)} times: {job_runs}"
        assert finished[0].pid == survivor.pid
        assert finished[0].attempt == (2 if job_id in orphaned else 1)
        assert duration(finished[0]) > LEASE_SECONDS


def duration(run: Run) -> float:
    assert run.ended is not None
    return run.ended - run.started
