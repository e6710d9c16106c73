"""CPU-heavy work off the event loop, in one bounded thread pool per process.

A request that computes for 40 ms on the event loop holds up every other request of its
process for as long. Work that releases the interpreter lock while it computes (hashlib's
scrypt, cryptography's RSA) runs here instead, at most `MAX_CONCURRENT` at a time; the rest
waits in the pool's queue without blocking anything else.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import cache, partial
from typing import TypeVar

# Half the cores, at least one: a burst of hashes leaves the event loop a core of its own.
MAX_CONCURRENT = max(1, (os.cpu_count() or 2) // 2)

T = TypeVar("T")


@cache
def _pool() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=MAX_CONCURRENT, thread_name_prefix="rathaus-cpu")


async def run_cpu_bound(function: Callable[..., T], *args: object) -> T:
    """`function(*args)` in the pool; the caller's event loop goes on meanwhile."""
    return await asyncio.get_running_loop().run_in_executor(_pool(), partial(function, *args))
