"""The load generators: `wrk` where it is installed, the bench's own Python one otherwise.

On a 2-core machine the generator shares the CPU with the server it measures, so the lighter
the better: wrk (C, epoll) takes a small fraction of what the Python generator needs, and
that generator under-reports on some runs (see bench/README.md).
"""

from __future__ import annotations

import json
import math
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from bench.loadgen import LOOPBACK, REQUEST_TIMEOUT_SECONDS, run_load, run_on_uvloop
from bench.rathaus import BenchError

GENERATOR_CHOICES = ("auto", "wrk", "python")
WRK_THREADS = 2
WRK_SCRIPT = Path(__file__).with_name("wrk_report.lua")
WRK_SUMMARY_PREFIX = "BENCH_WRK_SUMMARY "


@dataclass(frozen=True)
class LoadFigures:
    """One measured window: its 2xx answers, their latency, and everything that went wrong."""

    ok_requests: int
    duration_seconds: float
    p50_ms: float
    p99_ms: float
    errors: int

    @property
    def requests_per_second(self) -> float:
        return self.ok_requests / self.duration_seconds


class LoadGenerator(Protocol):
    name: str

    def run(
        self,
        port: int,
        path: str,
        *,
        connections: int,
        seconds: int,
        headers: Mapping[str, str] | None = None,
    ) -> LoadFigures:
        """`connections` keep-alive connections send `GET path` back to back for `seconds`,
        with `headers` besides `Host` and `Accept`."""
        ...


class PythonGenerator:
    def __init__(self, why: str = "") -> None:
        self.name = f"python (bench.loadgen{'; ' + why if why else ''})"

    def run(
        self,
        port: int,
        path: str,
        *,
        connections: int,
        seconds: int,
        headers: Mapping[str, str] | None = None,
    ) -> LoadFigures:
        result = run_on_uvloop(
            run_load(port, path, connections=connections, duration_seconds=seconds, headers=headers)
        )
        return LoadFigures(
            ok_requests=result.requests,
            duration_seconds=result.duration_seconds,
            p50_ms=result.percentile_ms(0.50),
            p99_ms=result.percentile_ms(0.99),
            errors=result.errors,
        )


class WrkGenerator:
    def __init__(self, executable: str) -> None:
        self.executable = executable
        self.name = f"wrk ({executable}, {WRK_THREADS} threads)"

    def run(
        self,
        port: int,
        path: str,
        *,
        connections: int,
        seconds: int,
        headers: Mapping[str, str] | None = None,
    ) -> LoadFigures:
        command = [
            self.executable,
            f"--threads={min(WRK_THREADS, connections)}",
            f"--connections={connections}",
            f"--duration={seconds}s",
            f"--timeout={math.ceil(REQUEST_TIMEOUT_SECONDS)}s",
            "--latency",
            f"--script={WRK_SCRIPT}",
            *(f"--header={name}: {value}" for name, value in (headers or {}).items()),
            f"http://{LOOPBACK}:{port}{path}",
        ]
        completed = subprocess.run(command, capture_output=True, text=True, check=False)
        if completed.returncode != 0:
            raise BenchError(f"wrk failed on {path}:\n{completed.stderr.strip()}")
        return _wrk_figures(completed.stdout)


def _wrk_figures(output: str) -> LoadFigures:
    """The figures wrk_report.lua printed; wrk's own text is only for people."""
    for line in output.splitlines():
        if line.startswith(WRK_SUMMARY_PREFIX):
            summary = json.loads(line.removeprefix(WRK_SUMMARY_PREFIX))
            break
    else:
        raise BenchError(f"wrk printed no summary line:\n{output.strip()}")
    ok_requests = summary["requests"] - summary["non_2xx"]
    # wrk's percentiles cover every answer; with any error the row is worthless anyway.
    has_answers = ok_requests > 0
    return LoadFigures(
        ok_requests=ok_requests,
        duration_seconds=summary["duration_us"] / 1_000_000,
        p50_ms=summary["p50_us"] / 1000 if has_answers else math.nan,
        p99_ms=summary["p99_us"] / 1000 if has_answers else math.nan,
        errors=summary["non_2xx"] + summary["socket_errors"],
    )


def choose_generator(preference: str) -> LoadGenerator:
    """`auto` takes wrk when it is on PATH and falls back to the Python generator."""
    if preference == "python":
        return PythonGenerator()
    executable = shutil.which("wrk")
    if executable is not None:
        return WrkGenerator(executable)
    if preference == "wrk":
        raise BenchError("wrk is not on PATH (Debian package `wrk`).")
    return PythonGenerator(why="wrk is not on PATH")
