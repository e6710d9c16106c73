"""The rate limits routes declare, and the client address they count.

Sign-in attempts (`hit`) are counted in the database in fixed one-minute windows, so every
process on one database shares them, with or without Redis. Hot public paths declare
`RateLimited`, counted by the app's `Limiter` (`app.core.limiter`) in Redis or in memory.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Callable

from sqlalchemy import BigInteger, String, delete
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column
from starlette.requests import HTTPConnection, Request

from app.core.config import Settings
from app.core.db import Base, Database, utcnow
from app.core.errors import TooManyRequests
from app.core.i18n import Text
from app.core.limiter import Limiter, Quota, rate_limits


class RateLimitCounter(Base):
    __tablename__ = "rate_limit_counters"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    window_start: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    count: Mapped[int] = mapped_column(default=0)


def client_address(connection: HTTPConnection) -> str:
    """The caller's address, as `TrustedProxyMiddleware` decided it."""
    return connection.client.host if connection.client else "unknown"


async def hit(database: Database, key: str, *, limit: int, window_seconds: int = 60) -> None:
    """Count one attempt for `key`; 429 with Retry-After once the window's limit is passed.

    Counted in its own transaction: a failed attempt must still count.
    """
    now = utcnow().timestamp()
    window_start = int(now // window_seconds) * window_seconds
    insert = pg_insert if not database.is_sqlite else sqlite_insert
    statement = (
        insert(RateLimitCounter)
        .values(key=key, window_start=window_start, count=1)
        .on_conflict_do_update(
            index_elements=["key", "window_start"],
            set_={"count": RateLimitCounter.count + 1},
        )
        .returning(RateLimitCounter.count)
    )
    async with database.transaction() as session:
        count = int((await session.execute(statement)).scalar_one())
    if count > limit:
        retry_after = math.ceil(window_start + window_seconds - now)
        raise TooManyRequests(retry_after_seconds=retry_after)


async def purge_old_windows(session: AsyncSession, *, older_than_seconds: int = 3600) -> None:
    cutoff = int(utcnow().timestamp()) - older_than_seconds
    await session.execute(delete(RateLimitCounter).where(RateLimitCounter.window_start < cutoff))


class RateLimited:
    """A route dependency (`dependencies=[Depends(RateLimited(...))]`): each request of a
    client address counts against the limits `limits` reads from the settings, and with
    `quota` it also reserves one of the address's quota, given back when the request fails.
    Used up: 429 with Retry-After. The route's OpenAPI entry gets the 429 from `problems`.
    """

    problems = (TooManyRequests,)

    def __init__(
        self,
        name: str,
        limits: Callable[[Settings], str],
        *,
        quota: Callable[[Settings], Quota] | None = None,
        quota_detail: Text | None = None,
    ) -> None:
        self.name = name
        self.limits = limits
        self.quota = quota
        self.quota_detail = quota_detail

    async def __call__(self, request: Request) -> AsyncIterator[None]:
        settings: Settings = request.app.state.settings
        limiter: Limiter = request.app.state.limiter
        address = client_address(request)
        await limiter.hit(self.name, rate_limits(self.limits(settings)), address)
        if self.quota is None:
            yield
            return
        async with limiter.reserve(self.quota(settings), address, self.quota_detail):
            yield
