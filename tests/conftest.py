"""Shared fixtures. Every database fixture is parametrised over SQLite and PostgreSQL.

* `database_url`: one migrated database per backend and test worker (`alembic upgrade head`).
* `engine`: the worker's engine for the test's settings, kept for the whole run (see `Engines`).
* `db`: a `Database` whose sessions live inside one outer transaction, rolled back after the
  test. Services and requests still commit; they only release a savepoint.
* `committed_db`: a real, pooled `Database` for concurrency tests; the rows it leaves are
  deleted after the test.
* `app` / `committed_app`: the app for the test's settings on `db` / `committed_db`, lent for
  the test and put back as it was (see `SharedApps`).
* `client` / `committed_client`: httpx driving the app through `ASGITransport`.

Every test and async fixture runs on one event loop per worker (`asyncio_default_*_loop_scope`
in pyproject.toml), the loop the shared engines' connections belong to; tasks a test leaves
running are cancelled after it, as a loop of its own would have done.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager, suppress
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from redis.asyncio import Redis
from redis.exceptions import RedisError
from sqlalchemy import exists, literal, select, text, union_all
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

    commits = False

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


@pytest.fixture(autouse=True)
async def _cancel_tasks_left_running() -> AsyncIterator[None]:
    """A task a test leaves behind (a worker it never stopped) must not run into the next test."""
    before = asyncio.all_tasks()
    yield
    left = asyncio.all_tasks() - before - {asyncio.current_task()}
    for task in left:
        task.cancel()
    for task in left:
        with suppress(BaseException):
            await task


class Engines:
    """The test worker's engines, one per database and pool setting, kept for the whole run.

    An engine per test would open new connections for every test and, on PostgreSQL, repeat
    the dialect's first-connect queries and forget its compiled statements each time.
    """

    def __init__(self) -> None:
        self._engines: dict[tuple[str, int, int], AsyncEngine] = {}

    def for_settings(self, settings: Settings) -> AsyncEngine:
        # What `create_engine` reads from the settings.
        key = (settings.database_url, settings.pool_size, settings.sqlite_busy_timeout_ms)
        if key not in self._engines:
            self._engines[key] = create_engine(settings)
        return self._engines[key]

    async def dispose(self) -> None:
        for engine in self._engines.values():
            await engine.dispose()


@pytest.fixture(scope="session")
async def engines(database_url: str) -> AsyncIterator[Engines]:
    """Per backend, so that its engines are closed before its database is dropped."""
    engines = Engines()
    yield engines
    await engines.dispose()


@pytest.fixture
def engine(settings: Settings, engines: Engines) -> AsyncEngine:
    return engines.for_settings(settings)


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
    """Empty every table that has rows; asking which ones is far cheaper than emptying all."""
    tables = Base.metadata.sorted_tables
    filled = union_all(*(select(literal(t.name)).where(exists().select_from(t)) for t in tables))
    async with engine.begin() as connection:
        names = set((await connection.execute(filled)).scalars())
        if not names:
            return
        if engine.dialect.name == "postgresql":
            listed = ", ".join(f'"{name}"' for name in sorted(names))
            await connection.execute(text(f"TRUNCATE {listed} RESTART IDENTITY CASCADE"))
            return
        for table in reversed(tables):
            if table.name in names:
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


def _structure(app: FastAPI) -> tuple[Any, ...]:
    """What a test may change about an app besides its state and dependency overrides."""
    return (
        [id(route) for route in app.router.routes],
        list(app.user_middleware),
        dict(app.exception_handlers),
        app.openapi,
    )


class SharedApps:
    """The test worker's apps, one per distinct `Settings`, each lent to one test at a time.

    `create_app` itself is quick, but FastAPI builds the validators of every route a request is
    matched against on an app's first requests: a tenth of a second for a sign-in, in every
    test. So each test gets a new app's state and lifespan (its database, settings, signing
    key, providers and anything else `create_app` keeps there) on an app whose routes have
    already been matched. Dependency overrides are cleared after the test; an app whose routes,
    middleware, exception handlers or OpenAPI function the test changed is not lent again.
    """

    def __init__(self) -> None:
        self._idle: list[tuple[Settings, FastAPI]] = []

    @contextmanager
    def lend(self, settings: Settings, database: Database) -> Iterator[FastAPI]:
        new = create_app(settings, database=database)
        app = self._take(settings) or new
        if app is not new:
            app.state = new.state
            app.router.lifespan_context = new.router.lifespan_context
        structure = _structure(app)
        try:
            yield app
        finally:
            app.dependency_overrides.clear()
            if _structure(app) == structure:
                self._idle.append((settings, app))

    def _take(self, settings: Settings) -> FastAPI | None:
        for index, (built_for, app) in enumerate(self._idle):
            if built_for == settings:
                del self._idle[index]
                return app
        return None


@pytest.fixture(scope="session")
def shared_apps() -> SharedApps:
    return SharedApps()


@pytest.fixture
def app(settings: Settings, db: Database, shared_apps: SharedApps) -> Iterator[FastAPI]:
    with shared_apps.lend(settings, db) as app:
        yield app


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(app) as client:
        yield client


@pytest.fixture
def committed_app(
    settings: Settings, committed_db: Database, shared_apps: SharedApps
) -> Iterator[FastAPI]:
    with shared_apps.lend(settings, committed_db) as app:
        yield app


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
