"""`rathaus serve` as a client on the network meets it: what is refused before the app, and
whose address counts. A real server per backend, spoken to over raw sockets."""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Iterator
from urllib.parse import urlsplit

import httpx
import pytest

from tests.fixtures.live_server import seeded_server

HEADER_TIMEOUT_SECONDS = 1.0
MAX_HEADER_BYTES = 32_768  # the default
TOKEN_LIMIT = 3


@pytest.fixture(scope="module")
def server(
    backend: str, tmp_path_factory: pytest.TempPathFactory, worker_id: str
) -> Iterator[tuple[str, int]]:
    settings = {
        "RATHAUS_ENV": "test",
        "RATHAUS_TOKEN_RATE_LIMIT_PER_MINUTE": str(TOKEN_LIMIT),
        "RATHAUS_HEADER_TIMEOUT_SECONDS": str(HEADER_TIMEOUT_SECONDS),
    }
    name = f"rathaus_server_{worker_id}_{os.getpid()}"
    with seeded_server(backend, name, tmp_path_factory.mktemp("server"), settings) as base_url:
        address = urlsplit(base_url)
        assert address.hostname is not None
        assert address.port is not None
        yield address.hostname, address.port


def connect(server: tuple[str, int]) -> socket.socket:
    connection = socket.create_connection(server, timeout=10)
    connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return connection


def read_until_closed(connection: socket.socket) -> bytes:
    received = b""
    while chunk := connection.recv(65536):
        received += chunk
    return received


def status_and_body(response: bytes) -> tuple[int, dict[str, str], bytes]:
    head, _, body = response.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.lower().split(": ", 1) for line in header_lines)
    return int(status_line.split(" ")[1]), headers, body


def get_with_header(server: tuple[str, int], value_bytes: int) -> bytes:
    with connect(server) as connection:
        connection.sendall(
            b"GET /healthz HTTP/1.1\r\nHost: rathaus\r\nConnection: close\r\n"
            + b"X-Filler: "
            + b"a" * value_bytes
            + b"\r\n\r\n"
        )
        return read_until_closed(connection)


def test_headers_within_the_limit_are_served(server: tuple[str, int]) -> None:
    status, _, _ = status_and_body(get_with_header(server, MAX_HEADER_BYTES - 1024))

    assert status == 200


def test_headers_over_the_limit_get_431_problem_and_the_connection_closes(
    server: tuple[str, int],
) -> None:
    status, headers, body = status_and_body(get_with_header(server, MAX_HEADER_BYTES + 1024))

    assert status == 431
    assert headers["content-type"] == "application/problem+json"
    assert headers["connection"] == "close"
    problem = json.loads(body)
    assert problem["type"] == "https://rathaus.example/problems/request-header-fields-too-large"
    assert problem["status"] == 431


def test_a_50_mb_header_is_cut_off_long_before_it_is_read(server: tuple[str, int]) -> None:
    sent = 0
    chunk = b"a" * 65536
    with connect(server) as connection:
        connection.sendall(b"GET /healthz HTTP/1.1\r\nHost: rathaus\r\nX-Filler: ")
        try:
            while sent < 50 * 1024 * 1024:
                connection.sendall(chunk)
                sent += len(chunk)
            answer = read_until_closed(connection)
        except (BrokenPipeError, ConnectionResetError):
            answer = b""

    assert sent < 8 * 1024 * 1024, "the server kept reading the header"
    assert answer in (b"",) or status_and_body(answer)[0] == 431
    assert httpx.get(f"http://{server[0]}:{server[1]}/healthz").status_code == 200


def test_headers_sent_too_slowly_get_408_within_the_timeout(server: tuple[str, int]) -> None:
    started = time.monotonic()
    answer = b""
    with connect(server) as connection:
        connection.sendall(b"GET /healthz HTTP/1.1\r\nHost: rathaus\r\n")
        try:
            for number in range(40):
                connection.sendall(b"X-Slow-%d: a\r\n" % number)
                time.sleep(0.1)
        except (BrokenPipeError, ConnectionResetError):
            pass
        connection.settimeout(5)
        try:
            answer = read_until_closed(connection)
        except ConnectionResetError:
            answer = b""
    elapsed = time.monotonic() - started

    assert HEADER_TIMEOUT_SECONDS * 0.8 <= elapsed < HEADER_TIMEOUT_SECONDS + 2.5
    if answer:
        status, headers, _ = status_and_body(answer)
        assert status == 408
        assert headers["content-type"] == "application/problem+json"


def test_a_connection_that_sends_nothing_is_closed_within_the_timeout(
    server: tuple[str, int],
) -> None:
    started = time.monotonic()
    with connect(server) as connection:
        answer = read_until_closed(connection)
    elapsed = time.monotonic() - started

    assert elapsed < HEADER_TIMEOUT_SECONDS + 2.5
    assert status_and_body(answer)[0] == 408


def test_forged_x_forwarded_for_from_loopback_gets_no_fresh_budget(
    server: tuple[str, int],
) -> None:
    """uvicorn's own proxy handling trusts loopback; `rathaus serve` leaves it off, and
    without RATHAUS_TRUSTED_PROXIES the peer is the client."""
    if time.time() % 60 > 50:  # one rate-limit window for all attempts
        time.sleep(61 - time.time() % 60)
    guess = {"grant_type": "authorization_code", "code": "guessed", "code_verifier": "v" * 43}
    with httpx.Client(base_url=f"http://{server[0]}:{server[1]}") as http:
        statuses = [
            http.post(
                "/api/v1/auth/token", data=guess, headers={"X-Forwarded-For": f"198.51.100.{n}"}
            ).status_code
            for n in range(TOKEN_LIMIT + 2)
        ]

    assert statuses == [400] * TOKEN_LIMIT + [429, 429]
