"""What citizens send and get for the waiting list and the offers of freed slots."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from app.appointments.models import NAME_LENGTH
from app.appointments.schemas import (
    CODE_PATTERN,
    MAX_PERSONS,
    START_EXAMPLE,
    BookingRead,
    Start,
    json_integer,
)
from app.core.i18n import Language
from app.core.schemas import EmailAddress, LocalizedText

MAX_WAITING_BRANCHES = 10
TOKEN_EXAMPLE = "Zq8v1Xb3nT0cK7mW2yR5eLhA4sDfG6uPiOoKjHlY9aQ"  # noqa: S105 - an example


class WaitingListJoin(BaseModel):
    """Ask for an offer when an earlier slot frees up.

    With `booking_id` (and its `Booking-Token`, or signed in as the citizen who booked),
    the booking's service and persons are taken and an accepted offer moves the booking.
    Without one, name the service; an accepted offer then books a new appointment. Signed in
    with the online ID card, the entry waits at once; with an e-mail address only, it waits
    once the 6-digit code sent there is entered."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "service_id": "5b0e6f7a-3c1d-4e2f-9a8b-7c6d5e4f3a2b",
                    "branch_ids": ["0f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0"],
                    "persons": 1,
                    "latest_day": "2027-04-30",
                    "name": "Erika Mustermann",
                    "email": "erika.mustermann@example.org",
                    "language": "de",
                },
                {"booking_id": "3c9d2e1f-7a6b-4c5d-8e9f-0a1b2c3d4e5f"},
            ]
        },
    )

    booking_id: uuid.UUID | None = Field(
        default=None,
        description="The citizen's confirmed booking to move earlier; send its "
        "`Booking-Token` header or sign in as the citizen who booked it.",
    )
    service_id: uuid.UUID | None = Field(
        default=None,
        description="The service, from `appointments_list_services`; required without "
        "`booking_id`, the booking's own with it.",
    )
    branch_ids: list[uuid.UUID] | None = Field(
        default=None,
        min_length=1,
        max_length=MAX_WAITING_BRANCHES,
        description="The branches at which the citizen would take a slot (each must offer "
        "the service); with `booking_id`, the booking's branch when left out.",
    )
    persons: Annotated[int, BeforeValidator(json_integer)] | None = Field(
        default=None,
        ge=1,
        le=MAX_PERSONS,
        description="How many persons come together; 1 without a booking when left out, "
        "the booking's own with one.",
    )
    latest_day: dt.date | None = Field(
        default=None,
        description="The last day (Berlin) an offered slot may fall on; any day within the "
        "waiting time when left out.",
    )
    name: str | None = Field(
        default=None, min_length=1, max_length=NAME_LENGTH, description="For the e-mails."
    )
    email: EmailAddress | None = Field(
        default=None,
        description="Where offers are sent. Required unless the booking has an address.",
    )
    language: Language | None = Field(
        default=None, description="The language of the e-mails; the booking's or `de`."
    )


class WaitingListVerify(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"code": "482913"}]})

    code: str = Field(
        pattern=CODE_PATTERN, description="The 6-digit code from the e-mail, as a string."
    )


class WaitingListEntryRead(BaseModel):
    id: uuid.UUID
    status: str = Field(
        description="`pending_verification` (until the e-mail code is entered), `waiting`, "
        "`offered` (a slot is held for the citizen: see the e-mail), `fulfilled`, `left` "
        "or `ended`."
    )
    status_label: LocalizedText
    service_id: uuid.UUID
    branch_ids: list[uuid.UUID]
    persons: int
    latest_day: dt.date | None
    booking_id: uuid.UUID | None = Field(description="The booking an offer would move.")
    ends_at: Start = Field(description="When the entry ends by itself.")


class WaitingListEntryCreated(WaitingListEntryRead):
    manage_token: str = Field(
        description="The secret that lets the citizen see and withdraw this entry without "
        "signing in, sent as the `Waiting-List-Token` header. Shown only in this response.",
        examples=[TOKEN_EXAMPLE],
    )


class OfferRead(BaseModel):
    """A freed slot held for the citizen until `expires_at`."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "7d2c1b0a-9e8f-4a6b-8c5d-4e3f2a1b0c9d",
                    "status": "offered",
                    "service_id": "5b0e6f7a-3c1d-4e2f-9a8b-7c6d5e4f3a2b",
                    "service_name": {
                        "de": "Personalausweis beantragen",
                        "en": "Apply for an ID card",
                    },
                    "branch_id": "0f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0",
                    "branch_name": "Bürgerbüro Mitte",
                    "start": START_EXAMPLE,
                    "end": "2027-03-29T08:10:00+02:00",
                    "persons": 1,
                    "expires_at": "2027-03-27T10:15:00+01:00",
                    "moves_booking_id": None,
                }
            ]
        }
    )

    id: uuid.UUID
    status: str = Field(description="`offered` while it can be accepted.")
    service_id: uuid.UUID
    service_name: LocalizedText
    branch_id: uuid.UUID
    branch_name: str
    start: Start
    end: Start
    persons: int
    expires_at: Start = Field(description="Until when the slot is held for the citizen.")
    moves_booking_id: uuid.UUID | None = Field(
        description="The booking that accepting moves here; null when accepting books a new "
        "appointment."
    )


class OfferAccepted(BookingRead):
    manage_token: str | None = Field(
        description="For a new booking: its manage token, shown only here (send it as "
        "`Booking-Token`). Null when an existing booking was moved: its token stays.",
        examples=[TOKEN_EXAMPLE],
    )


class OfferDeclined(BaseModel):
    id: uuid.UUID
    status: str = Field(description="`declined`: the slot has passed to the next person.")
