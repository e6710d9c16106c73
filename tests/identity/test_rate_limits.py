"""Who gets which budget: the token endpoint and sign-in starts, per address (decided from
RATHAUS_TRUSTED_PROXIES) and per client id, as an attacker and a citizen see it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import datetime

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select

from app.core.db import Database, utcnow
from app.identity.models import LoginAttempt
from app.main import create_app
from tests.conftest import make_settings
from tests.fixtures.auth import RETURN_TO, Pkce

TOKEN = "/api/v1/auth/token"
LOGIN = "/api/v1/auth/mock-eid/login"
STAFF_LOGIN = "/api/v1/auth/staff/dev-login/login"
GUESS = {"grant_type": "authorization_code", "code": "guessed", "code_verifier": "v" * 43}
PROXY = "10.0.0.2"

Peer = Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]


@pytest.fixture(autouse=True)
def pinned_clock(monkeypatch: pytest.MonkeyPatch) -> datetime:
    """Fifteen seconds into a rate-limit window, so that no test straddles two windows."""
    moment = utcnow().replace(second=15, microsecond=0)
    monkeypatch.setattr("app.core.ratelimit.utcnow", lambda: moment)
    return moment


def app_with(database_url: str, db: Database, **overrides: object) -> FastAPI:
    return create_app(make_settings(database_url, **overrides), database=db)


def peer_of(app: FastAPI) -> Peer:
    """A client of `app` whose TCP peer is `host`: the sender itself, or a proxy."""

    @asynccontextmanager
    async def peer(host: str) -> AsyncIterator[httpx.AsyncClient]:
        transport = httpx.ASGITransport(app=app, client=(host, 40000), raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield http

    return peer


def forwarded(chain: str) -> dict[str, str]:
    return {"X-Forwarded-For": chain}


async def guesses(http: httpx.AsyncClient, chains: list[str]) -> list[int]:
    return [(await http.post(TOKEN, data=GUESS, headers=forwarded(c))).status_code for c in chains]


async def test_forged_forwarded_for_gets_no_fresh_budget_without_trusted_proxies(
    database_url: str, db: Database
) -> None:
    peer = peer_of(app_with(database_url, db, token_rate_limit_per_minute=3))

    async with peer("127.0.0.1") as attacker:
        statuses = await guesses(attacker, [f"198.51.100.{n}" for n in range(5)])

    assert statuses == [400, 400, 400, 429, 429]


async def test_behind_a_trusted_proxy_each_citizen_has_a_budget_of_their_own(
    database_url: str, db: Database
) -> None:
    app = app_with(database_url, db, token_rate_limit_per_minute=3, trusted_proxies="10.0.0.0/8")
    peer = peer_of(app)

    async with peer(PROXY) as proxy:
        attacker = await guesses(proxy, ["203.0.113.66"] * 4)
        citizen = await guesses(proxy, ["203.0.113.7"])

    assert attacker == [400, 400, 400, 429]
    assert citizen == [400]


async def test_only_the_hops_added_by_trusted_proxies_are_believed(
    database_url: str, db: Database
) -> None:
    """The address a trusted proxy saw decides; what the sender put left of it does not."""
    app = app_with(database_url, db, token_rate_limit_per_minute=2, trusted_proxies="10.0.0.0/8")
    peer = peer_of(app)

    async with peer(PROXY) as proxy:
        chains = [f"192.0.2.{n}, 203.0.113.66, 10.0.0.3" for n in range(3)]
        through_two_proxies = await guesses(proxy, chains)
    async with peer("198.51.100.9") as untrusted_sender:
        forged = await guesses(untrusted_sender, ["203.0.113.7", "203.0.113.8", "203.0.113.9"])

    assert through_two_proxies == [400, 400, 429]
    assert forged == [400, 400, 429]


async def test_client_credentials_are_limited_per_client_id_across_addresses(
    database_url: str, db: Database
) -> None:
    app = app_with(database_url, db, token_rate_limit_per_minute=3, trusted_proxies=PROXY)
    peer = peer_of(app)
    form = {"grant_type": "client_credentials", "client_id": "cl_target", "client_secret": "x"}

    async with peer(PROXY) as proxy:
        statuses = [
            (await proxy.post(TOKEN, data=form, headers=forwarded(f"203.0.113.{n}"))).status_code
            for n in range(5)
        ]
        other_client = await proxy.post(
            TOKEN, data={**form, "client_id": "cl_other"}, headers=forwarded("203.0.113.99")
        )

    assert statuses == [401, 401, 401, 429, 429]
    assert other_client.status_code == 401


async def login_attempts(db: Database) -> int:
    async with db.transaction() as session:
        return int(await session.scalar(select(func.count()).select_from(LoginAttempt)) or 0)


@pytest.mark.parametrize("path", [LOGIN, STAFF_LOGIN])
async def test_starting_sign_ins_is_limited_per_address_and_stores_no_more_states(
    database_url: str, db: Database, path: str
) -> None:
    peer = peer_of(app_with(database_url, db, login_rate_limit_per_minute=3))
    params = {"return_to": RETURN_TO, "code_challenge": Pkce.new().challenge}

    async with peer("203.0.113.66") as attacker:
        started = [(await attacker.get(path, params=params)).status_code for _ in range(3)]
        refused = await attacker.get(path, params=params)
    async with peer("203.0.113.7") as citizen:
        other = await citizen.get(path, params=params)

    assert started == [303, 303, 303]
    assert refused.status_code == 429
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.headers["retry-after"] == "45"
    assert other.status_code == 303
    assert await login_attempts(db) == 4
