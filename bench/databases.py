"""Throw-away databases for a benchmark run: created empty, migrated, seeded, removed afterwards."""

from __future__ import annotations

import asyncio
import re
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import asyncpg
from sqlalchemy.engine import make_url

from bench.rathaus import PROJECT_ROOT, BenchError, rathaus_command, rathaus_environment

POSTGRES_CONNECT_TIMEOUT_SECONDS = 5
# Quoted into DROP/CREATE DATABASE, which take no bind parameters.
SAFE_DATABASE_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")


@dataclass(frozen=True)
class Backend:
    name: str
    database_url: str


@contextmanager
def sqlite_backend() -> Iterator[Backend]:
    with tempfile.TemporaryDirectory(prefix="rathaus-bench-") as directory:
        yield Backend("sqlite", f"sqlite+aiosqlite:///{Path(directory) / 'bench.db'}")


@contextmanager
def postgres_backend(admin_dsn: str, database: str) -> Iterator[Backend]:
    """A fresh database `database` on the server `admin_dsn` points at, dropped at the end."""
    if not SAFE_DATABASE_NAME.fullmatch(database):
        raise BenchError(f"{database!r} is not a plain lower-case database name.")
    drop = f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'
    _run_postgres(admin_dsn, drop, f'CREATE DATABASE "{database}"')
    url = make_url(admin_dsn).set(drivername="postgresql+asyncpg", database=database)
    try:
        yield Backend("postgresql", url.render_as_string(hide_password=False))
    finally:
        _run_postgres(admin_dsn, drop)


def postgres_unreachable_reason(admin_dsn: str) -> str | None:
    """None if PostgreSQL answers at `admin_dsn`, else why not."""
    try:
        _run_postgres(admin_dsn, "SELECT 1")
    except (OSError, TimeoutError, asyncpg.PostgresError) as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


def migrate_and_seed(backend: Backend) -> None:
    """`rathaus migrate` and `rathaus seed-demo`, exactly as an operator runs them."""
    _run_rathaus(backend, "migrate", "seed-demo")


def migrate(backend: Backend) -> None:
    """`rathaus migrate` alone, for benches that bring their own data."""
    _run_rathaus(backend, "migrate")


def _run_rathaus(backend: Backend, *commands: str) -> None:
    for command in commands:
        completed = subprocess.run(
            rathaus_command(command),
            cwd=PROJECT_ROOT,
            env=rathaus_environment(backend.database_url),
            capture_output=True,
            text=True,
            check=False,
        )
        if completed.returncode != 0:
            raise BenchError(
                f"`rathaus {command}` failed on {backend.name}:\n{completed.stderr.strip()}"
            )


def _run_postgres(admin_dsn: str, *statements: str) -> None:
    async def run() -> None:
        connection = await asyncpg.connect(admin_dsn, timeout=POSTGRES_CONNECT_TIMEOUT_SECONDS)
        try:
            for statement in statements:
                await connection.execute(statement)
        finally:
            await connection.close()

    asyncio.run(run())
