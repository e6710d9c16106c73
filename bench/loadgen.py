"""A small HTTP/1.1 load generator: keep-alive connections on asyncio streams, loopback only.

It is deliberately thin (no HTTP library, one `GET`, `Content-Length` bodies only) so that on a
small machine it takes as little CPU as possible away from the server it measures.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Coroutine, Mapping
from dataclasses import dataclass, field
from typing import TypeVar

import uvloop

LOOPBACK = "127.0.0.1"
REQUEST_TIMEOUT_SECONDS = 5.0
RECONNECT_PAUSE_SECONDS = 0.05

T = TypeVar("T")


class ProtocolError(Exception):
    """The server answered with something this client does not read (e.g. a chunked body)."""


@dataclass(frozen=True)
class Response:
    status: int
    body: bytes
    keep_alive: bool


@dataclass
class LoadResult:
    """What one scenario measured: latencies of 2xx answers and a count of everything else."""

    duration_seconds: float
    latencies_seconds: list[float] = field(default_factory=list)
    errors: int = 0

    @property
    def requests(self) -> int:
        return len(self.latencies_seconds)

    @property
    def requests_per_second(self) -> float:
        return self.requests / self.duration_seconds

    def percentile_ms(self, fraction: float) -> float:
        """Nearest-rank percentile, in milliseconds; NaN when nothing succeeded."""
        if not self.latencies_seconds:
            return math.nan
        ordered = sorted(self.latencies_seconds)
        rank = max(math.ceil(fraction * len(ordered)), 1)
        return ordered[rank - 1] * 1000


def build_request(port: int, path: str, headers: Mapping[str, str] | None = None) -> bytes:
    extra = "".join(f"{name}: {value}\r\n" for name, value in (headers or {}).items())
    return (
        f"GET {path} HTTP/1.1\r\nHost: {LOOPBACK}:{port}\r\nAccept: application/json\r\n{extra}\r\n"
    ).encode("ascii")


async def read_response(reader: asyncio.StreamReader) -> Response:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.LimitOverrunError as exc:
        raise ProtocolError("response head too long") from exc
    status_line, *header_lines = head[:-4].split(b"\r\n")
    headers = {}
    for line in header_lines:
        name, _, value = line.partition(b":")
        headers[name.strip().lower()] = value.strip().lower()
    try:
        status = int(status_line.split(b" ", 2)[1])
        length = int(headers[b"content-length"])
    except (IndexError, KeyError, ValueError) as exc:
        raise ProtocolError("no status code or no Content-Length") from exc
    body = await reader.readexactly(length)
    return Response(status, body, keep_alive=headers.get(b"connection") != b"close")


async def fetch(port: int, path: str) -> Response:
    """One request on a fresh connection: readiness probes and sanity checks."""
    reader, writer = await asyncio.open_connection(LOOPBACK, port)
    try:
        writer.write(build_request(port, path))
        async with asyncio.timeout(REQUEST_TIMEOUT_SECONDS):
            return await read_response(reader)
    finally:
        writer.close()


async def _connection_loop(
    port: int, request: bytes, measure_until: float, result: LoadResult
) -> None:
    """Send requests back to back on one keep-alive connection until `measure_until`.

    Answers that arrive after it are the tail still in flight when the window closed: not
    counted. Warming up is a run of its own, so that the caller can read the server's CPU
    time between the two.
    """
    clock = time.perf_counter
    writer: asyncio.StreamWriter | None = None
    try:
        while clock() < measure_until:
            if writer is None:
                try:
                    reader, writer = await asyncio.open_connection(LOOPBACK, port)
                except OSError:
                    result.errors += 1
                    await asyncio.sleep(RECONNECT_PAUSE_SECONDS)
                    continue
            sent_at = clock()
            try:
                writer.write(request)
                async with asyncio.timeout(REQUEST_TIMEOUT_SECONDS):
                    response = await read_response(reader)
            except (OSError, TimeoutError, asyncio.IncompleteReadError, ProtocolError):
                result.errors += 1
                writer.close()
                writer = None
                continue
            received_at = clock()
            if received_at <= measure_until:
                if 200 <= response.status < 300:
                    result.latencies_seconds.append(received_at - sent_at)
                else:
                    result.errors += 1
            if not response.keep_alive:
                writer.close()
                writer = None
    finally:
        if writer is not None:
            writer.close()


async def run_load(
    port: int,
    path: str,
    *,
    connections: int,
    duration_seconds: float,
    headers: Mapping[str, str] | None = None,
) -> LoadResult:
    """`connections` clients hammer `GET path` for `duration_seconds`."""
    result = LoadResult(duration_seconds=duration_seconds)
    request = build_request(port, path, headers)
    measure_until = time.perf_counter() + duration_seconds
    async with asyncio.TaskGroup() as group:
        for _ in range(connections):
            group.create_task(_connection_loop(port, request, measure_until, result))
    return result


def run_on_uvloop(coroutine: Coroutine[object, object, T]) -> T:
    """Run `coroutine` to completion on a fresh uvloop event loop, the cheapest one for a client."""
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(coroutine)
