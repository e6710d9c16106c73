from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Depends, Header, Path, Query, Request, Response, status
from fastapi.responses import JSONResponse

from app.appointments.booking_service import BookingAccess, BookingView, booking_service
from app.appointments.calendar import rfc3339
from app.appointments.dependencies import (
    AppSettings,
    AvailabilityRateLimit,
    HoldRateLimit,
    Now,
)
from app.appointments.errors import (
    AppointmentBegun,
    BookingCredentialsMissing,
    BookingNotFound,
    BranchClosed,
    ContactRequired,
    HoldExpired,
    InvalidDateRange,
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
    VerificationAttemptsExhausted,
    WrongVerificationCode,
)
from app.appointments.schemas import (
    MAX_PERSONS,
    AppointmentServiceList,
    AvailabilityRead,
    BookingCreated,
    BookingList,
    BookingRead,
    BookingReschedule,
    BookingVerify,
    EarliestRead,
    HoldConfirm,
    HoldCreate,
    HoldRead,
)
from app.appointments.service import availability_service, hold_service
from app.core.auth import Citizen, OptionalCitizen
from app.core.caching import IfNoneMatchHeader, cached_json, cached_responses
from app.core.idempotency import IdempotencyKey
from app.core.routing import api_router, merge_responses, problem_responses
from app.core.schemas import IsoDate
from app.core.state_machine import InvalidTransition
from app.core.uow import ReadConnection, ReadSession, ReadUnit, WriteSession
from app.organisation.errors import BranchNotFound

router = api_router("appointments", prefix="/api/v1/appointments")

ServiceId = Annotated[
    uuid.UUID, Query(description="The service, from `appointments_list_services`.")
]
Persons = Annotated[
    int,
    Query(
        ge=1,
        le=MAX_PERSONS,
        description="How many persons come together; each further "
        "person may make the appointment longer.",
    ),
]
BranchIds = Annotated[
    list[uuid.UUID] | None,
    Query(
        alias="branch_id",
        description="Only these branches (repeat the parameter for several); all branches "
        "that offer the service when left out. Branches that do not offer it are left out "
        "of the answer.",
    ),
]


@router.get(
    "/services",
    response_model=AppointmentServiceList,
    summary="List the services that can be booked, with the branches offering each",
    description="Every service citizens can book an appointment for, its texts in German and "
    "English, what to bring, how many persons can share an appointment, and per branch how "
    "long it takes. Public; no sign-in needed. Send the `ETag` back as `If-None-Match` to get "
    "304 while nothing changed.",
    responses=cached_responses(),
    dependencies=[AvailabilityRateLimit],
)
async def list_services(
    connection: ReadConnection, settings: AppSettings, if_none_match: IfNoneMatchHeader = None
) -> Response:
    items = await availability_service.list_services(connection)
    return cached_json(
        {"items": items},
        if_none_match=if_none_match,
        max_age_seconds=settings.availability_max_age_seconds,
    )


@router.get(
    "/availability",
    response_model=AvailabilityRead,
    summary="Free start times of a service, per day and branch",
    description="Live: a start listed here was free at the moment of the request; every "
    "hold, booking, cancellation and expiry shows in the next answer, from any server "
    "process. Starts are RFC 3339 times in Berlin with their offset, "
    "grouped by day and branch; days without any free start are left out. The range is "
    "`from` to `to` (Berlin dates, at most the service's horizon long; default: two weeks "
    "from today). Public; no sign-in needed. Send the `ETag` back as `If-None-Match` to get "
    "304 while nothing changed. Compressed with gzip when `Accept-Encoding` allows it.",
    responses=merge_responses(
        cached_responses(compressible=True),
        problem_responses(ServiceNotFound, InvalidDateRange, TooManyPersons),
    ),
    dependencies=[AvailabilityRateLimit],
)
async def availability(
    service_id: ServiceId,
    request: Request,
    uow: ReadUnit,
    now: Now,
    persons: Persons = 1,
    branch_ids: BranchIds = None,
    first: Annotated[
        IsoDate | None, Query(alias="from", description="First day (Berlin); default today.")
    ] = None,
    last: Annotated[
        IsoDate | None, Query(alias="to", description="Last day (Berlin), inclusive.")
    ] = None,
    if_none_match: IfNoneMatchHeader = None,
) -> Response:
    # The database and settings from the app's state, not as dependencies: see
    # `IfNoneMatchHeader`.
    database, settings = request.app.state.database, request.app.state.settings
    answer = await availability_service.cached_availability(
        database,
        uow,
        service_id=service_id,
        persons=persons,
        branch_ids=branch_ids,
        first=first,
        last=last,
        now=now,
    )
    return answer.response(
        if_none_match=if_none_match,
        accept_encoding=request.headers.get("accept-encoding"),
        max_age_seconds=settings.availability_max_age_seconds,
    )


@router.get(
    "/earliest",
    response_model=EarliestRead,
    summary="The earliest free start of a service",
    description="Live, across all branches that offer the service or the chosen ones: the "
    "first start that can be held now, or `earliest: null` when none is free within the "
    "service's horizon. Public; no sign-in needed. Send the `ETag` back as `If-None-Match` "
    "to get 304 while nothing changed.",
    responses=merge_responses(
        cached_responses(), problem_responses(ServiceNotFound, TooManyPersons)
    ),
    dependencies=[AvailabilityRateLimit],
)
async def earliest(
    service_id: ServiceId,
    request: Request,
    uow: ReadUnit,
    now: Now,
    persons: Persons = 1,
    branch_ids: BranchIds = None,
    if_none_match: IfNoneMatchHeader = None,
) -> Response:
    database, settings = request.app.state.database, request.app.state.settings
    answer = await availability_service.cached_earliest(
        database, uow, service_id=service_id, persons=persons, branch_ids=branch_ids, now=now
    )
    return answer.response(
        if_none_match=if_none_match,
        accept_encoding=request.headers.get("accept-encoding"),
        max_age_seconds=settings.availability_max_age_seconds,
    )


@router.post(
    "/holds",
    response_model=HoldRead,
    status_code=status.HTTP_201_CREATED,
    summary="Hold a free start while the citizen completes the booking",
    description="Claims the start at once, for every slot unit the appointment needs, or "
    "answers 409 `slot-taken` when someone else was faster: a start can never be given "
    "twice. The hold ends at `expires_at` (10 minutes by default), and its slot is free "
    "again at that moment. Refusals change nothing: an unknown service or branch is 404, a "
    "start in the past, too soon, beyond the horizon, not on a listed time, while the branch "
    "is closed, or for too many persons is 422 with a pointer to the field. Public; no "
    "sign-in needed.",
    responses=problem_responses(
        ServiceNotFound,
        BranchNotFound,
        SlotTaken,
        ServiceNotOffered,
        TooManyPersons,
        StartInPast,
        StartBeforeLeadTime,
        StartBeyondHorizon,
        StartNotAligned,
        BranchClosed,
    ),
    dependencies=[HoldRateLimit],
)
async def create_hold(
    request: HoldCreate,
    session: WriteSession,
    settings: AppSettings,
    now: Now,
    _idempotency_key: IdempotencyKey = None,
) -> HoldRead:
    booking = await hold_service.create(session, request, now, settings.hold_ttl_seconds)
    assert booking.expires_at is not None
    return HoldRead(
        id=booking.id,
        reference=booking.reference,
        status=booking.status,
        service_id=booking.service_id,
        branch_id=booking.branch_id,
        start=rfc3339(booking.starts_at),
        end=rfc3339(booking.ends_at),
        persons=booking.persons,
        expires_at=rfc3339(booking.expires_at),
    )


HoldId = Annotated[uuid.UUID, Path(description="The hold's `id` from `appointments_create_hold`.")]
BookingId = Annotated[
    uuid.UUID,
    Path(description="The booking's `id`, from `appointments_confirm_hold` or the e-mails."),
]
BookingToken = Annotated[
    str | None,
    Header(
        alias="Booking-Token",
        max_length=200,
        description="The booking's manage token from `appointments_confirm_hold`; not needed "
        "when the citizen who booked is signed in.",
    ),
]
BOOKING_ACCESS_PROBLEMS = (BookingCredentialsMissing, BookingNotFound)


async def booking_access(
    principal: OptionalCitizen, booking_token: BookingToken = None
) -> BookingAccess:
    """The caller's proof that a booking is theirs: its manage token or their eID sign-in."""
    return BookingAccess(principal=principal, token=booking_token)


Access = Annotated[BookingAccess, Depends(booking_access)]


def _read(view: BookingView) -> JSONResponse:
    return JSONResponse(view.to_json())


@router.post(
    "/holds/{hold_id}/confirm",
    response_model=BookingCreated,
    summary="Confirm a hold: book the appointment",
    description="Signed in with the online ID card (bearer token), the booking is `confirmed` "
    "at once; `name`, `email` and `phone` are optional then (with an `email`, a confirmation "
    "with the `.ics` file is sent). Without sign-in, `name` and `email` are required: the "
    "booking becomes `pending_verification` and counts only once the 6-digit code sent to "
    "the address is entered (`appointments_verify_booking`) within 30 minutes (a setting); "
    "the slot stays held until then. The response carries the `manage_token`, shown only "
    "here: send it as `Booking-Token` to see, move or cancel the booking. Each person (eID "
    "or e-mail address) can have at most 2 open appointments (a setting); more get 409 "
    "`person-cap-reached`. An expired hold is 409 `hold-expired`. Send an "
    "`Idempotency-Key` to retry safely: the retry gets the first answer.",
    responses=problem_responses(
        BookingNotFound, HoldExpired, PersonCapReached, InvalidTransition, ContactRequired
    ),
)
async def confirm_hold(
    hold_id: HoldId,
    request: HoldConfirm,
    principal: OptionalCitizen,
    session: WriteSession,
    settings: AppSettings,
    now: Now,
    _idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    view, token = await booking_service.confirm(session, hold_id, principal, request, now, settings)
    return JSONResponse({**view.to_json(), "manage_token": token})


@router.post(
    "/bookings/{booking_id}/verify",
    response_model=BookingRead,
    summary="Verify the e-mail address of a booking with its code",
    description="Confirms a `pending_verification` booking with the 6-digit code from the "
    "e-mail. A wrong code is 422 with `attempts_left`; after 5 wrong codes the booking ends "
    "and its slot is free again (409 `verification-attempts-exhausted`). After the time to "
    "verify has passed, 409 `hold-expired`. Entering the right code again after success "
    "answers the confirmed booking. No sign-in needed: the code is the proof.",
    responses=problem_responses(
        BookingNotFound,
        HoldExpired,
        VerificationAttemptsExhausted,
        InvalidTransition,
        WrongVerificationCode,
    ),
)
async def verify_booking(
    booking_id: BookingId,
    request: BookingVerify,
    session: WriteSession,
    settings: AppSettings,
    now: Now,
) -> JSONResponse:
    return _read(await booking_service.verify(session, booking_id, request.code, now, settings))


@router.get(
    "/bookings",
    response_model=BookingList,
    summary="The signed-in citizen's appointments",
    description="Confirmed, unverified and cancelled bookings of the citizen signed in with "
    "the online ID card, the latest start first (at most 100). Bookings made with an e-mail "
    "address only are reached with their manage token instead.",
)
async def my_bookings(
    principal: Citizen, session: ReadSession, settings: AppSettings
) -> JSONResponse:
    views = await booking_service.mine(session, principal, settings)
    return JSONResponse({"items": [view.to_json() for view in views]})


@router.get(
    "/bookings/{booking_id}",
    response_model=BookingRead,
    summary="One booking",
    description="With the `Booking-Token` header, or as the signed-in citizen who booked "
    "it. A booking that does not exist and one the caller may not see are both 404.",
    responses=problem_responses(*BOOKING_ACCESS_PROBLEMS),
)
async def get_booking(
    booking_id: BookingId,
    access: Access,
    session: ReadSession,
    settings: AppSettings,
) -> JSONResponse:
    return _read(await booking_service.get(session, booking_id, access, settings))


@router.post(
    "/bookings/{booking_id}/cancel",
    response_model=BookingRead,
    summary="Cancel a booking",
    description="Before its start, with the `Booking-Token` header or as the signed-in "
    "citizen who booked it; a hold not yet confirmed needs only its `id`, which frees its "
    "slot at once. The booking becomes `cancelled` and no longer counts against "
    "the person's cap; a cancellation e-mail is sent. The slot of a confirmed booking "
    "becomes bookable again after a random delay of 5 to 30 minutes (settings), so that "
    "bots watching for cancellations gain nothing. Cancelling twice is 409.",
    responses=problem_responses(*BOOKING_ACCESS_PROBLEMS, InvalidTransition, AppointmentBegun),
)
async def cancel_booking(
    booking_id: BookingId,
    access: Access,
    session: WriteSession,
    settings: AppSettings,
    now: Now,
) -> JSONResponse:
    return _read(await booking_service.cancel(session, booking_id, access, now, settings))


@router.post(
    "/bookings/{booking_id}/reschedule",
    response_model=BookingRead,
    summary="Move a booking to another start",
    description="Moves a confirmed booking that is still ahead to another free start, at "
    "the same branch or (`branch_id`) another one offering the service. The new start is "
    "claimed before the old one is given up, in one transaction: when it is taken (409 "
    "`slot-taken`) the booking keeps its old start. The reference and manage token stay; "
    "an updated confirmation with the `.ics` file is sent.",
    responses=problem_responses(
        *BOOKING_ACCESS_PROBLEMS,
        NotReschedulable,
        InvalidTransition,
        SlotTaken,
        ServiceNotOffered,
        StartInPast,
        StartBeforeLeadTime,
        StartBeyondHorizon,
        StartNotAligned,
        BranchClosed,
        BranchNotFound,
    ),
)
async def reschedule_booking(
    booking_id: BookingId,
    request: BookingReschedule,
    access: Access,
    session: WriteSession,
    settings: AppSettings,
    now: Now,
) -> JSONResponse:
    view = await booking_service.reschedule(session, booking_id, access, request, now, settings)
    return _read(view)


@router.get(
    "/bookings/{booking_id}/ics",
    response_class=Response,
    summary="The booking as an iCalendar file",
    description="An RFC 5545 file for the citizen's calendar app, with the branch address "
    "and a reminder alarm; a cancelled booking gives `METHOD:CANCEL`, which removes it from "
    "calendars that imported it. Same access as `appointments_get_booking`.",
    responses=merge_responses(
        {
            200: {
                "description": "The iCalendar file.",
                "content": {
                    "text/calendar": {
                        "schema": {"type": "string"},
                        "example": "BEGIN:VCALENDAR\r\nVERSION:2.0\r\n…END:VCALENDAR\r\n",
                    }
                },
            }
        },
        problem_responses(*BOOKING_ACCESS_PROBLEMS),
    ),
)
async def booking_ics(
    booking_id: BookingId,
    access: Access,
    session: ReadSession,
    settings: AppSettings,
) -> Response:
    body = await booking_service.calendar_file(session, booking_id, access, settings)
    return Response(
        body,
        media_type="text/calendar; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="termin-{booking_id}.ics"'},
    )
