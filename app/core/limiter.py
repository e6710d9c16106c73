"""Rate limits and quotas per caller for hot public paths, counted in Redis or in memory.

With `RATHAUS_REDIS_URL` every process counts in Redis, so all of them share each budget;
without it each process counts in its own memory. Sign-in attempts are counted in the
database instead (`app.core.ratelimit`): they must be shared even where no Redis runs, and
they are few, while a database write per availability read would cost too much.

A Redis outage never fails a request. The limiter then counts in this process's memory (each
process enforces every limit on its own, so a caller can get at most one budget per process)
and tries Redis again `REDIS_RETRY_SECONDS` later. Turning the limits off for a Redis outage
would let a bot hold every free slot; refusing every request would take the calendar down
with Redis. The outage and the recovery are logged once each, without addresses.

Callers are counted under an HMAC of their address with the secret key: Redis holds no
addresses, and the keys cannot be reversed by trying all IPv4 addresses.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Protocol

import structlog
from limits import RateLimitItem, parse_many
from limits.aio.storage import MemoryStorage, RedisStorage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.errors import StorageError
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from app.core.errors import TooManyRequests
from app.core.i18n import Text

logger = structlog.get_logger("rathaus.ratelimit")

REDIS_TIMEOUT_SECONDS = 0.5
"""A Redis that answers slower than this is treated as down: the request must not wait."""
REDIS_RETRY_SECONDS = 5.0
"""How long after a failure the limiter counts in memory before it asks Redis again."""

_REDIS_FAILURES = (RedisError, StorageError, OSError, TimeoutError)


@lru_cache(maxsize=32)
def rate_limits(text: str) -> tuple[RateLimitItem, ...]:
    """`120/minute`, or several separated by `;` (`20/minute;100/hour`), as limit items."""
    return tuple(parse_many(text))


@dataclass(frozen=True)
class Quota:
    """At most `limit` reservations per caller within any `window_seconds`. A reservation
    whose action failed is given back, so only what succeeded counts."""

    name: str
    limit: int
    window_seconds: int


class _Counters(Protocol):
    async def hit(self, items: Sequence[RateLimitItem], key: str) -> int | None: ...

    async def reserve(self, quota: Quota, key: str, token: str) -> int | None: ...

    async def release(self, key: str, token: str) -> None: ...


def _seconds_until(moment: float) -> int:
    return max(1, math.ceil(moment - time.time()))


class _MovingWindows:
    """Rate limits as moving windows (`limits`): at most n hits in any window of the limit's
    length, so a burst at a window's edge gets no second budget."""

    def __init__(self, limiter: MovingWindowRateLimiter) -> None:
        self.limiter = limiter

    async def hit(self, items: Sequence[RateLimitItem], key: str) -> int | None:
        """None if the hit was counted, else the seconds until it would be."""
        for item in items:
            if not await self.limiter.hit(item, key):
                stats = await self.limiter.get_window_stats(item, key)
                return _seconds_until(stats.reset_time)
        return None


# Reservations are a sorted set per caller: member the reservation, score its time.
_RESERVE = """
local now = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[3]) then
  local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  return tostring(tonumber(oldest[2]) + window)
end
redis.call('ZADD', KEYS[1], now, ARGV[4])
redis.call('EXPIRE', KEYS[1], window)
return false
"""


class RedisCounters(_MovingWindows):
    """Shared by every process that uses the same Redis and key prefix."""

    def __init__(self, url: str, key_prefix: str) -> None:
        self.client: Redis = Redis.from_url(
            url,
            socket_timeout=REDIS_TIMEOUT_SECONDS,
            socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
            # One retry: a pooled connection Redis closed since (a restart) is reopened once.
            retry=Retry(NoBackoff(), retries=1),
        )
        # One pool for the limits and the quotas (`limits` types its options too narrowly).
        shared_pool: dict[str, Any] = {"connection_pool": self.client.connection_pool}
        storage = RedisStorage(
            "async+redis://",
            implementation="redispy",
            key_prefix=key_prefix,
            wrap_exceptions=True,
            **shared_pool,
        )
        super().__init__(MovingWindowRateLimiter(storage))
        self.key_prefix = key_prefix
        self._reserve = self.client.register_script(_RESERVE)

    async def reserve(self, quota: Quota, key: str, token: str) -> int | None:
        free_at = await self._reserve(
            keys=[self._quota_key(key)],
            args=[time.time(), quota.window_seconds, quota.limit, token],
        )
        return None if free_at is None else _seconds_until(float(free_at))

    async def release(self, key: str, token: str) -> None:
        await self.client.zrem(self._quota_key(key), token)

    def _quota_key(self, key: str) -> str:
        return f"{self.key_prefix}:quota/{key}"

    async def close(self) -> None:
        await self.client.aclose()


class MemoryCounters(_MovingWindows):
    """This process's own counts: without Redis, and while Redis is unreachable."""

    def __init__(self) -> None:
        super().__init__(MovingWindowRateLimiter(MemoryStorage()))
        self.reservations: dict[str, dict[str, float]] = {}
        """Per quota and caller (the key): when each reservation ends."""
        self._swept_at = 0.0

    async def reserve(self, quota: Quota, key: str, token: str) -> int | None:
        now = time.time()
        self._sweep(now)
        held = self.reservations.setdefault(key, {})
        for other, ends_at in list(held.items()):
            if ends_at <= now:
                del held[other]
        if len(held) >= quota.limit:
            return _seconds_until(min(held.values()))
        held[token] = now + quota.window_seconds
        return None

    async def release(self, key: str, token: str) -> None:
        self.reservations.get(key, {}).pop(token, None)

    def _sweep(self, now: float) -> None:
        """Forget callers whose reservations have all ended, once a minute at most."""
        if now - self._swept_at < 60:
            return
        self._swept_at = now
        for key, held in list(self.reservations.items()):
            if max(held.values(), default=0.0) <= now:
                del self.reservations[key]


class Limiter:
    """Counts callers against rate limits and quotas; `TooManyRequests` (429 with
    Retry-After) once one is used up. Disabled (`RATHAUS_ANTI_AUTOMATION=false`), it counts
    nothing."""

    def __init__(
        self,
        *,
        redis_url: str | None,
        key_prefix: str,
        key_secret: str,
        enabled: bool = True,
    ) -> None:
        self.enabled = enabled
        self.shared = RedisCounters(redis_url, key_prefix) if redis_url and enabled else None
        self.local = MemoryCounters()
        self._key_secret = key_secret.encode()
        self._redis_down_until = 0.0
        self._redis_down = False

    async def hit(
        self, name: str, items: Sequence[RateLimitItem], caller: str, detail: Text | None = None
    ) -> None:
        """Count one request of `caller` against the limits `name`; `TooManyRequests` with
        `detail` once one of them is used up."""
        if not self.enabled:
            return
        key = self._key(name, caller)
        counters = self._counters()
        if counters is not None:
            try:
                retry_after = await counters.hit(items, key)
            except _REDIS_FAILURES as exc:
                self._redis_failed(exc)
            else:
                self._redis_answered()
                self._refuse_if_waiting(retry_after, detail)
                return
        self._refuse_if_waiting(await self.local.hit(items, key), detail)

    @asynccontextmanager
    async def reserve(
        self, quota: Quota, caller: str, detail: Text | None = None
    ) -> AsyncIterator[None]:
        """Reserve one of `caller`'s quota for the body, given back if the body raises;
        `TooManyRequests` with `detail` while none is left."""
        if not self.enabled:
            yield
            return
        key = self._key(quota.name, caller)
        token = uuid.uuid4().hex
        counters: _Counters = self._counters() or self.local
        try:
            retry_after = await counters.reserve(quota, key, token)
        except _REDIS_FAILURES as exc:
            self._redis_failed(exc)
            counters = self.local
            retry_after = await counters.reserve(quota, key, token)
        else:
            if counters is self.shared:
                self._redis_answered()
        self._refuse_if_waiting(retry_after, detail)
        try:
            yield
        except BaseException:
            await self._release(counters, key, token)
            raise

    async def close(self) -> None:
        if self.shared is not None:
            await self.shared.close()

    def _counters(self) -> RedisCounters | None:
        """Redis, unless it failed less than REDIS_RETRY_SECONDS ago."""
        if self.shared is None or time.monotonic() < self._redis_down_until:
            return None
        return self.shared

    async def _release(self, counters: _Counters, key: str, token: str) -> None:
        try:
            await counters.release(key, token)
        except _REDIS_FAILURES as exc:
            # The reservation stays until its window ends: the caller gets less, never more.
            self._redis_failed(exc)

    def _redis_failed(self, exc: BaseException) -> None:
        self._redis_down_until = time.monotonic() + REDIS_RETRY_SECONDS
        if not self._redis_down:
            self._redis_down = True
            logger.warning(
                "ratelimit.redis_unavailable",
                error_type=type(exc).__name__,
                fallback="process_memory",
                retry_seconds=REDIS_RETRY_SECONDS,
            )

    def _redis_answered(self) -> None:
        if self._redis_down:
            self._redis_down = False
            logger.info("ratelimit.redis_recovered")

    def _key(self, name: str, caller: str) -> str:
        digest = hmac.new(self._key_secret, caller.encode(), hashlib.sha256).hexdigest()
        return f"{name}/{digest[:32]}"

    @staticmethod
    def _refuse_if_waiting(retry_after: int | None, detail: Text | None) -> None:
        if retry_after is not None:
            raise TooManyRequests(retry_after_seconds=retry_after, detail=detail)
