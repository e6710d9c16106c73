"""Idempotency-Key on POST, proven on the probe endpoints (tests/fixtures/probe_routes.py)."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select

from app.core.audit import AuditEntry
from app.core.db import Database, utcnow
from app.core.idempotency import purge_expired_idempotency_keys
from app.core.idempotency_models import IdempotencyRecord, IdempotencyStatus
from app.organisation.models import Branch
from tests.fixtures.probe_routes import (
    CREATED_ACTION,
    Failure,
    ProbeControl,
    install_probe_routes,
)

CONCURRENT_REQUESTS = 20
PROBLEMS = "https://rathaus.example/problems/"
# Anonymous requests claim the key before their transaction begins; signed-in ones, whose
# authentication already read through the request's session, claim inside it.
CALLERS = [pytest.param(None, id="anonymous"), pytest.param("alice", id="signed-in")]


@pytest.fixture
def probe(app: FastAPI) -> ProbeControl:
    return install_probe_routes(app)


@pytest.fixture
def committed_probe(committed_app: FastAPI) -> ProbeControl:
    return install_probe_routes(committed_app)


async def post_branch(
    client: httpx.AsyncClient,
    name: str,
    *,
    key: str | None,
    path: str = "/probe/branches",
    caller: str | None = None,
) -> httpx.Response:
    headers: dict[str, str] = {}
    if key is not None:
        headers["Idempotency-Key"] = key
    if caller is not None:
        headers["X-Probe-Caller"] = caller
    return await client.post(path, json={"name": name}, headers=headers)


async def branches_named(database: Database, name: str) -> int:
    async with database.transaction(read_only=True) as session:
        count = await session.scalar(
            select(func.count()).select_from(Branch).where(Branch.name == name)
        )
    return int(count or 0)


async def creation_audit_entries(database: Database) -> int:
    async with database.transaction(read_only=True) as session:
        count = await session.scalar(
            select(func.count()).select_from(AuditEntry).where(AuditEntry.action == CREATED_ACTION)
        )
    return int(count or 0)


async def move_keys_into_the_past(database: Database, by: timedelta) -> None:
    """As if `by` had passed since every stored key was claimed."""
    async with database.transaction() as session:
        for key in (await session.scalars(select(IdempotencyRecord))).all():
            key.created_at -= by
            key.locked_until -= by
            key.expires_at -= by


def is_replay(response: httpx.Response) -> bool:
    return response.headers.get("Idempotent-Replayed") == "true"


@pytest.mark.parametrize("caller", CALLERS)
async def test_retry_with_same_key_replays_first_response(
    client: httpx.AsyncClient, probe: ProbeControl, db: Database, caller: str | None
) -> None:
    first = await post_branch(client, "Bürgerdienste Hörde", key="create-hoerde", caller=caller)
    retry = await post_branch(client, "Bürgerdienste Hörde", key="create-hoerde", caller=caller)

    assert first.status_code == 201
    assert not is_replay(first)
    assert retry.status_code == 201
    assert is_replay(retry)
    assert retry.content == first.content
    assert retry.headers["Location"] == first.headers["Location"]
    assert retry.headers["ETag"] == first.headers["ETag"] == '"v1"'
    assert retry.headers["Content-Type"] == "application/json"
    assert await branches_named(db, "Bürgerdienste Hörde") == 1
    assert await creation_audit_entries(db) == 1


async def test_requests_without_key_each_take_effect(
    client: httpx.AsyncClient, probe: ProbeControl, db: Database
) -> None:
    first = await post_branch(client, "Bürgerdienste Eving", key=None)
    second = await post_branch(client, "Bürgerdienste Eving", key=None)

    assert (first.status_code, second.status_code) == (201, 201)
    assert first.json()["id"] != second.json()["id"]
    assert await branches_named(db, "Bürgerdienste Eving") == 2


async def test_retry_within_24_hours_is_replayed(
    client: httpx.AsyncClient, probe: ProbeControl, db: Database
) -> None:
    first = await post_branch(client, "Bürgerdienste Brackel", key="create-brackel")
    await move_keys_into_the_past(db, timedelta(hours=24) - timedelta(minutes=1))

    retry = await post_branch(client, "Bürgerdienste Brackel", key="create-brackel")

    assert is_replay(retry)
    assert retry.json() == first.json()
    assert await branches_named(db, "Bürgerdienste Brackel") == 1


async def test_retry_after_24_hours_runs_as_a_new_request(
    client: httpx.AsyncClient, probe: ProbeControl, db: Database
) -> None:
    first = await post_branch(client, "Bürgerdienste Huckarde", key="create-huckarde")
    await move_keys_into_the_past(db, timedelta(hours=24) + timedelta(minutes=1))

    retry = await post_branch(client, "Bürgerdienste Huckarde", key="create-huckarde")

    assert retry.status_code == 201
    assert not is_replay(retry)
    assert retry.json()["id"] != first.json()["id"]
    assert await branches_named(db, "Bürgerdienste Huckarde") == 2


async def test_same_key_with_different_body_gets_422_key_reused(
    client: httpx.AsyncClient, probe: ProbeControl, db: Database
) -> None:
    await post_branch(client, "Bürgerdienste Mengede", key="create-mengede")

    reused = await post_branch(client, "Bürgerdienste Scharnhorst", key="create-mengede")

    assert reused.status_code == 422
    assert reused.headers["Content-Type"] == "application/problem+json"
    assert reused.json()["type"] == PROBLEMS + "idempotency-key-reused"
    assert await branches_named(db, "Bürgerdienste Scharnhorst") == 0


async def test_same_key_and_body_on_another_endpoint_gets_422_key_reused(
    client: httpx.AsyncClient, probe: ProbeControl, db: Database
) -> None:
    await post_branch(client, "Bürgerdienste Lütgendortmund", key="create-luedo")

    reused = await post_branch(
        client, "Bürgerdienste Lütgendortmund", key="create-luedo", path="/probe/branches/flaky"
    )

    assert reused.status_code == 422
    assert reused.json()["type"] == PROBLEMS + "idempotency-key-reused"
    assert await branches_named(db, "Bürgerdienste Lütgendortmund") == 1


@pytest.mark.parametrize(
    ("failure", "status"),
    [
        (Failure.problem, 409),
        (Failure.crash, 500),
        (Failure.error_response, 400),
        (Failure.at_commit, 500),
    ],
)
@pytest.mark.parametrize("caller", CALLERS)
async def test_failed_first_request_writes_nothing_and_retry_runs(
    client: httpx.AsyncClient,
    probe: ProbeControl,
    db: Database,
    failure: Failure,
    status: int,
    caller: str | None,
) -> None:
    probe.failures.append(failure)
    flaky = "/probe/branches/flaky"

    failed = await post_branch(
        client, "Bürgerdienste Aplerbeck", key="create-aplerbeck", path=flaky, caller=caller
    )

    assert failed.status_code == status
    assert await branches_named(db, "Bürgerdienste Aplerbeck") == 0
    assert await creation_audit_entries(db) == 0

    retry = await post_branch(
        client, "Bürgerdienste Aplerbeck", key="create-aplerbeck", path=flaky, caller=caller
    )

    assert retry.status_code == 201
    assert not is_replay(retry)
    assert await branches_named(db, "Bürgerdienste Aplerbeck") == 1
    assert await creation_audit_entries(db) == 1


async def test_same_key_from_different_callers_takes_effect_for_each(
    client: httpx.AsyncClient, probe: ProbeControl, db: Database
) -> None:
    alice = await post_branch(client, "Bürgerdienste Innenstadt", key="k-1", caller="alice")
    bob = await post_branch(client, "Bürgerdienste Innenstadt", key="k-1", caller="bob")
    anonymous = await post_branch(client, "Bürgerdienste Innenstadt", key="k-1")
    alice_retry = await post_branch(client, "Bürgerdienste Innenstadt", key="k-1", caller="alice")

    assert [is_replay(r) for r in (alice, bob, anonymous)] == [False, False, False]
    assert len({r.json()["id"] for r in (alice, bob, anonymous)}) == 3
    assert is_replay(alice_retry)
    assert alice_retry.json() == alice.json()
    assert await branches_named(db, "Bürgerdienste Innenstadt") == 3


async def test_key_longer_than_255_characters_gets_422_pointing_at_header(
    client: httpx.AsyncClient, probe: ProbeControl
) -> None:
    response = await post_branch(client, "Bürgerdienste Hombruch", key="k" * 256)

    assert response.status_code == 422
    assert [e["pointer"] for e in response.json()["errors"]] == ["#/header/Idempotency-Key"]


async def test_purge_deletes_only_expired_keys(db: Database) -> None:
    now = utcnow()
    async with db.transaction() as session:
        for key, expires_at in [
            ("expired", now - timedelta(seconds=1)),
            ("live", now + timedelta(hours=1)),
        ]:
            session.add(
                IdempotencyRecord(
                    scope="anonymous",
                    key=key,
                    method="POST",
                    path="/probe/branches",
                    request_hash="0" * 64,
                    status=IdempotencyStatus.completed.value,
                    locked_until=now,
                    expires_at=expires_at,
                )
            )

    async with db.transaction() as session:
        purged = await purge_expired_idempotency_keys(session)

    async with db.transaction(read_only=True) as session:
        remaining = (await session.scalars(select(IdempotencyRecord.key))).all()
    assert purged == 1
    assert remaining == ["live"]


async def test_duplicate_while_first_is_in_flight_gets_409_then_replay(
    committed_client: httpx.AsyncClient, committed_probe: ProbeControl, committed_db: Database
) -> None:
    held = "/probe/branches/held"
    first = asyncio.create_task(
        post_branch(committed_client, "Bürgerdienste Hörde", key="create-hoerde", path=held)
    )
    await asyncio.wait_for(committed_probe.entered.wait(), timeout=10)

    duplicate = await post_branch(
        committed_client, "Bürgerdienste Hörde", key="create-hoerde", path=held
    )
    committed_probe.release.set()
    completed = await first
    retry = await post_branch(
        committed_client, "Bürgerdienste Hörde", key="create-hoerde", path=held
    )

    assert duplicate.status_code == 409
    assert duplicate.headers["Content-Type"] == "application/problem+json"
    assert duplicate.json()["type"] == PROBLEMS + "idempotency-in-flight"
    assert completed.status_code == 201
    assert is_replay(retry)
    assert retry.json() == completed.json()
    assert await branches_named(committed_db, "Bürgerdienste Hörde") == 1


async def test_concurrent_duplicates_while_first_is_in_flight_all_get_409(
    committed_client: httpx.AsyncClient, committed_probe: ProbeControl, committed_db: Database
) -> None:
    held = "/probe/branches/held"
    first = asyncio.create_task(
        post_branch(committed_client, "Bürgerdienste Eving", key="create-eving", path=held)
    )
    await asyncio.wait_for(committed_probe.entered.wait(), timeout=10)

    duplicates = await asyncio.gather(
        *(
            post_branch(committed_client, "Bürgerdienste Eving", key="create-eving", path=held)
            for _ in range(CONCURRENT_REQUESTS)
        )
    )
    committed_probe.release.set()

    assert [d.status_code for d in duplicates] == [409] * CONCURRENT_REQUESTS
    assert (await first).status_code == 201
    assert await branches_named(committed_db, "Bürgerdienste Eving") == 1


@pytest.mark.parametrize("caller", CALLERS)
async def test_concurrent_requests_with_same_key_create_exactly_one_branch(
    committed_client: httpx.AsyncClient,
    committed_probe: ProbeControl,
    committed_db: Database,
    caller: str | None,
) -> None:
    responses = await asyncio.gather(
        *(
            post_branch(
                committed_client,
                "Bürgerdienste Scharnhorst",
                key="create-scharnhorst",
                caller=caller,
            )
            for _ in range(CONCURRENT_REQUESTS)
        )
    )

    originals = [r for r in responses if r.status_code == 201 and not is_replay(r)]
    replays = [r for r in responses if is_replay(r)]
    in_flight = [r for r in responses if r.status_code == 409]
    assert len(originals) == 1
    assert len(originals) + len(replays) + len(in_flight) == CONCURRENT_REQUESTS
    assert all(r.status_code == 201 and r.json() == originals[0].json() for r in replays)
    assert all(r.json()["type"] == PROBLEMS + "idempotency-in-flight" for r in in_flight)
    assert await branches_named(committed_db, "Bürgerdienste Scharnhorst") == 1
    assert await creation_audit_entries(committed_db) == 1


async def test_claim_of_a_request_that_died_is_taken_over_once_its_lock_runs_out(
    committed_client: httpx.AsyncClient, committed_probe: ProbeControl, committed_db: Database
) -> None:
    held = "/probe/branches/held"
    dying = asyncio.create_task(
        post_branch(committed_client, "Bürgerdienste Brackel", key="create-brackel", path=held)
    )
    await asyncio.wait_for(committed_probe.entered.wait(), timeout=10)
    dying.cancel()
    with pytest.raises(asyncio.CancelledError):
        await dying

    while_locked = await post_branch(
        committed_client, "Bürgerdienste Brackel", key="create-brackel", path=held
    )
    await move_keys_into_the_past(committed_db, timedelta(minutes=2))
    after_lock = await post_branch(
        committed_client, "Bürgerdienste Brackel", key="create-brackel", path=held
    )

    assert while_locked.status_code == 409
    assert after_lock.status_code == 201
    assert not is_replay(after_lock)
    assert await branches_named(committed_db, "Bürgerdienste Brackel") == 1


async def test_request_whose_claim_was_taken_over_gets_409_and_writes_nothing(
    committed_client: httpx.AsyncClient, committed_probe: ProbeControl, committed_db: Database
) -> None:
    held = "/probe/branches/held"
    slow = asyncio.create_task(
        post_branch(committed_client, "Bürgerdienste Hombruch", key="create-hombruch", path=held)
    )
    await asyncio.wait_for(committed_probe.entered.wait(), timeout=10)
    await move_keys_into_the_past(committed_db, timedelta(minutes=2))
    takeover = await post_branch(
        committed_client, "Bürgerdienste Hombruch", key="create-hombruch", path=held
    )

    committed_probe.release.set()
    slow_response = await slow
    retry = await post_branch(
        committed_client, "Bürgerdienste Hombruch", key="create-hombruch", path=held
    )

    assert takeover.status_code == 201
    assert slow_response.status_code == 409
    assert slow_response.json()["type"] == PROBLEMS + "idempotency-in-flight"
    assert is_replay(retry)
    assert retry.json() == takeover.json()
    assert await branches_named(committed_db, "Bürgerdienste Hombruch") == 1
    assert await creation_audit_entries(committed_db) == 1
