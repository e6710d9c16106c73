"""HTTP baseline: the project's reads next to minimal reference apps, in one run.

`python -m bench.http_baseline` (or `make bench`) measures, per backend (SQLite, PostgreSQL),
four scenarios on a freshly migrated and seeded database:

- the bare `/healthz` of the reference app (FastAPI, no middleware) and the project's `/healthz`;
- the branch list through SQLAlchemy Core in the reference app and the project's branch list.

It prints req/s, p50, p99 and server CPU per request for each, the project's ratios to the
reference apps, and whether the targets of issue 7 (§4) are met. Absolute figures move with the
machine; ratios measured in the same run move much less. See bench/README.md.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import sys
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from app.core.config import Settings
from bench.databases import (
    Backend,
    migrate_and_seed,
    postgres_backend,
    postgres_unreachable_reason,
    sqlite_backend,
)
from bench.generators import GENERATOR_CHOICES, LoadFigures, LoadGenerator, choose_generator
from bench.loadgen import fetch, run_on_uvloop
from bench.rathaus import BenchError
from bench.server import RunningServer, project_server, reference_server

HEALTHZ = "/healthz"
BRANCHES = "/api/v1/branches?limit=20"
BACKENDS = ("sqlite", "postgresql")
DEFAULT_POSTGRES_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"
REFERENCE = "reference"
PROJECT = "project"
BY_CPU = "by CPU per request"


@dataclass(frozen=True)
class Scenario:
    app: str
    endpoint: str


BARE_HEALTHZ = Scenario(REFERENCE, HEALTHZ)
PROJECT_HEALTHZ = Scenario(PROJECT, HEALTHZ)
CORE_BRANCHES = Scenario(REFERENCE, BRANCHES)
PROJECT_BRANCHES = Scenario(PROJECT, BRANCHES)
# Each project scenario right after its reference, so that a pair sees the same machine.
SCENARIOS = (BARE_HEALTHZ, PROJECT_HEALTHZ, CORE_BRANCHES, PROJECT_BRANCHES)


@dataclass(frozen=True)
class Sample:
    """One scenario measured once: the load generator's figures and the server's CPU time."""

    figures: LoadFigures
    server_cpu_seconds: float

    @property
    def cpu_ms_per_request(self) -> float:
        if not self.figures.ok_requests:
            return math.nan
        return self.server_cpu_seconds * 1000 / self.figures.ok_requests


@dataclass(frozen=True)
class Measurement:
    """A scenario over all rounds: medians of the figures, sums of the counts."""

    backend: str
    app: str
    endpoint: str
    requests: int
    errors: int
    requests_per_second: float
    p50_ms: float
    p99_ms: float
    cpu_ms_per_request: float
    per_round: list[dict[str, float]]


Round = dict[Scenario, Sample]


@dataclass(frozen=True)
class Target:
    """A target of issue 7 (§4): a ratio taken in every round, and the bound it must keep."""

    name: str
    ratio: Callable[[Round], float]
    bound: float
    at_least: bool
    # A figure that tells the project's share from the machine's: the same comparison by
    # CPU per request, or the reference's own tail.
    cross_check_name: str
    cross_check: Callable[[Round], float]

    @property
    def wanted(self) -> str:
        return f"at least {self.bound:g}" if self.at_least else f"under {self.bound:g}"

    def is_met(self, value: float) -> bool:
        if math.isnan(value):
            return False
        return value >= self.bound if self.at_least else value < self.bound


@dataclass(frozen=True)
class Ratio:
    """A target's ratio over all rounds: the median of the rounds' own ratios."""

    backend: str
    name: str
    value: float
    per_round: list[float]
    cross_check_name: str
    cross_check: float
    target: str
    met: bool


@dataclass(frozen=True)
class Report:
    generator: str
    reference_pool_sizes: dict[str, int]
    load_average_before: float
    load_average_after: float
    measurements: list[Measurement]
    ratios: list[Ratio]


def _throughput_ratio(project: Scenario, reference: Scenario) -> Callable[[Round], float]:
    def ratio(samples: Round) -> float:
        return _divide(
            samples[project].figures.requests_per_second,
            samples[reference].figures.requests_per_second,
        )

    return ratio


def _cpu_ratio(project: Scenario, reference: Scenario) -> Callable[[Round], float]:
    def ratio(samples: Round) -> float:
        return _divide(samples[reference].cpu_ms_per_request, samples[project].cpu_ms_per_request)

    return ratio


def _tail(scenario: Scenario) -> Callable[[Round], float]:
    def ratio(samples: Round) -> float:
        figures = samples[scenario].figures
        return _divide(figures.p99_ms, figures.p50_ms)

    return ratio


TARGETS = (
    Target(
        "project /healthz ÷ bare /healthz",
        _throughput_ratio(PROJECT_HEALTHZ, BARE_HEALTHZ),
        bound=0.6,
        at_least=True,
        cross_check_name=BY_CPU,
        cross_check=_cpu_ratio(PROJECT_HEALTHZ, BARE_HEALTHZ),
    ),
    Target(
        "project branch list ÷ Core branch list",
        _throughput_ratio(PROJECT_BRANCHES, CORE_BRANCHES),
        bound=0.6,
        at_least=True,
        cross_check_name=BY_CPU,
        cross_check=_cpu_ratio(PROJECT_BRANCHES, CORE_BRANCHES),
    ),
    Target(
        "project branch list p99 ÷ p50",
        _tail(PROJECT_BRANCHES),
        bound=3.0,
        at_least=False,
        cross_check_name="Core branch list's own",
        cross_check=_tail(CORE_BRANCHES),
    ),
)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.http_baseline",
        description="Load-test the project's /healthz and branch list against minimal reference "
        "apps, on SQLite and PostgreSQL.",
    )
    parser.add_argument("--workers", type=positive_int, default=2, help="Server processes (2).")
    parser.add_argument(
        "--connections", type=positive_int, default=32, help="Concurrent keep-alive connections."
    )
    parser.add_argument(
        "--duration", type=positive_int, default=10, help="Seconds measured per scenario (10)."
    )
    parser.add_argument(
        "--warmup",
        type=non_negative_int,
        default=2,
        help="Seconds of unmeasured load before each measurement (2).",
    )
    parser.add_argument(
        "--rounds",
        type=positive_int,
        default=3,
        help="Times every scenario is measured; the figures are medians (3).",
    )
    parser.add_argument(
        "--generator",
        choices=GENERATOR_CHOICES,
        default="auto",
        help="Load generator: wrk if installed, else Python (auto).",
    )
    parser.add_argument(
        "--reference-pool-size",
        type=positive_int,
        help="Pool size (and half as many overflow) of the reference app's engine, per worker "
        "(default: the project's, RATHAUS_DATABASE_POOL_SIZE or its default).",
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


def positive_int(value: str) -> int:
    number = int(value)
    if number < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return number


def non_negative_int(value: str) -> int:
    number = int(value)
    if number < 0:
        raise argparse.ArgumentTypeError("must not be negative")
    return number


def _project_pool_size(backend: str) -> int:
    """The pool the project uses on this backend, unless RATHAUS_DATABASE_POOL_SIZE says."""
    url = "sqlite+aiosqlite:///bench.db" if backend == "sqlite" else DEFAULT_POSTGRES_DSN
    return Settings(database_url=url).pool_size


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    # Anything else running skews the figures; this says how busy the machine was beforehand.
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
    pool_sizes = {name: args.reference_pool_size or _project_pool_size(name) for name in backends}
    print(_describe_run(args, generator, pool_sizes, load_before), flush=True)
    measurements: list[Measurement] = []
    ratios: list[Ratio] = []
    try:
        for name in backends:
            rounds = _measure_backend(name, args, generator, pool_sizes[name])
            measurements += [_measurement(name, s, [r[s] for r in rounds]) for s in SCENARIOS]
            ratios += [_ratio(name, target, rounds) for target in TARGETS]
    except BenchError as exc:
        print(f"Benchmark aborted: {exc}", file=sys.stderr)
        return 1
    report = Report(
        generator=generator.name,
        reference_pool_sizes=pool_sizes,
        load_average_before=load_before,
        load_average_after=os.getloadavg()[0],
        measurements=measurements,
        ratios=ratios,
    )
    print(f"\n{render_report(report)}")
    if args.json:
        _write_json(args, report)
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


def _measure_backend(
    name: str, args: argparse.Namespace, generator: LoadGenerator, pool_size: int
) -> list[Round]:
    """Both servers on one fresh database; every scenario once per round."""
    with _open_backend(name, args) as backend:
        migrate_and_seed(backend)
        with (
            reference_server(backend.database_url, args.workers, pool_size) as reference,
            project_server(backend.database_url, args.workers) as project,
        ):
            servers = {REFERENCE: reference, PROJECT: project}
            run_on_uvloop(_check_same_answers(reference.port, project.port))
            rounds = []
            for number in range(1, args.rounds + 1):
                print(f"{name}, round {number} of {args.rounds}:", flush=True)
                rounds.append({s: _sample(generator, servers[s.app], s, args) for s in SCENARIOS})
            return rounds


async def _check_same_answers(reference_port: int, project_port: int) -> None:
    """A failing, empty or different answer would be measured for nothing: refuse it."""
    for endpoint in (HEALTHZ, BRANCHES):
        reference_answer, project_answer = [
            await _json_answer(port, endpoint) for port in (reference_port, project_port)
        ]
        if reference_answer != project_answer:
            raise BenchError(
                f"The reference app's {endpoint} differs from the project's:\n"
                f"{reference_answer}\n{project_answer}"
            )
        if endpoint == BRANCHES and not project_answer["items"]:
            raise BenchError(f"{BRANCHES} listed no branches: was the demo data seeded?")


async def _json_answer(port: int, endpoint: str) -> Any:
    response = await fetch(port, endpoint)
    if response.status != 200:
        raise BenchError(f"{endpoint} answered {response.status}: {response.body!r}")
    return json.loads(response.body)


def _sample(
    generator: LoadGenerator, server: RunningServer, scenario: Scenario, args: argparse.Namespace
) -> Sample:
    """Warm up, then measure `--duration` seconds and the server's CPU time inside them."""
    load = {"connections": args.connections}
    if args.warmup:
        generator.run(server.port, scenario.endpoint, seconds=args.warmup, **load)
    cpu_before = server.cpu_seconds()
    figures = generator.run(server.port, scenario.endpoint, seconds=args.duration, **load)
    sample = Sample(figures, server.cpu_seconds() - cpu_before)
    print(
        f"  {scenario.app:<9} {scenario.endpoint:<26} {figures.requests_per_second:>9.1f} req/s "
        f"{sample.cpu_ms_per_request:>7.3f} CPU ms/req {figures.errors:>5d} errors",
        flush=True,
    )
    return sample


def _measurement(backend: str, scenario: Scenario, samples: Sequence[Sample]) -> Measurement:
    figures = [sample.figures for sample in samples]
    return Measurement(
        backend=backend,
        app=scenario.app,
        endpoint=scenario.endpoint,
        requests=sum(f.ok_requests for f in figures),
        errors=sum(f.errors for f in figures),
        requests_per_second=_median([f.requests_per_second for f in figures]),
        p50_ms=_median([f.p50_ms for f in figures]),
        p99_ms=_median([f.p99_ms for f in figures]),
        cpu_ms_per_request=_median([s.cpu_ms_per_request for s in samples]),
        per_round=[_round_figures(sample) for sample in samples],
    )


def _round_figures(sample: Sample) -> dict[str, float]:
    return {
        "requests_per_second": sample.figures.requests_per_second,
        "p50_ms": sample.figures.p50_ms,
        "p99_ms": sample.figures.p99_ms,
        "cpu_ms_per_request": sample.cpu_ms_per_request,
        "errors": sample.figures.errors,
    }


def _ratio(backend: str, target: Target, rounds: Sequence[Round]) -> Ratio:
    """The median of each round's ratio: a pair measured back to back shares its noise."""
    per_round = [target.ratio(samples) for samples in rounds]
    value = _median(per_round)
    return Ratio(
        backend=backend,
        name=target.name,
        value=value,
        per_round=per_round,
        cross_check_name=target.cross_check_name,
        cross_check=_median([target.cross_check(samples) for samples in rounds]),
        target=target.wanted,
        met=target.is_met(value),
    )


def _median(values: Sequence[float]) -> float:
    """NaN (a figure that could not be measured) wins: a median that hid it would mislead."""
    if any(math.isnan(value) for value in values):
        return math.nan
    return statistics.median(values)


def _divide(numerator: float, denominator: float) -> float:
    return numerator / denominator if denominator else math.nan


def _describe_run(
    args: argparse.Namespace,
    generator: LoadGenerator,
    pool_sizes: dict[str, int],
    load_before: float,
) -> str:
    rounds = f"{args.rounds} round{'s' if args.rounds > 1 else ''}"
    pools = ", ".join(f"{name} {size} + {size // 2}" for name, size in pool_sizes.items())
    return (
        f"HTTP baseline on {os.cpu_count()} CPU cores (load average {load_before:.2f} "
        f"before the run), Python {platform.python_version()}.\n"
        f"Load generator: {generator.name}.\n"
        f"{args.workers} server workers, {args.connections} connections, "
        f"{args.warmup} s warm-up + {args.duration} s per scenario, {rounds}, "
        f"pools (project and reference, per worker, with overflow): {pools}."
    )


def render_table(measurements: Sequence[Measurement]) -> str:
    header = (
        f"{'backend':<11} {'app':<9} {'endpoint':<26} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} "
        f"{'CPU ms/req':>10} {'errors':>7}"
    )
    rows = [
        f"{m.backend:<11} {m.app:<9} {m.endpoint:<26} {m.requests_per_second:>9.1f} "
        f"{m.p50_ms:>8.2f} {m.p99_ms:>8.2f} {m.cpu_ms_per_request:>10.3f} {m.errors:>7d}"
        for m in measurements
    ]
    return "\n".join([header, "-" * len(header), *rows])


def render_report(report: Report) -> str:
    return "\n\n".join(
        [
            render_table(report.measurements),
            render_ratios(report.ratios),
            f"Load generator: {report.generator}. Load average {report.load_average_before:.2f} "
            f"before the run, {report.load_average_after:.2f} after.",
        ]
    )


def render_ratios(ratios: Sequence[Ratio]) -> str:
    lines = ["Ratios (median of the rounds' own) and the targets of issue 7, §4:"]
    for ratio in ratios:
        rounds = ", ".join(f"{value:.3f}" for value in ratio.per_round)
        verdict = "met" if ratio.met else "MISSED"
        lines.append(
            f"  {ratio.backend:<11} {ratio.name:<40} {ratio.value:>6.3f}  "
            f"{verdict:<6} (target: {ratio.target})  [rounds: {rounds}; {ratio.cross_check_name}: {ratio.cross_check:.3f}]"
        )
    return "\n".join(lines)


def _write_json(args: argparse.Namespace, report: Report) -> None:
    document = {
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "cpu_count": os.cpu_count(),
            "load_average_before": round(report.load_average_before, 2),
            "load_average_after": round(report.load_average_after, 2),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "generator": report.generator,
        "settings": {
            "workers": args.workers,
            "connections": args.connections,
            "warmup_seconds": args.warmup,
            "duration_seconds": args.duration,
            "rounds": args.rounds,
            "reference_pool_sizes": report.reference_pool_sizes,
        },
        "results": [_json_figures(asdict(m)) for m in report.measurements],
        "ratios": [_json_figures(asdict(r)) for r in report.ratios],
    }
    args.json.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")


def _json_figures(record: dict[str, object]) -> dict[str, object]:
    return {key: _json_figure(value) for key, value in record.items()}


def _json_figure(value: object) -> object:
    """Three decimals are past the noise; JSON has no NaN, so an unmeasured figure is null."""
    if isinstance(value, list):
        return [_json_figure(item) for item in value]
    if isinstance(value, dict):
        return _json_figures(value)
    if not isinstance(value, float):
        return value
    return None if math.isnan(value) else round(value, 3)


if __name__ == "__main__":
    raise SystemExit(main())
