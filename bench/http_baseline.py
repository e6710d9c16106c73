"""HTTP baseline: how fast the stack answers /healthz, and a DB-backed read next to it.

`python -m bench.http_baseline` (or `make bench`) measures, in one run and per backend, the
framework ceiling (`/healthz`: middleware, routing, serialisation, no database) and the
branch list (`/api/v1/branches?limit=20`) on SQLite and on PostgreSQL. Absolute figures move
with the machine; the ratio of each read to the `/healthz` of the same server does not move as
much, so that is what later benchmarks compare against. See bench/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import platform
import sys
from collections.abc import Coroutine, Sequence
from contextlib import AbstractContextManager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

import uvloop

from bench.databases import (
    Backend,
    migrate_and_seed,
    postgres_backend,
    postgres_unreachable_reason,
    sqlite_backend,
)
from bench.loadgen import LoadResult, fetch, run_load
from bench.rathaus import BenchError
from bench.server import running_server

BASELINE_ENDPOINT = "/healthz"
BRANCHES_ENDPOINT = "/api/v1/branches?limit=20"
ENDPOINTS = (BASELINE_ENDPOINT, BRANCHES_ENDPOINT)
BACKENDS = ("sqlite", "postgresql")
DEFAULT_POSTGRES_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"

T = TypeVar("T")


@dataclass(frozen=True)
class Measurement:
    backend: str
    endpoint: str
    requests: int
    requests_per_second: float
    p50_ms: float
    p99_ms: float
    errors: int
    ratio_to_healthz: float


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.http_baseline",
        description="Load-test /healthz and the branch list on SQLite and PostgreSQL.",
    )
    parser.add_argument("--workers", type=_positive_int, default=2, help="Server processes (2).")
    parser.add_argument(
        "--connections", type=_positive_int, default=32, help="Concurrent keep-alive connections."
    )
    parser.add_argument(
        "--duration", type=_positive_float, default=10.0, help="Seconds measured per scenario."
    )
    parser.add_argument(
        "--warmup",
        type=_non_negative_float,
        default=2.0,
        help="Seconds of unmeasured load before each one.",
    )
    parser.add_argument(
        "--backends", nargs="+", choices=BACKENDS, default=list(BACKENDS), help="What to bench."
    )
    parser.add_argument(
        "--postgres-dsn",
        default=DEFAULT_POSTGRES_DSN,
        help="A PostgreSQL database the bench may connect to to create and drop its own.",
    )
    parser.add_argument(
        "--postgres-database", default="rathaus_bench", help="Created fresh, dropped at the end."
    )
    parser.add_argument("--json", type=Path, metavar="PATH", help="Also write the figures here.")
    return parser.parse_args(argv)


def _positive_int(value: str) -> int:
    number = int(value)
    if number < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return number


def _non_negative_float(value: str) -> float:
    number = float(value)
    if number < 0:
        raise argparse.ArgumentTypeError("must not be negative")
    return number


def _positive_float(value: str) -> float:
    number = float(value)
    if number <= 0:
        raise argparse.ArgumentTypeError("must be greater than 0")
    return number


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    # Anything else running skews the figures; this says how busy the machine was beforehand.
    load_before = os.getloadavg()[0]
    backends = _reachable_backends(args)
    if not backends:
        print("Nothing left to benchmark.", file=sys.stderr)
        return 1
    print(_describe_run(args, backends, load_before), flush=True)
    try:
        measurements = [m for name in backends for m in _measure_backend(name, args)]
    except BenchError as exc:
        print(f"Benchmark aborted: {exc}", file=sys.stderr)
        return 1
    print(render_table(measurements))
    if args.json:
        _write_json(args, measurements, load_before)
        print(f"Wrote {args.json}.")
    return 0


def _reachable_backends(args: argparse.Namespace) -> list[str]:
    if "postgresql" not in args.backends:
        return list(args.backends)
    reason = postgres_unreachable_reason(args.postgres_dsn)
    if reason is None:
        return list(args.backends)
    remaining = [name for name in args.backends if name != "postgresql"]
    print(
        f"PostgreSQL is not reachable ({reason}): benchmarking {', '.join(remaining) or 'nothing'}."
    )
    return remaining


def _open_backend(name: str, args: argparse.Namespace) -> AbstractContextManager[Backend]:
    if name == "postgresql":
        return postgres_backend(args.postgres_dsn, args.postgres_database)
    return sqlite_backend()


def _measure_backend(name: str, args: argparse.Namespace) -> list[Measurement]:
    with _open_backend(name, args) as backend:
        migrate_and_seed(backend)
        with running_server(backend.database_url, args.workers) as port:
            _run(_check_branches_listed(port))
            results = {endpoint: _load(port, endpoint, args) for endpoint in ENDPOINTS}
    baseline_rps = results[BASELINE_ENDPOINT].requests_per_second
    return [_measurement(name, endpoint, r, baseline_rps) for endpoint, r in results.items()]


def _load(port: int, endpoint: str, args: argparse.Namespace) -> LoadResult:
    print(f"  {endpoint} ...", flush=True)
    return _run(
        run_load(
            port,
            endpoint,
            connections=args.connections,
            warmup_seconds=args.warmup,
            duration_seconds=args.duration,
        )
    )


def _run(coroutine: Coroutine[object, object, T]) -> T:
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(coroutine)


async def _check_branches_listed(port: int) -> None:
    """An empty or failing list would be fast and meaningless: refuse to measure it."""
    response = await fetch(port, BRANCHES_ENDPOINT)
    if response.status != 200:
        raise BenchError(f"{BRANCHES_ENDPOINT} answered {response.status}: {response.body!r}")
    if not json.loads(response.body)["items"]:
        raise BenchError(f"{BRANCHES_ENDPOINT} listed no branches: was the demo data seeded?")


def _measurement(
    backend: str, endpoint: str, result: LoadResult, baseline_rps: float
) -> Measurement:
    return Measurement(
        backend=backend,
        endpoint=endpoint,
        requests=result.requests,
        requests_per_second=result.requests_per_second,
        p50_ms=result.percentile_ms(0.50),
        p99_ms=result.percentile_ms(0.99),
        errors=result.errors,
        ratio_to_healthz=result.requests_per_second / baseline_rps if baseline_rps else math.nan,
    )


def _describe_run(args: argparse.Namespace, backends: Sequence[str], load_before: float) -> str:
    return (
        f"HTTP baseline on {os.cpu_count()} CPU cores (load average {load_before:.2f} "
        f"before the run), Python {platform.python_version()}: "
        f"{args.workers} server workers, {args.connections} connections, "
        f"{args.warmup:g} s warm-up + {args.duration:g} s per scenario, "
        f"backends: {', '.join(backends)}."
    )


def render_table(measurements: Sequence[Measurement]) -> str:
    header = (
        f"{'backend':<11} {'endpoint':<26} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} "
        f"{'errors':>7} {'vs /healthz':>12}"
    )
    rows = [
        f"{m.backend:<11} {m.endpoint:<26} {m.requests_per_second:>9.1f} {m.p50_ms:>8.2f} "
        f"{m.p99_ms:>8.2f} {m.errors:>7d} {m.ratio_to_healthz:>12.3f}"
        for m in measurements
    ]
    return "\n".join([header, "-" * len(header), *rows])


def _write_json(
    args: argparse.Namespace, measurements: Sequence[Measurement], load_before: float
) -> None:
    document = {
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "cpu_count": os.cpu_count(),
            "load_average_before": load_before,
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "settings": {
            "workers": args.workers,
            "connections": args.connections,
            "warmup_seconds": args.warmup,
            "duration_seconds": args.duration,
        },
        "results": [{k: _json_figure(v) for k, v in asdict(m).items()} for m in measurements],
    }
    args.json.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")


def _json_figure(value: object) -> object:
    """Three decimals are past the noise; JSON has no NaN, so an unmeasured figure is null."""
    if not isinstance(value, float):
        return value
    return None if math.isnan(value) else round(value, 3)


if __name__ == "__main__":
    raise SystemExit(main())
