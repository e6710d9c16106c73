"""The servers under test, each on a free loopback port: the project (`rathaus serve`) and the
reference app (`bench.reference_app`), both uvicorn with uvloop and httptools, no access log."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from bench import reference_app
from bench.loadgen import LOOPBACK, ProtocolError, fetch
from bench.rathaus import PROJECT_ROOT, BenchError, rathaus_command, rathaus_environment

READY_TIMEOUT_SECONDS = 60.0
READY_POLL_SECONDS = 0.2
STOP_TIMEOUT_SECONDS = 20.0
LOG_TAIL_CHARACTERS = 4000
CLOCK_TICKS_PER_SECOND = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class RunningServer:
    port: int
    # Started in a session of its own, so the session id is the uvicorn supervisor's pid and
    # every worker process it spawns belongs to it.
    session_id: int

    def cpu_seconds(self) -> float:
        """User plus system CPU time used so far by every live process of the server."""
        ticks = 0
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except (FileNotFoundError, ProcessLookupError):
                continue  # exited since the listing
            # After the command name: state, ppid, pgrp, session, ..., utime (12th), stime.
            if int(fields[3]) == self.session_id:
                ticks += int(fields[11]) + int(fields[12])
        return ticks / CLOCK_TICKS_PER_SECOND


@contextmanager
def running_server(
    database_url: str, workers: int, settings: Mapping[str, str] | None = None
) -> Iterator[int]:
    """Start the project, wait until /readyz says ready, yield its port, stop it at the end.

    `settings` are extra `RATHAUS_*` variables for the server (the tests' fuzzing uses them).
    """
    with project_server(database_url, workers, settings) as server:
        yield server.port


@contextmanager
def project_server(
    database_url: str, workers: int, settings: Mapping[str, str] | None = None
) -> Iterator[RunningServer]:
    """`rathaus serve`, ready once /readyz says so."""

    def command(port: int) -> list[str]:
        return rathaus_command(
            "serve", "--host", LOOPBACK, "--port", str(port), "--workers", str(workers)
        )

    environment = rathaus_environment(database_url) | dict(settings or {})
    with _serve(command, environment, ready_path="/readyz") as server:
        yield server


@contextmanager
def reference_server(database_url: str, workers: int, pool_size: int) -> Iterator[RunningServer]:
    """`bench.reference_app` on the same database, served with the project's uvicorn options."""

    def command(port: int) -> list[str]:
        return [
            sys.executable,
            "-m",
            "uvicorn",
            "--factory",
            "bench.reference_app:create",
            "--host",
            LOOPBACK,
            "--port",
            str(port),
            "--workers",
            str(workers),
            "--loop",
            "uvloop",
            "--http",
            "httptools",
            "--no-access-log",
            "--log-level",
            "warning",
        ]

    environment = os.environ | {
        reference_app.DATABASE_URL_VARIABLE: database_url,
        reference_app.POOL_SIZE_VARIABLE: str(pool_size),
    }
    with _serve(command, environment, ready_path="/healthz") as server:
        yield server


@contextmanager
def _serve(
    command: Callable[[int], list[str]], environment: Mapping[str, str], ready_path: str
) -> Iterator[RunningServer]:
    port = _free_loopback_port()
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(
            command(port),
            cwd=PROJECT_ROOT,
            env=dict(environment),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            _wait_until_ready(process, port, ready_path, log)
            yield RunningServer(port=port, session_id=process.pid)
        finally:
            _stop(process)


def _free_loopback_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((LOOPBACK, 0))
        port: int = probe.getsockname()[1]
        return port


def _wait_until_ready(
    process: subprocess.Popen[bytes], port: int, ready_path: str, log: IO[bytes]
) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise BenchError(f"The server exited with status {process.returncode}:\n{_tail(log)}")
        if _is_ready(port, ready_path):
            return
        time.sleep(READY_POLL_SECONDS)
    raise BenchError(f"The server was not ready after {READY_TIMEOUT_SECONDS:.0f} s:\n{_tail(log)}")


def _is_ready(port: int, ready_path: str) -> bool:
    try:
        response = asyncio.run(fetch(port, ready_path))
    except (OSError, TimeoutError, asyncio.IncompleteReadError, ProtocolError):
        return False
    return response.status == 200


def _stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM lets uvicorn stop its workers; its session is killed if it does not."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=STOP_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def _tail(log: IO[bytes]) -> str:
    log.seek(0)
    return log.read().decode(errors="replace")[-LOG_TAIL_CHARACTERS:]
