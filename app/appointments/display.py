"""The call-up display (Aufrufanzeige) of a branch's waiting room: which call number goes to
which counter, the latest call first.

The display is public, as a waiting-room screen has no sign-in, so a board holds call numbers
and counter names and nothing else: never a name or a booking reference.

Any number of stateless server processes serve the screens. Each reads the latest calls
(`queue.recent_calls`: "call next" and recalls) from the database, at most once per
`RATHAUS_DISPLAY_POLL_SECONDS` per branch however many screens it serves (`CallBoards`), in a
read-only session held for that read alone. A board's `version`, a
hash of what it shows, tells a stream or a polling screen whether anything changed.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from weakref import WeakKeyDictionary

import structlog
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession

from app.appointments.calendar import local_day
from app.appointments.models import BranchCalendar
from app.appointments.queue import RecentCall, recent_calls
from app.core.config import Settings
from app.core.db import Database
from app.organisation.errors import BranchNotFound

DISPLAYED_CALLS = 8
"""The latest call, large, and the seven before it."""
RECONNECT_MILLISECONDS = 500
"""How long a screen waits before it reconnects to a stream the server ended."""
KEEP_ALIVE_SECONDS = 15.0
"""A comment line on a quiet stream, so that proxies do not close it as idle."""

logger = structlog.get_logger("rathaus.appointments.display")


@dataclass(frozen=True, slots=True)
class Board:
    """What a branch's screens show on one day."""

    branch_id: uuid.UUID
    day: date
    calls: tuple[RecentCall, ...]
    body: bytes = field(init=False)
    version: str = field(init=False)

    def __post_init__(self) -> None:
        body = json.dumps(self.json(), ensure_ascii=False, separators=(",", ":")).encode()
        object.__setattr__(self, "body", body)
        object.__setattr__(self, "version", hashlib.sha256(body).hexdigest()[:32])

    def json(self) -> dict[str, Any]:
        """In the shape of `DisplayBoardRead`."""
        return {
            "branch_id": str(self.branch_id),
            "date": self.day.isoformat(),
            "items": [call.json() for call in self.calls],
        }


async def takes_appointments(session: AsyncSession, branch_id: uuid.UUID) -> bool:
    """Whether the branch has a calendar, and so a waiting room with calls."""
    found = await session.scalar(
        select(BranchCalendar.branch_id).where(BranchCalendar.branch_id == branch_id)
    )
    return found is not None


class CallBoards:
    """The boards of one process's branches, each read from the database at most once per
    `max_age` seconds, however many screens and polls ask for it."""

    def __init__(self, database: Database, max_age: float) -> None:
        self._database = database
        self._max_age = max_age
        self._read: dict[uuid.UUID, tuple[float, Board]] = {}
        self._locks: dict[uuid.UUID, asyncio.Lock] = {}
        self._known: set[uuid.UUID] = set()

    async def board(self, branch_id: uuid.UUID, day: date) -> Board:
        """The branch's board of `day`, fresh within `max_age`; `BranchNotFound` for a
        branch that does not take appointments. Whether it does is asked once."""
        board = self._fresh(branch_id, day)
        if board is not None:
            return board
        lock = self._locks.setdefault(branch_id, asyncio.Lock())
        async with lock:
            board = self._fresh(branch_id, day)
            if board is not None:
                return board
            async with self._database.session(read_only=True) as session:
                if branch_id not in self._known:
                    if not await takes_appointments(session, branch_id):
                        self._locks.pop(branch_id, None)
                        raise BranchNotFound()
                    self._known.add(branch_id)
                calls = await recent_calls(session, branch_id, day, DISPLAYED_CALLS)
            board = Board(branch_id, day, tuple(calls))
            self._read[branch_id] = (time.monotonic(), board)
            return board

    def _fresh(self, branch_id: uuid.UUID, day: date) -> Board | None:
        entry = self._read.get(branch_id)
        if entry is None:
            return None
        read_at, board = entry
        if board.day != day or time.monotonic() - read_at >= self._max_age:
            return None
        return board


_boards: WeakKeyDictionary[Database, CallBoards] = WeakKeyDictionary()


def call_boards(database: Database, settings: Settings) -> CallBoards:
    """The process's boards for this database; a board may be as old as half the poll
    interval, so a call reaches a screen within one and a half intervals."""
    boards = _boards.get(database)
    if boards is None:
        boards = _boards[database] = CallBoards(database, settings.display_poll_seconds / 2)
    return boards


def event(board: Board) -> bytes:
    """A board as one server-sent event; its id is the board's version."""
    return b"event: calls\nid: " + board.version.encode() + b"\ndata: " + board.body + b"\n\n"


async def board_events(
    boards: CallBoards,
    branch_id: uuid.UUID,
    now: datetime,
    last_version: str | None,
    settings: Settings,
) -> AsyncIterator[bytes]:
    """The stream of a screen that already has the board `last_version` (none at first):
    each board that differs from the last one sent, polled every
    `RATHAUS_DISPLAY_POLL_SECONDS`, until `RATHAUS_DISPLAY_STREAM_SECONDS` have passed. Then
    the stream ends and the screen reconnects, with the last version as `Last-Event-ID`.

    `now` is the moment the stream began; the day of each board moves on from it."""
    yield f"retry: {RECONNECT_MILLISECONDS}\n\n".encode()
    began = time.monotonic()
    last_sent = began
    while True:
        elapsed = time.monotonic() - began
        try:
            board = await boards.board(branch_id, local_day(now + timedelta(seconds=elapsed)))
        except (SQLAlchemyError, OSError) as exc:
            # The screen reconnects and meets the problem at the start of its next stream.
            logger.warning("display_stream_read_failed", error=type(exc).__name__)
            return
        if board.version != last_version:
            last_version = board.version
            last_sent = time.monotonic()
            yield event(board)
        elif time.monotonic() - last_sent >= KEEP_ALIVE_SECONDS:
            last_sent = time.monotonic()
            yield b": still here\n\n"
        if elapsed >= settings.display_stream_seconds:
            return
        await asyncio.sleep(settings.display_poll_seconds)
