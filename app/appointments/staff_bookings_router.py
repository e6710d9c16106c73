"""The analog path for branch staff: book, cancel and move appointments for citizens who phone
or come by, and print their confirmation."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Path, Response, status
from fastapi.responses import HTMLResponse, JSONResponse

from app.appointments.dependencies import AppSettings, BranchWorkerAccess, Now
from app.appointments.errors import (
    AppointmentBegun,
    BookingNotFound,
    BranchClosed,
    ContactRequired,
    NotReschedulable,
    PersonCapReached,
    ServiceNotFound,
    ServiceNotOffered,
    SlotTaken,
    StartBeforeLeadTime,
    StartBeyondHorizon,
    StartInPast,
    StartNotAligned,
    TooManyPersons,
)
from app.appointments.printable import confirmation_page
from app.appointments.schemas import (
    StaffBookingCreate,
    StaffBookingRead,
    StaffCancel,
    StaffReschedule,
)
from app.appointments.staff_bookings import staff_booking_service, staff_json
from app.core.auth import MissingRole
from app.core.idempotency import IdempotencyKey
from app.core.routing import api_router, merge_responses, problem_responses
from app.core.state_machine import InvalidTransition
from app.core.uow import ReadSession, WriteSession
from app.organisation.errors import BranchNotFound

router = api_router("appointments", prefix="/api/v1/appointments/staff/bookings")

WHO_MAY = (
    "For staff of the branch, supervisors of the department that runs the branches, and "
    "administrators (bearer token of a staff sign-in); citizens and integrator clients get 403."
)
START_PROBLEMS = (
    SlotTaken,
    ServiceNotOffered,
    StartInPast,
    StartBeforeLeadTime,
    StartBeyondHorizon,
    StartNotAligned,
    BranchClosed,
)

BookingId = Annotated[
    uuid.UUID,
    Path(description="The booking's `id`, from `appointments_staff_book` or the branch's day."),
]


@router.post(
    "",
    response_model=StaffBookingRead,
    status_code=status.HTTP_201_CREATED,
    summary="Book an appointment for a citizen who phoned or came by",
    description="The start is claimed like a citizen's hold and the booking is `confirmed` "
    "at once, with `confirmed_via: staff` and the caller as `booked_by`. The same rules as "
    "online apply: the start must be free (else 409 `slot-taken`), at least the service's "
    "lead time ahead and within its horizon (else 422; who wants to be served today draws a "
    "ticket), and each person can have at most 2 open appointments (a setting; 409 "
    "`person-cap-reached`). The person is the `email` if given, else the `phone` number "
    "(`0231 1234567` and `+49 231 1234567` are one), else the `name` with the "
    "`postal_address`; one of `phone` and `postal_address` is required (422 "
    "`contact-required`). With an `email`, the confirmation with the QR code for check-in "
    "and the `.ics` file is sent there; otherwise print `confirmation_page` "
    "(`appointments_staff_confirmation_page`) for the citizen. Booking at a branch the "
    f"caller does not work at is 403. {WHO_MAY} Send an `Idempotency-Key` to retry safely: "
    "the retry gets the first answer.",
    responses=problem_responses(
        MissingRole,
        ServiceNotFound,
        BranchNotFound,
        TooManyPersons,
        ContactRequired,
        PersonCapReached,
        *START_PROBLEMS,
    ),
)
async def staff_book(
    request: StaffBookingCreate,
    access: BranchWorkerAccess,
    session: WriteSession,
    settings: AppSettings,
    now: Now,
    _idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    view = await staff_booking_service.book(session, access, request, now, settings)
    return JSONResponse(staff_json(view), status_code=status.HTTP_201_CREATED)


@router.get(
    "/{booking_id}",
    response_model=StaffBookingRead,
    summary="One booking with the citizen's contact details, for staff",
    description="Any booking of the branch that is not a bare hold, whoever made it, with "
    "how to reach the citizen, who booked and the reason of the last change. A booking of a "
    f"branch the caller does not work at is 404, like an unknown one. {WHO_MAY}",
    responses=problem_responses(BookingNotFound),
)
async def staff_get_booking(
    booking_id: BookingId,
    access: BranchWorkerAccess,
    session: ReadSession,
) -> JSONResponse:
    return JSONResponse(staff_json(await staff_booking_service.get(session, access, booking_id)))


@router.post(
    "/{booking_id}/cancel",
    response_model=StaffBookingRead,
    summary="Cancel a citizen's booking, with the reason",
    description="As `appointments_cancel_booking` for the citizen: before the start only "
    "(409 `appointment-begun`), and a second time is 409 `invalid-state-transition`. The "
    "slot returns to the calendar after the same random delay. The `reason` is kept on the "
    "booking (`change_reason`), written to the audit log with the caller, and told to the "
    "citizen in the cancellation e-mail, when there is an address, and on the printable "
    "confirmation otherwise. A booking of a branch the caller does not work at is 404, like "
    f"an unknown one. {WHO_MAY}",
    responses=problem_responses(BookingNotFound, InvalidTransition, AppointmentBegun),
)
async def staff_cancel_booking(
    booking_id: BookingId,
    request: StaffCancel,
    access: BranchWorkerAccess,
    session: WriteSession,
    settings: AppSettings,
    now: Now,
) -> JSONResponse:
    view = await staff_booking_service.cancel(
        session, access, booking_id, request.reason, now, settings
    )
    return JSONResponse(staff_json(view))


@router.post(
    "/{booking_id}/reschedule",
    response_model=StaffBookingRead,
    summary="Move a citizen's booking to another start, with the reason",
    description="As `appointments_reschedule_booking` for the citizen: a `confirmed` "
    "booking still ahead (else 409 `booking-not-reschedulable`) moves to a free start at "
    "its branch or (`branch_id`) another one the caller also works at (else 403). The new "
    "start is claimed before the old one is given up, in one transaction: when it is taken "
    "(409 `slot-taken`) the booking keeps its old start. The same lead time and horizon "
    "apply. The `reason` is kept on the booking, written to the audit log with the old and "
    "new start, and told to the citizen in the updated confirmation e-mail or on the "
    "printable confirmation. A booking of a branch the caller does not work at is 404. "
    f"{WHO_MAY}",
    responses=problem_responses(
        BookingNotFound,
        MissingRole,
        NotReschedulable,
        InvalidTransition,
        BranchNotFound,
        *START_PROBLEMS,
    ),
)
async def staff_reschedule_booking(
    booking_id: BookingId,
    request: StaffReschedule,
    access: BranchWorkerAccess,
    session: WriteSession,
    settings: AppSettings,
    now: Now,
) -> JSONResponse:
    view = await staff_booking_service.reschedule(
        session, access, booking_id, request, now, settings
    )
    return JSONResponse(staff_json(view))


@router.get(
    "/{booking_id}/confirmation",
    response_class=Response,
    summary="The printable confirmation of a booking, for a citizen without e-mail",
    description="An HTML page made to print on A4 (print CSS, no script), in German and "
    "English: the booking number, the date and time in Berlin, the branch and its address, "
    "what to bring, the QR code that check-in accepts, a notice when the booking was "
    "cancelled or moved with the reason, and the citizen's postal address placed for a "
    "window envelope when there is one. Fetch it with the bearer token and print it. A "
    f"booking of a branch the caller does not work at is 404, like an unknown one. {WHO_MAY}",
    responses=merge_responses(
        {
            200: {
                "description": "The page to print.",
                "content": {
                    "text/html": {
                        "schema": {"type": "string"},
                        "example": '<!DOCTYPE html>\n<html lang="de">…</html>\n',
                    }
                },
            }
        },
        problem_responses(BookingNotFound),
    ),
)
async def staff_confirmation_page(
    booking_id: BookingId,
    access: BranchWorkerAccess,
    session: ReadSession,
) -> HTMLResponse:
    view = await staff_booking_service.get(session, access, booking_id)
    return HTMLResponse(
        await confirmation_page(view),
        headers={"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"},
    )
