"""The waiting list for earlier slots, and the offers made from it when slots free up."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Depends, Header, Path, status
from fastapi.responses import JSONResponse

from app.appointments.dependencies import AppSettings, Now
from app.appointments.errors import (
    BookingCredentialsMissing,
    BookingNotFound,
    BookingNotWaitlistable,
    LatestDayInPast,
    OfferCredentialsMissing,
    OfferExpired,
    OfferNotFound,
    PersonCapReached,
    ServiceNotFound,
    ServiceNotOffered,
    TooManyPersons,
    WaitingListContactRequired,
    WaitingListCredentialsMissing,
    WaitingListEntryNotFound,
    WaitingListLimitReached,
    WaitingListServiceMissing,
    WaitingListVerificationFailed,
    WrongVerificationCode,
)
from app.appointments.offers import offer_service
from app.appointments.waiting_list import EntryAccess, waiting_list_service
from app.appointments.waiting_list_schemas import (
    OfferAccepted,
    OfferDeclined,
    OfferRead,
    WaitingListEntryCreated,
    WaitingListEntryRead,
    WaitingListJoin,
    WaitingListVerify,
)
from app.core.auth import OptionalCitizen
from app.core.idempotency import IdempotencyKey
from app.core.routing import api_router, problem_responses
from app.core.state_machine import InvalidTransition
from app.core.uow import ReadSession, WriteSession

router = api_router("appointments", prefix="/api/v1/appointments")

EntryId = Annotated[
    uuid.UUID, Path(description="The entry's `id`, from `appointments_join_waiting_list`.")
]
OfferId = Annotated[uuid.UUID, Path(description="The offer's `id`, from the offer e-mail's link.")]
BookingToken = Annotated[
    str | None,
    Header(
        alias="Booking-Token",
        max_length=200,
        description="With `booking_id`: the booking's manage token; not needed when the "
        "citizen who booked is signed in.",
    ),
]
EntryToken = Annotated[
    str | None,
    Header(
        alias="Waiting-List-Token",
        max_length=200,
        description="The entry's token from `appointments_join_waiting_list`; not needed "
        "when the citizen is signed in with the online ID card.",
    ),
]
OfferToken = Annotated[
    str | None,
    Header(
        alias="Offer-Token",
        max_length=200,
        description="The token from the offer e-mail's link (its `token` parameter).",
    ),
]
ENTRY_ACCESS_PROBLEMS = (WaitingListCredentialsMissing, WaitingListEntryNotFound)
OFFER_ACCESS_PROBLEMS = (OfferCredentialsMissing, OfferNotFound)


async def entry_access(principal: OptionalCitizen, token: EntryToken = None) -> EntryAccess:
    """The caller's proof that an entry is theirs: its token or their eID sign-in."""
    return EntryAccess(principal=principal, token=token)


Access = Annotated[EntryAccess, Depends(entry_access)]


@router.post(
    "/waiting-list",
    response_model=WaitingListEntryCreated,
    status_code=status.HTTP_201_CREATED,
    summary="Ask to be offered an earlier slot when one frees up",
    description="Puts the citizen on the waiting list for a service at chosen branches "
    "(optionally only for slots up to `latest_day`). When a booked slot is given back, it "
    "is offered to the waiting citizens one at a time, in the order they joined, before "
    "anybody else can book it: the citizen gets an e-mail and has 15 minutes (a setting) to "
    "accept or decline; then it passes to the next one.\n\n"
    "With `booking_id` (and the booking's `Booking-Token`, or signed in as the citizen who "
    "booked it), an accepted offer moves that booking, and only slots earlier than it are "
    "offered. Without one, an accepted offer books a new appointment (under the cap of open "
    "appointments). Signed in with the online ID card the entry waits at once; with an "
    "e-mail address only it is `pending_verification` until the 6-digit code sent there is "
    "entered (`appointments_verify_waiting_list_entry`).\n\n"
    "Each person (eID or e-mail address) may have 3 active entries (a setting; more get "
    "409 `waiting-list-limit-reached`). An entry ends when it gets its slot, is withdrawn, "
    "after `latest_day`, at the start of the booking it would move, or after 90 days (a "
    "setting); its personal data are erased when it ends. The response carries the "
    "`manage_token`, shown only here: send it as `Waiting-List-Token` to see or withdraw "
    "the entry.",
    responses=problem_responses(
        BookingCredentialsMissing,
        BookingNotFound,
        ServiceNotFound,
        BookingNotWaitlistable,
        WaitingListLimitReached,
        WaitingListServiceMissing,
        WaitingListContactRequired,
        ServiceNotOffered,
        TooManyPersons,
        LatestDayInPast,
    ),
)
async def join_waiting_list(
    request: WaitingListJoin,
    principal: OptionalCitizen,
    session: WriteSession,
    settings: AppSettings,
    now: Now,
    booking_token: BookingToken = None,
    _idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    entry, token = await waiting_list_service.join(
        session, request, principal, booking_token, now, settings
    )
    return JSONResponse({**entry, "manage_token": token}, status_code=status.HTTP_201_CREATED)


@router.post(
    "/waiting-list/{entry_id}/verify",
    response_model=WaitingListEntryRead,
    summary="Verify the e-mail address of a waiting-list entry with its code",
    description="Lets a `pending_verification` entry wait, with the 6-digit code from the "
    "e-mail. A wrong code is 422 with `attempts_left`; after 5 wrong codes, or once the code "
    "has lapsed (30 minutes, a setting), the entry ends (409 "
    "`waiting-list-verification-failed`). No sign-in needed: the code is the proof.",
    responses=problem_responses(
        WaitingListEntryNotFound,
        WaitingListVerificationFailed,
        InvalidTransition,
        WrongVerificationCode,
    ),
)
async def verify_waiting_list_entry(
    entry_id: EntryId,
    request: WaitingListVerify,
    session: WriteSession,
    settings: AppSettings,
    now: Now,
) -> JSONResponse:
    return JSONResponse(
        await waiting_list_service.verify(session, entry_id, request.code, now, settings)
    )


@router.get(
    "/waiting-list/{entry_id}",
    response_model=WaitingListEntryRead,
    summary="One waiting-list entry",
    description="With the `Waiting-List-Token` header, or signed in with the online ID card "
    "as the citizen who made it. An entry that does not exist and one the caller may not see "
    "are both 404, and so is an entry that has ended (its personal data, token included, are "
    "erased then).",
    responses=problem_responses(*ENTRY_ACCESS_PROBLEMS),
)
async def get_waiting_list_entry(
    entry_id: EntryId, access: Access, session: ReadSession, settings: AppSettings
) -> JSONResponse:
    return JSONResponse(await waiting_list_service.get(session, entry_id, access, settings))


@router.delete(
    "/waiting-list/{entry_id}",
    response_model=WaitingListEntryRead,
    summary="Leave the waiting list",
    description="Withdraws the entry (status `left`) and erases its personal data; a slot "
    "offered to the citizen at that moment passes to the next person. Same access as "
    "`appointments_get_waiting_list_entry`; once an entry has ended its token and sign-in "
    "open nothing any more (404).",
    responses=problem_responses(*ENTRY_ACCESS_PROBLEMS, InvalidTransition),
)
async def leave_waiting_list(
    entry_id: EntryId, access: Access, session: WriteSession, settings: AppSettings, now: Now
) -> JSONResponse:
    return JSONResponse(await offer_service.withdraw(session, entry_id, access, now, settings))


@router.get(
    "/offers/{offer_id}",
    response_model=OfferRead,
    summary="A freed slot offered to the citizen",
    description="The slot held for the citizen from the waiting list, with the `Offer-Token` "
    "from the e-mail's link. Once it was accepted, declined or passed on, the token opens "
    "nothing (404); after `expires_at`, 409 `offer-expired`.",
    responses=problem_responses(*OFFER_ACCESS_PROBLEMS, OfferExpired),
)
async def get_offer(
    offer_id: OfferId, session: ReadSession, now: Now, token: OfferToken = None
) -> JSONResponse:
    return JSONResponse(await offer_service.get(session, offer_id, token, now))


@router.post(
    "/offers/{offer_id}/accept",
    response_model=OfferAccepted,
    summary="Accept an offered slot",
    description="In one transaction: with a booking on the waiting list, the booking moves "
    "to the offered slot (same reference and manage token; the old slot is given back after "
    "the usual delay, to the waiting list first), so the citizen never holds two; without "
    "one, a new booking is confirmed, its `manage_token` shown only here, under the cap of "
    "open appointments (409 `person-cap-reached`, and the offer stays open). An updated "
    "confirmation with the `.ics` file is sent. After `expires_at`, 409 `offer-expired`; "
    "once passed on, 404.",
    responses=problem_responses(
        *OFFER_ACCESS_PROBLEMS,
        OfferExpired,
        PersonCapReached,
        BookingNotWaitlistable,
        InvalidTransition,
    ),
)
async def accept_offer(
    offer_id: OfferId,
    session: WriteSession,
    settings: AppSettings,
    now: Now,
    token: OfferToken = None,
) -> JSONResponse:
    view, manage_token = await offer_service.accept(session, offer_id, token, now, settings)
    return JSONResponse({**view.to_json(), "manage_token": manage_token})


@router.post(
    "/offers/{offer_id}/decline",
    response_model=OfferDeclined,
    summary="Decline an offered slot",
    description="The slot passes at once to the next person on the waiting list (or, with "
    "nobody left, to the public calendar); the citizen stays on the waiting list for other "
    "slots but is not offered this one again.",
    responses=problem_responses(*OFFER_ACCESS_PROBLEMS, InvalidTransition),
)
async def decline_offer(
    offer_id: OfferId,
    session: WriteSession,
    settings: AppSettings,
    now: Now,
    token: OfferToken = None,
) -> JSONResponse:
    return JSONResponse(await offer_service.decline(session, offer_id, token, now, settings))
