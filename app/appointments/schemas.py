"""What citizens' apps send and get from the appointment calendar."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from enum import StrEnum
from typing import Annotated, Any

from pydantic import (
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    JsonValue,
    WithJsonSchema,
)
from pydantic_core import PydanticCustomError

from app.appointments.models import BOOKING, CHANGE_REASON_LENGTH, NAME_LENGTH
from app.core.i18n import Language
from app.core.references import MAX_INPUT_LENGTH as MAX_REFERENCE_INPUT
from app.core.schemas import EmailAddress, LocalizedText
from app.core.text_input import NON_BLANK_TEXT_PATTERN

MAX_PERSONS = 20
# What `start` accepts, and what the contract says: RFC 3339 with seconds and an offset, in
# the years the calendar can hold (so every such time has a UTC instant to compare).
START_PATTERN = (
    r"^2[0-9]{3}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])[Tt]([01][0-9]|2[0-3]):[0-5][0-9]"
    r":[0-5][0-9](\.[0-9]{1,6})?([Zz]|[+-]([01][0-9]|2[0-3]):[0-5][0-9])$"
)
_START = re.compile(START_PATTERN.removeprefix("^").removesuffix("$"))
START_EXAMPLE = "2027-03-29T08:00:00+02:00"


def _rfc3339_text(value: Any) -> Any:
    """Only an RFC 3339 date-time with its offset; no numbers read as Unix time. (Python
    callers may pass an aware datetime; JSON never carries one.)"""
    if isinstance(value, dt.datetime):
        return value
    if not isinstance(value, str) or not _START.fullmatch(value):
        raise PydanticCustomError(
            "rfc3339_expected",
            "Expected an RFC 3339 date-time with offset, e.g. {example}.",
            {"example": START_EXAMPLE},
        )
    return value


def json_integer(value: Any) -> Any:
    """A JSON integer, which JSON Schema says `2.0` is too; `"2"` and `true` are not."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise PydanticCustomError("int_type", "Input should be a valid integer")
    return value


Rfc3339 = Annotated[
    AwareDatetime,
    BeforeValidator(_rfc3339_text),
    WithJsonSchema({"type": "string", "format": "date-time", "pattern": START_PATTERN}),
]
Start = Annotated[
    str,
    Field(
        description="RFC 3339, in Berlin time with its offset (`+01:00` in winter, `+02:00` "
        "in summer).",
        examples=[START_EXAMPLE],
    ),
]


class ServiceBranch(BaseModel):
    branch_id: uuid.UUID = Field(description="The branch; see `GET /api/v1/branches`.")
    duration_minutes: int = Field(description="How long the appointment is for one person.")
    minutes_per_extra_person: int = Field(description="What each further person adds.")


class AppointmentServiceRead(BaseModel):
    id: uuid.UUID
    code: str = Field(description="Stable short code, e.g. `personalausweis`.")
    name: LocalizedText
    description: LocalizedText
    leika_key: str | None = Field(
        description="The federal service catalogue key (LeiKa), 14 digits, if there is one."
    )
    what_to_bring: LocalizedText = Field(description="Documents and items to bring along.")
    max_persons: int = Field(description="How many persons can share one appointment.")
    lead_time_minutes: int = Field(description="How far ahead of its start a slot must be held.")
    horizon_days: int = Field(description="How many days ahead appointments can be booked.")
    branches: list[ServiceBranch] = Field(description="The branches that offer the service.")


class AppointmentServiceList(BaseModel):
    items: list[AppointmentServiceRead]


class BranchStarts(BaseModel):
    branch_id: uuid.UUID
    starts: list[Start] = Field(description="Free starts, in time order.")


class AvailabilityDay(BaseModel):
    date: dt.date = Field(description="The day in Berlin.")
    branches: list[BranchStarts]


class AvailabilityRead(BaseModel):
    service_id: uuid.UUID
    persons: int
    from_: dt.date = Field(alias="from", description="First day looked at (Berlin).")
    to: dt.date = Field(description="Last day looked at (Berlin).")
    days: list[AvailabilityDay] = Field(description="Only days with at least one free start.")


class EarliestStart(BaseModel):
    branch_id: uuid.UUID
    start: Start


class EarliestRead(BaseModel):
    service_id: uuid.UUID
    persons: int
    earliest: EarliestStart | None = Field(
        description="The first free start, or null when nothing is free within the horizon."
    )


class HoldCreate(BaseModel):
    """Hold a free start while the citizen completes the booking."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "service_id": "5b0e6f7a-3c1d-4e2f-9a8b-7c6d5e4f3a2b",
                    "branch_id": "0f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0",
                    "start": START_EXAMPLE,
                    "persons": 1,
                }
            ]
        },
    )

    service_id: uuid.UUID = Field(description="The service, from `appointments_list_services`.")
    branch_id: uuid.UUID = Field(description="A branch that offers the service.")
    start: Rfc3339 = Field(
        description="A start as `appointments_availability` lists it, with its offset."
    )
    persons: Annotated[int, BeforeValidator(json_integer)] = Field(
        default=1,
        ge=1,
        le=MAX_PERSONS,
        description='How many persons come together, as a JSON integer (`"2"` and `true` '
        "are refused).",
    )


class HoldRead(BaseModel):
    id: uuid.UUID
    reference: str = Field(description="What the citizen quotes, e.g. `T-4KQ7-M9X8`.")
    status: str = Field(description="`held` until the booking is confirmed or the hold expires.")
    service_id: uuid.UUID
    branch_id: uuid.UUID
    start: Start
    end: Start
    persons: int
    expires_at: Start = Field(description="When the hold ends and its slot is free again.")


PHONE_PATTERN = r"^\+?[0-9][0-9 ()/-]{3,38}[0-9]$"
CODE_PATTERN = r"^[0-9]{6}$"
MANAGE_TOKEN_EXAMPLE = "q5Xk0t1m9ZbqvJ3c2nW8yR7eLhA4sDfG6uPiOoKjHlY"  # noqa: S105 - an example


class HoldConfirm(BaseModel):
    """Who comes. Signed in with the online ID card (bearer token), all fields are optional
    and the booking is confirmed at once; otherwise `name` and `email` are required and the
    e-mail address must be verified with the code sent to it."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "name": "Erika Mustermann",
                    "email": "erika.mustermann@example.org",
                    "phone": "+49 231 1234567",
                    "language": "de",
                },
                {"language": "en"},
            ]
        },
    )

    name: str | None = Field(
        default=None,
        min_length=1,
        max_length=NAME_LENGTH,
        description="The name under which the citizen is called at the counter.",
    )
    email: EmailAddress | None = Field(
        default=None, description="Where the code, confirmation and reminder are sent."
    )
    phone: str | None = Field(
        default=None,
        pattern=PHONE_PATTERN,
        description="Optional, for the branch to call if the appointment must be moved.",
    )
    language: Language = Field(
        default=Language.de, description="The language of e-mails and texts: `de` or `en`."
    )


class BookingVerify(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"code": "482913"}]})

    code: str = Field(
        pattern=CODE_PATTERN, description="The 6-digit code from the e-mail, as a string."
    )


class BookingReschedule(BaseModel):
    """Move a confirmed appointment to another start, at the same branch or another one that
    offers the service."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"start": START_EXAMPLE}]},
    )

    start: Rfc3339 = Field(description="A free start, as `appointments_availability` lists it.")
    branch_id: uuid.UUID | None = Field(
        default=None, description="Another branch; the booking's own when left out."
    )


class BookingRead(BaseModel):
    id: uuid.UUID
    reference: str = Field(description="What the citizen quotes, e.g. `T-4KQ7-M9X8`.")
    status: str = Field(
        description="`held`, `pending_verification` (until the e-mail code is entered), "
        "`confirmed`, `cancelled` or `expired`."
    )
    status_label: LocalizedText
    service_id: uuid.UUID
    service_name: LocalizedText
    branch_id: uuid.UUID
    branch_name: str
    branch_address: str = Field(description="Street, number, postal code and city.")
    start: Start
    end: Start
    persons: int
    expires_at: Start | None = Field(
        description="For `held` and `pending_verification`: when the booking lapses unless "
        "confirmed; null otherwise."
    )
    name: str | None
    language: Language
    what_to_bring: LocalizedText


class BookingCreated(BookingRead):
    manage_token: str = Field(
        description="The secret that lets the citizen see, move and cancel this booking "
        "without signing in, sent as the `Booking-Token` header. Shown only in this "
        "response and kept by the server only as a hash.",
        examples=[MANAGE_TOKEN_EXAMPLE],
    )


class BookingList(BaseModel):
    items: list[BookingRead]


STAFF_TEXT_PATTERN = NON_BLANK_TEXT_PATTERN
POSTAL_CODE_PATTERN = r"^[0-9]{5}$"


class PostalAddress(BaseModel):
    """Where a confirmation can be posted to a citizen without an e-mail address."""

    model_config = ConfigDict(extra="forbid")

    street: str = Field(
        min_length=1,
        max_length=150,
        pattern=STAFF_TEXT_PATTERN,
        description="Street and house number, e.g. `Hörder Bahnhofstraße 16`.",
        examples=["Hörder Bahnhofstraße 16"],
    )
    postal_code: str = Field(
        pattern=POSTAL_CODE_PATTERN, description="The German postal code, 5 digits."
    )
    city: str = Field(
        min_length=1,
        max_length=100,
        pattern=STAFF_TEXT_PATTERN,
        description="The town, e.g. `Dortmund`.",
        examples=["Dortmund"],
    )


STAFF_BOOKING_EXAMPLES: list[JsonValue] = [
    {
        "service_id": "5b0e6f7a-3c1d-4e2f-9a8b-7c6d5e4f3a2b",
        "branch_id": "0f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0",
        "start": START_EXAMPLE,
        "persons": 1,
        "name": "Erika Mustermann",
        "phone": "0231 1234567",
        "language": "de",
    },
    {
        "service_id": "5b0e6f7a-3c1d-4e2f-9a8b-7c6d5e4f3a2b",
        "branch_id": "0f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0",
        "start": START_EXAMPLE,
        "name": "Erika Mustermann",
        "postal_address": {
            "street": "Hörder Bahnhofstraße 16",
            "postal_code": "44263",
            "city": "Dortmund",
        },
    },
]


def _staff_booking_schema(schema: dict[str, JsonValue]) -> None:
    """The contract says what the service checks: a phone number or a postal address is
    given, each left out rather than null when it is not."""
    properties = schema["properties"]
    assert isinstance(properties, dict)
    for name in ("phone", "postal_address"):
        field = properties[name]
        assert isinstance(field, dict)
        options = field.pop("anyOf")
        assert isinstance(options, list)
        [given] = [option for option in options if option != {"type": "null"}]
        assert isinstance(given, dict)
        field.update(given)
    schema["anyOf"] = [{"required": ["phone"]}, {"required": ["postal_address"]}]
    schema["examples"] = STAFF_BOOKING_EXAMPLES


class StaffBookingCreate(BaseModel):
    """Book for a citizen who phoned or came by: the start and who comes, with a phone number
    or a postal address, and an e-mail address if they have one."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=_staff_booking_schema)

    service_id: uuid.UUID = Field(description="The service, from `appointments_list_services`.")
    branch_id: uuid.UUID = Field(
        description="A branch that offers the service and that the caller works at."
    )
    start: Rfc3339 = Field(
        description="A start as `appointments_availability` lists it, with its offset."
    )
    persons: Annotated[int, BeforeValidator(json_integer)] = Field(
        default=1, ge=1, le=MAX_PERSONS, description="How many persons come together."
    )
    name: str = Field(
        min_length=1,
        max_length=NAME_LENGTH,
        pattern=STAFF_TEXT_PATTERN,
        description="The name under which the citizen is called at the counter.",
    )
    phone: str | None = Field(
        default=None,
        pattern=PHONE_PATTERN,
        description="A number to reach the citizen; a phone number or `postal_address` is "
        "required.",
        examples=["0231 1234567"],
    )
    postal_address: PostalAddress | None = Field(
        default=None,
        description="Where to post the confirmation; a phone number or this is required.",
    )
    email: EmailAddress | None = Field(
        default=None,
        description="Optional: the confirmation with the QR code for check-in, the `.ics` "
        "file and the reminder go there.",
    )
    language: Language = Field(
        default=Language.de, description="The language of e-mails: `de` or `en`."
    )


class StaffCancel(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"reason": "Auf Wunsch der Bürgerin telefonisch abgesagt"}]
        },
    )

    reason: str = Field(
        min_length=1,
        max_length=CHANGE_REASON_LENGTH,
        pattern=STAFF_TEXT_PATTERN,
        description="Why, in words for the citizen: it is kept on the booking, written to the "
        "audit log, and told to the citizen in the e-mail and on the printed confirmation. "
        "No internal notes.",
    )


class StaffReschedule(BookingReschedule):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"start": START_EXAMPLE, "reason": "Auf Wunsch telefonisch verlegt"}]
        },
    )

    reason: str = Field(
        min_length=1,
        max_length=CHANGE_REASON_LENGTH,
        pattern=STAFF_TEXT_PATTERN,
        description="Why, in words for the citizen: it is kept on the booking, written to the "
        "audit log, and told to the citizen in the e-mail and on the printed confirmation. "
        "No internal notes.",
    )


class StaffBookingRead(BookingRead):
    """A booking as staff see it when acting for the citizen."""

    email: str | None
    phone: str | None
    postal_address: PostalAddress | None
    confirmed_via: str | None = Field(
        description="`staff` for a booking staff made, `eid` or `email` for one the citizen "
        "made online; null while unconfirmed."
    )
    booked_by: uuid.UUID | None = Field(
        description="The staff member who made the booking for the citizen; null otherwise."
    )
    change_reason: str | None = Field(
        description="The reason staff gave for the last cancellation or move, as the citizen "
        "was told it."
    )
    confirmation_page: str = Field(
        description="The path of the printable confirmation, "
        "`appointments_staff_confirmation_page`."
    )


class VisitStatus(StrEnum):
    """A booking's status on the day of its visit."""

    confirmed = "confirmed"
    checked_in = "checked_in"
    called = "called"
    completed = "completed"
    no_show = "no_show"


class CheckIn(BaseModel):
    """Check a citizen in at the branch of their appointment, by its reference as the
    citizen quotes it or as the QR code of the confirmation carries it."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"reference": BOOKING.example},
                {
                    "reference": BOOKING.example,
                    "counter_id": "6a1f0c2e-8d4b-4e7a-9c3f-2b1d0e9f8a7c",
                },
            ]
        },
    )

    reference: str = Field(
        min_length=1,
        max_length=MAX_REFERENCE_INPUT,
        examples=[BOOKING.example],
        description="The booking's reference, e.g. `T-4KQ7-M9X8`; case, spaces and hyphens "
        "do not matter, and the `T` may be left out. A reference with a typo is caught by its "
        "check character and, like an unknown one, not found.",
    )
    counter_id: uuid.UUID | None = Field(
        default=None,
        description="The counter the citizen is sent to, one of the branch's active counters; "
        "the day view can be filtered by it.",
    )


VISIT_EXAMPLE: dict[str, JsonValue] = {
    "id": "3c9d2e1f-7a6b-4c5d-8e9f-0a1b2c3d4e5f",
    "reference": BOOKING.example,
    "status": "completed",
    "status_label": {"de": "erledigt", "en": "completed"},
    "service_id": "5b0e6f7a-3c1d-4e2f-9a8b-7c6d5e4f3a2b",
    "service_name": {"de": "Personalausweis beantragen", "en": "Apply for an ID card"},
    "persons": 1,
    "start": START_EXAMPLE,
    "end": "2027-03-29T08:20:00+02:00",
    "name": "Erika Mustermann",
    "call_number": "A017",
    "counter_id": "6a1f0c2e-8d4b-4e7a-9c3f-2b1d0e9f8a7c",
    "checked_in_at": "2027-03-29T07:52:10+02:00",
    "called_at": "2027-03-29T08:00:20+02:00",
    "completed_at": "2027-03-29T08:14:40+02:00",
    "service_seconds": 860,
}


class VisitRead(BaseModel):
    """One appointment of the day, as the clerks at the branch see it."""

    model_config = ConfigDict(json_schema_extra={"examples": [VISIT_EXAMPLE]})

    id: uuid.UUID
    reference: str = Field(description="What the citizen quotes, e.g. `T-4KQ7-M9X8`.")
    status: VisitStatus = Field(
        description="`confirmed` (expected), `checked_in` (waiting), `called` (called to "
        "`counter_id`, being served), `completed` or `no_show`."
    )
    status_label: LocalizedText
    service_id: uuid.UUID
    service_name: LocalizedText
    persons: int
    start: Start
    end: Start
    name: str | None = Field(
        description="The citizen's name, to check at the counter; null once erased after the "
        "retention, or when the citizen booked with the online ID card and gave none."
    )
    call_number: str | None = Field(
        description="The number called out in the waiting room, e.g. `A017`, from check-in on.",
        examples=["A017"],
    )
    counter_id: uuid.UUID | None = Field(description="The counter the citizen was sent to.")
    checked_in_at: Start | None
    called_at: Start | None = Field(
        description="The last call to a counter (`appointments_call_next` or a recall)."
    )
    completed_at: Start | None
    service_seconds: int | None = Field(
        description="How long the visit took: from the call to its completion, or, completed "
        "without a call, from the later of the check-in and the start."
    )


class BranchDayRead(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "branch_id": "0f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0",
                    "date": "2027-03-29",
                    "counter_id": None,
                    "items": [VISIT_EXAMPLE],
                }
            ]
        }
    )

    branch_id: uuid.UUID
    date: dt.date = Field(description="The day in Berlin.")
    counter_id: uuid.UUID | None = Field(description="The counter asked for, or null for all.")
    items: list[VisitRead] = Field(
        description="Confirmed, checked-in, completed and no-show appointments of the day, in "
        "order of their start; cancelled and unverified ones are left out."
    )


STATISTICS_DAY_EXAMPLE: dict[str, Any] = {
    "date": "2027-03-29",
    "branch_id": "0f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0",
    "branch_code": "hoerde",
    "branch_name": "Bürgerdienste Hörde",
    "slots_offered": 336,
    "slots_booked": 301,
    "appointments_booked": 188,
    "appointments_used": 165,
    "appointments_no_show": 17,
    "appointments_cancelled": 9,
    "no_show_rate": 0.0934,
    "waiting_seconds_median": 240,
    "waiting_seconds_p90": 780,
    "service_seconds_median": 540,
    "walk_ins_served": 61,
    "walk_ins_turned_away": 4,
}


class StatisticsDay(BaseModel):
    """One branch's figures for one day (Berlin)."""

    model_config = ConfigDict(json_schema_extra={"examples": [STATISTICS_DAY_EXAMPLE]})

    date: dt.date = Field(description="The day in Berlin.")
    branch_id: uuid.UUID
    branch_code: str = Field(description="The branch's short code, e.g. `hoerde`.")
    branch_name: str
    slots_offered: int = Field(
        description="Slot units the online calendar offered that day (the counters' online "
        "share of the opening hours, after closures), booked or not."
    )
    slots_booked: int = Field(description="Slot units taken by booked appointments.")
    appointments_booked: int = Field(
        description="Appointments of the day that were booked: confirmed, checked in, "
        "completed or missed; holds that lapsed and cancelled ones are not counted."
    )
    appointments_used: int = Field(description="Booked appointments the citizen came to.")
    appointments_no_show: int = Field(description="Booked appointments nobody came to.")
    appointments_cancelled: int = Field(description="Appointments of the day cancelled.")
    no_show_rate: float | None = Field(
        description="`appointments_no_show` among the appointments whose outcome is known "
        "(used or missed), from 0 to 1; null before any is known."
    )
    waiting_seconds_median: int | None = Field(
        description="Median waiting time from check-in (or drawing a walk-in ticket) to the "
        "call; null without any call (in open data: with fewer than 5)."
    )
    waiting_seconds_p90: int | None = Field(
        description="90th percentile of the same waiting times."
    )
    service_seconds_median: int | None = Field(
        description="Median time at the counter of the completed visits; null without any "
        "(in open data: with fewer than 5)."
    )
    walk_ins_served: int = Field(description="Walk-in tickets served at a counter.")
    walk_ins_turned_away: int = Field(
        description="Walk-ins refused a ticket because the day's walk-in capacity was gone."
    )


class StatisticsRead(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"from": "2027-03-29", "to": "2027-03-29", "items": [STATISTICS_DAY_EXAMPLE]}
            ]
        }
    )

    first: dt.date = Field(alias="from", description="The first day covered (Berlin).")
    last: dt.date = Field(alias="to", description="The last day covered, inclusive.")
    items: list[StatisticsDay] = Field(
        description="One entry per day and branch, in order of day, then branch name; days a "
        "branch was closed have zeros."
    )


class OpenDataRead(StatisticsRead):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "license": "dl-de/by-2-0",
                    "license_url": "https://www.govdata.de/dl-de/by-2-0",
                    "from": "2027-03-29",
                    "to": "2027-03-29",
                    "items": [STATISTICS_DAY_EXAMPLE],
                }
            ]
        }
    )

    license: str = Field(description="The licence the city publishes the data under.")
    license_url: str
