"""Database engine, session factory and declarative base shared by every domain.

SQLite is the embedded default. Its driver's own transaction handling is switched off so
that we emit `BEGIN` ourselves: `BEGIN IMMEDIATE` for sessions that write, which takes the
write lock up front and lets `busy_timeout` queue concurrent writers instead of failing
with "database is locked" half-way through a transaction.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import DateTime, MetaData, TypeDecorator, event
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import (
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
        read_only = conn.get_execution_options().get(READ_ONLY_OPTION, False)
        conn.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")


def create_engine(settings: Settings, *, pooled: bool = True) -> AsyncEngine:
    url = settings.database_url
    if url.startswith("sqlite"):
        engine = create_async_engine(
            url, poolclass=NullPool if not pooled else None, hide_parameters=True
        )
        _install_sqlite_hooks(engine, settings.sqlite_busy_timeout_ms)
        return engine
    kwargs: dict[str, Any] = {"pool_pre_ping": True, "pool_recycle": 1800, "hide_parameters": True}
    if pooled:
        kwargs.update(
            pool_size=settings.database_pool_size, max_overflow=settings.database_pool_size
        )
    else:
        kwargs["poolclass"] = NullPool
    return create_async_engine(url, **kwargs)


class Database:
    """Owns the engine and hands out sessions; one per process."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.is_sqlite = engine.dialect.name == "sqlite"
        self.read_engine = engine.execution_options(**{READ_ONLY_OPTION: True})
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

    async def dispose(self) -> None:
        await self.engine.dispose()
