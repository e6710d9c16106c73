"""Cursor pagination, proven on the probe lists `GET /probe/branches` (ORM entities) and
`GET /probe/branch-rows` (Core rows), in the sort orders of `PROBE_ORDERS`."""

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
from app.core.pagination import SortOrder, encode_cursor
from app.organisation.models import Branch
from tests.fixtures.factories import create_branch
from tests.fixtures.probe_routes import PROBE_ORDERS, ProbeControl, install_probe_routes

INVALID_CURSOR = "https://rathaus.example/problems/invalid-cursor"
NOON = datetime(2026, 3, 2, 11, 0, tzinfo=UTC)
BRANCHES = "/probe/branches"
BRANCH_ROWS = "/probe/branch-rows"

Forge = Callable[[str, bytes], str]
"""Turns a genuine cursor and the app's secret into the cursor a client sends."""


@pytest.fixture
def probe(app: FastAPI) -> ProbeControl:
    return install_probe_routes(app)


async def get_page(
    client: httpx.AsyncClient,
    *,
    order_by: str,
    limit: int,
    cursor: str | None = None,
    path: str = BRANCHES,
) -> dict[str, Any]:
    params: dict[str, str | int] = {"order_by": order_by, "limit": limit}
    if cursor is not None:
        params["cursor"] = cursor
    response = await client.get(path, params=params)
    assert response.status_code == 200, response.text
    page: dict[str, Any] = response.json()
    return page


async def walk_pages(
    client: httpx.AsyncClient, *, order_by: str, limit: int, path: str = BRANCHES
) -> list[list[str]]:
    """The item ids of every page, following next_cursor until it is null."""
    pages: list[list[str]] = []
    cursor: str | None = None
    while True:
        page = await get_page(client, order_by=order_by, limit=limit, cursor=cursor, path=path)
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


BY_ID = SortOrder(PROBE_ORDERS["id"])


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
            lambda cursor, secret: encode_cursor([str(uuid.uuid4())], b"another-secret", BY_ID),
            id="other-secret",
        ),
        pytest.param(
            lambda cursor, secret: encode_cursor([NOON, str(uuid.uuid4())], secret, BY_ID),
            id="wrong-column-count",
        ),
        pytest.param(
            lambda cursor, secret: encode_cursor(["not-a-uuid"], secret, BY_ID),
            id="wrong-value-type",
        ),
        pytest.param(
            lambda cursor, secret: encode_cursor([17], secret, BY_ID), id="number-for-uuid"
        ),
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


# Sort directions per column, on ORM entities and on Core rows alike.

ListPath = str
BOTH_LISTS = pytest.mark.parametrize("path", [BRANCHES, BRANCH_ROWS])


def newest_first(branch: Branch) -> tuple[float, int]:
    return (-branch.created_at.timestamp(), -branch.id.int)


def by_name_then_newest(branch: Branch) -> tuple[str, float, int]:
    return (branch.name, -branch.created_at.timestamp(), branch.id.int)


def in_pages(branches: list[Branch], size: int) -> list[list[str]]:
    ids = [str(b.id) for b in branches]
    return [ids[i : i + size] for i in range(0, len(ids), size)]


@BOTH_LISTS
async def test_newest_first_pages_break_ties_by_id_descending(
    client: httpx.AsyncClient, probe: ProbeControl, session: AsyncSession, path: ListPath
) -> None:
    # Three branches share the newest timestamp, so a page boundary falls inside the tie.
    times = [NOON, NOON + timedelta(microseconds=1), *[NOON + timedelta(minutes=5)] * 3]
    branches = [await create_branch(session, created_at=t) for t in times]
    await session.commit()

    pages = await walk_pages(client, order_by="-created_at", limit=2, path=path)

    assert pages == in_pages(sorted(branches, key=newest_first), 2)
    assert pages[0][0] == str(max(branches[2:], key=lambda b: b.id.int).id)


@BOTH_LISTS
async def test_mixed_directions_sort_by_name_then_newest_then_id(
    client: httpx.AsyncClient, probe: ProbeControl, session: AsyncSession, path: ListPath
) -> None:
    # Ties on the name, and inside one name ties on the time: every column decides somewhere.
    spec = [
        ("Bürgerdienste B", NOON),
        ("Bürgerdienste A", NOON),
        ("Bürgerdienste B", NOON + timedelta(hours=1)),
        ("Bürgerdienste A", NOON + timedelta(hours=1)),
        ("Bürgerdienste A", NOON + timedelta(hours=1)),
        ("Bürgerdienste A", NOON - timedelta(hours=1)),
        ("Bürgerdienste C", NOON),
    ]
    branches = [await create_branch(session, name=name, created_at=t) for name, t in spec]
    await session.commit()

    for limit in (1, 2, 3):
        pages = await walk_pages(client, order_by="name,-created_at", limit=limit, path=path)

        assert pages == in_pages(sorted(branches, key=by_name_then_newest), limit)


@BOTH_LISTS
async def test_newest_first_rows_inserted_between_pages_neither_repeat_nor_hide_rows(
    client: httpx.AsyncClient, probe: ProbeControl, session: AsyncSession, path: ListPath
) -> None:
    branches = [
        await create_branch(session, created_at=NOON + timedelta(minutes=m)) for m in range(4)
    ]
    await session.commit()
    first = await get_page(client, order_by="-created_at", limit=2, path=path)

    newer = await create_branch(session, created_at=NOON + timedelta(days=1))
    older = await create_branch(session, created_at=NOON - timedelta(days=1))
    await session.commit()
    second = await get_page(
        client, order_by="-created_at", limit=2, cursor=first["next_cursor"], path=path
    )
    third = await get_page(
        client, order_by="-created_at", limit=2, cursor=second["next_cursor"], path=path
    )

    newest = [str(b.id) for b in reversed(branches)]
    assert [item["id"] for item in first["items"]] == newest[0:2]
    assert [item["id"] for item in second["items"]] == newest[2:4]
    assert [item["id"] for item in third["items"]] == [str(older.id)]
    assert third["next_cursor"] is None
    assert str(newer.id) not in {i["id"] for p in (second, third) for i in p["items"]}


async def test_rows_list_returns_the_same_pages_as_the_entity_list(
    client: httpx.AsyncClient, probe: ProbeControl, session: AsyncSession
) -> None:
    for minute in range(5):
        await create_branch(session, created_at=NOON + timedelta(minutes=minute % 2))
    await session.commit()

    for order_by in PROBE_ORDERS:
        rows = await walk_pages(client, order_by=order_by, limit=2, path=BRANCH_ROWS)

        assert rows == await walk_pages(client, order_by=order_by, limit=2, path=BRANCHES)


@BOTH_LISTS
@pytest.mark.parametrize(
    ("issued_for", "used_for"),
    [
        ("created_at", "-created_at"),
        ("-created_at", "created_at"),
        ("-created_at", "name,-created_at"),
    ],
)
async def test_cursor_from_another_sort_order_gets_400_invalid_cursor(
    client: httpx.AsyncClient,
    probe: ProbeControl,
    session: AsyncSession,
    path: ListPath,
    issued_for: str,
    used_for: str,
) -> None:
    for _ in range(3):
        await create_branch(session)
    await session.commit()
    cursor = (await get_page(client, order_by=issued_for, limit=1, path=path))["next_cursor"]

    response = await client.get(path, params={"order_by": used_for, "cursor": cursor})

    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"] == INVALID_CURSOR


NEWEST_FIRST = SortOrder(PROBE_ORDERS["-created_at"])
BY_NAME_THEN_NEWEST = SortOrder(PROBE_ORDERS["name,-created_at"])
SOME_ID = "6f1c1b5e-0a57-4c1e-9d3a-2b8f0e4c7a11"


@pytest.mark.parametrize(
    ("order_by", "values"),
    [
        pytest.param("-created_at", ["yesterday", SOME_ID], id="words-for-time"),
        pytest.param("-created_at", ["2026-03-02T11:00:00", SOME_ID], id="time-without-zone"),
        pytest.param("-created_at", [1772449200, SOME_ID], id="number-for-time"),
        pytest.param("-created_at", [None, SOME_ID], id="null-time"),
        pytest.param("-created_at", [NOON.isoformat(), True], id="bool-for-uuid"),
        pytest.param("-created_at", [NOON.isoformat(), "not-a-uuid"], id="text-for-uuid"),
        pytest.param("-created_at", [NOON.isoformat()], id="too-few-values"),
        pytest.param("name,-created_at", [17, NOON.isoformat(), SOME_ID], id="number-for-name"),
        pytest.param("name,-created_at", [["A"], NOON.isoformat(), SOME_ID], id="list-for-name"),
        pytest.param("-created_at", {"created_at": NOON.isoformat()}, id="object"),
    ],
)
async def test_signed_cursor_with_values_of_the_wrong_type_gets_400_invalid_cursor(
    client: httpx.AsyncClient,
    probe: ProbeControl,
    settings: Settings,
    order_by: str,
    values: Any,
) -> None:
    order = SortOrder(PROBE_ORDERS[order_by])
    cursor = encode_cursor(values, settings.secret_key.encode(), order)

    response = await client.get(BRANCHES, params={"order_by": order_by, "cursor": cursor})

    assert response.status_code == 400
    assert response.json()["type"] == INVALID_CURSOR


@BOTH_LISTS
async def test_signed_cursor_with_well_typed_values_continues_after_them(
    client: httpx.AsyncClient,
    probe: ProbeControl,
    session: AsyncSession,
    settings: Settings,
    path: ListPath,
) -> None:
    before = await create_branch(session, created_at=NOON - timedelta(minutes=1))
    await create_branch(session, created_at=NOON + timedelta(minutes=1))
    await session.commit()
    cursor = encode_cursor([NOON, SOME_ID], settings.secret_key.encode(), NEWEST_FIRST)

    page = await get_page(client, order_by="-created_at", limit=5, cursor=cursor, path=path)

    assert [item["id"] for item in page["items"]] == [str(before.id)]


@BOTH_LISTS
async def test_tampered_newest_first_cursor_gets_400_invalid_cursor(
    client: httpx.AsyncClient, probe: ProbeControl, session: AsyncSession, path: ListPath
) -> None:
    for _ in range(3):
        await create_branch(session)
    await session.commit()
    cursor = (await get_page(client, order_by="-created_at", limit=1, path=path))["next_cursor"]

    response = await client.get(
        path, params={"order_by": "-created_at", "cursor": _tampered(cursor)}
    )

    assert response.status_code == 400
    assert response.json()["type"] == INVALID_CURSOR


def test_sort_order_refuses_a_column_that_may_be_null() -> None:
    with pytest.raises(ValueError, match="NULL"):
        SortOrder([Branch.district, Branch.id])


def test_sort_order_refuses_nulls_last_and_other_modifiers() -> None:
    with pytest.raises(TypeError):
        SortOrder([Branch.created_at.desc().nulls_last(), Branch.id])
