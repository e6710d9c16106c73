"""Figures per branch and day: for the branches' supervisors (JSON and CSV), and as an
anonymised open-data feed the city can publish."""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta
from typing import Annotated, Any

from fastapi import Query
from fastapi.responses import JSONResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from app.appointments.branch_day import BranchAccess
from app.appointments.calendar import local_day
from app.appointments.dependencies import BranchWorkerAccess, Now
from app.appointments.errors import StatisticsRangeRefused
from app.appointments.schemas import OpenDataRead, StatisticsRead
from app.appointments.statistics import (
    MIN_OBSERVATIONS,
    OPEN_DATA_LICENSE,
    OPEN_DATA_LICENSE_URL,
    DayFigures,
    as_csv,
    as_json,
    check_range,
    statistics_service,
)
from app.core.auth import MissingRole
from app.core.caching import IfNoneMatchHeader, cached_body, cached_json, cached_responses
from app.core.routing import api_router, merge_responses, problem_responses
from app.core.schemas import IsoDate
from app.core.uow import ReadSession
from app.organisation.errors import BranchNotFound

router = api_router("appointments", prefix="/api/v1/appointments")

OPEN_DATA_MAX_AGE_SECONDS = 3600
DEFAULT_DAYS = 30
CSV_MEDIA_TYPE = "text/csv; charset=utf-8; header=present"
CSV_EXAMPLE = (
    "date,branch_id,branch_code,branch_name,slots_offered,slots_booked,appointments_booked,"
    "appointments_used,appointments_no_show,appointments_cancelled,no_show_rate,"
    "waiting_seconds_median,waiting_seconds_p90,service_seconds_median,walk_ins_served,"
    "walk_ins_turned_away\r\n2027-03-29,0f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0,hoerde,"
    "Bürgerdienste Hörde,336,301,188,165,17,9,0.0934,240,780,540,61,4\r\n"
)
FIGURES = (
    "Per branch and Berlin day: online slot units offered and booked; appointments booked, "
    "used, missed and cancelled; the no-show rate; median and 90th-percentile waiting time "
    "from check-in (or drawing a walk-in ticket) to the call; the median service time; "
    "walk-ins served and turned away. Computed from the calendar at the moment of the "
    "request. At most 92 days per request (longer is 422 `statistics-range-refused`)."
)
WHO_MAY = (
    "For staff of a branch (their own branches only), supervisors of the department that runs "
    "the branches, and administrators; without `branch_id`, every branch the caller may see. "
    "A branch the caller does not work at is 403, also one that does not exist; citizens and "
    "integrator clients get 403."
)
OPEN_DATA = (
    "Public, no sign-in: the anonymised daily figures the city publishes as open data under "
    "the Datenlizenz Deutschland – Namensnennung 2.0 (`dl-de/by-2-0`). Only days that have "
    "ended (`to` before today; default the last 30 of them); no names, no booking "
    "references, and no waiting or service time over fewer than 5 visits (null then), so "
    "that no single citizen's visit can be read off."
)

BranchFilter = Annotated[
    uuid.UUID | None, Query(description="Only this branch; default every branch you may see.")
]
First = Annotated[IsoDate | None, Query(alias="from", description="First day (Berlin).")]
Last = Annotated[IsoDate | None, Query(alias="to", description="Last day (Berlin), inclusive.")]

CSV_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "RFC 4180 CSV, UTF-8, with a header row naming the columns of the JSON "
        "answer's `items`; an empty cell where JSON has null.",
        "content": {"text/csv": {"schema": {"type": "string"}, "example": CSV_EXAMPLE}},
    }
}


async def _supervisors_figures(
    session: AsyncSession,
    access: BranchAccess,
    now: datetime,
    branch_id: uuid.UUID | None,
    first: date | None,
    last: date | None,
) -> tuple[date, date, list[DayFigures]]:
    branch_ids = await statistics_service.branches_for(session, access, branch_id)
    last = last or local_day(now)
    first = first or last - timedelta(days=DEFAULT_DAYS - 1)
    check_range(first, last)
    return first, last, await statistics_service.figures(session, branch_ids, first, last)


async def _open_figures(
    session: AsyncSession, now: Now, first: date | None, last: date | None
) -> tuple[date, date, list[DayFigures]]:
    yesterday = local_day(now) - timedelta(days=1)
    last = last or yesterday
    first = first or last - timedelta(days=DEFAULT_DAYS - 1)
    check_range(first, last, last_allowed=yesterday)
    branch_ids = await statistics_service.all_branches(session)
    rows = await statistics_service.figures(
        session, branch_ids, first, last, minimum_observations=MIN_OBSERVATIONS
    )
    return first, last, rows


@router.get(
    "/statistics",
    response_model=StatisticsRead,
    summary="Figures per branch and day, for supervisors",
    description=f"{FIGURES} {WHO_MAY} The same as CSV: `appointments_statistics_csv`.",
    responses=problem_responses(MissingRole, BranchNotFound, StatisticsRangeRefused),
)
async def statistics(
    access: BranchWorkerAccess,
    session: ReadSession,
    now: Now,
    branch_id: BranchFilter = None,
    first: First = None,
    last: Last = None,
) -> JSONResponse:
    first, last, rows = await _supervisors_figures(session, access, now, branch_id, first, last)
    return JSONResponse(
        {"from": first.isoformat(), "to": last.isoformat(), "items": as_json(rows)},
        headers={"Cache-Control": "private, no-store"},
    )


@router.get(
    "/statistics.csv",
    response_class=Response,
    summary="Figures per branch and day, for supervisors, as CSV",
    description=f"{FIGURES} {WHO_MAY} One row per day and branch, for a spreadsheet.",
    responses=merge_responses(
        CSV_RESPONSE, problem_responses(MissingRole, BranchNotFound, StatisticsRangeRefused)
    ),
)
async def statistics_csv(
    access: BranchWorkerAccess,
    session: ReadSession,
    now: Now,
    branch_id: BranchFilter = None,
    first: First = None,
    last: Last = None,
) -> Response:
    first, last, rows = await _supervisors_figures(session, access, now, branch_id, first, last)
    return Response(
        as_csv(rows),
        media_type=CSV_MEDIA_TYPE,
        headers={
            "Cache-Control": "private, no-store",
            "Content-Disposition": f'attachment; filename="termine-{first}-{last}.csv"',
        },
    )


@router.get(
    "/open-data/daily",
    response_model=OpenDataRead,
    summary="Open data: anonymised daily figures per branch",
    description=f"{FIGURES} {OPEN_DATA} As CSV: `appointments_open_data_csv`. Send the "
    "`ETag` back as `If-None-Match` to get 304 while nothing changed.",
    responses=merge_responses(cached_responses(), problem_responses(StatisticsRangeRefused)),
)
async def open_data(
    session: ReadSession,
    now: Now,
    first: First = None,
    last: Last = None,
    if_none_match: IfNoneMatchHeader = None,
) -> Response:
    first, last, rows = await _open_figures(session, now, first, last)
    return cached_json(
        {
            "license": OPEN_DATA_LICENSE,
            "license_url": OPEN_DATA_LICENSE_URL,
            "from": first.isoformat(),
            "to": last.isoformat(),
            "items": as_json(rows),
        },
        if_none_match=if_none_match,
        max_age_seconds=OPEN_DATA_MAX_AGE_SECONDS,
    )


@router.get(
    "/open-data/daily.csv",
    response_class=Response,
    summary="Open data: anonymised daily figures per branch, as CSV",
    description=f"{FIGURES} {OPEN_DATA} Send the `ETag` back as `If-None-Match` to get 304 "
    "while nothing changed.",
    responses=merge_responses(
        CSV_RESPONSE, cached_responses(), problem_responses(StatisticsRangeRefused)
    ),
)
async def open_data_csv(
    session: ReadSession,
    now: Now,
    first: First = None,
    last: Last = None,
    if_none_match: IfNoneMatchHeader = None,
) -> Response:
    first, last, rows = await _open_figures(session, now, first, last)
    return cached_body(
        as_csv(rows).encode(),
        media_type=CSV_MEDIA_TYPE,
        if_none_match=if_none_match,
        max_age_seconds=OPEN_DATA_MAX_AGE_SECONDS,
    )
