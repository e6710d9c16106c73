"""Figures per branch and day: supervisors read them as JSON and CSV for the branches they may
see; the public reads an anonymised feed of ended days, with no names, no references and no
single citizen's times."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.appointments.calendar import day_bounds
from app.appointments.models import CapacityUnit
from app.appointments.statistics import COLUMNS, median, no_show_rate, percentile_90
from tests.appointments.test_branch_day import (
    API,
    FRIDAY,
    MONDAY,
    MONDAY_7_50,
    MONDAY_8_12,
    MONDAY_8_21,
    PROBLEM,
    Day,
    check_in,
    day,
    settings,
)
from tests.fixtures.appointments import stand_at
from tests.fixtures.auth import sign_in
from tests.fixtures.bookings import book_with_eid, manage

__all__ = ["day", "settings"]  # the branch day's fixtures, used here as they are

TUESDAY_MORNING = datetime(2027, 3, 23, 6, 0, tzinfo=UTC)
STATISTICS = f"{API}/statistics"
OPEN_DATA = f"{API}/open-data/daily"


async def offered_on_monday(session: AsyncSession, day: Day) -> int:
    start, end = day_bounds(datetime.fromisoformat(MONDAY).date())
    total = await session.scalar(
        select(func.sum(CapacityUnit.capacity)).where(
            CapacityUnit.branch_id == day.hoerde.branch.id,
            CapacityUnit.starts_at >= start,
            CapacityUnit.starts_at < end,
        )
    )
    return int(total or 0)


async def play_monday(app: FastAPI, client: httpx.AsyncClient, day: Day) -> None:
    """8:00 checked in at 7:50 and completed at 8:12; 8:10 checked in; 8:20 missed; a
    fourth booking at 8:30 cancelled by its citizen."""
    citizen = await sign_in(client, "erika")
    stand_at(app, FRIDAY)
    extra = await day_booking(client, day, citizen.access_token, f"{MONDAY}T08:30:00+01:00")
    stand_at(app, MONDAY_7_50)
    cancelled = await client.post(
        f"{API}/bookings/{extra['id']}/cancel", headers=manage(extra["manage_token"])
    )
    assert cancelled.status_code == 200, cancelled.text
    for key in ("first", "second"):
        answer = await check_in(client, day.clerk, day.bookings[key]["reference"])
        assert answer.status_code == 200, answer.text
    stand_at(app, MONDAY_8_12)
    done = await client.post(
        f"{API}/bookings/{day.bookings['first']['id']}/complete", headers=day.clerk
    )
    assert done.status_code == 200, done.text
    stand_at(app, MONDAY_8_21)
    missed = await client.post(
        f"{API}/bookings/{day.bookings['third']['id']}/no-show", headers=day.clerk
    )
    assert missed.status_code == 200, missed.text


async def day_booking(
    client: httpx.AsyncClient, day: Day, access_token: str, start: str
) -> dict[str, Any]:
    return await book_with_eid(client, day.hoerde, access_token, start, name="Max Mustermann")


def monday_of(items: list[dict[str, Any]], day: Day) -> dict[str, Any]:
    (row,) = [
        item
        for item in items
        if item["date"] == MONDAY and item["branch_id"] == str(day.hoerde.branch.id)
    ]
    return row


async def test_supervisor_reads_a_day_s_figures_as_json_and_the_same_as_csv(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession, day: Day
) -> None:
    await play_monday(app, client, day)
    supervisor = (await sign_in(client, "supervisor-buergerdienste", staff=True)).headers

    answer = await client.get(STATISTICS, params={"from": MONDAY, "to": MONDAY}, headers=supervisor)

    assert answer.status_code == 200, answer.text
    assert answer.headers["cache-control"] == "private, no-store"
    body = answer.json()
    assert (body["from"], body["to"]) == (MONDAY, MONDAY)
    assert {item["branch_id"] for item in body["items"]} == {
        str(day.hoerde.branch.id),
        str(day.other.branch.id),
    }
    monday = monday_of(body["items"], day)
    assert monday["slots_offered"] == await offered_on_monday(session, day) > 0
    assert {k: monday[k] for k in monday if k.startswith(("appointments_", "slots_booked"))} == {
        "slots_booked": 3,
        "appointments_booked": 3,
        "appointments_used": 2,
        "appointments_no_show": 1,
        "appointments_cancelled": 1,
    }
    assert monday["no_show_rate"] == 0.3333
    assert monday["service_seconds_median"] == 12 * 60
    assert monday["branch_code"] == "hoerde"

    as_csv = await client.get(
        f"{STATISTICS}.csv", params={"from": MONDAY, "to": MONDAY}, headers=supervisor
    )
    assert as_csv.status_code == 200, as_csv.text
    assert as_csv.headers["content-type"].startswith("text/csv")
    assert "attachment" in as_csv.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(as_csv.text)))
    assert tuple(rows[0]) == COLUMNS
    by_branch = {row["branch_id"]: row for row in rows}
    expected = {k: "" if v is None else str(v) for k, v in monday.items()}
    assert by_branch[str(day.hoerde.branch.id)] == expected


async def test_branch_staff_see_only_their_branch_and_others_are_refused_before_their_input(
    client: httpx.AsyncClient, day: Day
) -> None:
    mine = await client.get(STATISTICS, params={"from": MONDAY, "to": MONDAY}, headers=day.clerk)
    assert mine.status_code == 200, mine.text
    assert {item["branch_id"] for item in mine.json()["items"]} == {str(day.hoerde.branch.id)}

    other = await client.get(
        STATISTICS, params={"branch_id": str(day.other.branch.id)}, headers=day.clerk
    )
    assert other.status_code == 403
    assert other.json()["type"] == f"{PROBLEM}missing-role"
    citizen = (await sign_in(client, "erika")).headers
    youth_office = (await sign_in(client, "clerk-jugendamt", staff=True)).headers
    for path in (STATISTICS, f"{STATISTICS}.csv"):
        assert (await client.get(path, params={"from": "nope"})).status_code == 401
        for headers in (citizen, youth_office):
            refused = await client.get(path, params={"from": "nope"}, headers=headers)
            assert refused.status_code == 403, refused.text
            assert refused.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize(
    ("params", "pointer"),
    [
        ({"from": "2027-03-22", "to": "2027-03-21"}, "#/query/to"),
        ({"from": "2027-01-01", "to": "2027-04-30"}, "#/query/to"),
        ({"from": "yesterday"}, None),
        ({"to": "2027-02-30"}, None),
        ({"branch_id": "hoerde"}, None),
    ],
)
async def test_a_range_the_report_cannot_cover_is_refused_with_a_clear_problem(
    client: httpx.AsyncClient, day: Day, params: dict[str, str], pointer: str | None
) -> None:
    answer = await client.get(
        STATISTICS, params=params, headers={**day.clerk, "Accept-Language": "en"}
    )
    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    if pointer is not None:
        assert answer.json()["type"] == f"{PROBLEM}statistics-range-refused"
        assert answer.json()["errors"][0]["pointer"] == pointer
        assert "92 days" in answer.json()["detail"]


async def test_open_data_is_public_anonymised_and_only_for_ended_days(
    app: FastAPI, client: httpx.AsyncClient, day: Day
) -> None:
    await play_monday(app, client, day)

    today = await client.get(OPEN_DATA, params={"from": MONDAY, "to": MONDAY})
    assert today.status_code == 422
    assert today.json()["type"] == f"{PROBLEM}statistics-range-refused"

    stand_at(app, TUESDAY_MORNING)
    answer = await client.get(OPEN_DATA, params={"from": MONDAY, "to": MONDAY})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["license"] == "dl-de/by-2-0"
    monday = monday_of(body["items"], day)
    assert (monday["appointments_booked"], monday["appointments_no_show"]) == (3, 1)
    # One completed visit: its service time would be one citizen's, so it is left out.
    assert monday["service_seconds_median"] is None
    text = answer.text
    for booking in day.bookings.values():
        assert booking["reference"] not in text
    assert "Mustermann" not in text

    again = await client.get(
        OPEN_DATA,
        params={"from": MONDAY, "to": MONDAY},
        headers={"If-None-Match": answer.headers["etag"]},
    )
    assert again.status_code == 304
    as_csv = await client.get(f"{OPEN_DATA}.csv", params={"from": MONDAY, "to": MONDAY})
    assert as_csv.status_code == 200, as_csv.text
    rows = list(csv.DictReader(io.StringIO(as_csv.text)))
    assert {row["branch_code"] for row in rows} >= {"hoerde"}
    assert "Mustermann" not in as_csv.text

    default = await client.get(OPEN_DATA)
    assert default.status_code == 200
    assert (default.json()["from"], default.json()["to"]) == ("2027-02-21", MONDAY)


def test_medians_percentiles_and_the_no_show_rate_follow_their_definitions() -> None:
    waits = [60, 120, 180, 240, 300, 360, 420, 480, 540, 1200]
    assert median(waits, 1) == 330
    assert percentile_90(waits, 1) == 606
    assert median(waits[:4], 5) is None
    assert percentile_90([75], 1) == 75
    assert median([], 1) is None
    assert no_show_rate(used=0, no_show=0) is None
    assert no_show_rate(used=3, no_show=1) == 0.25
