"""Client secrets are hashed off the event loop, and the cost does not tell which clients
exist: what an integrator, an attacker and every other caller observe."""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import httpx
import pytest

from app.core.db import Database
from app.identity.clients import _scrypt
from app.main import create_app
from tests.conftest import client_for, make_settings
from tests.fixtures.auth import sign_in

CLIENTS = "/api/v1/admin/clients"
TOKEN = "/api/v1/auth/token"
READ = "/api/v1/branches?limit=20"
BURST = 12


def hash_seconds() -> float:
    """What one secret hash costs on this machine now (the fastest of three)."""
    timings = []
    for _ in range(3):
        started = time.perf_counter()
        _scrypt("secret", b"0" * 16)
        timings.append(time.perf_counter() - started)
    return min(timings)


async def new_client(http: httpx.AsyncClient, admin: dict[str, str]) -> tuple[str, str, str]:
    created = await http.post(
        CLIENTS, json={"name": "Fachverfahren", "scopes": ["branches:read"]}, headers=admin
    )
    assert created.status_code == 201, created.text
    body = created.json()
    return str(body["id"]), str(body["client_id"]), str(body["client_secret"])


async def seconds(call: Callable[[], Awaitable[httpx.Response]], status: int) -> float:
    started = time.perf_counter()
    response = await call()
    elapsed = time.perf_counter() - started
    assert response.status_code == status, response.text
    return elapsed


@pytest.fixture
async def http(database_url: str, committed_db: Database) -> AsyncIterator[httpx.AsyncClient]:
    settings = make_settings(database_url, token_rate_limit_per_minute=100_000)
    async with client_for(create_app(settings, database=committed_db)) as client:
        yield client


async def test_unknown_and_revoked_client_ids_cost_as_much_as_a_known_one(
    http: httpx.AsyncClient,
) -> None:
    admin = (await sign_in(http, "admin", staff=True)).headers
    _, known_id, _ = await new_client(http, admin)
    revoked, revoked_id, revoked_secret = await new_client(http, admin)
    assert (await http.delete(f"{CLIENTS}/{revoked}", headers=admin)).status_code == 200

    def attempt(client_id: str, secret: str) -> Callable[[], Awaitable[httpx.Response]]:
        form = {"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret}
        return lambda: http.post(TOKEN, data=form)

    attempts = {
        "known, wrong secret": attempt(known_id, "wrong"),
        "unknown": attempt("cl_" + "0" * 24, "wrong"),
        "revoked, right secret": attempt(revoked_id, revoked_secret),
    }
    hashes_per_attempt = {}
    for name, call in attempts.items():
        before = await secret_hashes(http)
        for _ in range(3):
            await seconds(call, 401)
        hashes_per_attempt[name] = (await secret_hashes(http) - before) / 3

    # The hash is the whole cost of an attempt (about 40 ms against well under 1 ms for the
    # rest): one hash for every kind means no kind answers faster. Counted, not timed, so that
    # other load on the machine cannot blur it.
    assert hashes_per_attempt == dict.fromkeys(attempts, 1.0)


async def secret_hashes(http: httpx.AsyncClient) -> float:
    """What `/metrics` says: client secrets hashed so far by this process."""
    metrics = await http.get("/metrics")
    assert metrics.status_code == 200
    for line in metrics.text.splitlines():
        if line.startswith('rathaus_cpu_bound_tasks_total{task="client_secret_hash"}'):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def p90(values: list[float]) -> float:
    return statistics.quantiles(values, n=10)[-1]


async def test_plain_reads_keep_their_latency_during_a_burst_of_client_credentials(
    http: httpx.AsyncClient,
) -> None:
    admin = (await sign_in(http, "admin", staff=True)).headers
    _, client_id, secret = await new_client(http, admin)
    baseline = [await seconds(lambda: http.get(READ), 200) for _ in range(30)]

    async def token() -> httpx.Response:
        return await http.post(
            TOKEN, data={"grant_type": "client_credentials"}, auth=(client_id, secret)
        )

    burst = asyncio.gather(*(token() for _ in range(BURST)))
    during: list[float] = []
    while not burst.done():
        during.append(await seconds(lambda: http.get(READ), 200))
    issued = await burst

    assert [r.status_code for r in issued] == [200] * BURST
    # The burst queues BURST hashes; reads answered meanwhile must not wait for them.
    assert len(during) >= 10, f"only {len(during)} reads during the burst"
    hash_cost = hash_seconds()
    assert p90(during) < p90(baseline) + hash_cost / 2, (
        f"p90 {p90(during) * 1000:.1f} ms during the burst, {p90(baseline) * 1000:.1f} ms "
        f"alone, one hash {hash_cost * 1000:.1f} ms"
    )
