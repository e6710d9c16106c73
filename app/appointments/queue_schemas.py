"""What the ticket kiosk and the clerks send and get from the branch's one queue."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, JsonValue

from app.appointments.call_order import QueueGroup, QueueKind
from app.appointments.schemas import MAX_PERSONS, START_EXAMPLE, Start, json_integer
from app.appointments.tickets import TicketStatus
from app.core.schemas import LocalizedText

BRANCH_EXAMPLE = "0f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0"
SERVICE_EXAMPLE = "5b0e6f7a-3c1d-4e2f-9a8b-7c6d5e4f3a2b"
COUNTER_EXAMPLE = "6a1f0c2e-8d4b-4e7a-9c3f-2b1d0e9f8a7c"
SERVICE_NAME_EXAMPLE: dict[str, JsonValue] = {
    "de": "Personalausweis beantragen",
    "en": "Apply for an ID card",
}


class TicketCreate(BaseModel):
    """Draw a walk-in ticket for a service at the branch."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"service_id": SERVICE_EXAMPLE},
                {"service_id": SERVICE_EXAMPLE, "persons": 2},
            ]
        },
    )

    service_id: uuid.UUID = Field(
        description="The service, from `appointments_list_services`; the branch must offer it."
    )
    persons: Annotated[int, BeforeValidator(json_integer)] = Field(
        default=1,
        ge=1,
        le=MAX_PERSONS,
        description="How many persons come together, as a JSON integer; at most the "
        "service's `max_persons`.",
    )


TICKET_EXAMPLE: dict[str, JsonValue] = {
    "id": "7d2c1b0a-9e8f-4a7b-8c6d-5e4f3a2b1c0d",
    "call_number": "W012",
    "status": "waiting",
    "status_label": {"de": "wartet", "en": "waiting"},
    "branch_id": BRANCH_EXAMPLE,
    "service_id": SERVICE_EXAMPLE,
    "service_name": SERVICE_NAME_EXAMPLE,
    "persons": 1,
    "date": "2027-03-29",
    "drawn_at": "2027-03-29T09:41:07+02:00",
    "tickets_ahead": 3,
    "counter_id": None,
    "called_at": None,
    "completed_at": None,
    "service_seconds": None,
}


class TicketRead(BaseModel):
    """A walk-in ticket, as the kiosk prints it and the clerks see it."""

    model_config = ConfigDict(json_schema_extra={"examples": [TICKET_EXAMPLE]})

    id: uuid.UUID
    call_number: str = Field(
        description="The number called out in the waiting room: `W` and the day's ticket "
        "number (`W001`, `W002`, …); appointments' numbers start with `A`.",
        examples=["W012"],
    )
    status: TicketStatus = Field(
        description="`waiting`, `called` (to `counter_id`), `completed`, `no_show` (called "
        "but did not come) or `cancelled` (before its call)."
    )
    status_label: LocalizedText
    branch_id: uuid.UUID
    service_id: uuid.UUID
    service_name: LocalizedText
    persons: int
    date: dt.date = Field(description="The day (Berlin) the ticket is valid for.")
    drawn_at: Start
    tickets_ahead: int | None = Field(
        description="While waiting: how many walk-in tickets drawn earlier still wait. "
        "Appointments in their time window are called before walk-ins, so this is a "
        "lower bound; null once called."
    )
    counter_id: uuid.UUID | None = Field(description="The counter it was called to.")
    called_at: Start | None = Field(description="The last call (or recall).")
    completed_at: Start | None
    service_seconds: int | None = Field(description="From the call to the completion.")


CALL_EXAMPLE: dict[str, JsonValue] = {
    "kind": "appointment",
    "id": "3c9d2e1f-7a6b-4c5d-8e9f-0a1b2c3d4e5f",
    "call_number": "A017",
    "counter_id": COUNTER_EXAMPLE,
    "counter_name": "Schalter 3",
    "called_at": "2027-03-29T08:01:30+02:00",
    "service_id": SERVICE_EXAMPLE,
    "service_name": SERVICE_NAME_EXAMPLE,
    "persons": 1,
    "reference": "T-4KQ7-M9X8",
    "name": "Erika Mustermann",
    "start": START_EXAMPLE,
}


class CallRead(BaseModel):
    """Whom a counter has called: an appointment or a walk-in ticket."""

    model_config = ConfigDict(json_schema_extra={"examples": [CALL_EXAMPLE]})

    kind: QueueKind = Field(description="`appointment` or `walk_in`.")
    id: uuid.UUID = Field(
        description="The booking's `id` (appointment) or the ticket's `id` (walk-in): what "
        "`complete`, `no-show` and `recall` take."
    )
    call_number: str = Field(examples=["A017", "W012"])
    counter_id: uuid.UUID
    counter_name: str = Field(examples=["Schalter 3"])
    called_at: Start
    service_id: uuid.UUID
    service_name: LocalizedText
    persons: int
    reference: str | None = Field(description="The booking's reference; null for a walk-in.")
    name: str | None = Field(
        description="The citizen's name, to check at the counter; null for a walk-in, and "
        "when erased or never given."
    )
    start: Start | None = Field(description="The appointment's start; null for a walk-in.")


QUEUE_ITEM_EXAMPLE: dict[str, JsonValue] = {
    "kind": "walk_in",
    "id": "7d2c1b0a-9e8f-4a7b-8c6d-5e4f3a2b1c0d",
    "call_number": "W012",
    "group": "walk_in",
    "arrived_at": "2027-03-29T09:41:07+02:00",
    "start": None,
    "counter_id": None,
    "service_id": SERVICE_EXAMPLE,
    "service_name": SERVICE_NAME_EXAMPLE,
    "persons": 1,
}


class QueueItemRead(BaseModel):
    kind: QueueKind
    id: uuid.UUID
    call_number: str
    group: QueueGroup = Field(
        description="Where the call rule puts it: `due` (an appointment in its window, "
        "called first), `walk_in` and `late` (walk-in tickets in ticket order, and "
        "appointments checked in late among them by check-in time), `early` (an appointment "
        "before its window, called only when nobody else waits)."
    )
    arrived_at: Start = Field(description="The check-in, or when the ticket was drawn.")
    start: Start | None = Field(description="The appointment's start; null for a walk-in.")
    counter_id: uuid.UUID | None = Field(
        description="The counter an appointment was sent to at check-in; only that counter "
        "calls it."
    )
    service_id: uuid.UUID
    service_name: LocalizedText
    persons: int


class WalkInBudgetRead(BaseModel):
    capacity: int = Field(
        description="The day's walk-in share of the branch's capacity, in slot units: the "
        "part of the counters' open time not open to online booking."
    )
    used: int = Field(description="Units taken by the day's tickets (not cancelled).")
    remaining: int
    turned_away: int = Field(description="Tickets refused today because none was left.")


class QueueRead(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "branch_id": BRANCH_EXAMPLE,
                    "date": "2027-03-29",
                    "counter_id": None,
                    "walk_in_budget": {
                        "capacity": 48,
                        "used": 13,
                        "remaining": 35,
                        "turned_away": 0,
                    },
                    "items": [QUEUE_ITEM_EXAMPLE],
                }
            ]
        }
    )

    branch_id: uuid.UUID
    date: dt.date
    counter_id: uuid.UUID | None = Field(description="The counter asked for, or null for all.")
    walk_in_budget: WalkInBudgetRead
    items: list[QueueItemRead] = Field(
        description='Everybody waiting today, in the order "call next" calls them (for '
        "`counter_id`, in that counter's order)."
    )


RECENT_CALL_EXAMPLE: dict[str, JsonValue] = {
    "call_number": "A017",
    "counter_id": COUNTER_EXAMPLE,
    "counter_name": "Schalter 3",
    "called_at": "2027-03-29T08:01:30+02:00",
}


class RecentCallRead(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [RECENT_CALL_EXAMPLE]})

    call_number: str = Field(examples=["A017"])
    counter_id: uuid.UUID
    counter_name: str = Field(examples=["Schalter 3"])
    called_at: Start


class RecentCallList(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"branch_id": BRANCH_EXAMPLE, "date": "2027-03-29", "items": [RECENT_CALL_EXAMPLE]}
            ]
        }
    )

    branch_id: uuid.UUID
    date: dt.date
    items: list[RecentCallRead] = Field(
        description="The day's calls and recalls, newest first; a recalled number appears "
        "once per call."
    )
