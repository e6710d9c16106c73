"""The limiter behind `RateLimited`: several limits at once, reservations given back, and
what Redis holds about a caller; against the real Redis and in memory alike."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from app.core.errors import TooManyRequests
from app.core.limiter import Limiter, Quota, rate_limits

CALLER = "203.0.113.7"
STORES = ["redis", "memory"]


@pytest.fixture(params=STORES)
async def limiter(
    request: pytest.FixtureRequest, shared_redis: dict[str, str]
) -> AsyncIterator[Limiter]:
    redis_url = shared_redis["redis_url"] if request.param == "redis" else None
    limiter = Limiter(
        redis_url=redis_url,
        key_prefix=shared_redis["redis_key_prefix"],
        key_secret="k" * 32,
    )
    yield limiter
    await limiter.close()


async def refused_after(limiter: Limiter, text: str, attempts: int) -> list[int | None]:
    """Per attempt: None when counted, else its Retry-After."""
    outcomes: list[int | None] = []
    for _ in range(attempts):
        try:
            await limiter.hit("reads", rate_limits(text), CALLER)
        except TooManyRequests as refused:
            outcomes.append(int(refused.headers["Retry-After"]))
        else:
            outcomes.append(None)
    return outcomes


async def test_every_limit_of_a_setting_applies_and_the_binding_one_sets_retry_after(
    limiter: Limiter,
) -> None:
    outcomes = await refused_after(limiter, "5/minute;2/hour", 3)

    assert outcomes[:2] == [None, None]
    assert outcomes[2] is not None
    assert 3590 <= outcomes[2] <= 3600


async def test_a_reservation_whose_action_failed_is_given_back(limiter: Limiter) -> None:
    quota = Quota("holds", limit=1, window_seconds=600)

    with pytest.raises(LookupError):
        async with limiter.reserve(quota, CALLER):
            raise LookupError("the slot was taken")
    async with limiter.reserve(quota, CALLER):
        pass
    with pytest.raises(TooManyRequests) as refused:
        async with limiter.reserve(quota, CALLER):
            pass

    assert 590 <= int(refused.value.headers["Retry-After"]) <= 600


async def test_reservations_end_with_their_window(limiter: Limiter) -> None:
    quota = Quota("holds", limit=1, window_seconds=1)

    async with limiter.reserve(quota, CALLER):
        pass
    await asyncio.sleep(1.1)
    async with limiter.reserve(quota, CALLER):
        pass


async def test_redis_keys_name_no_client_address(shared_redis: dict[str, str]) -> None:
    limiter = Limiter(
        redis_url=shared_redis["redis_url"],
        key_prefix=shared_redis["redis_key_prefix"],
        key_secret="k" * 32,
    )
    await limiter.hit("reads", rate_limits("10/minute"), CALLER)
    async with limiter.reserve(Quota("holds", limit=1, window_seconds=60), CALLER):
        pass
    await limiter.close()

    client = Redis.from_url(shared_redis["redis_url"])
    keys = [key.decode() async for key in client.scan_iter(f"{shared_redis['redis_key_prefix']}:*")]
    await client.aclose()
    assert len(keys) == 2
    assert not any(CALLER in key for key in keys)
