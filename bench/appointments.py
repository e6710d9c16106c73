"""The appointments bench: the calendar's reads and bookings on a city-scale data set.

`python -m bench.appointments` (or `make bench-appointments`) measures, per backend (SQLite,
PostgreSQL), on a fresh database with the data of `bench.appointments_data` (12 branches, 8
counters each, 40 services, 90 days, 70% booked):

- `/healthz`, the baseline every figure is divided by (same round, same clients);
- the branch list, the platform's read path;
- availability of one service across all branches for 60 days;
- the earliest free start of that service;
- holds plus confirmations, each client walking its own free starts (`bench.holds`).

It prints per second, p50, p99 and server CPU per request at the stated concurrency, each
figure's ratio to `/healthz`, and the targets of issue 9. See bench/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import platform
import statistics
import sys
import tempfile
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import asdict, dataclass
from datetime import timedelta
from pathlib import Path

from sqlalchemy import select

from app.appointments.calendar import local_day
from app.appointments.models import AppointmentService, BranchService
from app.appointments.service import hold_service
from app.core.config import Settings
from app.core.db import Database, create_engine, utcnow
from app.identity.jwt import generate_private_pem
from bench.appointments_data import Plan, generate
from bench.databases import Backend, migrate, postgres_backend, postgres_unreachable_reason
from bench.databases import sqlite_backend as sqlite_database
from bench.generators import GENERATOR_CHOICES, LoadGenerator, WrkGenerator, choose_generator
from bench.holds import (
    HoldClients,
    HoldFigures,
    citizen_tokens,
    plan_holds,
    run_holds_python,
    run_holds_wrk,
    with_tokens,
)
from bench.http_baseline import non_negative_int, positive_int
from bench.loadgen import fetch, run_on_uvloop
from bench.rathaus import BenchError
from bench.server import RunningServer, project_server

BACKENDS = ("sqlite", "postgresql")
DEFAULT_POSTGRES_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"
CONFIRM_OPERATION = "appointments_confirm_hold"
AVAILABILITY_DAYS = 60
ACCESS_TOKEN_TTL_SECONDS = 3600
"""Tokens are made before the load and must outlive the run."""

HEALTHZ = "/healthz"
BRANCHES = "branch list"
AVAILABILITY = "availability, 60 days"
BROWSER_HEADERS = {"Accept-Encoding": "gzip, deflate, br"}
"""Sent with every read, as browsers do: the availability answer then comes gzip-compressed."""
EARLIEST = "earliest start"
HOLDS = "holds + confirms"
READS = (HEALTHZ, BRANCHES, AVAILABILITY, EARLIEST)
SCENARIOS = (*READS, HOLDS)

BOOKINGS_WANTED = {"postgresql": 300.0, "sqlite": 150.0}


@dataclass(frozen=True)
class Sample:
    """One scenario measured once. `per_second` is requests, or bookings for the holds."""

    per_second: float
    p50_ms: float
    p99_ms: float
    cpu_ms_per_request: float
    errors: int
    confirmed: int = 0
    holds: int = 0


@dataclass(frozen=True)
class Measurement:
    backend: str
    scenario: str
    clients: int
    unit: str
    per_second: float
    p50_ms: float
    p99_ms: float
    cpu_ms_per_request: float
    ratio_to_healthz: float
    errors: int
    per_round: list[dict[str, float]]


@dataclass(frozen=True)
class Verdict:
    backend: str
    target: str
    value: float
    met: bool


@dataclass(frozen=True)
class Workload:
    """What one backend's run works on: the measured service and the paths."""

    service_id: uuid.UUID
    paths: dict[str, str]
    confirm: bool


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.appointments",
        description="Load-test the appointment calendar's reads, holds and confirmations on a "
        "city-scale data set, on SQLite and PostgreSQL.",
    )
    parser.add_argument("--workers", type=positive_int, default=2, help="Server processes (2).")
    parser.add_argument(
        "--clients", type=positive_int, default=8, help="Concurrent clients, every scenario (8)."
    )
    parser.add_argument("--duration", type=positive_int, default=10, help="Seconds measured (10).")
    parser.add_argument(
        "--warmup", type=non_negative_int, default=2, help="Unmeasured seconds first (2)."
    )
    parser.add_argument("--rounds", type=positive_int, default=3, help="Rounds; medians (3).")
    parser.add_argument("--generator", choices=GENERATOR_CHOICES, default="auto")
    parser.add_argument(
        "--bookings-per-second",
        type=positive_int,
        default=300,
        help="Confirmations to prepare starts and citizens for, per second of holds load "
        "(300, the highest target); a client that runs out counts as an error.",
    )
    parser.add_argument(
        "--skip-invariant",
        action="store_true",
        help="Do not run the invariant report after the load (it reads every unit).",
    )
    parser.add_argument(
        "--backends", nargs="+", choices=BACKENDS, default=list(BACKENDS), help="What to bench."
    )
    parser.add_argument("--postgres-dsn", default=DEFAULT_POSTGRES_DSN)
    parser.add_argument(
        "--postgres-database", default="rathaus_bench_appts", help="Created, dropped at the end."
    )
    parser.add_argument("--json", type=Path, metavar="PATH", help="Also write the figures here.")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    load_before = os.getloadavg()[0]
    try:
        generator = choose_generator(args.generator)
    except BenchError as exc:
        print(exc, file=sys.stderr)
        return 1
    backends = _reachable_backends(args)
    if not backends:
        print("Nothing left to benchmark.", file=sys.stderr)
        return 1
    print(
        f"Appointments bench on {os.cpu_count()} CPU cores (load average {load_before:.2f}), "
        f"Python {platform.python_version()}, load generator {generator.name}.\n"
        f"{args.workers} server workers, {args.clients} clients, {args.warmup} s warm-up + "
        f"{args.duration} s per scenario, {args.rounds} round(s).",
        flush=True,
    )
    measurements: list[Measurement] = []
    try:
        for name in backends:
            rounds = _measure_backend(name, args, generator)
            measurements += [_measurement(name, s, args.clients, rounds) for s in SCENARIOS]
    except BenchError as exc:
        print(f"Benchmark aborted: {exc}", file=sys.stderr)
        return 1
    verdicts = [v for name in backends for v in _verdicts(name, measurements)]
    load_after = os.getloadavg()[0]
    print(f"\n{render_table(measurements)}\n\n{render_verdicts(verdicts)}")
    print(f"\nLoad average {load_before:.2f} before the run, {load_after:.2f} after.")
    if args.json:
        _write_json(args, generator, measurements, verdicts, load_before, load_after)
        print(f"Wrote {args.json}.")
    return 0


def _reachable_backends(args: argparse.Namespace) -> list[str]:
    if "postgresql" not in args.backends:
        return list(args.backends)
    reason = postgres_unreachable_reason(args.postgres_dsn)
    if reason is None:
        return list(args.backends)
    remaining = [name for name in args.backends if name != "postgresql"]
    print(f"PostgreSQL is not reachable ({reason}): benchmarking {', '.join(remaining)}.")
    return remaining


def _open_backend(name: str, args: argparse.Namespace) -> AbstractContextManager[Backend]:
    if name == "postgresql":
        return postgres_backend(args.postgres_dsn, args.postgres_database)
    return sqlite_database()


Round = dict[str, Sample]


def _measure_backend(name: str, args: argparse.Namespace, generator: LoadGenerator) -> list[Round]:
    with _open_backend(name, args) as backend, _signing_key_file() as key_file:
        settings = _bench_settings(backend.database_url, key_file)
        migrate(backend)
        summary = asyncio.run(_generate(settings))
        print(f"{name}: {summary}", flush=True)
        server_settings = {
            "RATHAUS_JWT_PRIVATE_KEY_FILE": str(key_file),
            "RATHAUS_ACCESS_TOKEN_TTL_SECONDS": str(ACCESS_TOKEN_TTL_SECONDS),
            # Rate limits per address would stop one machine's load (another issue adds it).
            "RATHAUS_ANTI_AUTOMATION": "false",
        }
        with project_server(backend.database_url, args.workers, server_settings) as server:
            workload = asyncio.run(_workload(settings, server.port))
            clients = asyncio.run(_hold_clients(settings, workload, args))
            run_on_uvloop(_check_answers(server.port, workload))
            rounds = []
            with tempfile.TemporaryDirectory(prefix="rathaus-bench-holds-") as directory:
                plan_file = Path(directory) / "holds.tsv"
                for number in range(1, args.rounds + 1):
                    print(f"{name}, round {number} of {args.rounds}:", flush=True)
                    samples = {
                        s: _sample_read(generator, server, workload.paths[s], args) for s in READS
                    }
                    samples[HOLDS] = _sample_holds(
                        generator, server, workload, clients, args, plan_file
                    )
                    rounds.append(samples)
        if not args.skip_invariant:
            asyncio.run(_check_invariant(settings))
        return rounds


@contextmanager
def _signing_key_file() -> Iterator[Path]:
    """A key of the bench's own, shared by the server and the tokens it makes."""
    with tempfile.TemporaryDirectory(prefix="rathaus-bench-key-") as directory:
        path = Path(directory) / "jwt.pem"
        path.write_bytes(generate_private_pem())
        yield path


def _bench_settings(database_url: str, key_file: Path) -> Settings:
    return Settings(
        database_url=database_url,
        jwt_private_key_file=str(key_file),
        access_token_ttl_seconds=ACCESS_TOKEN_TTL_SECONDS,
    )


async def _generate(settings: Settings) -> str:
    database = Database(create_engine(settings, pooled=False))
    try:
        summary = await generate(database, Plan())
    finally:
        await database.dispose()
    return summary.describe()


async def _workload(settings: Settings, port: int) -> Workload:
    """The service offered at every branch, and whether the server confirms holds yet."""
    database = Database(create_engine(settings, pooled=False))
    try:
        async with database.transaction(read_only=True) as session:
            service_id = await session.scalar(
                select(AppointmentService.id).where(AppointmentService.code == "bench-service-01")
            )
    finally:
        await database.dispose()
    if service_id is None:
        raise BenchError("The bench data has no service bench-service-01.")
    today = local_day(utcnow())
    last = today + timedelta(days=AVAILABILITY_DAYS - 1)
    paths = {
        HEALTHZ: HEALTHZ,
        BRANCHES: "/api/v1/branches?limit=20",
        AVAILABILITY: f"/api/v1/appointments/availability?service_id={service_id}"
        f"&from={today.isoformat()}&to={last.isoformat()}",
        EARLIEST: f"/api/v1/appointments/earliest?service_id={service_id}",
    }
    contract = await fetch(port, "/openapi.json")
    return Workload(service_id, paths, confirm=CONFIRM_OPERATION.encode() in contract.body)


async def _hold_clients(
    settings: Settings, workload: Workload, args: argparse.Namespace
) -> HoldClients:
    """Free starts for every client, and a citizen for every two confirmations."""
    database = Database(create_engine(settings, pooled=False))
    try:
        async with database.transaction(read_only=True) as session:
            offers = (
                await session.execute(
                    select(BranchService.branch_id, BranchService.units).where(
                        BranchService.service_id == workload.service_id
                    )
                )
            ).all()
            horizon = await session.scalar(
                select(AppointmentService.horizon_days).where(
                    AppointmentService.id == workload.service_id
                )
            )
        items = await plan_holds(
            database, [b for b, _ in offers], offers[0].units, int(horizon or 60), seed=1
        )
    finally:
        await database.dispose()
    seconds = args.rounds * (args.warmup + args.duration)
    wanted = min(len(items), args.bookings_per_second * seconds)
    items = items[:wanted] if workload.confirm else items
    print(f"  {len(items)} free starts planned for {args.clients} clients", flush=True)
    if workload.confirm:
        per_citizen = settings.booking_max_active_per_person
        citizens = math.ceil(len(items) / per_citizen)
        tokens = await citizen_tokens(settings, citizens)
        items = with_tokens(items, tokens, per_citizen)
        print(f"  {citizens} citizens signed in", flush=True)
    return HoldClients(items, args.clients)


async def _check_answers(port: int, workload: Workload) -> None:
    """An empty or failing answer would be measured for nothing: refuse it."""
    for scenario in READS:
        response = await fetch(port, workload.paths[scenario])
        if response.status != 200:
            raise BenchError(f"{scenario} answered {response.status}: {response.body[:500]!r}")
    availability = json.loads((await fetch(port, workload.paths[AVAILABILITY])).body)
    earliest = json.loads((await fetch(port, workload.paths[EARLIEST])).body)
    if not availability["days"] or earliest["earliest"] is None:
        raise BenchError("The bench service has no free start: was the data generated?")


def _sample_read(
    generator: LoadGenerator, server: RunningServer, path: str, args: argparse.Namespace
) -> Sample:
    load = {"connections": args.clients, "headers": BROWSER_HEADERS}
    if args.warmup:
        generator.run(server.port, path, seconds=args.warmup, **load)
    cpu_before = server.cpu_seconds()
    figures = generator.run(server.port, path, seconds=args.duration, **load)
    cpu = server.cpu_seconds() - cpu_before
    sample = Sample(
        per_second=figures.requests_per_second,
        p50_ms=figures.p50_ms,
        p99_ms=figures.p99_ms,
        cpu_ms_per_request=_divide(cpu * 1000, figures.ok_requests),
        errors=figures.errors,
    )
    _print_sample(path, sample)
    return sample


def _sample_holds(
    generator: LoadGenerator,
    server: RunningServer,
    workload: Workload,
    clients: HoldClients,
    args: argparse.Namespace,
    plan_file: Path,
) -> Sample:
    def run(seconds: int) -> HoldFigures:
        if isinstance(generator, WrkGenerator):
            return run_holds_wrk(
                generator.executable,
                server.port,
                workload.service_id,
                clients,
                seconds=seconds,
                confirm=workload.confirm,
                plan_file=plan_file,
            )
        return run_on_uvloop(
            run_holds_python(
                server.port, workload.service_id, clients, seconds=seconds, confirm=workload.confirm
            )
        )

    if args.warmup:
        run(args.warmup)
    cpu_before = server.cpu_seconds()
    figures = run(args.duration)
    cpu = server.cpu_seconds() - cpu_before
    sample = Sample(
        per_second=figures.bookings_per_second,
        p50_ms=figures.p50_ms,
        p99_ms=figures.p99_ms,
        cpu_ms_per_request=_divide(cpu * 1000, figures.requests),
        errors=figures.errors,
        confirmed=figures.confirmed,
        holds=figures.holds,
    )
    what = "confirmed bookings" if workload.confirm else "holds (no confirm endpoint yet)"
    _print_sample(f"{HOLDS}: {figures.holds} holds, {figures.confirmed} confirmed", sample, what)
    return sample


def _print_sample(label: str, sample: Sample, unit: str = "req") -> None:
    print(
        f"  {label[:60]:<60} {sample.per_second:>8.1f} {unit}/s  p50 {sample.p50_ms:>7.2f}  "
        f"p99 {sample.p99_ms:>7.2f} ms  {sample.cpu_ms_per_request:>6.3f} CPU ms/req  "
        f"{sample.errors} errors",
        flush=True,
    )


async def _check_invariant(settings: Settings) -> None:
    """Whatever the load did, capacity and bookings must still agree."""
    database = Database(create_engine(settings, pooled=False))
    try:
        async with database.transaction(read_only=True) as session:
            report = await hold_service.invariant_report(session)
    finally:
        await database.dispose()
    if not report.ok:
        raise BenchError(f"The invariant broke under load: {report}")
    print("  invariant report clean after the load", flush=True)


def _measurement(backend: str, scenario: str, clients: int, rounds: Sequence[Round]) -> Measurement:
    samples = [r[scenario] for r in rounds]
    ratios = [_divide(r[scenario].per_second, r[HEALTHZ].per_second) for r in rounds]
    holds = scenario == HOLDS
    return Measurement(
        backend=backend,
        scenario=scenario,
        clients=clients,
        unit=("bookings" if any(s.confirmed for s in samples) else "holds") if holds else "req",
        per_second=_median([s.per_second for s in samples]),
        p50_ms=_median([s.p50_ms for s in samples]),
        p99_ms=_median([s.p99_ms for s in samples]),
        cpu_ms_per_request=_median([s.cpu_ms_per_request for s in samples]),
        ratio_to_healthz=_median(ratios),
        errors=sum(s.errors for s in samples),
        per_round=[
            {**asdict(s), "ratio_to_healthz": ratio}
            for s, ratio in zip(samples, ratios, strict=True)
        ],
    )


def _verdicts(backend: str, measurements: Sequence[Measurement]) -> list[Verdict]:
    found = {m.scenario: m for m in measurements if m.backend == backend}
    holds = found[HOLDS]
    checks: list[tuple[str, float, Callable[[float], bool]]] = [
        (
            "earliest start p99 under 20 ms",
            found[EARLIEST].p99_ms,
            lambda value: value < 20,
        ),
        (
            "availability at least 0.4 of /healthz",
            found[AVAILABILITY].ratio_to_healthz,
            lambda value: value >= 0.4,
        ),
        (
            f"at least {BOOKINGS_WANTED[backend]:g} confirmed bookings/s",
            holds.per_second if holds.unit == "bookings" else math.nan,
            lambda value: value >= BOOKINGS_WANTED[backend],
        ),
    ]
    return [Verdict(backend, name, value, is_met(value)) for name, value, is_met in checks]


def render_table(measurements: Sequence[Measurement]) -> str:
    header = (
        f"{'backend':<11} {'scenario':<22} {'clients':>7} {'per s':>9} {'unit':<8} "
        f"{'p50 ms':>8} {'p99 ms':>8} {'CPU ms/req':>10} {'÷ /healthz':>10} {'errors':>7}"
    )
    rows = [
        f"{m.backend:<11} {m.scenario:<22} {m.clients:>7} {m.per_second:>9.1f} {m.unit:<8} "
        f"{m.p50_ms:>8.2f} {m.p99_ms:>8.2f} {m.cpu_ms_per_request:>10.3f} "
        f"{m.ratio_to_healthz:>10.3f} {m.errors:>7d}"
        for m in measurements
    ]
    return "\n".join([header, "-" * len(header), *rows])


def render_verdicts(verdicts: Sequence[Verdict]) -> str:
    lines = ["Targets of issue 9:"]
    for verdict in verdicts:
        state = "met" if verdict.met else "MISSED"
        lines.append(f"  {verdict.backend:<11} {verdict.target:<42} {verdict.value:>9.2f}  {state}")
    return "\n".join(lines)


def _write_json(
    args: argparse.Namespace,
    generator: LoadGenerator,
    measurements: Sequence[Measurement],
    verdicts: Sequence[Verdict],
    load_before: float,
    load_after: float,
) -> None:
    document = {
        "measured_at": utcnow().isoformat(timespec="seconds"),
        "machine": {
            "cpu_count": os.cpu_count(),
            "load_average_before": round(load_before, 2),
            "load_average_after": round(load_after, 2),
            "python": platform.python_version(),
        },
        "generator": generator.name,
        "settings": {
            "workers": args.workers,
            "clients": args.clients,
            "warmup_seconds": args.warmup,
            "duration_seconds": args.duration,
            "rounds": args.rounds,
        },
        "results": [_json_value(asdict(m)) for m in measurements],
        "targets": [_json_value(asdict(v)) for v in verdicts],
    }
    args.json.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")


def _json_value(value: object) -> object:
    if isinstance(value, dict):
        return {key: _json_value(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_json_value(item) for item in value]
    if isinstance(value, float):
        return None if math.isnan(value) else round(value, 3)
    return value


def _median(values: Sequence[float]) -> float:
    if any(math.isnan(value) for value in values):
        return math.nan
    return statistics.median(values)


def _divide(numerator: float, denominator: float) -> float:
    return numerator / denominator if denominator else math.nan


if __name__ == "__main__":
    raise SystemExit(main())
