"""Cursor pagination, proven on the probe list `GET /probe/branches` (created_at or id order)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.config import Settings
from app.core.pagination import encode_cursor
from tests.fixtures.factories import create_branch
from tests.fixtures.probe_routes import ProbeControl, install_probe_routes

INVALID_CURSOR = "https://rathaus.example/problems/invalid-cursor"
NOON = datetime(2026, 3, 2, 11, 0, tzinfo=UTC)

Forge = Callable[[str, bytes], str]
"""Turns a genuine cursor and the app's secret into the cursor a client sends."""


@pytest.fixture
def probe(app: FastAPI) -> ProbeControl:
    return install_probe_routes(app)


async def get_page(
    client: httpx.AsyncClient, *, order_by: str, limit: int, cursor: str | None = None
) -> dict[str, Any]:
    params: dict[str, str | int] = {"order_by": order_by, "limit": limit}
    if cursor is not None:
        params["cursor"] = cursor
    response = await client.get("/probe/branches", params=params)
    assert response.status_code == 200, response.text
    page: dict[str, Any] = response.json()
    return page


async def walk_pages(client: httpx.AsyncClient, *, order_by: str, limit: int) -> list[list[str]]:
    """The item ids of every page, following next_cursor until it is null."""
    pages: list[list[str]] = []
    cursor: str | None = None
    while True:
        page = await get_page(client, order_by=order_by, limit=limit, cursor=cursor)
        pages.append([item["id"] for item in page["items"]])
        cursor = page["next_cursor"]
        if cursor is None:
            return pages


def ascending_ids(count: int) -> list[uuid.UUID]:
    return sorted(uuid.uuid4() for _ in range(count))


async def test_pages_follow_creation_time_and_break_ties_by_id(
    client: httpx.AsyncClient, probe: ProbeControl, session: AsyncSession
) -> None:
    # Three branches share one timestamp, so a page boundary falls inside the tie.
    times = [NOON, NOON + timedelta(microseconds=1), *[NOON + timedelta(minutes=5)] * 3]
    ids = ascending_ids(len(times))
    for branch_id, created_at in zip(reversed(ids), times, strict=True):
        await create_branch(session, id=branch_id, created_at=created_at)
    await session.commit()
    expected = [str(i) for i in [ids[4], ids[3], ids[0], ids[1], ids[2]]]

    pages = await walk_pages(client, order_by="created_at", limit=2)

    assert pages == [expected[0:2], expected[2:4], expected[4:5]]


async def test_pages_follow_uuid_order(
    client: httpx.AsyncClient, probe: ProbeControl, session: AsyncSession
) -> None:
    ids = ascending_ids(5)
    for branch_id in reversed(ids):
        await create_branch(session, id=branch_id)
    await session.commit()

    pages = await walk_pages(client, order_by="id", limit=2)

    assert pages == [[str(i) for i in ids[0:2]], [str(i) for i in ids[2:4]], [str(ids[4])]]


@pytest.mark.parametrize("order_by", ["created_at", "id"])
async def test_rows_inserted_between_pages_neither_repeat_nor_hide_rows(
    client: httpx.AsyncClient, probe: ProbeControl, session: AsyncSession, order_by: str
) -> None:
    ids = ascending_ids(4)
    for minute, branch_id in enumerate(ids, start=1):
        await create_branch(session, id=branch_id, created_at=NOON + timedelta(minutes=minute))
    await session.commit()
    first = await get_page(client, order_by=order_by, limit=2)

    before_cursor = await create_branch(
        session, id=uuid.UUID(int=0), created_at=NOON - timedelta(days=1)
    )
    after_cursor = await create_branch(
        session, id=uuid.UUID(int=2**128 - 1), created_at=NOON + timedelta(days=1)
    )
    await session.commit()
    second = await get_page(client, order_by=order_by, limit=2, cursor=first["next_cursor"])
    third = await get_page(client, order_by=order_by, limit=2, cursor=second["next_cursor"])

    assert [item["id"] for item in first["items"]] == [str(i) for i in ids[0:2]]
    assert [item["id"] for item in second["items"]] == [str(i) for i in ids[2:4]]
    assert [item["id"] for item in third["items"]] == [str(after_cursor.id)]
    assert third["next_cursor"] is None
    assert str(before_cursor.id) not in {i["id"] for p in (second, third) for i in p["items"]}


async def test_exactly_full_last_page_has_null_next_cursor(
    client: httpx.AsyncClient, probe: ProbeControl, session: AsyncSession
) -> None:
    for _ in range(3):
        await create_branch(session)
    await session.commit()

    page = await get_page(client, order_by="id", limit=3)

    assert len(page["items"]) == 3
    assert page["next_cursor"] is None


async def test_empty_list_has_no_items_and_null_next_cursor(
    client: httpx.AsyncClient, probe: ProbeControl
) -> None:
    assert await get_page(client, order_by="id", limit=5) == {"items": [], "next_cursor": None}


async def test_limit_of_100_is_accepted(
    client: httpx.AsyncClient, probe: ProbeControl, session: AsyncSession
) -> None:
    for _ in range(3):
        await create_branch(session)
    await session.commit()

    page = await get_page(client, order_by="id", limit=100)

    assert len(page["items"]) == 3


@pytest.mark.parametrize("limit", ["0", "101", "many"])
async def test_limit_outside_1_to_100_gets_422_pointing_at_limit(
    client: httpx.AsyncClient, probe: ProbeControl, limit: str
) -> None:
    response = await client.get("/probe/branches", params={"limit": limit})

    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert [e["pointer"] for e in response.json()["errors"]] == ["#/query/limit"]


def _tampered(cursor: str) -> str:
    last = cursor[-1]
    return cursor[:-1] + ("A" if last != "A" else "B")


@pytest.mark.parametrize(
    "forge",
    [
        pytest.param(lambda cursor, secret: "not-a-cursor!!", id="garbled"),
        pytest.param(lambda cursor, secret: cursor[:10], id="truncated"),
        pytest.param(lambda cursor, secret: _tampered(cursor), id="tampered"),
        pytest.param(
            lambda cursor, secret: encode_cursor([str(uuid.uuid4())], b"another-secret"),
            id="other-secret",
        ),
        pytest.param(
            lambda cursor, secret: encode_cursor([NOON, str(uuid.uuid4())], secret),
            id="wrong-column-count",
        ),
        pytest.param(
            lambda cursor, secret: encode_cursor(["not-a-uuid"], secret), id="wrong-value-type"
        ),
        pytest.param(lambda cursor, secret: encode_cursor([17], secret), id="number-for-uuid"),
    ],
)
async def test_forged_or_garbled_cursor_gets_400_invalid_cursor(
    client: httpx.AsyncClient,
    probe: ProbeControl,
    session: AsyncSession,
    settings: Settings,
    forge: Forge,
) -> None:
    for _ in range(3):
        await create_branch(session)
    await session.commit()
    genuine = (await get_page(client, order_by="id", limit=1))["next_cursor"]

    response = await client.get(
        "/probe/branches",
        params={"order_by": "id", "cursor": forge(genuine, settings.secret_key.encode())},
    )

    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"] == INVALID_CURSOR
