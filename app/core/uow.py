"""One unit of work per request: one session, committed once on success, else rolled back."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import Request
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.responses import Response

from app.core.db import Database

BeforeCommit = Callable[[AsyncSession, Response], Awaitable[None]]
AfterRollback = Callable[[], Awaitable[None]]
AfterCommit = Callable[[], Awaitable[None]]


class UnitOfWork:
    def __init__(self, database: Database, *, read_only: bool) -> None:
        self._database = database
        self._read_only = read_only
        self._session: AsyncSession | None = None
        self._before_commit: list[BeforeCommit] = []
        self._after_commit: list[AfterCommit] = []
        self._after_rollback: list[AfterRollback] = []

    @property
    def session(self) -> AsyncSession:
        if self._session is None:
            self._session = self._database.session(read_only=self._read_only)
        return self._session

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
            if self._session is not None:
                await self._session.commit()
        except BaseException:
            await self.rollback()
            raise
        for after in self._after_commit:
            await after()

    async def rollback(self) -> None:
        if self._session is not None:
            await self._session.rollback()
        for hook in self._after_rollback:
            await hook()

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()


def get_uow(request: Request) -> UnitOfWork:
    uow: UnitOfWork = request.state.uow
    return uow


def get_session(request: Request) -> AsyncSession:
    """The request's session. Services flush; the request commits once at the end."""
    return get_uow(request).session
