from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated

from fastapi import Query, Response, status

from app.appointments.calendar import rfc3339
from app.appointments.dependencies import (
    AppDatabase,
    AppSettings,
    AvailabilityRateLimit,
    HoldRateLimit,
    Now,
)
from app.appointments.errors import (
    BranchClosed,
    InvalidDateRange,
    ServiceNotFound,
    ServiceNotOffered,
    SlotTaken,
    StartBeforeLeadTime,
    StartBeyondHorizon,
    StartInPast,
    StartNotAligned,
    TooManyPersons,
)
from app.appointments.schemas import (
    MAX_PERSONS,
    AppointmentServiceList,
    AvailabilityRead,
    EarliestRead,
    HoldCreate,
    HoldRead,
)
from app.appointments.service import availability_service, hold_service
from app.core.caching import IfNoneMatchHeader, cached_json, cached_responses
from app.core.routing import api_router, merge_responses, problem_responses
from app.core.uow import ReadConnection, WriteSession
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
    description="Live: computed from the calendar at the moment of the request, so a start "
    "listed here was free then. Starts are RFC 3339 times in Berlin with their offset, "
    "grouped by day and branch; days without any free start are left out. The range is "
    "`from` to `to` (Berlin dates, at most the service's horizon long; default: two weeks "
    "from today). Public; no sign-in needed. Send the `ETag` back as `If-None-Match` to get "
    "304 while nothing changed.",
    responses=merge_responses(
        cached_responses(), problem_responses(ServiceNotFound, InvalidDateRange, TooManyPersons)
    ),
    dependencies=[AvailabilityRateLimit],
)
async def availability(
    service_id: ServiceId,
    connection: ReadConnection,
    database: AppDatabase,
    settings: AppSettings,
    now: Now,
    persons: Persons = 1,
    branch_ids: BranchIds = None,
    first: Annotated[
        date | None, Query(alias="from", description="First day (Berlin); default today.")
    ] = None,
    last: Annotated[
        date | None, Query(alias="to", description="Last day (Berlin), inclusive.")
    ] = None,
    if_none_match: IfNoneMatchHeader = None,
) -> Response:
    answer = await availability_service.availability(
        database,
        connection,
        service_id=service_id,
        persons=persons,
        branch_ids=branch_ids,
        first=first,
        last=last,
        now=now,
    )
    return cached_json(
        answer, if_none_match=if_none_match, max_age_seconds=settings.availability_max_age_seconds
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
    connection: ReadConnection,
    database: AppDatabase,
    settings: AppSettings,
    now: Now,
    persons: Persons = 1,
    branch_ids: BranchIds = None,
    if_none_match: IfNoneMatchHeader = None,
) -> Response:
    answer = await availability_service.earliest(
        database,
        connection,
        service_id=service_id,
        persons=persons,
        branch_ids=branch_ids,
        now=now,
    )
    return cached_json(
        answer, if_none_match=if_none_match, max_age_seconds=settings.availability_max_age_seconds
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
    request: HoldCreate, session: WriteSession, settings: AppSettings, now: Now
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
