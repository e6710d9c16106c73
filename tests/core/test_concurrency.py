"""ETag / If-Match, proven on `PATCH /probe/branches/{id}` and its guarded UPDATE."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.audit import AuditEntry
from app.core.db import Database
from app.organisation.models import Branch
from tests.fixtures.factories import create_branch
from tests.fixtures.probe_routes import RENAMED_ACTION, ProbeControl, install_probe_routes

CONCURRENT_REQUESTS = 20
PROBLEMS = "https://rathaus.example/problems/"


@pytest.fixture
def probe(app: FastAPI) -> ProbeControl:
    return install_probe_routes(app)


@pytest.fixture
def committed_probe(committed_app: FastAPI) -> ProbeControl:
    return install_probe_routes(committed_app)


async def rename(
    client: httpx.AsyncClient, branch: Branch, name: str, *, if_match: str | None
) -> httpx.Response:
    headers = {} if if_match is None else {"If-Match": if_match}
    return await client.patch(f"/probe/branches/{branch.id}", json={"name": name}, headers=headers)


async def stored_branch(database: Database, branch: Branch) -> Branch:
    async with database.transaction(read_only=True) as session:
        stored = await session.get(Branch, branch.id)
    assert stored is not None
    return stored


async def rename_audit_entries(database: Database) -> int:
    async with database.transaction(read_only=True) as session:
        count = await session.scalar(
            select(func.count()).select_from(AuditEntry).where(AuditEntry.action == RENAMED_ACTION)
        )
    return int(count or 0)


async def test_get_returns_version_as_strong_etag(
    client: httpx.AsyncClient, probe: ProbeControl, session: AsyncSession
) -> None:
    branch = await create_branch(session, version=3)
    await session.commit()

    response = await client.get(f"/probe/branches/{branch.id}")

    assert response.headers["ETag"] == '"v3"'


async def test_edit_with_current_etag_succeeds_and_returns_next_etag(
    client: httpx.AsyncClient, probe: ProbeControl, session: AsyncSession, db: Database
) -> None:
    branch = await create_branch(session)
    await session.commit()

    response = await rename(client, branch, "Bürgerdienste Hörde", if_match='"v1"')

    assert response.status_code == 200
    assert response.headers["ETag"] == '"v2"'
    assert response.json()["version"] == 2
    assert response.json()["name"] == "Bürgerdienste Hörde"
    assert (await client.get(f"/probe/branches/{branch.id}")).headers["ETag"] == '"v2"'
    assert await rename_audit_entries(db) == 1


async def test_edit_without_if_match_gets_428_problem(
    client: httpx.AsyncClient, probe: ProbeControl, session: AsyncSession, db: Database
) -> None:
    branch = await create_branch(session, name="Bürgerdienste Eving")
    await session.commit()

    response = await rename(client, branch, "Bürgerdienste Brackel", if_match=None)

    assert response.status_code == 428
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"] == PROBLEMS + "precondition-required"
    assert (await stored_branch(db, branch)).name == "Bürgerdienste Eving"


@pytest.mark.parametrize(
    "if_match",
    [
        pytest.param('"v1"', id="outdated"),
        pytest.param('W/"v2"', id="weak-current"),
        pytest.param('"v2"-ish', id="malformed"),
        pytest.param("v2", id="unquoted"),
    ],
)
async def test_edit_with_non_matching_etag_gets_412_and_changes_nothing(
    client: httpx.AsyncClient,
    probe: ProbeControl,
    session: AsyncSession,
    db: Database,
    if_match: str,
) -> None:
    branch = await create_branch(session, name="Bürgerdienste Eving", version=2)
    await session.commit()

    response = await rename(client, branch, "Bürgerdienste Brackel", if_match=if_match)

    assert response.status_code == 412
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"] == PROBLEMS + "precondition-failed"
    stored = await stored_branch(db, branch)
    assert (stored.name, stored.version) == ("Bürgerdienste Eving", 2)
    assert await rename_audit_entries(db) == 0


@pytest.mark.parametrize(
    "if_match",
    [
        pytest.param("*", id="star"),
        pytest.param('"v1", "v2"', id="list-with-current"),
        pytest.param('W/"v1", "v2"', id="weak-and-strong"),
    ],
)
async def test_edit_with_matching_if_match_succeeds(
    client: httpx.AsyncClient, probe: ProbeControl, session: AsyncSession, if_match: str
) -> None:
    branch = await create_branch(session, version=2)
    await session.commit()

    response = await rename(client, branch, "Bürgerdienste Mengede", if_match=if_match)

    assert response.status_code == 200
    assert response.headers["ETag"] == '"v3"'


async def test_second_edit_with_the_same_etag_gets_412(
    client: httpx.AsyncClient, probe: ProbeControl, session: AsyncSession, db: Database
) -> None:
    branch = await create_branch(session)
    await session.commit()

    first = await rename(client, branch, "Bürgerdienste Hombruch", if_match='"v1"')
    second = await rename(client, branch, "Bürgerdienste Huckarde", if_match='"v1"')

    assert (first.status_code, second.status_code) == (200, 412)
    stored = await stored_branch(db, branch)
    assert (stored.name, stored.version) == ("Bürgerdienste Hombruch", 2)


async def test_concurrent_edits_with_the_same_etag_exactly_one_wins(
    committed_client: httpx.AsyncClient,
    committed_probe: ProbeControl,
    committed_db: Database,
) -> None:
    async with committed_db.transaction() as session:
        branch = await create_branch(session)
    names = [f"Bürgerdienste Filiale {n:02d}" for n in range(CONCURRENT_REQUESTS)]

    responses = await asyncio.gather(
        *(rename(committed_client, branch, name, if_match='"v1"') for name in names)
    )

    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] + [412] * (CONCURRENT_REQUESTS - 1)
    (winner,) = [r for r in responses if r.status_code == 200]
    assert winner.headers["ETag"] == '"v2"'
    stored = await stored_branch(committed_db, branch)
    assert (stored.name, stored.version) == (winner.json()["name"], 2)
    assert await rename_audit_entries(committed_db) == 1
