"""Fair offers of freed slots: one waiting person at a time, never through the public calendar.

When the units of a cancelled or moved booking come back (`return_capacity`, after their
random delay), they stay `used` and become a `CapacityOffer` for the first waiting person
they fit (first come first served at that branch, the service's lead time and horizon, the
person's `latest_day`, and earlier than the booking they would move). The person gets an
e-mail with a link and has `RATHAUS_WAITING_LIST_OFFER_MINUTES` to accept. Declining or
letting the offer lapse passes the same row, and so the same units, to the next person; only
when nobody is left are the units released to the public calendar.

No slot is offered to two people at once: an offer row names one entry (`entry_id`), every
change of hands is one guarded `UPDATE … WHERE status = 'offered' AND entry_id = :current`
(or `token_hash = :token` for the person acting), an entry is taken from `waiting` to
`offered` by a guarded transition, and a partial unique index allows an entry at most one
live offer. Accepting moves the person's booking onto the offered units (its old units are
held back and come round again) or books a new appointment under the per-person cap, in the
request's one transaction.
"""

from __future__ import annotations

import secrets
import uuid
from contextlib import suppress
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.appointments.booking_service import (
    BookingView,
    booking_service,
    capacity_returns_at,
    reminder_done,
)
from app.appointments.calendar import local_day, rfc3339
from app.appointments.errors import (
    BookingNotWaitlistable,
    OfferCredentialsMissing,
    OfferExpired,
    OfferNotFound,
    PersonCapReached,
)
from app.appointments.models import (
    BOOKING,
    OFFERED,
    AppointmentService,
    Booking,
    BranchCalendar,
    CapacityOffer,
    CapacityOfferPass,
    WaitingListEntry,
)
from app.appointments.repository import BOOKINGS, BookingStatus
from app.appointments.service import Offer, Window, bookings, hold_service
from app.appointments.waiting_list import (
    WAITING_LIST,
    EntryAccess,
    entry_json,
    waiting_list_service,
)
from app.core.audit import record
from app.core.config import Settings
from app.core.errors import AppError
from app.core.i18n import Language, Text
from app.core.jobs.queue import emit
from app.core.references import allocate
from app.core.sealing import token_hash
from app.core.state_machine import InvalidTransition, StateMachine, Transition
from app.notifications.service import Recipient, RecipientKind, notification_service
from app.organisation.service import branch_service

BATCH = 200


class OfferStatus(StrEnum):
    offered = OFFERED
    accepted = "accepted"
    released = "released"


OFFERS = StateMachine(
    "capacity_offer",
    CapacityOffer,
    [
        # Taken from the person it was offered to (declined, lapsed or withdrawn) …
        Transition.of("pass", [OfferStatus.offered], OfferStatus.offered),
        # … and handed to the next one.
        Transition.of("offer", [OfferStatus.offered], OfferStatus.offered),
        Transition.of("accept", [OfferStatus.offered], OfferStatus.accepted),
        Transition.of("release", [OfferStatus.offered], OfferStatus.released),
    ],
    not_found=OfferNotFound,
    labels={
        OfferStatus.offered: Text(de="angeboten", en="offered"),
        OfferStatus.accepted: Text(de="angenommen", en="accepted"),
        OfferStatus.released: Text(de="freigegeben", en="released"),
    },
)

UNOWNED: dict[str, Any] = {"entry_id": None, "token_hash": None, "expires_at": None}


@dataclass(frozen=True, slots=True)
class Freed:
    """Units of one branch that are free for the waiting list, from `start` to `end`."""

    branch_id: uuid.UUID
    start: datetime
    end: datetime
    offer_id: uuid.UUID | None = None
    """The offer row that holds them already, when they are being passed on."""


class OfferService:
    async def return_capacity(
        self, session: AsyncSession, now: datetime, settings: Settings
    ) -> int:
        """The job's work: the held-back units of cancelled and moved bookings whose return
        time has come go to the waiting list first, and to the public only if nobody fits."""
        taken = await bookings.take_due_returns(session, now, BATCH)
        for branch_id, start, end in taken:
            await self.hand_over(session, Freed(branch_id, start, end), now, settings)
        return len(taken)

    async def hand_over(
        self, session: AsyncSession, freed: Freed, now: datetime, settings: Settings
    ) -> None:
        """Offer the freed units to the first waiting person they fit, or release them.

        A person who needs fewer units than are freed is offered the first of them; the rest
        are handed over on their own."""
        unit_minutes = await session.scalar(
            select(BranchCalendar.unit_minutes).where(BranchCalendar.branch_id == freed.branch_id)
        )
        assert unit_minutes is not None  # units exist only for a branch with a calendar
        unit = timedelta(minutes=unit_minutes)
        units = (freed.end - freed.start) // unit
        passed = await self._passed(session, freed.offer_id)
        offers: dict[uuid.UUID, Offer | None] = {}
        for entry in await waiting_list_service.waiting_at(session, freed.branch_id, passed):
            needed = await self._fit(session, entry, freed, units, now, offers)
            if needed is None or not await self._take_entry(session, entry.id):
                continue
            end = freed.start + needed * unit
            await self.offer(session, freed, entry, end, needed, now, settings)
            if end < freed.end:
                await self.hand_over(session, Freed(freed.branch_id, end, freed.end), now, settings)
            return
        if freed.offer_id is not None:
            await OFFERS.apply(session, freed.offer_id, "release", values=UNOWNED)
        await bookings.release(session, freed.branch_id, freed.start, freed.end)

    async def get(
        self, session: AsyncSession, offer_id: uuid.UUID, token: str | None, now: datetime
    ) -> dict[str, Any]:
        offer = await self._owned(session, offer_id, token)
        if offer.expires_at is None or offer.expires_at <= now:
            raise OfferExpired()
        entry = await session.get(WaitingListEntry, offer.entry_id)
        assert entry is not None  # an offered row names its entry
        return await self._json(session, offer, entry)

    async def accept(
        self,
        session: AsyncSession,
        offer_id: uuid.UUID,
        token: str | None,
        now: datetime,
        settings: Settings,
    ) -> tuple[BookingView, str | None]:
        """Take the offered units: move the person's booking onto them, or book them anew.
        Returns the booking and, for a new one, its manage token, which is not kept."""
        seen = await self._owned(session, offer_id, token)
        entry_id, seen_token = seen.entry_id, seen.token_hash
        try:
            offer = await OFFERS.apply(
                session,
                offer_id,
                "accept",
                where=[CapacityOffer.token_hash == seen_token, CapacityOffer.expires_at > now],
                values={"token_hash": None, "expires_at": None},
            )
        except (OfferNotFound, InvalidTransition):
            raise await self._refusal(session, offer_id, seen_token, now) from None
        entry = await session.get(WaitingListEntry, entry_id, populate_existing=True)
        assert entry is not None  # an offered row names its entry
        manage_token: str | None = None
        if entry.booking_id is not None:
            view = await self._move(session, entry.booking_id, offer, now, settings)
        else:
            view, manage_token = await self._book(session, entry, offer, now, settings)
        offer.booking_id = view.booking.id
        await session.flush()
        await waiting_list_service.end(session, entry.id, "fulfil", now)
        return view, manage_token

    async def decline(
        self,
        session: AsyncSession,
        offer_id: uuid.UUID,
        token: str | None,
        now: datetime,
        settings: Settings,
    ) -> dict[str, Any]:
        """Give the offer up: the person stays on the waiting list, and the units pass to the
        next person."""
        seen = await self._owned(session, offer_id, token)
        entry_id, seen_token = seen.entry_id, seen.token_hash
        assert entry_id is not None  # a live offer names its person
        try:
            offer = await OFFERS.apply(
                session,
                offer_id,
                "pass",
                where=[CapacityOffer.token_hash == seen_token],
                values=UNOWNED,
                summary={"reason": "declined"},
            )
        except (OfferNotFound, InvalidTransition):
            raise await self._refusal(session, offer_id, seen_token, now) from None
        await self._pass_on(session, offer, entry_id, now, settings)
        return {"id": str(offer_id), "status": "declined"}

    async def pass_lapsed(self, session: AsyncSession, now: datetime, settings: Settings) -> int:
        """The job's work: offers not accepted in time pass to the next person."""
        due = (
            await session.execute(
                select(CapacityOffer.id, CapacityOffer.entry_id)
                .where(CapacityOffer.status == OFFERED, CapacityOffer.expires_at <= now)
                .order_by(CapacityOffer.expires_at, CapacityOffer.id)
                .limit(BATCH)
            )
        ).all()
        passed = 0
        for offer_id, entry_id in due:
            try:
                offer = await OFFERS.apply(
                    session,
                    offer_id,
                    "pass",
                    where=[CapacityOffer.expires_at <= now, CapacityOffer.entry_id == entry_id],
                    values=UNOWNED,
                    summary={"reason": "lapsed"},
                )
            except AppError:
                continue  # accepted or declined meanwhile
            assert entry_id is not None  # a live offer names its person
            await self._pass_on(session, offer, entry_id, now, settings)
            passed += 1
        return passed

    async def withdraw(
        self,
        session: AsyncSession,
        entry_id: uuid.UUID,
        access: EntryAccess,
        now: datetime,
        settings: Settings,
    ) -> dict[str, Any]:
        """Take the citizen off the waiting list; an offer they hold passes on."""
        entry = await waiting_list_service.visible(session, entry_id, access, settings)
        branch_ids = await waiting_list_service.branch_ids(session, entry.id)
        left = await waiting_list_service.end(session, entry.id, "leave", now)
        live = await session.scalar(
            select(CapacityOffer.id).where(
                CapacityOffer.entry_id == entry.id, CapacityOffer.status == OFFERED
            )
        )
        if live is not None:
            offer = await OFFERS.apply(
                session,
                live,
                "pass",
                where=[CapacityOffer.entry_id == entry.id],
                values=UNOWNED,
                summary={"reason": "withdrawn"},
            )
            await self._pass_on(session, offer, entry.id, now, settings)
        return entry_json(left, branch_ids)

    # Helpers

    async def _passed(self, session: AsyncSession, offer_id: uuid.UUID | None) -> list[uuid.UUID]:
        if offer_id is None:
            return []
        return list(
            await session.scalars(
                select(CapacityOfferPass.entry_id).where(CapacityOfferPass.offer_id == offer_id)
            )
        )

    async def _fit(
        self,
        session: AsyncSession,
        entry: WaitingListEntry,
        freed: Freed,
        units: int,
        now: datetime,
        offers: dict[uuid.UUID, Offer | None],
    ) -> int | None:
        """How many of the freed units the entry would take, or None if they do not suit it."""
        if entry.service_id not in offers:
            try:
                offers[entry.service_id] = await hold_service.offer(
                    session, entry.service_id, freed.branch_id
                )
            except AppError:
                offers[entry.service_id] = None  # no longer offered there, or inactive
        offer = offers[entry.service_id]
        if offer is None:
            return None
        needed = offer.units_for(entry.persons)
        window = Window.of(offer.service, now)
        day = local_day(freed.start)
        if needed > units or freed.start < window.earliest or day > window.last_day:
            return None
        if entry.latest_day is not None and day > entry.latest_day:
            return None
        if entry.booking_id is None:
            return needed
        booking = await session.get(Booking, entry.booking_id)
        if booking is None or booking.status != BookingStatus.confirmed:
            await self._end_quietly(session, entry.id, now)  # cancelled meanwhile
            return None
        return needed if freed.start < booking.starts_at else None

    async def _end_quietly(self, session: AsyncSession, entry_id: uuid.UUID, now: datetime) -> None:
        try:
            await waiting_list_service.end(session, entry_id, "end", now)
        except AppError:
            return

    async def _take_entry(self, session: AsyncSession, entry_id: uuid.UUID) -> bool:
        """Move the entry from `waiting` to `offered`; False when someone else did."""
        try:
            await WAITING_LIST.apply(session, entry_id, "offer")
        except AppError:
            return False
        return True

    async def offer(
        self,
        session: AsyncSession,
        freed: Freed,
        entry: WaitingListEntry,
        end: datetime,
        units: int,
        now: datetime,
        settings: Settings,
        *,
        minutes: int | None = None,
        displaced: Booking | None = None,
        reason: Text | None = None,
    ) -> None:
        """Offer the units from `freed.start` to `end` to the entry, whose status is
        `offered` already, and send the e-mail with the link; `displaced` is the booking a
        staff block cancelled, for whose citizen the units were claimed."""
        token = secrets.token_urlsafe(32)
        valid_minutes = minutes or settings.waiting_list_offer_minutes
        values: dict[str, Any] = {
            "entry_id": entry.id,
            "token_hash": token_hash(token),
            "expires_at": now + timedelta(minutes=valid_minutes),
            "ends_at": end,
            "units": units,
            "service_id": entry.service_id,
        }
        if freed.offer_id is None:
            offer = CapacityOffer(
                id=uuid.uuid4(),
                status=OfferStatus.offered,
                branch_id=freed.branch_id,
                starts_at=freed.start,
                rounds=1,
                **values,
            )
            session.add(offer)
            await session.flush()
            await record(
                session,
                action="capacity_offer.offer",
                object_type=OFFERS.aggregate,
                object_id=offer.id,
                summary={"status": OfferStatus.offered, "units": units},
            )
        else:
            offer = await OFFERS.apply(
                session,
                freed.offer_id,
                "offer",
                where=[CapacityOffer.entry_id.is_(None)],
                values={**values, "rounds": CapacityOffer.rounds + 1},
            )
        await self._send_offer(
            session, offer, entry, token, settings, valid_minutes, displaced, reason
        )

    async def _pass_on(
        self,
        session: AsyncSession,
        offer: CapacityOffer,
        entry_id: uuid.UUID,
        now: datetime,
        settings: Settings,
    ) -> None:
        """After `offer` was taken from `entry_id`: the entry waits again (unless it left),
        is not offered these units again, and they go to the next person."""
        session.add(CapacityOfferPass(offer_id=offer.id, entry_id=entry_id))
        await session.flush()
        with suppress(AppError):  # the entry may have left the list meanwhile
            await WAITING_LIST.apply(session, entry_id, "pass")
        freed = Freed(offer.branch_id, offer.starts_at, offer.ends_at, offer.id)
        await self.hand_over(session, freed, now, settings)

    async def _owned(
        self, session: AsyncSession, offer_id: uuid.UUID, token: str | None
    ) -> CapacityOffer:
        """The offer the token opens; any other is not found."""
        if token is None:
            raise OfferCredentialsMissing()
        offer = await session.scalar(
            select(CapacityOffer)
            .where(
                CapacityOffer.id == offer_id,
                CapacityOffer.token_hash == token_hash(token),
                CapacityOffer.status == OFFERED,
            )
            .execution_options(populate_existing=True)
        )
        if offer is None:
            raise OfferNotFound()
        return offer

    async def _refusal(
        self, session: AsyncSession, offer_id: uuid.UUID, token: str | None, now: datetime
    ) -> AppError:
        """Why a guarded change of an offer the caller had opened failed."""
        current = (
            await session.execute(
                select(CapacityOffer.status, CapacityOffer.expires_at).where(
                    CapacityOffer.id == offer_id, CapacityOffer.token_hash == token
                )
            )
        ).first()
        if current is None:
            return OfferNotFound()  # passed on meanwhile
        status, expires_at = current
        if status == OFFERED and expires_at is not None and expires_at <= now:
            return OfferExpired()
        return InvalidTransition(status, OFFERS.labels.get(status))

    async def _move(
        self,
        session: AsyncSession,
        booking_id: uuid.UUID,
        offer: CapacityOffer,
        now: datetime,
        settings: Settings,
    ) -> BookingView:
        """The booking takes the offered units, which are claimed already; its old ones are
        held back and come round to the waiting list again."""
        booking = await session.get(Booking, booking_id, populate_existing=True)
        if booking is None or booking.status != BookingStatus.confirmed:
            raise BookingNotWaitlistable()
        if booking.starts_at <= now:
            raise BookingNotWaitlistable()
        old = (booking.branch_id, booking.starts_at, booking.ends_at)
        moved = await BOOKINGS.apply(
            session,
            booking_id,
            "reschedule",
            where=[Booking.version == booking.version],
            values={
                "branch_id": offer.branch_id,
                "starts_at": offer.starts_at,
                "ends_at": offer.ends_at,
                "units": offer.units,
                "sequence": Booking.sequence + 1,
                "reminder_sent_at": reminder_done(offer.starts_at, now, settings),
            },
            summary={"offer_id": str(offer.id)},
        )
        await bookings.hold_back(session, *old, capacity_returns_at(now, settings))
        view = await booking_service.view(session, moved)
        await booking_service.send_confirmation(session, view, settings)
        return view

    async def _book(
        self,
        session: AsyncSession,
        entry: WaitingListEntry,
        offer: CapacityOffer,
        now: datetime,
        settings: Settings,
    ) -> tuple[BookingView, str]:
        """A new booking on the offered units, under the per-person cap."""
        assert entry.person_key is not None  # kept while the entry is active
        cap = settings.booking_max_active_per_person
        if not await bookings.take_quota(session, entry.person_key, cap):
            raise PersonCapReached(cap)
        token = secrets.token_urlsafe(32)
        booking = await bookings.add(
            session,
            Booking(
                reference=await allocate(session, BOOKING),
                status=BookingStatus.confirmed,
                branch_id=offer.branch_id,
                service_id=entry.service_id,
                starts_at=offer.starts_at,
                ends_at=offer.ends_at,
                units=offer.units,
                persons=entry.persons,
                person_key=entry.person_key,
                manage_token_hash=token_hash(token),
                name=entry.name,
                email=entry.email,
                language=entry.language,
                confirmed_via="eid" if entry.confirmed_via == "eid" else "email",
                counts_in_quota=True,
                confirmed_at=now,
                reminder_sent_at=reminder_done(offer.starts_at, now, settings),
            ),
        )
        await record(
            session,
            action="booking.confirm",
            object_type=BOOKINGS.aggregate,
            object_id=booking.id,
            summary={"status": BookingStatus.confirmed, "offer_id": str(offer.id)},
        )
        await emit(
            session,
            "booking.confirm",
            aggregate_type=BOOKINGS.aggregate,
            aggregate_id=booking.id,
            payload={"status": BookingStatus.confirmed, "branch_id": str(offer.branch_id)},
        )
        view = await booking_service.view(session, booking)
        await booking_service.send_confirmation(session, view, settings)
        return view, token

    async def _json(
        self, session: AsyncSession, offer: CapacityOffer, entry: WaitingListEntry
    ) -> dict[str, Any]:
        service = await session.get(AppointmentService, entry.service_id)
        branch = await branch_service.get(session, offer.branch_id)
        assert service is not None  # a foreign key
        assert offer.expires_at is not None  # offered
        return {
            "id": str(offer.id),
            "status": offer.status,
            "service_id": str(service.id),
            "service_name": {"de": service.name_de, "en": service.name_en},
            "branch_id": str(offer.branch_id),
            "branch_name": branch.name,
            "start": rfc3339(offer.starts_at),
            "end": rfc3339(offer.ends_at),
            "persons": entry.persons,
            "expires_at": rfc3339(offer.expires_at),
            "moves_booking_id": str(entry.booking_id) if entry.booking_id else None,
        }

    async def _send_offer(
        self,
        session: AsyncSession,
        offer: CapacityOffer,
        entry: WaitingListEntry,
        token: str,
        settings: Settings,
        valid_minutes: int,
        displaced: Booking | None,
        reason: Text | None,
    ) -> None:
        assert entry.email is not None  # kept while the entry is active
        assert offer.expires_at is not None  # offered
        service = await session.get(AppointmentService, entry.service_id)
        branch = await branch_service.get(session, offer.branch_id)
        assert service is not None
        moving = await session.get(Booking, entry.booking_id) if entry.booking_id else None
        language = Language(entry.language)
        english = language is Language.en
        url = f"{settings.public_base_url.rstrip('/')}/appointments/offers/{offer.id}?token={token}"
        await notification_service.send(
            session,
            Recipient(entry.email, language, RecipientKind.citizen),
            "appointments/block_offer" if displaced else "appointments/waiting_list_offer",
            {
                "reason": (reason.en if english else reason.de) if reason else "",
                "cancelled_start": displaced.starts_at if displaced else None,
                "citizen_name": entry.name or "",
                "offer": {
                    "service_name": service.name_en if english else service.name_de,
                    "branch_name": branch.name,
                    "branch_address": [
                        f"{branch.street} {branch.house_number}",
                        f"{branch.postal_code} {branch.city}",
                    ],
                    "starts_at": offer.starts_at,
                    "ends_at": offer.ends_at,
                    "expires_at": offer.expires_at,
                    "persons": entry.persons,
                    "moves_from": moving.starts_at if moving else None,
                },
                "offer_url": url,
                "valid_minutes": valid_minutes,
            },
        )


offer_service = OfferService()
