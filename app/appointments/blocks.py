"""Staff taking capacity away: a counter off sick, a branch closed for the afternoon.

A block is a closure of the branch or one counter. Its preview lists what would lose its
place, with a fingerprint of that list; applying it with that fingerprint (`If-Match`) adds
the closure and, in the same transaction, frees exactly as many places as the block takes
away in each slot unit: first cancelled capacity still held back, then live waiting-list
offers (their person waits again), then unconfirmed holds, then bookings, the most recently
made first. Each booking that loses its place is cancelled (its units go with the closed
time) and, when it has an e-mail address, its citizen is offered a short exclusive hold on the
earliest fitting slot at the same branch or a nearby one, through the waiting-list offer
(`app.appointments.offers`): the e-mail carries the link to accept it or decline and choose
another.

Nearby branches are those of the same district (`branches.district`) and, where both have
coordinates, those within `RATHAUS_BLOCK_NEARBY_KM`; each must offer the service.
"""

from __future__ import annotations

import hashlib
import math
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.appointments.block_schemas import BlockCreate
from app.appointments.booking_service import booking_service
from app.appointments.branch_day import BranchAccess
from app.appointments.calendar import bookable_starts, day_bounds, day_capacity, local_day, rfc3339
from app.appointments.errors import CounterNotAtBranch, InvalidBlock
from app.appointments.models import (
    OFFERED,
    Booking,
    BranchService,
    CapacityDay,
    CapacityOffer,
    CapacityReturn,
    CapacityUnit,
    Closure,
    Counter,
    WaitingListBranch,
    WaitingListEntry,
)
from app.appointments.offers import OFFERS, UNOWNED, Freed, offer_service
from app.appointments.repository import BOOKINGS, EXPIRING_STATUSES, BookingStatus, ClaimOutcome
from app.appointments.service import Window, bookings, calendar_service, hold_service
from app.appointments.waiting_list import WAITING_LIST, EntryStatus, waiting_list_service
from app.core.audit import record
from app.core.auth import MissingRole
from app.core.config import Settings
from app.core.errors import AppError, PreconditionFailed, PreconditionRequired
from app.core.i18n import Text
from app.organisation.service import branch_service

MAX_BLOCK_DAYS = 31
CLAIM_ATTEMPTS = 5


@dataclass
class Plan:
    """What a block displaces, in the order it is freed."""

    closure_id: uuid.UUID
    returns: list[CapacityReturn] = field(default_factory=list)
    offers: list[CapacityOffer] = field(default_factory=list)
    holds: list[Booking] = field(default_factory=list)
    bookings: list[Booking] = field(default_factory=list)

    def fingerprint(self, block: BlockCreate) -> str:
        parts = [
            rfc3339(block.starts_at),
            rfc3339(block.ends_at),
            str(block.counter_id),
            *sorted(f"{b.id}:{b.version}" for b in self.bookings),
        ]
        return hashlib.sha256("|".join(parts).encode()).hexdigest()[:32]


def _booking_json(booking: Booking) -> dict[str, Any]:
    return {
        "id": str(booking.id),
        "reference": booking.reference,
        "status": booking.status,
        "start": rfc3339(booking.starts_at),
        "end": rfc3339(booking.ends_at),
        "name": booking.name,
        "notified_by_email": booking.email is not None,
    }


class BlockService:
    async def preview(
        self,
        session: AsyncSession,
        access: BranchAccess,
        branch_id: uuid.UUID,
        block: BlockCreate,
        now: datetime,
    ) -> dict[str, Any]:
        """The bookings the block would cancel, and the fingerprint to apply it with. The
        trial is rolled back: nothing changes."""
        await self._check(session, access, branch_id, block, now)
        async with session.begin_nested() as trial:
            plan = await self._plan(session, branch_id, block)
            answer = {
                "fingerprint": plan.fingerprint(block),
                "bookings": [_booking_json(b) for b in plan.bookings],
            }
            await trial.rollback()
        return answer

    async def apply(
        self,
        session: AsyncSession,
        access: BranchAccess,
        branch_id: uuid.UUID,
        block: BlockCreate,
        if_match: str | None,
        now: datetime,
        settings: Settings,
    ) -> dict[str, Any]:
        """Close the time, free the places it takes, cancel the displaced bookings and offer
        each citizen a new slot, in one transaction; refused with 412 when the preview's
        fingerprint is no longer right."""
        await self._check(session, access, branch_id, block, now)
        if if_match is None:
            raise PreconditionRequired()
        plan = await self._plan(session, branch_id, block)
        if if_match.strip().strip('"') != plan.fingerprint(block):
            raise PreconditionFailed()
        for held_back in plan.returns:
            await session.execute(delete(CapacityReturn).where(CapacityReturn.id == held_back.id))
            await bookings.release(session, branch_id, held_back.starts_at, held_back.ends_at)
        for offer in plan.offers:
            entry_id = offer.entry_id
            await OFFERS.apply(session, offer.id, "release", values=UNOWNED)
            await bookings.release(session, branch_id, offer.starts_at, offer.ends_at)
            if entry_id is not None:
                await WAITING_LIST.apply(session, entry_id, "pass")
        for hold in plan.holds:
            await bookings.end(session, hold.id, now)
        for booking in plan.bookings:
            await BOOKINGS.apply(
                session,
                booking.id,
                "cancel",
                where=[Booking.version == booking.version],
                values={"cancelled_at": now, "expires_at": None},
                summary={"reason": "block"},
            )
            await bookings.release(session, branch_id, booking.starts_at, booking.ends_at)
            await bookings.leave_quota(session, booking.id)
        first, last = local_day(block.starts_at), local_day(block.ends_at)
        await calendar_service.recompute(session, branch_id, first, last)
        offered: list[str] = []
        reason = Text(de=block.reason_de, en=block.reason_en)
        for booking in plan.bookings:
            if await self._offer_new_slot(session, booking, reason, now, settings):
                offered.append(str(booking.id))
            elif booking.email is not None:
                view = await booking_service.view(session, booking)
                await booking_service.send_cancellation(session, view, settings)
        await record(
            session,
            action="closure.block",
            object_type="branch",
            object_id=branch_id,
            summary={"cancelled": len(plan.bookings), "offered": len(offered)},
        )
        return {
            "closure_id": str(plan.closure_id),
            "cancelled": [_booking_json(b) for b in plan.bookings],
            "offered_booking_ids": offered,
        }

    async def _check(
        self,
        session: AsyncSession,
        access: BranchAccess,
        branch_id: uuid.UUID,
        block: BlockCreate,
        now: datetime,
    ) -> None:
        if not access.allows(branch_id):
            raise MissingRole()
        await branch_service.get(session, branch_id)
        if block.ends_at <= block.starts_at:
            raise InvalidBlock(pointer="#/ends_at")
        if block.starts_at < now:
            raise InvalidBlock(
                Text(
                    de="Eine Sperre kann nicht in der Vergangenheit beginnen.",
                    en="A block cannot begin in the past.",
                ),
                pointer="#/starts_at",
            )
        if block.ends_at - block.starts_at > timedelta(days=MAX_BLOCK_DAYS):
            raise InvalidBlock(
                Text(
                    de=f"Eine Sperre dauert höchstens {MAX_BLOCK_DAYS} Tage.",
                    en=f"A block lasts at most {MAX_BLOCK_DAYS} days.",
                ),
                pointer="#/ends_at",
            )
        if block.counter_id is None:
            return
        found = await session.scalar(
            select(Counter.id).where(
                Counter.id == block.counter_id,
                Counter.branch_id == branch_id,
                Counter.active.is_(True),
            )
        )
        if found is None:
            raise CounterNotAtBranch(pointer="#/counter_id")

    async def _plan(self, session: AsyncSession, branch_id: uuid.UUID, block: BlockCreate) -> Plan:
        """Add the closure (the caller's transaction or savepoint), and choose what must
        leave each slot unit that then has more places taken than it has."""
        await calendar_service.lock_branch(session, branch_id)
        closure = Closure(
            branch_id=branch_id,
            counter_id=block.counter_id,
            starts_at=block.starts_at,
            ends_at=block.ends_at,
            reason_de=block.reason_de,
            reason_en=block.reason_en,
        )
        session.add(closure)
        await session.flush()
        excess = await self._excess(session, branch_id, block)
        plan = Plan(closure.id)
        if not excess:
            return plan
        start, end = min(excess), max(excess) + timedelta(seconds=1)

        def takes(first: datetime, last: datetime) -> bool:
            """Whether the occupant covers a unit still over; then it leaves them all."""
            covered = [s for s, n in excess.items() if n > 0 and first <= s < last]
            if not covered:
                return False
            for s in covered:
                excess[s] -= 1
            return True

        for held_back in await session.scalars(
            select(CapacityReturn)
            .where(*_covering(CapacityReturn, branch_id, start, end))
            .order_by(CapacityReturn.returns_at.desc(), CapacityReturn.id)
        ):
            if takes(held_back.starts_at, held_back.ends_at):
                plan.returns.append(held_back)
        for offer in await session.scalars(
            select(CapacityOffer)
            .where(
                *_covering(CapacityOffer, branch_id, start, end), CapacityOffer.status == OFFERED
            )
            .order_by(CapacityOffer.created_at.desc(), CapacityOffer.id)
        ):
            if takes(offer.starts_at, offer.ends_at):
                plan.offers.append(offer)
        for booking in await session.scalars(
            select(Booking)
            .where(
                *_covering(Booking, branch_id, start, end),
                Booking.status.in_([*EXPIRING_STATUSES, BookingStatus.confirmed]),
            )
            .order_by(Booking.created_at.desc(), Booking.id)
        ):
            if not takes(booking.starts_at, booking.ends_at):
                continue
            if booking.status == BookingStatus.held:
                plan.holds.append(booking)
            else:
                plan.bookings.append(booking)
        plan.bookings.sort(key=lambda b: (b.starts_at, b.reference))
        return plan

    async def _excess(
        self, session: AsyncSession, branch_id: uuid.UUID, block: BlockCreate
    ) -> dict[datetime, int]:
        """Per released slot unit in the block's days, how many more places are taken than
        the rules with the block leave."""
        first, last = local_day(block.starts_at), local_day(block.ends_at)
        days: list[date] = list(
            await session.scalars(
                select(CapacityDay.day).where(
                    CapacityDay.branch_id == branch_id,
                    CapacityDay.day >= first,
                    CapacityDay.day <= last,
                )
            )
        )
        if not days:
            return {}
        rules = await calendar_service.day_rules(session, branch_id, min(days), max(days))
        wanted: dict[datetime, int] = {}
        for day in days:
            wanted.update(day_capacity(day, rules[day]))
        # Locking the days' units makes a hold racing the block wait for it and then find
        # the closed time gone, instead of slipping in before the capacity is rewritten.
        used = await session.execute(
            select(CapacityUnit.starts_at, CapacityUnit.used)
            .where(
                CapacityUnit.branch_id == branch_id,
                CapacityUnit.starts_at >= day_bounds(min(days))[0],
                CapacityUnit.starts_at < day_bounds(max(days))[1],
            )
            .order_by(CapacityUnit.starts_at)  # the order holds claim them in: no deadlock
            .with_for_update()
        )
        return {s: n - wanted.get(s, 0) for s, n in used.all() if n > wanted.get(s, 0)}

    async def _offer_new_slot(
        self,
        session: AsyncSession,
        booking: Booking,
        reason: Text,
        now: datetime,
        settings: Settings,
    ) -> bool:
        """Hold the earliest fitting slot at the branch or a nearby one for the citizen of a
        cancelled booking, as a waiting-list offer; False when there is none or no address."""
        if booking.email is None or booking.person_key is None:
            return False
        branch_ids = await self._nearby(session, booking, settings)
        found = await self._claim_earliest(session, booking, branch_ids, now)
        if found is None:
            return False
        branch_id, start, end, units = found
        entry = WaitingListEntry(
            id=uuid.uuid4(),
            status=EntryStatus.offered,
            service_id=booking.service_id,
            persons=booking.persons,
            person_key=booking.person_key,
            name=booking.name,
            email=booking.email,
            language=booking.language,
            confirmed_via=booking.confirmed_via or "email",
            ends_at=now + timedelta(days=settings.waiting_list_max_days),
        )
        session.add(entry)
        await session.flush()
        session.add_all(WaitingListBranch(entry_id=entry.id, branch_id=b) for b in branch_ids)
        await waiting_list_service.count_entry(session, booking.person_key)
        await session.flush()
        await offer_service.offer(
            session,
            Freed(branch_id, start, end),
            entry,
            end,
            units,
            now,
            settings,
            minutes=settings.block_offer_minutes,
            displaced=booking,
            reason=reason,
        )
        return True

    async def _nearby(
        self, session: AsyncSession, booking: Booking, settings: Settings
    ) -> list[uuid.UUID]:
        """The booking's branch first, then the nearby branches that offer its service."""
        home = await branch_service.get(session, booking.branch_id)
        offering = await session.scalars(
            select(BranchService.branch_id).where(
                BranchService.service_id == booking.service_id,
                BranchService.branch_id != booking.branch_id,
            )
        )
        near: list[uuid.UUID] = []
        for branch_id in offering:
            other = await branch_service.get(session, branch_id)
            same_district = home.district is not None and other.district == home.district
            if same_district or _km(home, other) <= settings.block_nearby_km:
                near.append(branch_id)
        return [booking.branch_id, *sorted(near)]

    async def _claim_earliest(
        self,
        session: AsyncSession,
        booking: Booking,
        branch_ids: list[uuid.UUID],
        now: datetime,
    ) -> tuple[uuid.UUID, datetime, datetime, int] | None:
        offers = []
        for branch_id in branch_ids:
            try:
                offers.append(await hold_service.offer(session, booking.service_id, branch_id))
            except AppError:
                continue
        if not offers:
            return None
        window = Window.of(offers[0].service, now)
        for offer in offers:
            await calendar_service.release_through(
                session, offer.branch_id, local_day(now), window.last_day
            )
        connection = await session.connection()
        free = await bookings.free_units(
            connection,
            [offer.branch_id for offer in offers],
            window.earliest,
            day_bounds(window.last_day)[1],
            now,
        )
        candidates = sorted(
            (start, index)
            for index, offer in enumerate(offers)
            for start in bookable_starts(
                free.get(offer.branch_id, []),
                offer.units_for(booking.persons),
                offer.unit_minutes,
            )[:CLAIM_ATTEMPTS]
        )
        for start, index in candidates[:CLAIM_ATTEMPTS]:
            offer = offers[index]
            units = offer.units_for(booking.persons)
            end = start + offer.duration(booking.persons)
            await bookings.expire_overlapping(session, offer.branch_id, start, end, now)
            claimed = await bookings.claim(session, offer.branch_id, start, end, units)
            if claimed is ClaimOutcome.claimed:
                return offer.branch_id, start, end, units
        return None


def _covering(model: Any, branch_id: uuid.UUID, start: datetime, end: datetime) -> list[Any]:
    return [model.branch_id == branch_id, model.starts_at < end, model.ends_at > start]


def _km(one: Any, other: Any) -> float:
    """The great-circle distance between two branches, or infinity without coordinates."""
    if None in (one.latitude, one.longitude, other.latitude, other.longitude):
        return math.inf
    lat1, lat2 = math.radians(one.latitude), math.radians(other.latitude)
    dlat = lat2 - lat1
    dlon = math.radians(other.longitude - one.longitude)
    a = math.sin(dlat / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin(dlon / 2) ** 2
    return 2 * 6371.0 * math.asin(math.sqrt(a))


block_service = BlockService()
