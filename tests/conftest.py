"""Shared fixtures. Every database fixture is parametrised over SQLite and PostgreSQL.

* `database_url`: one migrated database per backend and test worker (`alembic upgrade head`).
* `db`: a `Database` whose sessions live inside one outer transaction, rolled back after the
  test. Services and requests still commit; they only release a savepoint.
* `committed_db`: a real, pooled `Database` for concurrency tests; its rows are deleted after
  the test.
* `client` / `committed_client`: httpx driving the app through `ASGITransport`.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from redis.asyncio import Redis
from redis.exceptions import RedisError
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession

from app.core.config import Environment, Settings
from app.core.db import Database, create_engine
from app.core.migrations import upgrade
from app.main import create_app
from app.models import Base

PG_HOST = os.environ.get("RATHAUS_TEST_PG_HOST", "127.0.0.1")
PG_PORT = int(os.environ.get("RATHAUS_TEST_PG_PORT", "5432"))
PG_USER = os.environ.get("RATHAUS_TEST_PG_USER", "postgres")
REQUIRE_POSTGRES = os.environ.get("RATHAUS_TEST_REQUIRE_POSTGRES") == "1"
REDIS_URL = os.environ.get("RATHAUS_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
BACKENDS = ["sqlite", "postgresql"]


def pg_admin_dsn(database: str = "postgres") -> str:
    return f"postgresql://{PG_USER}@{PG_HOST}:{PG_PORT}/{database}"


def pg_url(database: str) -> str:
    return f"postgresql+asyncpg://{PG_USER}@{PG_HOST}:{PG_PORT}/{database}"


async def _pg_execute(*statements: str) -> None:
    connection = await asyncpg.connect(pg_admin_dsn(), timeout=5)
    try:
        for statement in statements:
            await connection.execute(statement)
    finally:
        await connection.close()


def _postgres_reachable() -> str | None:
    """None if PostgreSQL answers, else why not."""
    try:
        asyncio.run(_pg_execute("SELECT 1"))
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


def _require_or_skip_postgres() -> None:
    reason = _postgres_reachable()
    if reason is None:
        return
    message = f"PostgreSQL at {PG_HOST}:{PG_PORT} is not reachable ({reason})"
    if REQUIRE_POSTGRES:
        pytest.fail(message + "; RATHAUS_TEST_REQUIRE_POSTGRES=1 demands it.", pytrace=False)
    pytest.skip(message + ": the PostgreSQL half of the suite is skipped.")


def create_pg_database(name: str) -> str:
    asyncio.run(
        _pg_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)', f'CREATE DATABASE "{name}"')
    )
    return pg_url(name)


def drop_pg_database(name: str) -> None:
    asyncio.run(_pg_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(scope="session", params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    if request.param == "postgresql":
        _require_or_skip_postgres()
    return str(request.param)


@pytest.fixture(scope="session")
def database_url(
    backend: str, tmp_path_factory: pytest.TempPathFactory, worker_id: str
) -> Iterator[str]:
    """A freshly migrated database for this backend and test worker."""
    if backend == "sqlite":
        path = tmp_path_factory.mktemp("sqlite") / f"rathaus-{worker_id}.db"
        url = f"sqlite+aiosqlite:///{path}"
        upgrade(url)
        yield url
        return
    # The pid keeps concurrent test runs on one machine out of each other's way.
    name = f"rathaus_test_{worker_id}_{os.getpid()}"
    url = create_pg_database(name)
    upgrade(url)
    yield url
    drop_pg_database(name)


@pytest.fixture
def fresh_database_url(backend: str, tmp_path: Path, worker_id: str) -> Iterator[str]:
    """An empty, unmigrated database of this backend for one test (migrations, CLI)."""
    if backend == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'fresh.db'}"
        return
    name = f"rathaus_fresh_{worker_id}_{os.getpid()}"
    yield create_pg_database(name)
    drop_pg_database(name)


@pytest.fixture
async def shared_redis() -> AsyncIterator[dict[str, str]]:
    """Settings that count rate limits in the real Redis (`make test` starts it), under a key
    prefix of this test alone, so parallel workers and other checkouts never share a count;
    the test's keys are deleted afterwards."""
    prefix = f"rathaus-test-{uuid.uuid4().hex}"
    client = Redis.from_url(REDIS_URL)
    try:
        await client.ping()
    except (RedisError, OSError) as exc:
        await client.aclose()
        pytest.fail(f"Redis at {REDIS_URL} is not reachable ({exc}).", pytrace=False)
    yield {"redis_url": REDIS_URL, "redis_key_prefix": prefix}
    keys = [key async for key in client.scan_iter(match=f"{prefix}:*")]
    if keys:
        await client.delete(*keys)
    await client.aclose()


def make_settings(database_url: str, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "database_url": database_url,
        "env": Environment.test,
        "worker_in_process": False,
        "log_json": True,
        "job_lease_seconds": 5,
        "worker_poll_seconds": 0.05,
    }
    values.update(overrides)
    return Settings.model_validate(values)


@pytest.fixture
def settings(database_url: str) -> Settings:
    return make_settings(database_url)


class RolledBackDatabase(Database):
    """Sessions joined to one outer transaction; their commits only release savepoints."""

    def __init__(self, engine: AsyncEngine, connection: AsyncConnection) -> None:
        super().__init__(engine)
        self.connection = connection

    def session(self, *, read_only: bool = False) -> AsyncSession:
        return AsyncSession(
            bind=self.connection,
            join_transaction_mode="create_savepoint",
            expire_on_commit=False,
            autoflush=False,
        )

    async def read_connection(self) -> AsyncConnection:
        return self.connection

    async def release(self, connection: AsyncConnection) -> None:
        """The outer connection stays open for the rest of the test."""


@pytest.fixture
async def engine(settings: Settings) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(settings)
    yield engine
    await engine.dispose()


@pytest.fixture
async def db(engine: AsyncEngine) -> AsyncIterator[Database]:
    async with engine.connect() as connection:
        transaction = await connection.begin()
        yield RolledBackDatabase(engine, connection)
        await transaction.rollback()


@pytest.fixture
async def session(db: Database) -> AsyncIterator[AsyncSession]:
    async with db.session() as session:
        yield session


async def delete_all_rows(engine: AsyncEngine) -> None:
    async with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            names = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
            await connection.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
            return
        for table in reversed(Base.metadata.sorted_tables):
            await connection.execute(table.delete())


@pytest.fixture
async def committed_db(engine: AsyncEngine) -> AsyncIterator[Database]:
    """Real transactions, for tests that need several connections at once."""
    await delete_all_rows(engine)
    database = Database(engine)
    yield database
    await delete_all_rows(engine)


@asynccontextmanager
async def client_for(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


@pytest.fixture
def app(settings: Settings, db: Database) -> FastAPI:
    return create_app(settings, database=db)


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(app) as client:
        yield client


@pytest.fixture
def committed_app(settings: Settings, committed_db: Database) -> FastAPI:
    return create_app(settings, database=committed_db)


@pytest.fixture
async def committed_client(committed_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(committed_app) as client:
        yield client


def rathaus_bin() -> Path:
    """The installed console script, next to the running interpreter."""
    import sys

    candidate = Path(sys.executable).parent / "rathaus"
    if candidate.exists():
        return candidate
    found = shutil.which("rathaus")
    assert found, "the rathaus console script is not installed"
    return Path(found)


def run_cli(
    *args: str, env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("RATHAUS_")}
    full_env.update(env or {})
    return subprocess.run(
        [str(rathaus_bin()), *args],
        capture_output=True,
        text=True,
        env=full_env,
        timeout=timeout,
        check=False,
    )
