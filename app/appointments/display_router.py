"""The call-up display: the page for the waiting-room screen, its script, and the board it
shows, as JSON for polling and as server-sent events. All public: a waiting-room screen has no
sign-in, and the board holds only call numbers and counter names."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated

from fastapi import Header, Path, Query
from fastapi.responses import HTMLResponse, Response, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from app.appointments.calendar import local_day
from app.appointments.dependencies import AppDatabase, AppSettings, Now
from app.appointments.display import board_events, call_boards
from app.appointments.display_page import SCRIPT_PATH, display_html, not_found_html, script
from app.appointments.display_page import script_version as current_script_version
from app.core.caching import IfNoneMatchHeader, cached_json, cached_responses
from app.core.openapi import header_refs
from app.core.routing import api_router, merge_responses, problem_responses
from app.core.uow import ReadSession
from app.organisation.errors import BranchNotFound
from app.organisation.service import branch_service

router = api_router("appointments", prefix="/api/v1/appointments")
pages = api_router("appointments", prefix="/appointments")

API = "/api/v1/appointments"
BRANCH_EXAMPLE = "0f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0"
PAGE = "`/appointments/branches/{branch_id}/display`"

BranchId = Annotated[uuid.UUID, Path(description="The branch; see `GET /api/v1/branches`.")]


class DisplayCallRead(BaseModel):
    call_number: str = Field(
        description="The number called, as the citizen holds it: `A017` for an appointment, "
        "`W012` for a walk-in ticket."
    )
    counter_id: uuid.UUID = Field(description="The counter; see `appointments_branch_day`.")
    counter_name: str = Field(description="Where to go, e.g. `Schalter 3`.")
    called_at: dt.datetime = Field(description="When it was called, RFC 3339 in Berlin.")


class DisplayBoardRead(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "branch_id": BRANCH_EXAMPLE,
                    "date": "2027-03-29",
                    "items": [
                        {
                            "call_number": "A017",
                            "counter_id": "5b8e1c9a-2f47-4d36-9a0e-7c41d2b3e8f5",
                            "counter_name": "Schalter 3",
                            "called_at": "2027-03-29T09:12:04+02:00",
                        },
                        {
                            "call_number": "A016",
                            "counter_id": "9d2a6f14-8c3b-4e57-b1a0-3f6e9c8d7b21",
                            "counter_name": "Schalter 1",
                            "called_at": "2027-03-29T09:10:40+02:00",
                        },
                    ],
                }
            ]
        }
    )

    branch_id: uuid.UUID
    date: dt.date = Field(description="The day in Berlin.")
    items: list[DisplayCallRead] = Field(
        description="The day's latest calls at the branch, at most 8, the latest first; a "
        "number called again appears again."
    )


class EventStreamResponse(StreamingResponse):
    media_type = "text/event-stream"


EVENT_STREAM_EXAMPLE = (
    "retry: 500\n\n"
    f'event: calls\nid: 5f0c3a7e9b2d4c61a8e7f3b0d9c2a614\ndata: {{"branch_id":"{BRANCH_EXAMPLE}",'
    '"date":"2027-03-29","items":[{"call_number":"A017",'
    '"counter_id":"5b8e1c9a-2f47-4d36-9a0e-7c41d2b3e8f5","counter_name":"Schalter 3",'
    '"called_at":"2027-03-29T09:12:04+02:00"}]}\n\n'
)


@router.get(
    "/branches/{branch_id}/display",
    response_model=DisplayBoardRead,
    summary="The latest calls at a branch, for its call-up display",
    description="Which call number goes to which counter today (Berlin), the latest call "
    "first, as `appointments_call_next` and the recalls made them: what the branch's "
    "waiting-room screen shows (the page "
    f"{PAGE}). Only call numbers and counter names, never a name or a reference, so it is "
    "public: no sign-in needed. For screens that poll: send the `ETag` back as "
    "`If-None-Match` to get 304 while nothing changed; a new call is seen within "
    "`RATHAUS_DISPLAY_POLL_SECONDS` (default 0.5) and a half. A branch that does not exist "
    "or takes no appointments is 404.",
    responses=merge_responses(cached_responses(), problem_responses(BranchNotFound)),
)
async def display_calls(
    branch_id: BranchId,
    database: AppDatabase,
    settings: AppSettings,
    now: Now,
    if_none_match: IfNoneMatchHeader = None,
) -> Response:
    board = await call_boards(database, settings).board(branch_id, local_day(now))
    return cached_json(board.json(), if_none_match=if_none_match, max_age_seconds=0)


@router.get(
    "/branches/{branch_id}/display/events",
    response_class=StreamingResponse,  # no media type of its own: problems stay JSON
    summary="The latest calls at a branch as a live stream (server-sent events)",
    description="The board of `appointments_display_calls` as server-sent events "
    "(`text/event-stream`, for `EventSource`): an event `calls` whose `data` is the board "
    "as JSON and whose `id` is its version, at once and then each time the board changes, "
    f"seen within `RATHAUS_DISPLAY_POLL_SECONDS` (default 0.5) and a half. The page {PAGE} "
    "follows it. The server ends each stream after `RATHAUS_DISPLAY_STREAM_SECONDS` "
    "(default 60) and asks the client to reconnect after half a second (`retry`); a client that "
    "sends the last `id` back as `Last-Event-ID`, as `EventSource` does, gets the board "
    "again only once it has changed. Quiet streams carry a comment line every 15 seconds. "
    "Public: no sign-in needed. A branch that does not exist or takes no appointments is "
    "404, before the stream begins.",
    responses=merge_responses(
        {
            200: {
                "description": "The stream of boards.",
                "headers": header_refs("Cache-Control"),
                "content": {
                    "text/event-stream": {
                        "schema": {"type": "string"},
                        "example": EVENT_STREAM_EXAMPLE,
                    }
                },
            }
        },
        problem_responses(BranchNotFound),
    ),
)
async def display_events(
    branch_id: BranchId,
    database: AppDatabase,
    settings: AppSettings,
    now: Now,
    last_event_id: Annotated[
        str | None,
        Header(
            alias="Last-Event-ID",
            max_length=64,
            description="The `id` of the last event received; `EventSource` sends it when it "
            "reconnects.",
        ),
    ] = None,
) -> EventStreamResponse:
    boards = call_boards(database, settings)
    await boards.board(branch_id, local_day(now))  # 404 before the stream begins
    return EventStreamResponse(
        board_events(boards, branch_id, now, last_event_id, settings),
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


@pages.get("/branches/{branch_id}/display", response_class=HTMLResponse, include_in_schema=False)
async def display_page(
    branch_id: uuid.UUID,
    session: ReadSession,
    database: AppDatabase,
    settings: AppSettings,
    now: Now,
) -> HTMLResponse:
    """The page; the problem of an unknown branch as a page too, for people set up screens."""
    headers = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}
    try:
        await call_boards(database, settings).board(branch_id, local_day(now))
        branch = await branch_service.get(session, branch_id)
    except BranchNotFound:
        return HTMLResponse(not_found_html(), status_code=404, headers=headers)
    html = display_html(
        branch.name,
        board_url=f"{API}/branches/{branch_id}/display",
        events_url=f"{API}/branches/{branch_id}/display/events",
    )
    return HTMLResponse(html, headers=headers)


@pages.get(SCRIPT_PATH.removeprefix("/appointments"), include_in_schema=False)
async def display_script(
    version: Annotated[str | None, Query(alias="v", max_length=64)] = None,
) -> Response:
    """Kept for a year when asked for by its current version, as the page does."""
    cache = (
        "public, max-age=31536000, immutable" if version == current_script_version() else "no-cache"
    )
    return Response(
        script(), media_type="text/javascript; charset=utf-8", headers={"Cache-Control": cache}
    )
