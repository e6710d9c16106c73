"""The analog path: staff book, cancel and move appointments for citizens who phone or come
by, and print a confirmation for those without an e-mail address.

Everything goes through the citizens' own code: a staff booking is a hold claimed like any
other and confirmed at once, so the same capacity, the same per-person cap and the same rules
apply, the lead time and the horizon included (who wants to be served today draws a ticket in
the queue). Cancelling and moving are the citizens' operations, with the reason staff gave
kept on the booking, told to the citizen and written to the audit log.

Who may: as for the branch's day (`BranchAccess`). Booking at a branch the caller does not
work at is forbidden (403); a booking of such a branch is not found (404).

The per-person cap needs to know who a person is without storing it. A booking with an
e-mail address counts for that address, as online. Otherwise it counts for the phone number,
in international form (`0231 123` and `+49 231 123` are one number); and with a postal address
only, for the name and the address, compared without case, spaces or punctuation and with
`Straße`, `Strasse` and `Str.` read alike. Each is kept only as a keyed hash (`contact_key`).
"""

from __future__ import annotations

import re
import unicodedata
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.appointments.booking_service import (
    BookingAccess,
    BookingView,
    booking_service,
    contact_key,
    email_key,
)
from app.appointments.branch_day import BranchAccess
from app.appointments.errors import BookingNotFound, ContactRequired
from app.appointments.models import Booking
from app.appointments.repository import BOOKINGS, BookingStatus
from app.appointments.schemas import (
    BookingReschedule,
    HoldCreate,
    PostalAddress,
    StaffBookingCreate,
    StaffReschedule,
)
from app.appointments.service import hold_service
from app.core.audit import record
from app.core.auth import MissingRole
from app.core.config import Settings
from app.core.i18n import Text

CONFIRMATION_PAGE = "/api/v1/appointments/staff/bookings/{booking_id}/confirmation"

PHONE_OR_ADDRESS = Text(
    de="Bitte geben Sie eine Telefonnummer oder eine Postanschrift an, damit der Bürgerservice "
    "die Person erreichen kann.",
    en="Please give a phone number or a postal address, so that the citizens' service can "
    "reach the person.",
)
_STREET = re.compile(r"stra(ss|ß)e|str\.")
_NOT_ALPHANUMERIC = re.compile(r"[\W_]+")


def normalised_phone(phone: str) -> str:
    """The number in international form, German numbers assumed: `+492311234567`."""
    digits = re.sub(r"[^0-9]", "", phone)
    if phone.lstrip().startswith("+"):
        return f"+{digits}"
    if digits.startswith("00"):
        return f"+{digits[2:]}"
    if digits.startswith("0"):
        return f"+49{digits[1:]}"
    return digits


def _compact(text: str) -> str:
    folded = unicodedata.normalize("NFKC", text).casefold()
    return _NOT_ALPHANUMERIC.sub("", _STREET.sub("str", folded))


def normalised_postal(name: str, address: PostalAddress) -> str:
    """The name, postal code and street, without case, spaces or punctuation; the town is
    named by the postal code."""
    return "|".join((_compact(name), address.postal_code, _compact(address.street)))


def person_key(settings: Settings, request: StaffBookingCreate) -> str:
    """Whose cap the booking counts against: the e-mail address, else the phone number,
    else the name and postal address."""
    if request.email is not None:
        return email_key(settings, request.email)
    if request.phone is not None:
        return contact_key(settings, "phone", normalised_phone(request.phone))
    if request.postal_address is not None:
        return contact_key(
            settings, "postal", normalised_postal(request.name, request.postal_address)
        )
    raise ContactRequired(PHONE_OR_ADDRESS, pointer="#/phone")


def postal_text(address: PostalAddress) -> str:
    """How a postal address is stored: the street, then the postal code and town."""
    return f"{address.street.strip()}\n{address.postal_code} {address.city.strip()}"


def postal_address(stored: str | None) -> PostalAddress | None:
    if stored is None:
        return None
    street, _, place = stored.partition("\n")
    postal_code, _, city = place.partition(" ")
    return PostalAddress(street=street, postal_code=postal_code, city=city)


def staff_json(view: BookingView) -> dict[str, Any]:
    """A booking in the shape of `StaffBookingRead`."""
    booking = view.booking
    address = postal_address(booking.postal_address)
    return {
        **view.to_json(),
        "email": booking.email,
        "phone": booking.phone,
        "postal_address": address.model_dump() if address else None,
        "confirmed_via": booking.confirmed_via,
        "booked_by": str(booking.booked_by) if booking.booked_by else None,
        "change_reason": booking.change_reason,
        "confirmation_page": CONFIRMATION_PAGE.format(booking_id=booking.id),
    }


class StaffBookingService:
    async def book(
        self,
        session: AsyncSession,
        access: BranchAccess,
        request: StaffBookingCreate,
        now: datetime,
        settings: Settings,
    ) -> BookingView:
        """Hold the start and confirm it at once for the citizen, as made by the caller."""
        if not access.allows(request.branch_id):
            raise MissingRole()
        key = person_key(settings, request)
        hold = await hold_service.create(
            session,
            HoldCreate(
                service_id=request.service_id,
                branch_id=request.branch_id,
                start=request.start,
                persons=request.persons,
            ),
            now,
            settings.hold_ttl_seconds,
        )
        contact = {
            "name": request.name.strip(),
            "email": request.email,
            "phone": request.phone,
            "postal_address": postal_text(request.postal_address)
            if request.postal_address
            else None,
            "language": request.language.value,
        }
        return await booking_service.confirm_by_staff(
            session, hold, key, contact, access.principal.id, now, settings
        )

    async def get(
        self, session: AsyncSession, access: BranchAccess, booking_id: uuid.UUID
    ) -> BookingView:
        return await booking_service.view(session, await self._visible(session, access, booking_id))

    async def cancel(
        self,
        session: AsyncSession,
        access: BranchAccess,
        booking_id: uuid.UUID,
        reason: str,
        now: datetime,
        settings: Settings,
    ) -> BookingView:
        """Cancel as the citizen would, with the reason kept, told and audited."""
        booking = await self._visible(session, access, booking_id)
        reason = reason.strip()
        view = await booking_service.cancel(
            session,
            booking_id,
            BookingAccess(staff_branch_id=booking.branch_id),
            now,
            settings,
            reason=reason,
        )
        await self._audit(session, "staff_cancel", booking_id, {"reason": reason})
        return view

    async def reschedule(
        self,
        session: AsyncSession,
        access: BranchAccess,
        booking_id: uuid.UUID,
        request: StaffReschedule,
        now: datetime,
        settings: Settings,
    ) -> BookingView:
        """Move as the citizen would, to a branch the caller also works at; the new start
        is claimed before the old one is given up, in the one transaction."""
        booking = await self._visible(session, access, booking_id)
        if not access.allows(request.branch_id or booking.branch_id):
            raise MissingRole()
        moved_from = booking.starts_at
        reason = request.reason.strip()
        view = await booking_service.reschedule(
            session,
            booking_id,
            BookingAccess(staff_branch_id=booking.branch_id),
            BookingReschedule(start=request.start, branch_id=request.branch_id),
            now,
            settings,
            reason=reason,
        )
        summary = {
            "reason": reason,
            "from": moved_from.isoformat(),
            "to": view.booking.starts_at.isoformat(),
        }
        await self._audit(session, "staff_reschedule", booking_id, summary)
        return view

    async def _visible(
        self, session: AsyncSession, access: BranchAccess, booking_id: uuid.UUID
    ) -> Booking:
        """A booking of a branch the caller works at; holds are nobody's yet."""
        booking = await session.get(Booking, booking_id, populate_existing=True)
        if (
            booking is None
            or booking.status in (BookingStatus.held, BookingStatus.expired)
            or not access.allows(booking.branch_id)
        ):
            raise BookingNotFound()
        return booking

    async def _audit(
        self, session: AsyncSession, action: str, booking_id: uuid.UUID, summary: dict[str, str]
    ) -> None:
        await record(
            session,
            action=f"{BOOKINGS.aggregate}.{action}",
            object_type=BOOKINGS.aggregate,
            object_id=booking_id,
            summary=summary,
        )


staff_booking_service = StaffBookingService()
