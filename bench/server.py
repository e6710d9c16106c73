"""The server under test: `rathaus serve` (uvicorn, uvloop, httptools) on a free loopback port."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import IO

from bench.loadgen import LOOPBACK, ProtocolError, fetch
from bench.rathaus import PROJECT_ROOT, BenchError, rathaus_command, rathaus_environment

READY_TIMEOUT_SECONDS = 60.0
READY_POLL_SECONDS = 0.2
STOP_TIMEOUT_SECONDS = 20.0
LOG_TAIL_CHARACTERS = 4000


@contextmanager
def running_server(
    database_url: str, workers: int, settings: Mapping[str, str] | None = None
) -> Iterator[int]:
    """Start the server, wait until /readyz says ready, yield its port, stop it at the end.

    `settings` are extra `RATHAUS_*` variables for the server (the tests' fuzzing uses them).
    """
    port = _free_loopback_port()
    command = rathaus_command(
        "serve", "--host", LOOPBACK, "--port", str(port), "--workers", str(workers)
    )
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(
            command,
            cwd=PROJECT_ROOT,
            env=rathaus_environment(database_url) | dict(settings or {}),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            _wait_until_ready(process, port, log)
            yield port
        finally:
            _stop(process)


def _free_loopback_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((LOOPBACK, 0))
        port: int = probe.getsockname()[1]
        return port


def _wait_until_ready(process: subprocess.Popen[bytes], port: int, log: IO[bytes]) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise BenchError(f"The server exited with status {process.returncode}:\n{_tail(log)}")
        if _is_ready(port):
            return
        time.sleep(READY_POLL_SECONDS)
    raise BenchError(f"The server was not ready after {READY_TIMEOUT_SECONDS:.0f} s:\n{_tail(log)}")


def _is_ready(port: int) -> bool:
    try:
        response = asyncio.run(fetch(port, "/readyz"))
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
