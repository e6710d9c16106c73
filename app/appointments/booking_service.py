"""Bookings after the hold: confirming (eID at once, or by e-mail code), seeing, moving and
cancelling them, the citizen's own list, their e-mails and `.ics`, and the jobs that end
them: reminders, returning cancelled capacity, the per-person cap and retention.

A booking is reached with its manage token (kept only as a hash), as the signed-in citizen
who booked it, or, from the links in its e-mails, with a signature of its id that the server
can check without storing anything.
"""

from __future__ import annotations

import hashlib
import hmac
import random
import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import ColumnElement, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.appointments.calendar import local_day, rfc3339
from app.appointments.errors import (
    AppointmentBegun,
    BookingCredentialsMissing,
    BookingNotFound,
    ContactRequired,
    HoldExpired,
    NotReschedulable,
    PersonCapReached,
    SlotTaken,
    VerificationAttemptsExhausted,
    WrongVerificationCode,
)
from app.appointments.ics import IcsAppointment, appointment_calendar, event_uid
from app.appointments.models import AppointmentService, Booking
from app.appointments.qr import check_in_png
from app.appointments.repository import (
    BOOKINGS,
    EXPIRING_STATUSES,
    BookingStatus,
    ClaimOutcome,
)
from app.appointments.schemas import BookingReschedule, HoldConfirm
from app.appointments.service import (
    bookings,
    calendar_service,
    check_start,
    closed_problem,
    hold_service,
)
from app.core.config import Settings
from app.core.db import rowcount
from app.core.i18n import Language
from app.core.principal import Principal
from app.core.sealing import token_hash
from app.core.state_machine import InvalidTransition
from app.notifications.service import Attachment, Recipient, RecipientKind, notification_service
from app.organisation.service import branch_service

VERIFICATION_ATTEMPTS = 5
BATCH = 200
_random = random.SystemRandom()


def _keyed(settings: Settings, purpose: str, value: str) -> str:
    key = hashlib.sha256(f"rathaus-{purpose}:{settings.secret_key}".encode()).digest()
    return hmac.new(key, value.encode(), hashlib.sha256).hexdigest()


def citizen_key(settings: Settings, principal: Principal) -> str:
    """Who booked, for the cap and "my appointments", without storing who it is."""
    return _keyed(settings, "person", f"citizen:{principal.id}")


def email_key(settings: Settings, email: str) -> str:
    return _keyed(settings, "person", f"email:{email.casefold()}")


def contact_key(settings: Settings, kind: str, normalised: str) -> str:
    """Who booked through staff without an e-mail address: `kind` is `phone` or `postal`,
    `normalised` the number or name and address as `staff_bookings` normalises them."""
    return _keyed(settings, "person", f"{kind}:{normalised}")


def link_signature(settings: Settings, booking_id: uuid.UUID) -> str:
    """What the links in a booking's e-mails carry instead of its manage token, which the
    server does not keep."""
    return _keyed(settings, "booking-link", str(booking_id))[:32]


def code_hash(settings: Settings, booking_id: uuid.UUID, code: str) -> str:
    return _keyed(settings, "verification", f"{booking_id}:{code}")


@dataclass(frozen=True, slots=True)
class BookingAccess:
    """How the caller proves a booking is theirs; anything else finds no booking (404)."""

    principal: Principal | None = None
    token: str | None = None
    signature: str | None = None
    staff_branch_id: uuid.UUID | None = None
    """Staff acting for the citizen, whom `BranchAccess` let work at this branch: the booking
    must still be at it."""

    def where(self, settings: Settings, booking_id: uuid.UUID) -> list[ColumnElement[bool]]:
        proofs: list[ColumnElement[bool]] = []
        if self.staff_branch_id is not None:
            proofs.append(Booking.branch_id == self.staff_branch_id)
        if self.token is not None:
            proofs.append(Booking.manage_token_hash == token_hash(self.token))
        if self.principal is not None:
            proofs.append(Booking.person_key == citizen_key(settings, self.principal))
        if self.signature is not None:
            expected = link_signature(settings, booking_id)
            if not hmac.compare_digest(self.signature, expected):
                raise BookingNotFound()
            proofs.append(Booking.id == booking_id)
        if not proofs:
            raise BookingCredentialsMissing()
        return [or_(*proofs)]


@dataclass(frozen=True, slots=True)
class BookingView:
    """A booking with what a citizen reads about it."""

    booking: Booking
    service: AppointmentService
    branch_name: str
    branch_address: list[str]

    @property
    def address_line(self) -> str:
        return ", ".join(self.branch_address)

    def to_json(self) -> dict[str, Any]:
        booking = self.booking
        label = BOOKINGS.labels[booking.status]
        return {
            "id": str(booking.id),
            "reference": booking.reference,
            "status": booking.status,
            "status_label": {"de": label.de, "en": label.en},
            "service_id": str(booking.service_id),
            "service_name": {"de": self.service.name_de, "en": self.service.name_en},
            "branch_id": str(booking.branch_id),
            "branch_name": self.branch_name,
            "branch_address": self.address_line,
            "start": rfc3339(booking.starts_at),
            "end": rfc3339(booking.ends_at),
            "persons": booking.persons,
            "expires_at": rfc3339(booking.expires_at) if booking.expires_at else None,
            "name": booking.name,
            "language": booking.language,
            "what_to_bring": {"de": self.service.bring_de, "en": self.service.bring_en},
        }


class BookingService:
    async def confirm(
        self,
        session: AsyncSession,
        hold_id: uuid.UUID,
        principal: Principal | None,
        details: HoldConfirm,
        now: datetime,
        settings: Settings,
    ) -> tuple[BookingView, str]:
        """Turn a hold into a booking: at once for a signed-in citizen, after the e-mail code
        otherwise. Returns the booking and its manage token, which is not kept."""
        if principal is None:
            if details.name is None:
                raise ContactRequired(pointer="#/name")
            if details.email is None:
                raise ContactRequired(pointer="#/email")
        hold = await session.get(Booking, hold_id)
        if hold is None:
            raise BookingNotFound()
        if hold.status != BookingStatus.held:
            raise InvalidTransition(hold.status, BOOKINGS.labels.get(hold.status))
        if hold.expires_at is None or hold.expires_at <= now:
            raise HoldExpired()
        person_key = (
            citizen_key(settings, principal)
            if principal is not None
            else email_key(settings, details.email or "")
        )
        cap = settings.booking_max_active_per_person
        if not await bookings.take_quota(session, person_key, cap):
            raise PersonCapReached(cap)
        token = secrets.token_urlsafe(32)
        values: dict[str, Any] = {
            "name": details.name,
            "email": details.email,
            "phone": details.phone,
            "language": details.language.value,
            "person_key": person_key,
            "manage_token_hash": token_hash(token),
            "counts_in_quota": True,
        }
        guard = [Booking.status == BookingStatus.held, Booking.expires_at > now]
        if principal is not None:
            values |= {
                "confirmed_via": "eid",
                "confirmed_at": now,
                "expires_at": None,
                "reminder_sent_at": reminder_done(hold.starts_at, now, settings),
            }
            booking = await self._apply(session, hold_id, "confirm", guard, values, now)
            view = await self.view(session, booking)
            if booking.email:
                await self._send_confirmation(session, view, settings)
            return view, token
        code = f"{secrets.randbelow(10**6):06d}"
        values |= {
            "confirmed_via": "email",
            "verification_code_hash": code_hash(settings, hold_id, code),
            "verification_attempts": 0,
            "expires_at": now + timedelta(seconds=settings.booking_verification_seconds),
        }
        booking = await self._apply(session, hold_id, "request_verification", guard, values, now)
        view = await self.view(session, booking)
        await self._send(
            session,
            view,
            "appointments/booking_verification",
            settings,
            code=code,
            verify_url=f"{_pages(settings)}/{booking.id}/verify?code={code}",
            valid_minutes=settings.booking_verification_seconds // 60,
        )
        return view, token

    async def confirm_by_staff(
        self,
        session: AsyncSession,
        hold: Booking,
        person_key: str,
        contact: dict[str, str | None],
        staff_id: uuid.UUID,
        now: datetime,
        settings: Settings,
    ) -> BookingView:
        """Turn a hold that staff made for a citizen who phoned or came by into a booking at
        once: staff have the citizen's name and a way to reach them (`contact`: `name`,
        `email`, `phone`, `postal_address`, `language`). The same cap as online applies; the
        booking records who made it. A confirmation is e-mailed when there is an address."""
        cap = settings.booking_max_active_per_person
        if not await bookings.take_quota(session, person_key, cap):
            raise PersonCapReached(cap)
        values: dict[str, Any] = {
            **contact,
            "person_key": person_key,
            "counts_in_quota": True,
            "confirmed_via": "staff",
            "confirmed_at": now,
            "expires_at": None,
            "booked_by": staff_id,
            "reminder_sent_at": reminder_done(hold.starts_at, now, settings),
        }
        guard = [Booking.status == BookingStatus.held, Booking.expires_at > now]
        booking = await self._apply(session, hold.id, "confirm", guard, values, now)
        view = await self.view(session, booking)
        await self._send_confirmation(session, view, settings)
        return view

    async def verify(
        self,
        session: AsyncSession,
        booking_id: uuid.UUID,
        code: str,
        now: datetime,
        settings: Settings,
    ) -> BookingView:
        """Confirm a booking with the code from its e-mail; a few wrong codes end it."""
        counted = (
            await session.execute(
                update(Booking)
                .where(
                    Booking.id == booking_id,
                    Booking.status == BookingStatus.pending_verification,
                    Booking.expires_at > now,
                    Booking.verification_attempts < VERIFICATION_ATTEMPTS,
                )
                .values(verification_attempts=Booking.verification_attempts + 1)
                .returning(Booking.verification_code_hash, Booking.verification_attempts)
                .execution_options(synchronize_session=False)
            )
        ).first()
        expected = code_hash(settings, booking_id, code)
        if counted is None:
            return await self._verify_refused(session, booking_id, expected, now)
        stored, attempts = counted
        if not hmac.compare_digest(stored or "", expected):
            left = VERIFICATION_ATTEMPTS - attempts
            if left > 0:
                raise WrongVerificationCode(left)
            await bookings.end(session, booking_id, now)
            raise VerificationAttemptsExhausted()
        guard = [Booking.status == BookingStatus.pending_verification, Booking.expires_at > now]
        starts_at = await session.scalar(select(Booking.starts_at).where(Booking.id == booking_id))
        assert starts_at is not None  # counted above
        values = {
            "confirmed_at": now,
            "expires_at": None,
            "reminder_sent_at": reminder_done(starts_at, now, settings),
        }
        booking = await self._apply(session, booking_id, "confirm", guard, values, now)
        view = await self.view(session, booking)
        await self._send_confirmation(session, view, settings)
        return view

    async def _verify_refused(
        self, session: AsyncSession, booking_id: uuid.UUID, expected: str, now: datetime
    ) -> BookingView:
        booking = await session.get(Booking, booking_id, populate_existing=True)
        if booking is None or booking.verification_code_hash is None:
            raise BookingNotFound()
        code_right = hmac.compare_digest(booking.verification_code_hash, expected)
        if booking.status == BookingStatus.confirmed and code_right:
            return await self.view(session, booking)  # the link followed twice
        if booking.status == BookingStatus.pending_verification:
            if booking.expires_at is not None and booking.expires_at <= now:
                raise HoldExpired()
            await bookings.end(session, booking_id, now)
            raise VerificationAttemptsExhausted()
        raise InvalidTransition(booking.status, BOOKINGS.labels.get(booking.status))

    async def get(
        self,
        session: AsyncSession,
        booking_id: uuid.UUID,
        access: BookingAccess,
        settings: Settings,
    ) -> BookingView:
        booking = await self._visible(session, booking_id, access, settings)
        return await self.view(session, booking)

    async def mine(
        self, session: AsyncSession, principal: Principal, settings: Settings
    ) -> list[BookingView]:
        """The citizen's confirmed, pending and cancelled bookings, the latest start first."""
        found = await session.scalars(
            select(Booking)
            .where(
                Booking.person_key == citizen_key(settings, principal),
                Booking.status != BookingStatus.expired,
            )
            .order_by(Booking.starts_at.desc(), Booking.id)
            .limit(100)
        )
        return [await self.view(session, booking) for booking in found]

    async def cancel(
        self,
        session: AsyncSession,
        booking_id: uuid.UUID,
        access: BookingAccess,
        now: datetime,
        settings: Settings,
        *,
        reason: str | None = None,
    ) -> BookingView:
        """Cancel before the start. A confirmed booking's slot returns after a random delay,
        so that bots watching for cancellations gain nothing; a pending one's at once.
        `reason`, from staff, is kept on the booking and told to the citizen."""
        booking = await session.get(Booking, booking_id, populate_existing=True)
        if booking is None:
            raise BookingNotFound()
        # A hold is anonymous: its id, known only to whoever made it, is the proof.
        proof = [] if booking.status == BookingStatus.held else access.where(settings, booking_id)
        if proof:
            booking = await self._visible(session, booking_id, access, settings)
        previous = booking.status
        if booking.starts_at <= now and previous != BookingStatus.cancelled:
            raise AppointmentBegun()
        cancelled = await self._apply(
            session,
            booking_id,
            "cancel",
            [*proof, Booking.status == previous],
            {"cancelled_at": now, "expires_at": None, "change_reason": reason},
            now,
        )
        if previous == BookingStatus.confirmed:
            await bookings.hold_back(
                session,
                cancelled.branch_id,
                cancelled.starts_at,
                cancelled.ends_at,
                capacity_returns_at(now, settings),
            )
        else:
            await bookings.release(
                session, cancelled.branch_id, cancelled.starts_at, cancelled.ends_at
            )
        await bookings.leave_quota(session, booking_id)
        view = await self.view(session, cancelled)
        if previous == BookingStatus.confirmed and cancelled.email:
            await self._send(
                session,
                view,
                "appointments/booking_cancelled",
                settings,
                book_again_url=settings.public_base_url,
                attachments=[self._ics_attachment(view, settings, cancelled=True)],
            )
        return view

    async def reschedule(
        self,
        session: AsyncSession,
        booking_id: uuid.UUID,
        access: BookingAccess,
        request: BookingReschedule,
        now: datetime,
        settings: Settings,
        *,
        reason: str | None = None,
    ) -> BookingView:
        """Move a confirmed booking: the new start is claimed first, in the same transaction
        the old one is given up (returning after the random delay, as on cancellation).
        `reason`, from staff, is kept on the booking and told to the citizen."""
        booking = await self._visible(session, booking_id, access, settings)
        if booking.status != BookingStatus.confirmed or booking.starts_at <= now:
            raise NotReschedulable()
        branch_id = request.branch_id or booking.branch_id
        offer = await hold_service.offer(session, booking.service_id, branch_id)
        start = request.start.astimezone(UTC)
        check_start(offer, start, now)
        end = start + offer.duration(booking.persons)
        units = offer.units_for(booking.persons)
        old = (booking.branch_id, booking.starts_at, booking.ends_at)
        await calendar_service.release_day(session, branch_id, local_day(start))
        await bookings.expire_overlapping(session, branch_id, start, end, now)
        outcome = await bookings.claim(session, branch_id, start, end, units)
        if outcome is ClaimOutcome.closed:
            raise closed_problem(start)
        if outcome is ClaimOutcome.taken:
            raise SlotTaken()
        moved = await self._apply(
            session,
            booking_id,
            "reschedule",
            [*access.where(settings, booking_id), Booking.version == booking.version],
            {
                "branch_id": branch_id,
                "starts_at": start,
                "ends_at": end,
                "units": units,
                "sequence": Booking.sequence + 1,
                "reminder_sent_at": reminder_done(start, now, settings),
                "change_reason": reason,
            },
            now,
        )
        await bookings.hold_back(session, *old, capacity_returns_at(now, settings))
        view = await self.view(session, moved)
        if moved.email:
            await self._send_confirmation(session, view, settings)
        return view

    async def calendar_file(
        self,
        session: AsyncSession,
        booking_id: uuid.UUID,
        access: BookingAccess,
        settings: Settings,
    ) -> bytes:
        view = await self.get(session, booking_id, access, settings)
        return self._ics(view, settings, cancelled=view.booking.status == BookingStatus.cancelled)

    async def view(self, session: AsyncSession, booking: Booking) -> BookingView:
        service = await session.get(AppointmentService, booking.service_id)
        branch = await branch_service.get(session, booking.branch_id)
        assert service is not None  # a foreign key
        address = [f"{branch.street} {branch.house_number}", f"{branch.postal_code} {branch.city}"]
        return BookingView(booking, service, branch.name, address)

    # Jobs

    async def send_reminders(self, session: AsyncSession, now: datetime, settings: Settings) -> int:
        """Remind confirmed bookings with an e-mail address once, `booking_reminder_hours`
        before their start; those confirmed within that time are marked as reminded when
        confirmed (`reminder_done`)."""
        ahead = timedelta(hours=settings.booking_reminder_hours)
        due = (
            await session.scalars(
                select(Booking.id)
                .where(
                    Booking.status == BookingStatus.confirmed,
                    Booking.email.is_not(None),
                    Booking.reminder_sent_at.is_(None),
                    Booking.starts_at > now,
                    Booking.starts_at <= now + ahead,
                )
                .order_by(Booking.starts_at)
                .limit(BATCH)
            )
        ).all()
        sent = 0
        for booking_id in due:
            booking = await session.scalar(
                update(Booking)
                .where(Booking.id == booking_id, Booking.reminder_sent_at.is_(None))
                .values(reminder_sent_at=now)
                .returning(Booking)
                .execution_options(populate_existing=True, synchronize_session=False)
            )
            if booking is None:
                continue
            view = await self.view(session, booking)
            await self._send(
                session,
                view,
                "appointments/booking_reminder",
                settings,
                manage_url=_manage_url(settings, booking.id),
                cancel_url=_cancel_url(settings, booking.id),
                hours_before=settings.booking_reminder_hours,
            )
            sent += 1
        return sent

    async def settle_quotas(self, session: AsyncSession, now: datetime) -> int:
        """Appointments that are over no longer count against their person's cap."""
        over = await bookings.past_in_quota(session, now, BATCH)
        for booking_id in over:
            await bookings.leave_quota(session, booking_id)
        return len(over)

    async def erase_personal_data(
        self, session: AsyncSession, now: datetime, settings: Settings
    ) -> int:
        """Forget who came once the retention after the appointment has passed."""
        cutoff = now - timedelta(days=settings.booking_retention_days)
        erased = await session.execute(
            update(Booking)
            .where(Booking.ends_at < cutoff, Booking.personal_data_erased_at.is_(None))
            .values(
                name=None,
                email=None,
                phone=None,
                postal_address=None,
                change_reason=None,
                person_key=None,
                manage_token_hash=None,
                verification_code_hash=None,
                personal_data_erased_at=now,
            )
            .execution_options(synchronize_session=False)
        )
        return rowcount(erased)

    # Helpers

    async def _visible(
        self,
        session: AsyncSession,
        booking_id: uuid.UUID,
        access: BookingAccess,
        settings: Settings,
    ) -> Booking:
        booking = await session.scalar(
            select(Booking)
            .where(Booking.id == booking_id, *access.where(settings, booking_id))
            .execution_options(populate_existing=True)
        )
        if booking is None or booking.status == BookingStatus.held:
            raise BookingNotFound()
        return booking

    async def _apply(
        self,
        session: AsyncSession,
        booking_id: uuid.UUID,
        action: str,
        where: Sequence[ColumnElement[bool]],
        values: dict[str, Any],
        now: datetime,
    ) -> Booking:
        """A guarded transition; a booking that lapsed meanwhile is reported as such."""
        try:
            return await BOOKINGS.apply(session, booking_id, action, where=where, values=values)
        except (InvalidTransition, BookingNotFound):
            # The caller has seen the booking already: a guard that failed means another
            # request moved it meanwhile, which is a conflict, not an unknown booking.
            current = (
                await session.execute(
                    select(Booking.status, Booking.expires_at).where(Booking.id == booking_id)
                )
            ).first()
            if current is None:
                raise
            status, expires_at = current
            if status in EXPIRING_STATUSES and expires_at is not None and expires_at <= now:
                raise HoldExpired() from None
            raise InvalidTransition(status, BOOKINGS.labels.get(status)) from None

    async def send_cancellation(
        self, session: AsyncSession, view: BookingView, settings: Settings
    ) -> None:
        """The cancellation of a booking cancelled elsewhere (a staff block)."""
        await self._send(
            session,
            view,
            "appointments/booking_cancelled",
            settings,
            book_again_url=settings.public_base_url,
            attachments=[self._ics_attachment(view, settings, cancelled=True)],
        )

    async def send_confirmation(
        self, session: AsyncSession, view: BookingView, settings: Settings
    ) -> None:
        """The confirmation of a booking made or moved elsewhere (an accepted offer)."""
        await self._send_confirmation(session, view, settings)

    async def _send_confirmation(
        self, session: AsyncSession, view: BookingView, settings: Settings
    ) -> None:
        if view.booking.email is None:
            return
        qr = Attachment(
            f"anmeldung-{view.booking.reference}.png",
            "image/png",
            await check_in_png(view.booking.reference),
            content_id=f"qr-{view.booking.id.hex}@{urlsplit(settings.public_base_url).hostname}",
        )
        await self._send(
            session,
            view,
            "appointments/booking_confirmed",
            settings,
            manage_url=_manage_url(settings, view.booking.id),
            cancel_url=_cancel_url(settings, view.booking.id),
            check_in_qr_cid=qr.content_id,
            attachments=[self._ics_attachment(view, settings), qr],
        )

    async def _send(
        self,
        session: AsyncSession,
        view: BookingView,
        template: str,
        settings: Settings,
        *,
        attachments: Sequence[Attachment] = (),
        **context: Any,
    ) -> None:
        booking = view.booking
        if booking.email is None:
            return
        language = Language(booking.language)
        english = language is Language.en
        await notification_service.send(
            session,
            Recipient(booking.email, language, RecipientKind.citizen),
            template,
            {
                "citizen_name": booking.name or "",
                "appointment": {
                    "reference": booking.reference,
                    "service_name": view.service.name_en if english else view.service.name_de,
                    "bring": view.service.bring_en if english else view.service.bring_de,
                    "branch_name": view.branch_name,
                    "branch_address": view.branch_address,
                    "starts_at": booking.starts_at,
                    "ends_at": booking.ends_at,
                    "persons": booking.persons,
                    "reason": booking.change_reason,
                },
                **context,
            },
            attachments=attachments,
        )

    def _ics(self, view: BookingView, settings: Settings, *, cancelled: bool = False) -> bytes:
        booking = view.booking
        english = booking.language == Language.en.value
        service_name = view.service.name_en if english else view.service.name_de
        bring = view.service.bring_en if english else view.service.bring_de
        reference = (
            f"Reference: {booking.reference}" if english else f"Vorgangsnummer: {booking.reference}"
        )
        return appointment_calendar(
            IcsAppointment(
                uid=event_uid(booking.id, settings.public_base_url),
                summary=f"{'Appointment' if english else 'Termin'}: {service_name}",
                description="\n\n".join(part for part in (reference, bring) if part),
                location=f"{view.branch_name}, {view.address_line}",
                starts_at=booking.starts_at,
                ends_at=booking.ends_at,
                created_at=booking.created_at,
                sequence=booking.sequence,
                language=Language(booking.language),
                url=_manage_url(settings, booking.id),
                organizer=settings.mail_from,
            ),
            cancelled=cancelled,
        )

    def _ics_attachment(
        self, view: BookingView, settings: Settings, *, cancelled: bool = False
    ) -> Attachment:
        return Attachment(
            f"termin-{view.booking.reference}.ics",
            "text/calendar",
            self._ics(view, settings, cancelled=cancelled),
        )


def _pages(settings: Settings) -> str:
    return f"{settings.public_base_url.rstrip('/')}/appointments/bookings"


def _manage_url(settings: Settings, booking_id: uuid.UUID) -> str:
    return f"{_pages(settings)}/{booking_id}?sig={link_signature(settings, booking_id)}"


def _cancel_url(settings: Settings, booking_id: uuid.UUID) -> str:
    return f"{_pages(settings)}/{booking_id}/cancel?sig={link_signature(settings, booking_id)}"


def reminder_done(start: datetime, now: datetime, settings: Settings) -> datetime | None:
    """A booking made within the reminder time needs no reminder: it counts as sent."""
    if start - now <= timedelta(hours=settings.booking_reminder_hours):
        return now
    return None


def capacity_returns_at(now: datetime, settings: Settings) -> datetime:
    low = settings.cancelled_capacity_delay_min_seconds
    high = settings.cancelled_capacity_delay_max_seconds
    return now + timedelta(seconds=_random.uniform(low, high))


booking_service = BookingService()
