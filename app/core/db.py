"""Database engine, session factory and declarative base shared by every domain.

SQLite is the embedded default. Its driver's own transaction handling is switched off so
that we emit `BEGIN` ourselves: `BEGIN IMMEDIATE` for sessions that write, which takes the
write lock up front and lets `busy_timeout` queue concurrent writers instead of failing
with "database is locked" half-way through a transaction.

Three ways to reach the database:
* writing sessions (`Database.session()`), one transaction each;
* read-only sessions (`session(read_only=True)`): a deferred `BEGIN` on SQLite, `BEGIN READ
  ONLY` on PostgreSQL, and never a commit;
* plain read connections (`read_connection()`) for hot read paths in SQLAlchemy Core: no
  transaction at all (autocommit), so one `SELECT` is one round trip. Only `SELECT`s may run
  on them.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import DateTime, MetaData, TypeDecorator, event
from sqlalchemy.engine import Dialect, make_url
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.pool import NullPool

from app.core.config import Settings

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

READ_ONLY_OPTION = "rathaus_read_only"
PLAIN_READ_OPTION = "rathaus_plain_read"
# RFC 5321 limits a forward path to 256 octets, which leaves 254 for the address itself; the
# e-mail validator refuses anything longer.
EMAIL_LENGTH = 254


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware datetimes, stored in UTC on both backends (SQLite has no time zones)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored; pass an aware datetime")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UTCDateTime()}


class UUIDPrimaryKey:
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4, sort_order=-1)


def utcnow() -> datetime:
    return datetime.now(UTC)


def rowcount(result: object) -> int:
    """Rows an UPDATE or DELETE matched (drivers report it on the result)."""
    return int(getattr(result, "rowcount", 0) or 0)


def _install_sqlite_hooks(engine: AsyncEngine, busy_timeout_ms: int) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        options = conn.get_execution_options()
        if options.get(PLAIN_READ_OPTION, False):
            return
        conn.exec_driver_sql("BEGIN" if options.get(READ_ONLY_OPTION, False) else "BEGIN IMMEDIATE")


def _refuse_writes_outside_a_transaction(engine: AsyncEngine) -> None:
    """A plain read connection commits every statement at once, so it runs only SELECTs."""

    @event.listens_for(engine.sync_engine, "before_cursor_execute")
    def _check(conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if conn.get_execution_options().get(PLAIN_READ_OPTION, False) and not _is_select(statement):
            raise PlainReadWrite(f"only SELECT on a plain read connection, not {statement[:20]!r}")


def _is_select(statement: str) -> bool:
    keyword = statement.lstrip()[:6].upper()
    return keyword == "SELECT" or keyword.startswith("WITH")


class PlainReadWrite(RuntimeError):
    """Code tried to change data through a plain read connection."""


def create_engine(settings: Settings, *, pooled: bool = True) -> AsyncEngine:
    """The process's engine. The pool keeps `Settings.pool_size` connections, with half as
    many again as overflow: a pool smaller than the requests one process serves at
    once would close and reopen connections under load. Connections are not pinged at
    checkout (a round trip per request); a broken one fails its request with 503, is
    discarded, and `pool_recycle` retires old ones before a server or proxy drops them."""
    url = settings.database_url
    kwargs: dict[str, Any] = {"hide_parameters": True}
    if not pooled:
        kwargs["poolclass"] = NullPool
    elif make_url(url).database not in (None, "", ":memory:"):
        kwargs.update(
            pool_size=settings.pool_size,
            max_overflow=settings.pool_size // 2,
            pool_recycle=1800,
        )
    if url.startswith("sqlite"):
        # Connections are rolled back by SQLAlchemy whenever they end a transaction; a second
        # rollback on their way back into the pool would only cost a trip to aiosqlite's thread.
        engine = create_async_engine(url, pool_reset_on_return=None, **kwargs)
        _install_sqlite_hooks(engine, settings.sqlite_busy_timeout_ms)
    else:
        engine = create_async_engine(url, **kwargs)
    _refuse_writes_outside_a_transaction(engine)
    return engine


class Database:
    """Owns the engine and hands out sessions; one per process."""

    commits = True
    """Whether its transactions commit, so that other connections see their writes and
    commit-time triggers run: what answers kept between requests rely on. (Tests that roll
    everything back at the end say False.)"""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.is_sqlite = engine.dialect.name == "sqlite"
        read_only: dict[str, Any] = {READ_ONLY_OPTION: True}
        plain: dict[str, Any] = {PLAIN_READ_OPTION: True}
        if not self.is_sqlite:
            read_only["postgresql_readonly"] = True
            plain["isolation_level"] = "AUTOCOMMIT"
        self.read_engine = engine.execution_options(**read_only)
        self.plain_read_engine = engine.execution_options(**plain)
        self._write = async_sessionmaker(engine, expire_on_commit=False, autoflush=False)
        self._read = async_sessionmaker(self.read_engine, expire_on_commit=False, autoflush=False)

    def session(self, *, read_only: bool = False) -> AsyncSession:
        return (self._read if read_only else self._write)()

    @asynccontextmanager
    async def transaction(self, *, read_only: bool = False) -> AsyncIterator[AsyncSession]:
        """One unit of work outside a request (jobs, CLI): commit on success, else roll back."""
        async with self.session(read_only=read_only) as session:
            try:
                yield session
                await session.commit()
            except BaseException:
                await session.rollback()
                raise

    async def read_connection(self) -> AsyncConnection:
        """A plain read connection (see the module's docstring); give it back with `release`."""
        return await self.plain_read_engine.connect()

    async def release(self, connection: AsyncConnection) -> None:
        await connection.close()

    async def dispose(self) -> None:
        await self.engine.dispose()
