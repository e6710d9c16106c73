"""One unit of work per request: one session, committed once on success, else rolled back.

A route that writes asks for `WriteSession`; every other route gets a read-only unit of work,
which never commits.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from starlette.responses import Response

from app.core.db import Database

BeforeCommit = Callable[[AsyncSession, Response], Awaitable[None]]
AfterRollback = Callable[[], Awaitable[None]]
AfterCommit = Callable[[], Awaitable[None]]


class UnitOfWork:
    def __init__(self, database: Database, *, read_only: bool) -> None:
        self._database = database
        self.read_only = read_only
        self._session: AsyncSession | None = None
        self._connection: AsyncConnection | None = None
        self._before_commit: list[BeforeCommit] = []
        self._after_commit: list[AfterCommit] = []
        self._after_rollback: list[AfterRollback] = []

    @property
    def session(self) -> AsyncSession:
        if self._session is None:
            self._session = self._database.session(read_only=self.read_only)
        return self._session

    async def connection(self) -> AsyncConnection:
        """A plain read-only connection, for hot read paths written in SQLAlchemy Core: no
        session, no identity map, no transaction to begin or end."""
        if self._connection is None:
            self._connection = await self._database.read_connection()
        return self._connection

    async def give_back_connection(self) -> None:
        """Return the plain read connection to the pool before work that needs a connection
        of its own (a short write transaction): a request never holds two, so a burst of
        such requests cannot take the whole pool and wait on each other. `connection()`
        takes a fresh one afterwards."""
        if self._connection is not None:
            connection, self._connection = self._connection, None
            await self._database.release(connection)

    def before_commit(self, hook: BeforeCommit) -> None:
        """Run inside the transaction, with the response about to be sent."""
        self._before_commit.append(hook)

    def after_commit(self, hook: AfterCommit) -> None:
        self._after_commit.append(hook)

    def after_rollback(self, hook: AfterRollback) -> None:
        self._after_rollback.append(hook)

    async def commit(self, response: Response) -> None:
        """Commit, or, if a hook or the commit itself fails, roll back as any failure does."""
        try:
            for hook in self._before_commit:
                await hook(self.session, response)
            await self._commit_session()
        except BaseException:
            await self.rollback()
            raise
        # The hooks run in transactions of their own: not while holding this request's read
        # connection (see `give_back_connection`).
        await self.give_back_connection()
        for after in self._after_commit:
            await after()

    async def commit_refusal(self) -> None:
        """Commit what a refusal itself changed (a replayed code revokes its session), without
        the hooks that belong to a successful response: no stored idempotent reply."""
        try:
            await self._commit_session()
        except BaseException:
            await self.rollback()
            raise
        await self.give_back_connection()
        for hook in self._after_rollback:
            await hook()

    async def _commit_session(self) -> None:
        if self._session is None:
            return
        if self.read_only:
            await self._session.rollback()
            return
        await self._session.commit()

    async def rollback(self) -> None:
        if self._session is not None:
            await self._session.rollback()
        await self.give_back_connection()
        for hook in self._after_rollback:
            await hook()

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
        if self._connection is not None:
            await self._database.release(self._connection)


def get_uow(request: Request) -> UnitOfWork:
    uow: UnitOfWork = request.state.uow
    return uow


async def get_session(request: Request) -> AsyncSession:
    """The request's writing session. Services flush; the request commits once at the end."""
    return get_uow(request).session


async def get_read_session(request: Request) -> AsyncSession:
    """The request's session for a route that only reads: nothing it does is committed."""
    return get_uow(request).session


async def get_read_connection(request: Request) -> AsyncConnection:
    """The request's plain connection for Core reads; the route stays read-only."""
    return await get_uow(request).connection()


async def get_read_unit(request: Request) -> UnitOfWork:
    """The request's read-only unit of work, for a route that takes a connection only when
    it needs one (`await uow.connection()`): an answer kept in memory costs no checkout."""
    return get_uow(request)


WriteSession = Annotated[AsyncSession, Depends(get_session)]
ReadSession = Annotated[AsyncSession, Depends(get_read_session)]
ReadConnection = Annotated[AsyncConnection, Depends(get_read_connection)]
ReadUnit = Annotated[UnitOfWork, Depends(get_read_unit)]
