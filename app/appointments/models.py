"""The appointment calendar: services, what each branch offers, counters, hours, closures,
the materialised capacity per branch and slot unit, and bookings (holds are bookings in the
status `held`).

`capacity_units` is the one source of truth for what can still be booked: one row per branch
and unit start, `used` never above `capacity` (a CHECK), and every hold or booking claims its
units with a guarded `UPDATE … WHERE used < capacity`.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime, time

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    String,
    Text,
    Time,
    false,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from app.core.db import EMAIL_LENGTH, Base, UUIDPrimaryKey, utcnow
from app.core.references import ReferenceKind

BOOKING = ReferenceKind(name="booking", prefix="T")
"""A booking's reference, e.g. `T-4KQ7-M9X8`: what the citizen quotes, and what the QR code
of the confirmation carries for check-in."""

LEIKA_KEY_LENGTH = 14
NAME_LENGTH = 200
PHONE_LENGTH = 40
CALL_NUMBER_LENGTH = 10
POSTAL_ADDRESS_LENGTH = 400
CHANGE_REASON_LENGTH = 200


class AppointmentService(UUIDPrimaryKey, Base):
    """A service citizens book an appointment for (Dienstleistung), e.g. an ID card."""

    __tablename__ = "appointment_services"
    __table_args__ = (
        CheckConstraint("max_persons >= 1", name="max_persons_positive"),
        CheckConstraint("lead_time_minutes >= 0", name="lead_time_not_negative"),
        CheckConstraint("horizon_days BETWEEN 1 AND 365", name="horizon_in_range"),
        CheckConstraint("release_minute BETWEEN 0 AND 1439", name="release_minute_in_day"),
    )

    code: Mapped[str] = mapped_column(String(50), unique=True)
    name_de: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str] = mapped_column(String(200))
    description_de: Mapped[str] = mapped_column(Text, default="")
    description_en: Mapped[str] = mapped_column(Text, default="")
    leika_key: Mapped[str | None] = mapped_column(String(LEIKA_KEY_LENGTH))
    bring_de: Mapped[str] = mapped_column(Text, default="")
    bring_en: Mapped[str] = mapped_column(Text, default="")
    max_persons: Mapped[int] = mapped_column(default=1)
    lead_time_minutes: Mapped[int] = mapped_column(default=120)
    horizon_days: Mapped[int] = mapped_column(default=60)
    # Minutes after local midnight at which the next day of the horizon becomes bookable.
    release_minute: Mapped[int] = mapped_column(default=7 * 60)
    active: Mapped[bool] = mapped_column(default=True)
    version: Mapped[int] = mapped_column(default=1)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class BranchCalendar(Base):
    """A branch that takes appointments, and the length of its slot unit."""

    __tablename__ = "branch_calendars"
    __table_args__ = (
        CheckConstraint("unit_minutes BETWEEN 5 AND 60 AND 60 % unit_minutes = 0", name="unit"),
    )

    branch_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("branches.id"), primary_key=True)
    unit_minutes: Mapped[int] = mapped_column(default=10)
    version: Mapped[int] = mapped_column(default=1)


class BranchService(Base):
    """A service a branch offers, and how many slot units it takes there."""

    __tablename__ = "branch_services"
    __table_args__ = (
        CheckConstraint("units >= 1", name="units_positive"),
        CheckConstraint("units_per_extra_person >= 0", name="extra_units_not_negative"),
        Index(None, "service_id"),
    )

    branch_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("branches.id"), primary_key=True)
    service_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("appointment_services.id"), primary_key=True
    )
    units: Mapped[int] = mapped_column()
    units_per_extra_person: Mapped[int] = mapped_column(default=0)


class Counter(UUIDPrimaryKey, Base):
    """A counter (Schalter); `online_share_percent` of its open time is for online bookings,
    the rest for walk-ins."""

    __tablename__ = "counters"
    __table_args__ = (
        CheckConstraint("online_share_percent BETWEEN 0 AND 100", name="share_in_range"),
        Index(None, "branch_id", "name", unique=True),
    )

    branch_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("branches.id"))
    name: Mapped[str] = mapped_column(String(100))
    online_share_percent: Mapped[int] = mapped_column(default=100)
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class OpeningHours(UUIDPrimaryKey, Base):
    """One opening period on one weekday (0 = Monday), in Berlin wall-clock time, valid from
    `valid_from` until `valid_until` (inclusive; open-ended when null)."""

    __tablename__ = "opening_hours"
    __table_args__ = (
        CheckConstraint("weekday BETWEEN 0 AND 6", name="weekday_in_range"),
        CheckConstraint("opens < closes", name="opens_before_closes"),
        Index(None, "branch_id", "weekday"),
    )

    branch_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("branches.id"))
    weekday: Mapped[int] = mapped_column()
    opens: Mapped[time] = mapped_column(Time)
    closes: Mapped[time] = mapped_column(Time)
    valid_from: Mapped[date] = mapped_column(Date)
    valid_until: Mapped[date | None] = mapped_column(Date)


class Closure(UUIDPrimaryKey, Base):
    """A time range in which a whole branch, or one of its counters, takes no appointments."""

    __tablename__ = "closures"
    __table_args__ = (
        CheckConstraint("starts_at < ends_at", name="starts_before_ends"),
        Index(None, "branch_id", "starts_at"),
    )

    branch_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("branches.id"))
    counter_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("counters.id"))
    starts_at: Mapped[datetime] = mapped_column()
    ends_at: Mapped[datetime] = mapped_column()
    reason_de: Mapped[str] = mapped_column(String(200), default="")
    reason_en: Mapped[str] = mapped_column(String(200), default="")


class CapacityDay(Base):
    """A day whose capacity rows of one branch exist (released); released once."""

    __tablename__ = "capacity_days"

    branch_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("branches.id"), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    released_at: Mapped[datetime] = mapped_column(default=utcnow)


class CapacityUnit(Base):
    """How many online bookings one slot unit of one branch can take, and how many it has."""

    __tablename__ = "capacity_units"
    __table_args__ = (
        CheckConstraint("used >= 0 AND used <= capacity", name="used_within_capacity"),
    )

    # The primary key is the (branch_id, starts_at) index every availability query uses.
    branch_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("branches.id"), primary_key=True)
    starts_at: Mapped[datetime] = mapped_column(primary_key=True)
    capacity: Mapped[int] = mapped_column()
    used: Mapped[int] = mapped_column(default=0)


class Booking(UUIDPrimaryKey, Base):
    """A hold or booking of `units` consecutive slot units from `starts_at` to `ends_at`.

    From its hold on it counts in `used` of each unit it covers, also once the citizen has
    come (checked_in, completed) or not (no_show); only cancellation and expiry give the
    units back. `person_key` (a keyed hash of who booked) serves the per-person cap,
    `manage_token_hash` the citizen's link to cancel or reschedule.
    """

    __tablename__ = "bookings"
    __table_args__ = (
        CheckConstraint("units >= 1", name="units_positive"),
        CheckConstraint("persons >= 1", name="persons_positive"),
        CheckConstraint("starts_at < ends_at", name="starts_before_ends"),
        Index(None, "status", "expires_at"),
        Index(None, "status", "starts_at"),
        Index(None, "branch_id", "starts_at"),
        Index(None, "person_key"),
    )

    reference: Mapped[str] = mapped_column(String(20), unique=True)
    status: Mapped[str] = mapped_column(String(30))
    branch_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("branches.id"))
    service_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("appointment_services.id"))
    starts_at: Mapped[datetime] = mapped_column()
    ends_at: Mapped[datetime] = mapped_column()
    units: Mapped[int] = mapped_column()
    persons: Mapped[int] = mapped_column(default=1)
    expires_at: Mapped[datetime | None] = mapped_column()
    person_key: Mapped[str | None] = mapped_column(String(64))
    manage_token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    # Who comes: kept until the retention after the appointment ends, then erased.
    name: Mapped[str | None] = mapped_column(String(NAME_LENGTH))
    email: Mapped[str | None] = mapped_column(String(EMAIL_LENGTH))
    phone: Mapped[str | None] = mapped_column(String(PHONE_LENGTH))
    language: Mapped[str] = mapped_column(String(2), default="de", server_default="de")
    confirmed_via: Mapped[str | None] = mapped_column(String(10))
    verification_code_hash: Mapped[str | None] = mapped_column(String(64))
    verification_attempts: Mapped[int] = mapped_column(default=0, server_default="0")
    # True while the booking counts against its person's cap (`person_quotas`).
    counts_in_quota: Mapped[bool] = mapped_column(default=False, server_default=false())
    confirmed_at: Mapped[datetime | None] = mapped_column()
    cancelled_at: Mapped[datetime | None] = mapped_column()
    reminder_sent_at: Mapped[datetime | None] = mapped_column()
    personal_data_erased_at: Mapped[datetime | None] = mapped_column()
    # At the branch: the call number drawn at check-in, the counter the citizen was sent to,
    # and how long the visit took.
    checked_in_at: Mapped[datetime | None] = mapped_column()
    call_number: Mapped[str | None] = mapped_column(String(CALL_NUMBER_LENGTH))
    counter_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("counters.id"))
    completed_at: Mapped[datetime | None] = mapped_column()
    service_seconds: Mapped[int | None] = mapped_column()
    no_show_at: Mapped[datetime | None] = mapped_column()
    # The staff member who checked the citizen in, completed the visit or marked the no-show
    # (null for the automatic no-show).
    handled_by: Mapped[uuid.UUID | None] = mapped_column()
    # The last call to a counter ("call next" or a recall), and the staff member who made it.
    called_at: Mapped[datetime | None] = mapped_column()
    called_by: Mapped[uuid.UUID | None] = mapped_column()
    # The analog path: the staff member who booked on the citizen's behalf (who phoned or
    # came by), the postal address given instead of an e-mail address (personal data, erased
    # with the rest), and the reason staff gave for the last cancellation or move, which the
    # citizen is told.
    booked_by: Mapped[uuid.UUID | None] = mapped_column()
    postal_address: Mapped[str | None] = mapped_column(String(POSTAL_ADDRESS_LENGTH))
    change_reason: Mapped[str | None] = mapped_column(String(CHANGE_REASON_LENGTH))
    # Increases with each change the citizen's calendar must learn of (RFC 5545 SEQUENCE).
    sequence: Mapped[int] = mapped_column(default=0, server_default="0")
    version: Mapped[int] = mapped_column(default=1)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class PersonQuota(Base):
    """How many active appointments one person has; the cap is a guarded upsert on this row,
    so two parallel confirmations for the same person cannot both pass it."""

    __tablename__ = "person_quotas"
    __table_args__ = (CheckConstraint("active >= 0", name="active_not_negative"),)

    person_key: Mapped[str] = mapped_column(String(64), primary_key=True)
    active: Mapped[int] = mapped_column(default=0)


class CapacityReturn(UUIDPrimaryKey, Base):
    """Units a cancelled or moved booking still occupies until `returns_at`, a random moment
    later, so that watching for cancellations gains a bot nothing."""

    __tablename__ = "capacity_returns"
    __table_args__ = (
        CheckConstraint("starts_at < ends_at", name="starts_before_ends"),
        Index(None, "returns_at"),
        Index(None, "branch_id", "starts_at"),
    )

    branch_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("branches.id"))
    starts_at: Mapped[datetime] = mapped_column()
    ends_at: Mapped[datetime] = mapped_column()
    returns_at: Mapped[datetime] = mapped_column()


class CallNumberCounter(Base):
    """The last call number handed out at one branch on one day. Check-in draws the next
    with one upsert (`… ON CONFLICT DO UPDATE SET last = last + 1 RETURNING last`), so two
    clerks checking citizens in at the same moment never draw the same number."""

    __tablename__ = "call_numbers"
    __table_args__ = (CheckConstraint("last >= 1", name="last_positive"),)

    branch_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("branches.id"), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    last: Mapped[int] = mapped_column()


class WalkInBudget(Base):
    """The walk-in share of one branch's capacity on one day, in slot units: the part of the
    counters' open time that is not open to online booking (`100 - online_share_percent`),
    from the same hours, closures and counters as `capacity_units`.

    Drawing a ticket claims its units with one guarded
    `UPDATE … SET used = used + n, last_number = last_number + 1 WHERE used + n <= capacity
    RETURNING last_number`, which also hands out the ticket's number: a refused ticket draws
    none. `capacity` is brought in line with the current rules at every draw, never below
    what drawn tickets already use; online capacity and walk-in budget together are exactly
    the counters' open units of the day (`calendar.day_walk_in_units`).
    """

    __tablename__ = "walk_in_budgets"
    __table_args__ = (
        CheckConstraint("used >= 0 AND used <= capacity", name="used_within_capacity"),
        CheckConstraint("last_number >= 0", name="last_number_not_negative"),
    )

    branch_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("branches.id"), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    capacity: Mapped[int] = mapped_column()
    used: Mapped[int] = mapped_column(default=0)
    last_number: Mapped[int] = mapped_column(default=0)
    # Tickets refused because the day's walk-in capacity was gone, for the day's figures.
    turned_away: Mapped[int] = mapped_column(default=0)


class WalkInTicket(UUIDPrimaryKey, Base):
    """A walk-in's ticket (Laufkundschaft) for a service at a branch on one day, with its own
    call numbers (`W001`, …). It keeps its units of the day's walk-in budget whatever its
    outcome, except when cancelled before it was called."""

    __tablename__ = "walk_in_tickets"
    __table_args__ = (
        CheckConstraint("units >= 1", name="units_positive"),
        CheckConstraint("persons >= 1", name="persons_positive"),
        Index(None, "branch_id", "day", "number", unique=True),
        Index(None, "branch_id", "day", "status"),
    )

    branch_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("branches.id"))
    service_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("appointment_services.id"))
    day: Mapped[date] = mapped_column(Date)
    number: Mapped[int] = mapped_column()
    call_number: Mapped[str] = mapped_column(String(CALL_NUMBER_LENGTH))
    status: Mapped[str] = mapped_column(String(30))
    units: Mapped[int] = mapped_column()
    persons: Mapped[int] = mapped_column(default=1)
    # Who drew it: `client:<public client id>` (a kiosk) or `staff:<staff user id>`.
    drawn_by: Mapped[str] = mapped_column(String(100))
    drawn_at: Mapped[datetime] = mapped_column()
    called_at: Mapped[datetime | None] = mapped_column()
    called_by: Mapped[uuid.UUID | None] = mapped_column()
    counter_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("counters.id"))
    completed_at: Mapped[datetime | None] = mapped_column()
    service_seconds: Mapped[int | None] = mapped_column()
    no_show_at: Mapped[datetime | None] = mapped_column()
    cancelled_at: Mapped[datetime | None] = mapped_column()
    handled_by: Mapped[uuid.UUID | None] = mapped_column()
    version: Mapped[int] = mapped_column(default=1)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class QueueCall(UUIDPrimaryKey, Base):
    """One call of a waiting citizen to a counter: "call next" or a recall, of a checked-in
    appointment (`booking_id`) or a walk-in ticket (`ticket_id`). The call-up display shows
    the latest of the day."""

    __tablename__ = "queue_calls"
    __table_args__ = (
        CheckConstraint("(booking_id IS NULL) <> (ticket_id IS NULL)", name="booking_or_ticket"),
        Index(None, "branch_id", "called_at"),
    )

    branch_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("branches.id"))
    call_number: Mapped[str] = mapped_column(String(CALL_NUMBER_LENGTH))
    counter_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("counters.id"))
    called_at: Mapped[datetime] = mapped_column()
    called_by: Mapped[uuid.UUID] = mapped_column()
    booking_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("bookings.id"))
    ticket_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("walk_in_tickets.id"))


OFFERED = "offered"
"""The status of a capacity offer that holds its units for one person (`CapacityOffer`)."""


class WaitingListEntry(UUIDPrimaryKey, Base):
    """A citizen waiting for an earlier slot of a service at chosen branches
    (`waiting_list_branches`), with or without a booking to move.

    Who it is (`name`, `email`, tokens) is kept only while the entry is active and erased
    when it ends; `person_key` serves the per-person limit (`waiting_list_quotas`).
    """

    __tablename__ = "waiting_list_entries"
    __table_args__ = (
        CheckConstraint("persons >= 1", name="persons_positive"),
        Index(None, "status", "created_at"),
        Index(None, "status", "ends_at"),
        Index(None, "booking_id"),
    )

    status: Mapped[str] = mapped_column(String(30))
    service_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("appointment_services.id"))
    persons: Mapped[int] = mapped_column(default=1)
    # The last day (Berlin) an offered slot may fall on; any day when null.
    latest_day: Mapped[date | None] = mapped_column(Date)
    booking_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("bookings.id"))
    person_key: Mapped[str | None] = mapped_column(String(64))
    name: Mapped[str | None] = mapped_column(String(NAME_LENGTH))
    email: Mapped[str | None] = mapped_column(String(EMAIL_LENGTH))
    language: Mapped[str] = mapped_column(String(2), default="de")
    confirmed_via: Mapped[str] = mapped_column(String(10))
    manage_token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    verification_code_hash: Mapped[str | None] = mapped_column(String(64))
    verification_attempts: Mapped[int] = mapped_column(default=0)
    # Until when an unverified entry waits for its code.
    expires_at: Mapped[datetime | None] = mapped_column()
    # When the entry ends by itself: the end of `latest_day`, the retention, or the start of
    # the booking it would move.
    ends_at: Mapped[datetime] = mapped_column()
    ended_at: Mapped[datetime | None] = mapped_column()
    version: Mapped[int] = mapped_column(default=1)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class WaitingListBranch(Base):
    """A branch at which a waiting-list entry would take a slot."""

    __tablename__ = "waiting_list_branches"
    __table_args__ = (Index(None, "branch_id"),)

    entry_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("waiting_list_entries.id"), primary_key=True
    )
    branch_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("branches.id"), primary_key=True)


class WaitingListQuota(Base):
    """How many active waiting-list entries one person has; the limit is a guarded upsert on
    this row, as for bookings (`PersonQuota`)."""

    __tablename__ = "waiting_list_quotas"
    __table_args__ = (CheckConstraint("active >= 0", name="active_not_negative"),)

    person_key: Mapped[str] = mapped_column(String(64), primary_key=True)
    active: Mapped[int] = mapped_column(default=0)


class CapacityOffer(UUIDPrimaryKey, Base):
    """Freed units offered to one waiting person at a time, from `starts_at` to `ends_at`.

    While `offered`, the units count in `used` of the units they cover, as a booking does,
    so the public calendar never sees them; accepting turns them into the person's booking,
    declining or letting the offer lapse passes the same row to the next person, and only
    when nobody is left are the units released. `entry_id` is the one person the units are
    offered to; a partial unique index lets an entry hold at most one live offer.
    """

    __tablename__ = "capacity_offers"
    __table_args__ = (
        CheckConstraint("starts_at < ends_at", name="starts_before_ends"),
        CheckConstraint("units >= 1", name="units_positive"),
        Index(None, "status", "expires_at"),
        Index(None, "branch_id", "starts_at"),
        Index(
            "uq_capacity_offers_live_entry",
            "entry_id",
            unique=True,
            postgresql_where=text(f"status = '{OFFERED}'"),
            sqlite_where=text(f"status = '{OFFERED}'"),
        ),
    )

    status: Mapped[str] = mapped_column(String(30))
    branch_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("branches.id"))
    starts_at: Mapped[datetime] = mapped_column()
    ends_at: Mapped[datetime] = mapped_column()
    units: Mapped[int] = mapped_column()
    service_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("appointment_services.id"))
    entry_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("waiting_list_entries.id"))
    token_hash: Mapped[str | None] = mapped_column(String(64))
    expires_at: Mapped[datetime | None] = mapped_column()
    # How many persons the units were offered to, this one included.
    rounds: Mapped[int] = mapped_column(default=0)
    booking_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("bookings.id"))
    version: Mapped[int] = mapped_column(default=1)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class CapacityOfferPass(Base):
    """A person who declined an offer or let it lapse: its units are not offered to them
    again."""

    __tablename__ = "capacity_offer_passes"

    offer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("capacity_offers.id"), primary_key=True)
    entry_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("waiting_list_entries.id"), primary_key=True
    )


class CapacityVersion(Base):
    """A counter per branch that database triggers move on with every committed change of
    what availability shows there (migration `5b1f0c9a7e21`); the nil UUID's row moves with
    changes of services, offers and branch calendars. Never written by the application."""

    __tablename__ = "capacity_versions"

    branch_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    version: Mapped[int] = mapped_column(BigInteger)
