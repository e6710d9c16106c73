"""Anti-automation of the public calendar, as a citizen, a bot and the operator see it:
reads and hold attempts per address and minute, holds per address within a hold's lifetime,
counted in Redis across processes or in each process without it, and never a 500 when Redis
goes away."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.db import Database
from app.main import create_app
from bench.server import running_server
from tests.conftest import (
    _require_or_skip_postgres,
    create_pg_database,
    drop_pg_database,
    make_settings,
    run_cli,
)
from tests.fixtures.appointments import Calendar, create_calendar, stand_at

NOW = datetime(2027, 3, 19, 9, 0, tzinfo=UTC)
MONDAY_8 = datetime(2027, 3, 22, 7, 0, tzinfo=UTC)
HOLDS = "/api/v1/appointments/holds"
CITIZEN = "203.0.113.7"
BOT = "198.51.100.66"

Peer = Callable[[str], AbstractAsyncContextManager[httpx.AsyncClient]]


@dataclass
class Calendars:
    """Builds app instances on one database, each with its own limiter, as separate server
    processes would have."""

    database_url: str
    db: Database
    calendar: Calendar
    apps: list[FastAPI] = field(default_factory=list)

    def app(self, **overrides: object) -> FastAPI:
        app = create_app(make_settings(self.database_url, **overrides), database=self.db)
        stand_at(app, NOW)
        self.apps.append(app)
        return app


@pytest.fixture
async def calendars(
    database_url: str, db: Database, session: AsyncSession
) -> AsyncIterator[Calendars]:
    calendar = await create_calendar(session)
    await session.commit()
    calendars = Calendars(database_url, db, calendar)
    yield calendars
    for app in calendars.apps:
        await app.state.limiter.close()


def peer_of(app: FastAPI) -> Peer:
    """A client of `app` whose address is `host`."""

    @asynccontextmanager
    async def peer(host: str) -> AsyncIterator[httpx.AsyncClient]:
        transport = httpx.ASGITransport(app=app, client=(host, 40000), raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield http

    return peer


def availability(calendars: Calendars) -> str:
    return f"/api/v1/appointments/availability?service_id={calendars.calendar.service.id}"


async def reads(http: httpx.AsyncClient, calendars: Calendars, count: int) -> list[int]:
    return [(await http.get(availability(calendars))).status_code for _ in range(count)]


def hold_body(calendars: Calendars, minutes_after_8: int) -> dict[str, Any]:
    start = (MONDAY_8 + timedelta(minutes=minutes_after_8)).isoformat()
    return {
        "service_id": str(calendars.calendar.service.id),
        "branch_id": str(calendars.calendar.branch.id),
        "start": start,
        "persons": 1,
    }


async def hold(http: httpx.AsyncClient, calendars: Calendars, minutes_after_8: int) -> int:
    return (await http.post(HOLDS, json=hold_body(calendars, minutes_after_8))).status_code


def retry_after(response: httpx.Response) -> int:
    value = response.headers["retry-after"]
    assert value.isdigit(), value
    return int(value)


async def test_reads_over_the_limit_get_429_problem_with_retry_after_in_german_and_english(
    calendars: Calendars,
) -> None:
    peer = peer_of(calendars.app(availability_rate_limit="3/minute"))
    service_id = calendars.calendar.service.id

    async with peer(CITIZEN) as citizen:
        answered = [
            (await citizen.get("/api/v1/appointments/services")).status_code,
            (await citizen.get(availability(calendars))).status_code,
            (
                await citizen.get(f"/api/v1/appointments/earliest?service_id={service_id}")
            ).status_code,
        ]
        german = await citizen.get(availability(calendars))
        english = await citizen.get(
            "/api/v1/appointments/services", headers={"Accept-Language": "en"}
        )

    assert answered == [200, 200, 200]
    for response in (german, english):
        assert response.status_code == 429
        assert response.headers["content-type"] == "application/problem+json"
        assert 1 <= retry_after(response) <= 60
        assert response.json()["type"] == "https://rathaus.example/problems/too-many-requests"
    assert german.headers["content-language"] == "de"
    assert german.json()["title"] == "Zu viele Anfragen"
    assert german.json()["detail"].startswith("Zu viele Anfragen in kurzer Zeit.")
    assert english.headers["content-language"] == "en"
    assert english.json()["title"] == "Too many requests"
    assert english.json()["detail"].startswith("Too many requests in a short time.")


async def test_each_client_address_has_a_read_budget_of_its_own(calendars: Calendars) -> None:
    peer = peer_of(calendars.app(availability_rate_limit="2/minute"))

    async with peer(BOT) as bot:
        bot_reads = await reads(bot, calendars, 3)
    async with peer(CITIZEN) as citizen:
        citizen_reads = await reads(citizen, calendars, 2)

    assert bot_reads == [200, 200, 429]
    assert citizen_reads == [200, 200]


async def test_behind_a_trusted_proxy_the_forwarded_address_has_the_budget(
    calendars: Calendars,
) -> None:
    peer = peer_of(calendars.app(availability_rate_limit="1/minute", trusted_proxies="10.0.0.0/8"))
    url = availability(calendars)

    async with peer("10.0.0.2") as proxy:
        bot = [
            (await proxy.get(url, headers={"X-Forwarded-For": BOT})).status_code for _ in range(2)
        ]
        citizen = (await proxy.get(url, headers={"X-Forwarded-For": CITIZEN})).status_code

    assert bot == [200, 429]
    assert citizen == 200


async def test_read_limit_is_shared_by_two_app_instances_through_redis(
    calendars: Calendars, shared_redis: dict[str, str]
) -> None:
    first = peer_of(calendars.app(availability_rate_limit="3/minute", **shared_redis))
    second = peer_of(calendars.app(availability_rate_limit="3/minute", **shared_redis))

    async with first(BOT) as bot_at_first:
        at_first = await reads(bot_at_first, calendars, 2)
    async with second(BOT) as bot_at_second:
        at_second = await reads(bot_at_second, calendars, 2)

    assert at_first == [200, 200]
    assert at_second == [200, 429]


async def test_without_redis_each_app_instance_counts_on_its_own(calendars: Calendars) -> None:
    first = peer_of(calendars.app(availability_rate_limit="2/minute"))
    second = peer_of(calendars.app(availability_rate_limit="2/minute"))

    async with first(BOT) as bot_at_first:
        at_first = await reads(bot_at_first, calendars, 3)
    async with second(BOT) as bot_at_second:
        at_second = await reads(bot_at_second, calendars, 3)

    assert at_first == [200, 200, 429]
    assert at_second == [200, 200, 429]


async def test_holds_per_address_are_capped_within_a_hold_lifetime(
    calendars: Calendars, shared_redis: dict[str, str]
) -> None:
    """The cap is shared: a bot cannot hold more slots by spreading over server processes."""
    settings = {"holds_per_address": 2, "hold_ttl_seconds": 600, **shared_redis}
    first = peer_of(calendars.app(**settings))
    second = peer_of(calendars.app(**settings))

    async with first(BOT) as bot_at_first:
        held = [await hold(bot_at_first, calendars, 0)]
    async with second(BOT) as bot_at_second:
        held.append(await hold(bot_at_second, calendars, 10))
        refused = await bot_at_second.post(HOLDS, json=hold_body(calendars, 20))
        english = await bot_at_second.post(
            HOLDS, json=hold_body(calendars, 20), headers={"Accept-Language": "en"}
        )
    async with first(CITIZEN) as citizen:
        citizen_hold = await hold(citizen, calendars, 20)

    assert held == [201, 201]
    assert refused.status_code == 429
    assert refused.headers["content-type"] == "application/problem+json"
    assert 590 <= retry_after(refused) <= 600
    assert refused.json()["detail"].startswith("Von Ihrer Adresse aus wurden in den letzten")
    assert english.json()["detail"].startswith("Too many appointments have been held from")
    assert citizen_hold == 201


async def test_a_burst_of_holds_through_two_app_instances_gets_exactly_the_cap(
    database_url: str, committed_db: Database, shared_redis: dict[str, str]
) -> None:
    """Reserved before the hold, atomically in Redis: concurrent requests cannot all slip
    under the cap."""
    async with committed_db.transaction() as session:
        calendar = await create_calendar(session)
    calendars = Calendars(database_url, committed_db, calendar)
    settings = {"holds_per_address": 2, "hold_rate_limit": "100/minute", **shared_redis}
    peers = [peer_of(calendars.app(**settings)), peer_of(calendars.app(**settings))]

    async with peers[0](BOT) as first, peers[1](BOT) as second:
        statuses = await asyncio.gather(
            *(hold(first if n % 2 else second, calendars, 10 * n) for n in range(10))
        )
    for app in calendars.apps:
        await app.state.limiter.close()

    assert Counter(statuses) == {201: 2, 429: 8}


async def test_refused_holds_do_not_use_up_the_cap(calendars: Calendars) -> None:
    peer = peer_of(calendars.app(holds_per_address=1))

    async with peer(CITIZEN) as other_citizen:
        assert await hold(other_citizen, calendars, 0) == 201
    async with peer(BOT) as citizen:
        slot_taken = await hold(citizen, calendars, 0)
        not_a_start = await hold(citizen, calendars, 5)
        held = await hold(citizen, calendars, 10)
        over_cap = await hold(citizen, calendars, 20)

    assert [slot_taken, not_a_start, held, over_cap] == [409, 422, 201, 429]


async def test_hold_attempts_per_minute_are_limited_whatever_their_outcome(
    calendars: Calendars,
) -> None:
    peer = peer_of(calendars.app(hold_rate_limit="3/minute", holds_per_address=10))

    async with peer(BOT) as bot:
        attempts = [await hold(bot, calendars, minutes) for minutes in (0, 5, 0, 10)]

    assert attempts == [201, 422, 409, 429]


async def test_anti_automation_off_never_answers_429(calendars: Calendars) -> None:
    peer = peer_of(
        calendars.app(
            anti_automation=False,
            availability_rate_limit="1/minute",
            hold_rate_limit="1/minute",
            holds_per_address=1,
        )
    )

    async with peer(BOT) as bot:
        read = await reads(bot, calendars, 5)
        held = [await hold(bot, calendars, minutes) for minutes in (0, 10, 20)]

    assert read == [200] * 5
    assert held == [201, 201, 201]


async def test_unreachable_redis_limits_each_process_on_its_own_without_errors(
    calendars: Calendars, capsys: pytest.CaptureFixture[str]
) -> None:
    """Nothing listens on port 9: the limits still hold, counted in the process's memory, and
    the outage is logged once, without the address."""
    peer = peer_of(
        calendars.app(
            availability_rate_limit="3/minute",
            holds_per_address=1,
            redis_url="redis://127.0.0.1:9/0",
        )
    )

    async with peer(BOT) as bot:
        read = await reads(bot, calendars, 4)
        held = [await hold(bot, calendars, minutes) for minutes in (0, 10)]

    assert read == [200, 200, 200, 429]
    assert held == [201, 429]
    logs = capsys.readouterr().err
    outages = [event for event in log_events(logs) if event == "ratelimit.redis_unavailable"]
    assert outages == ["ratelimit.redis_unavailable"]
    assert BOT not in logs


def log_events(logs: str) -> list[str]:
    return [json.loads(line)["event"] for line in logs.splitlines() if line.startswith("{")]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class OwnRedis:
    """A Redis server of this test alone, to stop and start again."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        command = ["redis-server", "--bind", "127.0.0.1", "--port", str(self.port)]
        self.process = subprocess.Popen(
            [*command, "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(100):
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.05)
        raise AssertionError("the test's own Redis did not start")

    def stop(self) -> None:
        if self.process is not None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(timeout=10)
            self.process = None


@pytest.fixture
def own_redis() -> Iterator[OwnRedis]:
    server = OwnRedis()
    server.start()
    yield server
    server.stop()


async def test_redis_going_down_and_back_never_fails_a_request(
    calendars: Calendars,
    own_redis: OwnRedis,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """While Redis is down each process counts in memory; then Redis counts again."""
    monkeypatch.setattr("app.core.limiter.REDIS_RETRY_SECONDS", 0.0)
    peer = peer_of(calendars.app(availability_rate_limit="3/minute", redis_url=own_redis.url))

    async with peer(BOT) as bot:
        before = await reads(bot, calendars, 2)
        await asyncio.to_thread(own_redis.stop)
        during = await reads(bot, calendars, 4)
        await asyncio.to_thread(own_redis.start)
        after = await reads(bot, calendars, 4)

    assert before == [200, 200]
    assert during == [200, 200, 200, 429]
    assert after == [200, 200, 200, 429]
    events = log_events(capsys.readouterr().err)
    assert [e for e in events if e.startswith("ratelimit.")] == [
        "ratelimit.redis_unavailable",
        "ratelimit.redis_recovered",
    ]


@pytest.fixture
def postgres_url(worker_id: str) -> Iterator[str]:
    _require_or_skip_postgres()
    name = f"rathaus_limits_{worker_id}_{os.getpid()}"
    yield create_pg_database(name)
    drop_pg_database(name)


def test_two_server_processes_share_the_read_limit_through_redis(
    postgres_url: str, shared_redis: dict[str, str]
) -> None:
    """`rathaus serve --workers 2` as deployed (PostgreSQL, several processes): whichever
    process a request reaches, the address has one budget."""
    assert run_cli("migrate", env={"RATHAUS_DATABASE_URL": postgres_url}).returncode == 0
    settings = {
        "RATHAUS_ANTI_AUTOMATION": "true",
        "RATHAUS_AVAILABILITY_RATE_LIMIT": "4/minute",
        "RATHAUS_REDIS_URL": shared_redis["redis_url"],
        "RATHAUS_REDIS_KEY_PREFIX": shared_redis["redis_key_prefix"],
    }

    async def read_on_new_connections(port: int) -> list[int]:
        async def read() -> int:
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
                return (await http.get("/api/v1/appointments/services")).status_code

        return list(await asyncio.gather(*(read() for _ in range(12))))

    with running_server(postgres_url, workers=2, settings=settings) as port:
        statuses = Counter(asyncio.run(read_on_new_connections(port)))

    assert statuses == {200: 4, 429: 8}, statuses
