"""What staff send and get when they take capacity away."""

from __future__ import annotations

import uuid

from pydantic import BaseModel, ConfigDict, Field

from app.appointments.schemas import START_EXAMPLE, Rfc3339, Start

REASON_LENGTH = 200


class BlockCreate(BaseModel):
    """Close the branch, or one counter, for a time: a counter off sick, an afternoon."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "starts_at": START_EXAMPLE,
                    "ends_at": "2027-03-29T12:00:00+02:00",
                    "counter_id": "6a1f0c2e-8d4b-4e7a-9c3f-2b1d0e9f8a7c",
                    "reason_de": "Krankheit",
                    "reason_en": "Illness",
                }
            ]
        },
    )

    starts_at: Rfc3339 = Field(description="When the block begins; not in the past.")
    ends_at: Rfc3339 = Field(description="When it ends; at most 31 days after it begins.")
    counter_id: uuid.UUID | None = Field(
        default=None, description="Only this counter of the branch; the whole branch if null."
    )
    reason_de: str = Field(
        min_length=1, max_length=REASON_LENGTH, description="Why, in German, for the citizens."
    )
    reason_en: str = Field(
        min_length=1, max_length=REASON_LENGTH, description="Why, in English, for the citizens."
    )


class BlockedBooking(BaseModel):
    id: uuid.UUID
    reference: str
    status: str
    start: Start
    end: Start
    name: str | None = Field(description="The citizen's name, to call those without e-mail.")
    notified_by_email: bool = Field(
        description="False for bookings without an e-mail address: staff must tell them."
    )


class BlockPreview(BaseModel):
    fingerprint: str = Field(
        description="Send it as `If-Match` to `appointments_apply_block`; it changes when the "
        "affected bookings do."
    )
    bookings: list[BlockedBooking] = Field(
        description="The bookings that lose their place, in order of their start."
    )


class BlockApplied(BaseModel):
    closure_id: uuid.UUID
    cancelled: list[BlockedBooking] = Field(description="The bookings cancelled by the block.")
    offered_booking_ids: list[uuid.UUID] = Field(
        description="Of those, the ones whose citizen was offered a new slot by e-mail."
    )
