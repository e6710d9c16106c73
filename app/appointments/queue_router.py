"""The branch's one queue over HTTP: the kiosk's walk-in tickets, "call next" for a counter,
recalls, the end of a walk-in's visit, the waiting queue and the day's calls."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated

from fastapi import Depends, Path, Query, status
from fastapi.responses import JSONResponse

from app.appointments.calendar import local_day
from app.appointments.dependencies import AppSettings, BranchWorkerAccess, Now
from app.appointments.errors import (
    BookingNotFound,
    CounterNotFound,
    KioskNotAtBranch,
    QueueEmpty,
    ServiceNotFound,
    ServiceNotOffered,
    TicketNotFound,
    TooManyPersons,
    WalkInCapacityExhausted,
)
from app.appointments.queue import (
    MAX_RECENT_CALLS,
    RECENT_CALLS_LIMIT,
    call_rule,
    queue_service,
)
from app.appointments.queue_schemas import (
    CallRead,
    QueueRead,
    RecentCallList,
    TicketCreate,
    TicketRead,
)
from app.core.auth import Access, MissingRole
from app.core.idempotency import IdempotencyKey
from app.core.principal import ClientScope, Principal, PrincipalType
from app.core.routing import api_router, problem_responses
from app.core.state_machine import InvalidTransition
from app.core.uow import ReadSession, WriteSession
from app.organisation.errors import BranchNotFound

router = api_router("appointments", prefix="/api/v1/appointments")

KIOSK_OR_STAFF = Access(
    frozenset({PrincipalType.client, PrincipalType.staff}), scope=ClientScope.appointments_tickets
)
KioskOrStaff = Annotated[Principal, Depends(KIOSK_OR_STAFF)]

WHO_MAY = (
    "For staff of the branch, supervisors of the department that runs the branches, and "
    "administrators (bearer token of a staff sign-in); citizens and integrator clients get 403."
)
TICKET_WHO_MAY = (
    "For staff of the ticket's branch, supervisors of the department that runs the branches, "
    "and administrators; a ticket of a branch the caller does not work at is 404, like an "
    "unknown one. Citizens and integrator clients get 403."
)

BranchId = Annotated[uuid.UUID, Path(description="The branch; see `GET /api/v1/branches`.")]
TicketId = Annotated[
    uuid.UUID, Path(description="The ticket's `id`, from `appointments_draw_ticket`.")
]
CounterId = Annotated[
    uuid.UUID, Path(description="One of the branch's active counters (Schalter).")
]
BookingId = Annotated[
    uuid.UUID, Path(description="The booking's `id`, from `appointments_branch_day`.")
]


@router.post(
    "/branches/{branch_id}/tickets",
    response_model=TicketRead,
    status_code=status.HTTP_201_CREATED,
    summary="Draw a walk-in ticket (Laufkundschaft) at the branch's ticket point",
    description="For the branch's ticket kiosk: an integrator client with the scope "
    "`appointments:tickets` (granted by an administrator to kiosk clients only, each bound to "
    "one branch: at another branch 403 `kiosk-not-at-branch`; every call is audited with its "
    "client id), or staff of the branch, "
    "supervisors of the department that runs the branches and administrators (a staff "
    "member without a role at this branch gets 403, as does a client without the scope). "
    "The ticket takes the service's slot units (more for more persons) from the day's "
    "walk-in budget: the share of the counters' open time that is not open to online "
    "booking (`100 - online_share_percent` of each counter), from the same hours, closures "
    "and counters as the online calendar, so the two never disagree. When the budget has "
    "not that many units left, or the branch is closed today or its hours are over, the "
    "answer is 409 `walk-in-capacity-exhausted` with a message to show (German and English "
    "by `Accept-Language`); the refusal is counted in the day's figures. Otherwise the "
    "ticket is `waiting`, with the day's next call number `W001`, `W002`, … (appointments "
    "are called as `A…`). Concurrent draws never exceed the budget and never share a "
    "number. Send an `Idempotency-Key` so that a kiosk retrying after a timeout gets the "
    "same ticket, not a second one. An unknown service is 404, a branch that does not offer "
    "it 422 `service-not-offered`, too many persons 422 `too-many-persons`.",
    responses=problem_responses(
        MissingRole,
        KioskNotAtBranch,
        ServiceNotFound,
        BranchNotFound,
        ServiceNotOffered,
        TooManyPersons,
        WalkInCapacityExhausted,
    ),
)
async def draw_ticket(
    branch_id: BranchId,
    request: TicketCreate,
    principal: KioskOrStaff,
    session: WriteSession,
    settings: AppSettings,
    now: Now,
    _idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    ticket = await queue_service.draw_ticket(
        session, principal, settings, branch_id, request.service_id, request.persons, now
    )
    return JSONResponse(ticket, status_code=status.HTTP_201_CREATED)


@router.get(
    "/tickets/{ticket_id}",
    response_model=TicketRead,
    summary="A walk-in ticket",
    description=f"The ticket with its status and, while it waits, the tickets ahead of it. "
    f"{TICKET_WHO_MAY}",
    responses=problem_responses(TicketNotFound),
)
async def get_ticket(
    ticket_id: TicketId,
    access: BranchWorkerAccess,
    session: ReadSession,
) -> JSONResponse:
    return JSONResponse(await queue_service.ticket(session, access, ticket_id))


@router.post(
    "/branches/{branch_id}/counters/{counter_id}/call-next",
    response_model=CallRead,
    summary="Call the next citizen to a counter",
    description="Picks from the branch's one queue of checked-in appointments and waiting "
    "walk-in tickets of today, by one rule: first the appointments in their time window (from "
    "`RATHAUS_QUEUE_EARLY_MINUTES`, default 5, before their start; checked in no later than "
    "`RATHAUS_QUEUE_LATE_MINUTES`, default 5, after it), by their start; then the walk-in "
    "tickets in ticket order, with appointments checked in late among them by the time of "
    "check-in; appointments earlier than their window only when nobody else waits. An "
    "appointment sent to another counter at check-in is left to that counter. The one "
    "called becomes `called` (to this counter, with `called_at` and who called), appears on "
    "the call-up display (`appointments_recent_calls`), and is answered here with the "
    "booking's reference and the citizen's name (appointments) to check at the counter. "
    "Counters calling at the same moment never get the same citizen. Nobody waiting for "
    "this counter is 409 `queue-empty`; an unknown or inactive counter of the branch is "
    f"404 `counter-not-found`. {WHO_MAY} Another branch's queue is 403.",
    responses=problem_responses(MissingRole, BranchNotFound, CounterNotFound, QueueEmpty),
)
async def call_next(
    branch_id: BranchId,
    counter_id: CounterId,
    access: BranchWorkerAccess,
    session: WriteSession,
    settings: AppSettings,
    now: Now,
) -> JSONResponse:
    called = await queue_service.call_next(
        session, access, branch_id, counter_id, now, call_rule(settings)
    )
    return JSONResponse(called)


@router.get(
    "/branches/{branch_id}/queue",
    response_model=QueueRead,
    summary="The waiting queue of a branch, in call order",
    description="Everybody waiting today: checked-in appointments and waiting walk-in "
    "tickets, in the order `appointments_call_next` calls them, each with its `group` by the "
    "call rule; with `counter_id`, in that counter's order (appointments sent to another "
    "counter left out). Also the day's walk-in budget: capacity, used, remaining and "
    f"walk-ins turned away. {WHO_MAY} Another branch's queue is 403.",
    responses=problem_responses(MissingRole, BranchNotFound, CounterNotFound),
)
async def queue(
    branch_id: BranchId,
    access: BranchWorkerAccess,
    session: ReadSession,
    settings: AppSettings,
    now: Now,
    counter_id: Annotated[
        uuid.UUID | None, Query(description="The order in which this counter calls.")
    ] = None,
) -> JSONResponse:
    answer = await queue_service.waiting(
        session, access, branch_id, counter_id, now, call_rule(settings)
    )
    return JSONResponse(answer)


@router.get(
    "/branches/{branch_id}/calls",
    response_model=RecentCallList,
    summary="The latest calls of a branch's day",
    description="Call numbers with the counter they were called to, newest first, as the "
    'call-up display in the waiting room shows them ("A017 → Schalter 3"); a recall '
    f"appears again. No names, no references. {WHO_MAY} Another branch's calls are 403.",
    responses=problem_responses(MissingRole, BranchNotFound),
)
async def recent_calls(
    branch_id: BranchId,
    access: BranchWorkerAccess,
    session: ReadSession,
    now: Now,
    day: Annotated[
        date | None, Query(alias="date", description="The day (Berlin); default today.")
    ] = None,
    limit: Annotated[
        int, Query(ge=1, le=MAX_RECENT_CALLS, description="How many calls, newest first.")
    ] = RECENT_CALLS_LIMIT,
) -> JSONResponse:
    answer = await queue_service.recent(session, access, branch_id, day or local_day(now), limit)
    return JSONResponse(answer)


@router.post(
    "/bookings/{booking_id}/recall",
    response_model=CallRead,
    summary="Call a called appointment again",
    description="For a `called` appointment whose citizen has not come to the counter yet: "
    "the same counter, a new `called_at`, and the number shows again on the call-up "
    "display. Any other status is 409 `invalid-state-transition`. A booking of a branch the "
    f"caller does not work at is 404, like an unknown one. {WHO_MAY}",
    responses=problem_responses(BookingNotFound, InvalidTransition),
)
async def recall_booking(
    booking_id: BookingId,
    access: BranchWorkerAccess,
    session: WriteSession,
    now: Now,
) -> JSONResponse:
    return JSONResponse(await queue_service.recall_booking(session, access, booking_id, now))


@router.post(
    "/tickets/{ticket_id}/recall",
    response_model=CallRead,
    summary="Call a called walk-in again",
    description="For a `called` ticket whose citizen has not come to the counter yet: the "
    "same counter, a new `called_at`, and the number shows again on the call-up display. "
    f"Any other status is 409 `invalid-state-transition`. {TICKET_WHO_MAY}",
    responses=problem_responses(TicketNotFound, InvalidTransition),
)
async def recall_ticket(
    ticket_id: TicketId,
    access: BranchWorkerAccess,
    session: WriteSession,
    now: Now,
) -> JSONResponse:
    return JSONResponse(await queue_service.recall_ticket(session, access, ticket_id, now))


@router.post(
    "/tickets/{ticket_id}/complete",
    response_model=TicketRead,
    summary="Close a walk-in's visit, recording its service time",
    description="For a `called` ticket: it becomes `completed`, with `completed_at` and "
    "`service_seconds` from the call. Any other status is 409 `invalid-state-transition`. "
    f"{TICKET_WHO_MAY}",
    responses=problem_responses(TicketNotFound, InvalidTransition),
)
async def complete_ticket(
    ticket_id: TicketId,
    access: BranchWorkerAccess,
    session: WriteSession,
    now: Now,
) -> JSONResponse:
    return JSONResponse(await queue_service.complete_ticket(session, access, ticket_id, now))


@router.post(
    "/tickets/{ticket_id}/no-show",
    response_model=TicketRead,
    summary="Mark a called walk-in who did not come as a no-show",
    description="For a `called` ticket: it becomes `no_show`; its units stay used. Any other "
    f"status is 409 `invalid-state-transition`. {TICKET_WHO_MAY}",
    responses=problem_responses(TicketNotFound, InvalidTransition),
)
async def mark_ticket_no_show(
    ticket_id: TicketId,
    access: BranchWorkerAccess,
    session: WriteSession,
    now: Now,
) -> JSONResponse:
    return JSONResponse(await queue_service.mark_ticket_no_show(session, access, ticket_id, now))


@router.post(
    "/tickets/{ticket_id}/cancel",
    response_model=TicketRead,
    summary="Cancel a waiting walk-in ticket",
    description="For a `waiting` ticket whose citizen left: it becomes `cancelled` and its "
    "units go back to the day's walk-in budget, for the next walk-in (its number is not "
    f"given again). Any other status is 409 `invalid-state-transition`. {TICKET_WHO_MAY}",
    responses=problem_responses(TicketNotFound, InvalidTransition),
)
async def cancel_ticket(
    ticket_id: TicketId,
    access: BranchWorkerAccess,
    session: WriteSession,
    now: Now,
) -> JSONResponse:
    return JSONResponse(await queue_service.cancel_ticket(session, access, ticket_id, now))
