"""The call-up display of a branch's waiting room: each call number with its counter, the
latest first, as JSON with an ETag, as server-sent events and as a page, for anybody without
sign-in, and never a name or a reference. (The page itself, live in Chromium:
tests/browser/test_display_browser.py.)"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from app.appointments.display import DISPLAYED_CALLS
from app.core.config import Settings
from app.core.db import Database
from tests.conftest import make_settings
from tests.fixtures.appointments import Calendar, create_calendar, stand_at
from tests.fixtures.auth import sign_in
from tests.fixtures.bookings import book_with_eid
from tests.fixtures.factories import create_branch

FRIDAY = datetime(2027, 3, 19, 9, 0, tzinfo=UTC)
MONDAY = "2027-03-22"
MONDAY_8_05 = datetime(2027, 3, 22, 7, 5, tzinfo=UTC)  # Berlin, winter time: UTC+1
TUESDAY_8_05 = datetime(2027, 3, 23, 7, 5, tzinfo=UTC)
API = "/api/v1/appointments"
PROBLEM = "https://rathaus.example/problems/"
NAME = "Erika Mustermann"


@pytest.fixture
def settings(database_url: str) -> Settings:
    """One citizen books the whole morning; streams poll often and end after a second."""
    return make_settings(
        database_url,
        anti_automation=False,
        booking_max_active_per_person=50,
        display_poll_seconds=0.1,
        display_stream_seconds=1,
    )


@dataclass
class Waiting:
    """Monday morning at a branch with appointments at 8:00, 8:10, … booked on Friday, and
    another branch with one at 8:00; a clerk signed in. A call is "call next" at a counter."""

    branch: Calendar
    other: Calendar
    references: list[str]
    other_reference: str
    clerk: dict[str, str]


async def create_waiting_room(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession, appointments: int
) -> Waiting:
    branch = await create_calendar(session, shares=(100, 100, 100))
    other = await create_calendar(session, service=branch.service)
    await session.commit()
    stand_at(app, FRIDAY)
    citizen = (await sign_in(client, "erika")).access_token
    references = []
    for n in range(appointments):
        start = f"{MONDAY}T{8 + n // 6:02d}:{n % 6 * 10:02d}:00+01:00"
        booking = await book_with_eid(client, branch, citizen, start, name=NAME)
        references.append(booking["reference"])
    other_booking = await book_with_eid(client, other, citizen, f"{MONDAY}T08:00:00+01:00")
    clerk = (await sign_in(client, "admin", staff=True)).headers
    stand_at(app, MONDAY_8_05)
    return Waiting(branch, other, references, other_booking["reference"], clerk)


@pytest.fixture
async def waiting(app: FastAPI, client: httpx.AsyncClient, session: AsyncSession) -> Waiting:
    return await create_waiting_room(app, client, session, appointments=3)


async def arrive(
    client: httpx.AsyncClient, waiting: Waiting, reference: str, counter: int | None
) -> str:
    """The citizen checks in and, with a `counter` (its index at the branch), is called to it
    next; the call number."""
    calendar = waiting.branch if reference in waiting.references else waiting.other
    checked_in = await client.post(
        f"{API}/check-ins", json={"reference": reference}, headers=waiting.clerk
    )
    assert checked_in.status_code == 200, checked_in.text
    if counter is not None:
        counter_id = calendar.counters[counter].id
        called = await client.post(
            f"{API}/branches/{calendar.branch.id}/counters/{counter_id}/call-next",
            headers=waiting.clerk,
        )
        assert called.status_code == 200, called.text
        assert called.json()["call_number"] == checked_in.json()["call_number"]
    return str(checked_in.json()["call_number"])


def board_path(calendar: Calendar) -> str:
    return f"{API}/branches/{calendar.branch.id}/display"


def shown(board: dict[str, Any]) -> list[tuple[str, str]]:
    return [(item["call_number"], item["counter_name"]) for item in board["items"]]


def events(stream: str) -> list[tuple[str, dict[str, Any]]]:
    """The `calls` events of a stream: (id, board)."""
    found = []
    for block in stream.split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line)
        if fields.get("event") == "calls":
            found.append((fields["id"], json.loads(fields["data"])))
    return found


async def test_display_shows_each_call_with_its_counter_latest_first_without_personal_data(
    app: FastAPI, client: httpx.AsyncClient, waiting: Waiting
) -> None:
    first, second, third = waiting.references
    assert await arrive(client, waiting, first, counter=1) == "A001"
    assert await arrive(client, waiting, second, counter=0) == "A002"
    await arrive(client, waiting, third, counter=None)  # waits to be called
    await arrive(client, waiting, waiting.other_reference, counter=0)

    answer = await client.get(board_path(waiting.branch))

    assert answer.status_code == 200, answer.text
    board = answer.json()
    assert (board["branch_id"], board["date"]) == (str(waiting.branch.branch.id), MONDAY)
    assert shown(board) == [("A002", "Schalter 1"), ("A001", "Schalter 2")]
    assert board["items"][0]["called_at"] == f"{MONDAY}T08:05:00+01:00"
    for private in (NAME, *waiting.references):
        assert private not in answer.text
    first_id = (
        await client.get(f"{API}/branches/{waiting.branch.branch.id}/day", headers=waiting.clerk)
    ).json()["items"][0]["id"]
    stand_at(app, MONDAY_8_05 + timedelta(minutes=2))
    recalled = await client.post(f"{API}/bookings/{first_id}/recall", headers=waiting.clerk)
    assert recalled.status_code == 200, recalled.text
    await asyncio.sleep(0.1)  # the process reads a branch's board at most every 0.05 s here
    again = (await client.get(board_path(waiting.branch))).json()
    assert shown(again)[:3] == [
        ("A001", "Schalter 2"),
        ("A002", "Schalter 1"),
        ("A001", "Schalter 2"),
    ]
    assert shown((await client.get(board_path(waiting.other))).json()) == [("A001", "Schalter 1")]


async def test_the_board_of_a_new_day_is_empty(
    app: FastAPI, client: httpx.AsyncClient, waiting: Waiting
) -> None:
    await arrive(client, waiting, waiting.references[0], counter=0)

    stand_at(app, TUESDAY_8_05)
    board = (await client.get(board_path(waiting.branch))).json()

    assert (board["date"], board["items"]) == ("2027-03-23", [])


async def test_the_display_shows_the_latest_calls_only(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession
) -> None:
    waiting = await create_waiting_room(app, client, session, appointments=DISPLAYED_CALLS + 2)
    for reference in waiting.references:
        await arrive(client, waiting, reference, counter=0)

    board = (await client.get(board_path(waiting.branch))).json()

    numbers = [f"A{n:03d}" for n in range(DISPLAYED_CALLS + 2, 2, -1)]
    assert [number for number, _ in shown(board)] == numbers


async def test_a_poller_gets_304_until_a_new_call_changes_the_board(
    client: httpx.AsyncClient, waiting: Waiting
) -> None:
    await arrive(client, waiting, waiting.references[0], counter=0)
    first = await client.get(board_path(waiting.branch))
    etag = first.headers["ETag"]

    unchanged = await client.get(board_path(waiting.branch), headers={"If-None-Match": etag})
    assert (unchanged.status_code, unchanged.content) == (304, b"")

    await arrive(client, waiting, waiting.references[1], counter=2)
    await asyncio.sleep(0.1)  # the process reads a branch's board at most every 0.05 s here
    changed = await client.get(board_path(waiting.branch), headers={"If-None-Match": etag})
    assert changed.status_code == 200
    assert changed.headers["ETag"] != etag
    assert shown(changed.json())[0] == ("A002", "Schalter 3")


async def test_the_stream_sends_the_board_and_ends_so_that_the_screen_reconnects(
    client: httpx.AsyncClient, waiting: Waiting
) -> None:
    await arrive(client, waiting, waiting.references[0], counter=0)

    started = asyncio.get_running_loop().time()
    answer = await client.get(f"{board_path(waiting.branch)}/events")

    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/event-stream")
    assert answer.headers["cache-control"] == "no-store"
    assert 1 <= asyncio.get_running_loop().time() - started < 10
    assert answer.text.startswith("retry: 500\n\n")
    [(version, board)] = events(answer.text)
    assert shown(board) == [("A001", "Schalter 1")]
    assert NAME not in answer.text

    again = await client.get(
        f"{board_path(waiting.branch)}/events", headers={"Last-Event-ID": version}
    )
    assert events(again.text) == []


async def test_the_stream_sends_a_call_made_while_it_runs(
    committed_app: FastAPI,
    committed_client: httpx.AsyncClient,
    committed_db: Database,
) -> None:
    async with committed_db.transaction() as session:
        waiting = await create_waiting_room(committed_app, committed_client, session, 2)
    await arrive(committed_client, waiting, waiting.references[0], counter=0)

    async def call_soon() -> None:
        await asyncio.sleep(0.3)
        await arrive(committed_client, waiting, waiting.references[1], counter=1)

    stream, _ = await asyncio.gather(
        committed_client.get(f"{board_path(waiting.branch)}/events"), call_soon()
    )

    boards = [shown(board) for _, board in events(stream.text)]
    assert boards == [
        [("A001", "Schalter 1")],
        [("A002", "Schalter 2"), ("A001", "Schalter 1")],
    ]


async def test_the_page_is_public_bilingual_and_announces_calls_politely(
    client: httpx.AsyncClient, waiting: Waiting
) -> None:
    await arrive(client, waiting, waiting.references[0], counter=0)
    branch = waiting.branch.branch

    page = await client.get(f"/appointments/branches/{branch.id}/display")

    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    html = page.text
    assert '<html lang="de">' in html
    assert f"<title>Aufrufanzeige {branch.name} – Call-up display</title>" in html
    assert 'aria-live="polite"' in html
    assert 'lang="en">/ Now calling' in html
    assert f'data-events="{board_path(waiting.branch)}/events"' in html
    assert NAME not in html
    assert "script-src" not in page.headers["content-security-policy"]  # 'self' only
    script_url = html.split('<script src="', 1)[1].split('"', 1)[0]
    script = await client.get(script_url)
    assert script.status_code == 200
    assert script.headers["content-type"].startswith("text/javascript")
    assert "immutable" in script.headers["cache-control"]
    assert "EventSource" in script.text


async def test_a_branch_without_a_display_is_404_and_a_malformed_id_422(
    client: httpx.AsyncClient, session: AsyncSession, waiting: Waiting
) -> None:
    without_calendar = await create_branch(session)
    await session.commit()

    for branch_id in (without_calendar.id, "0f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0"):
        for path in (
            f"{API}/branches/{branch_id}/display",
            f"{API}/branches/{branch_id}/display/events",
        ):
            answer = await client.get(path)
            assert answer.status_code == 404, path
            assert answer.headers["content-type"] == "application/problem+json"
            assert answer.json()["type"] == f"{PROBLEM}branch-not-found"
        page = await client.get(f"/appointments/branches/{branch_id}/display")
        assert page.status_code == 404
        assert "Anzeige nicht gefunden" in page.text
        assert 'lang="en">/ Display not found' in page.text
    malformed = await client.get(f"{API}/branches/not-a-branch/display")
    assert malformed.status_code == 422
    assert malformed.json()["errors"][0]["pointer"] == "#/path/branch_id"
