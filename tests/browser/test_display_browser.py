"""The call-up display in headless Chromium, as a waiting-room screen shows it: the page from
one server process, the call made through the app in the test process on the same database, so nothing but the
database carries the call. It appears within 2 seconds, also while the screen's stream ends
and reconnects, and axe-core finds no accessibility violation before the first call and on a
landscape or a portrait screen.

Chromium is Debian's (`make browser`), driven by Playwright without a browser of its own;
axe-core comes from tests/browser/package-lock.json and is injected from disk.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta

import httpx
import pytest
from playwright.async_api import Browser, Page, Request, expect

from app.appointments.models import BOOKING, Booking
from app.appointments.repository import BookingStatus
from app.core.db import Database, utcnow
from app.core.references import allocate
from bench.server import running_server
from tests.browser.axe import axe_violations
from tests.fixtures.appointments import create_calendar
from tests.fixtures.auth import sign_in

APPEARS_WITHIN_MS = 2000
NAME = "Erika Mustermann"
# Streams end after a second, so the screen reconnects during the test.
SERVER_SETTINGS = {
    "RATHAUS_ENV": "test",
    "RATHAUS_WORKER_IN_PROCESS": "false",
    "RATHAUS_DISPLAY_STREAM_SECONDS": "1",
}
LANDSCAPE = {"width": 1920, "height": 1080}
PORTRAIT = {"width": 1080, "height": 1920}


@dataclass(frozen=True)
class WaitingRoom:
    branch_id: uuid.UUID
    counter_ids: list[uuid.UUID]
    references: list[str]


@pytest.fixture(scope="module")
def screen_server(database_url: str) -> Iterator[str]:
    """`rathaus serve` on the test worker's database, serving the screen; the clerks call
    through the app in the test process (`committed_client`), another process."""
    with running_server(database_url, 1, SERVER_SETTINGS) as port:
        yield f"http://127.0.0.1:{port}"


async def create_waiting_room(database: Database, appointments: int) -> WaitingRoom:
    """A branch with three counters and confirmed appointments starting now, booked for
    `NAME` (which must never reach the screen)."""
    now = utcnow().replace(second=0, microsecond=0)
    async with database.transaction() as session:
        calendar = await create_calendar(session, shares=(100, 100, 100))
        references = []
        for _ in range(appointments):
            reference = await allocate(session, BOOKING)
            session.add(
                Booking(
                    reference=reference,
                    status=BookingStatus.confirmed,
                    branch_id=calendar.branch.id,
                    service_id=calendar.service.id,
                    starts_at=now,
                    ends_at=now + timedelta(minutes=10),
                    units=1,
                    name=NAME,
                    confirmed_at=now,
                )
            )
            references.append(reference)
    return WaitingRoom(calendar.branch.id, [c.id for c in calendar.counters], references)


async def call(
    clerks: httpx.AsyncClient,
    headers: dict[str, str],
    room: WaitingRoom,
    reference: str,
    counter_id: uuid.UUID,
) -> str:
    """The citizen checks in and the counter calls the next one, them: the call the screen
    shows."""
    checked_in = await clerks.post(
        "/api/v1/appointments/check-ins", json={"reference": reference}, headers=headers
    )
    assert checked_in.status_code == 200, checked_in.text
    called = await clerks.post(
        f"/api/v1/appointments/branches/{room.branch_id}/counters/{counter_id}/call-next",
        headers=headers,
    )
    assert called.status_code == 200, called.text
    return str(called.json()["call_number"])


# When the latest call on the screen first reads `text` (ms since the epoch, the browser's
# clock, which is this machine's).
SHOWN_AT = """(text) => new Promise((resolve) => {
  const latest = document.querySelector("#latest");
  const shown = () => latest.innerText.includes(text);
  if (shown()) return resolve(Date.now());
  new MutationObserver((_, observer) => {
    if (shown()) {
      observer.disconnect();
      resolve(Date.now());
    }
  }).observe(latest, { childList: true, subtree: true, characterData: true });
})"""


async def until(condition: Callable[[], bool], seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"not within {seconds} s"
        await asyncio.sleep(0.05)


async def latest_call(page: Page) -> str:
    return str(await page.inner_text("#latest"))


async def test_a_call_made_through_another_process_appears_on_the_screen_within_2_seconds(
    committed_db: Database,
    committed_client: httpx.AsyncClient,
    screen_server: str,
    browser: Browser,
    axe_source: str,
) -> None:
    room = await create_waiting_room(committed_db, appointments=2)
    first, second = room.references
    clerks = committed_client
    headers = (await sign_in(clerks, "admin", staff=True)).headers
    page = await browser.new_page(viewport=LANDSCAPE)
    problems: list[str] = []
    page.on(
        "console",
        lambda m: problems.append(f"{m.text} {m.location['url']}") if m.type == "error" else None,
    )
    page.on("pageerror", lambda error: problems.append(str(error)))
    streams: list[Request] = []
    page.on("request", lambda r: streams.append(r) if r.url.endswith("/events") else None)

    await page.goto(f"{screen_server}/appointments/branches/{room.branch_id}/display")
    await expect(page.locator("#latest")).to_contain_text("Noch kein Aufruf")
    assert await axe_violations(page, axe_source) == []
    assert await call(clerks, headers, room, first, room.counter_ids[0]) == "A001"
    await expect(page.locator("#latest")).to_contain_text("A001", timeout=10_000)
    # The screen's stream ends every second here; it reconnects from the board it has.
    await until(lambda: len(streams) > 1)
    reconnect = await streams[1].all_headers()
    assert reconnect["last-event-id"]

    shown = asyncio.create_task(page.evaluate(SHOWN_AT, "A002"))
    assert await call(clerks, headers, room, second, room.counter_ids[2]) == "A002"
    called_at = time.time() * 1000
    shown_after_ms = await asyncio.wait_for(shown, timeout=10) - called_at

    assert shown_after_ms < APPEARS_WITHIN_MS, f"shown {shown_after_ms:.0f} ms after the call"
    latest = await latest_call(page)
    assert "Nummer A002 bitte zu Schalter 3." in latest
    assert "Number A002, please go to Schalter 3." in latest
    assert await page.get_attribute("#latest", "aria-live") == "polite"
    assert await page.inner_text("#earlier") == "A001\n→\nSchalter 1"
    content = await page.content()
    assert NAME not in content
    assert not any(reference in content for reference in room.references)
    assert [p for p in problems if not p.endswith("/favicon.ico")] == []  # nothing refused

    assert await axe_violations(page, axe_source) == []
    await page.set_viewport_size(PORTRAIT)
    await asyncio.sleep(0)  # let the layout follow
    assert await axe_violations(page, axe_source) == []
    await page.close()
