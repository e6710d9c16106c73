"""The branch's day for its clerks: the schedule, check-in, completed visits and no-shows."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated

from fastapi import Path, Query
from fastapi.responses import JSONResponse

from app.appointments.branch_day import branch_day_service
from app.appointments.calendar import local_day
from app.appointments.dependencies import Now, StaffAccess
from app.appointments.errors import (
    AppointmentNotBegun,
    BookingNotFound,
    BookingNotToday,
    CounterNotAtBranch,
)
from app.appointments.schemas import BranchDayRead, CheckIn, VisitRead
from app.core.auth import MissingRole
from app.core.routing import api_router, problem_responses
from app.core.state_machine import InvalidTransition
from app.core.uow import ReadSession, WriteSession
from app.organisation.errors import BranchNotFound

router = api_router("appointments", prefix="/api/v1/appointments")

WHO_MAY = (
    "For staff of the booking's branch, supervisors of the department that runs the branches, "
    "and administrators (bearer token of a staff sign-in); citizens and integrator clients get "
    "403."
)

BranchId = Annotated[uuid.UUID, Path(description="The branch; see `GET /api/v1/branches`.")]
VisitId = Annotated[
    uuid.UUID, Path(description="The booking's `id`, from `appointments_branch_day`.")
]


@router.get(
    "/branches/{branch_id}/day",
    response_model=BranchDayRead,
    summary="The appointments of one day at a branch, for its clerks",
    description="Every confirmed, checked-in, completed and no-show appointment of the day "
    "(Berlin; default today), in order of their start, with the service, the number of "
    "persons, the status and the citizen's name, to be checked at the counter. With "
    "`counter_id`, only the appointments sent to that counter at check-in. For staff of this "
    "branch, supervisors of the department that runs the branches, and administrators; "
    "anybody else gets 403, also for a branch that does not exist.",
    responses=problem_responses(MissingRole, BranchNotFound, CounterNotAtBranch),
)
async def branch_day(
    branch_id: BranchId,
    access: StaffAccess,
    session: ReadSession,
    now: Now,
    day: Annotated[
        date | None, Query(alias="date", description="The day (Berlin); default today.")
    ] = None,
    counter_id: Annotated[
        uuid.UUID | None, Query(description="Only the appointments sent to this counter.")
    ] = None,
) -> JSONResponse:
    answer = await branch_day_service.day(
        session, access, branch_id, day or local_day(now), counter_id
    )
    return JSONResponse(answer)


@router.post(
    "/check-ins",
    response_model=VisitRead,
    summary="Check a citizen in by the booking's reference, and hand out a call number",
    description="The reference as the citizen quotes it or as the QR code of the "
    "confirmation carries it (`T-4KQ7-M9X8`; case, spaces and hyphens do not matter). The "
    "booking becomes `checked_in` and gets the branch's next call number of the day "
    "(`A001`, `A002`, …), which the waiting room calls out; two clerks checking in at the "
    "same moment never get the same number. Only a `confirmed` appointment of today can be "
    "checked in: another day's is 409 `booking-not-today` (with `booking_date`), a second "
    "check-in or one of a cancelled or no-show booking is 409 `invalid-state-transition` "
    "(with `current_status`). A reference that does not exist, and one of a branch the "
    f"caller does not work at, are both 404. {WHO_MAY}",
    responses=problem_responses(
        BookingNotFound, BookingNotToday, InvalidTransition, CounterNotAtBranch
    ),
)
async def check_in(
    request: CheckIn, access: StaffAccess, session: WriteSession, now: Now
) -> JSONResponse:
    visit = await branch_day_service.check_in(
        session, access, request.reference, request.counter_id, now
    )
    return JSONResponse(visit)


@router.post(
    "/bookings/{booking_id}/no-show",
    response_model=VisitRead,
    summary="Mark an appointment as a no-show",
    description="For a `confirmed` appointment whose start has passed (before it, 409 "
    "`appointment-not-begun`); a job does the same by itself 15 minutes after the start "
    "(`RATHAUS_NO_SHOW_AFTER_MINUTES`). Also for a `called` appointment whose citizen did "
    "not come to the counter (`appointments_call_next`). The booking no longer counts against "
    "the person's cap of open appointments. The slot units it has begun stay taken; the "
    "rest are offered to the waiting list first and only then given back to the online "
    "calendar, as a cancellation's are (`appointments_join_waiting_list`). Any "
    "other status is 409 `invalid-state-transition`. A booking of a branch the caller does "
    f"not work at is 404, like an unknown one. {WHO_MAY}",
    responses=problem_responses(BookingNotFound, AppointmentNotBegun, InvalidTransition),
)
async def mark_no_show(
    booking_id: VisitId, access: StaffAccess, session: WriteSession, now: Now
) -> JSONResponse:
    return JSONResponse(await branch_day_service.mark_no_show(session, access, booking_id, now))


@router.post(
    "/bookings/{booking_id}/complete",
    response_model=VisitRead,
    summary="Close a visit, recording its service time",
    description="For a `called` (or `checked_in`) appointment: it becomes `completed`, with "
    "`completed_at` and `service_seconds`, the time from the call (`appointments_call_next`) "
    "until now, or without a call from the later of the check-in and the start. Completing "
    "twice, or a booking not checked in, is 409 "
    "`invalid-state-transition`. A booking of a branch the caller does not work at is 404, "
    f"like an unknown one. {WHO_MAY}",
    responses=problem_responses(BookingNotFound, InvalidTransition),
)
async def complete_visit(
    booking_id: VisitId, access: StaffAccess, session: WriteSession, now: Now
) -> JSONResponse:
    return JSONResponse(await branch_day_service.complete(session, access, booking_id, now))
