"""The branch's one queue: walk-in tickets on the walk-in share of the day's capacity, "call
next" for a counter from the checked-in appointments and the waiting tickets, recalls, the
end of a walk-in's visit, and the day's calls that the call-up display shows.

Who calls whom is one rule, `call_order.call_order`. Two counters calling at the same moment
never get the same citizen: each candidate is taken by one guarded `UPDATE … WHERE status =
'checked_in'` (or `'waiting'`), and a counter whose guard fails tries the next candidate. On
PostgreSQL a candidate another counter is taking right now is skipped at once (`FOR UPDATE
SKIP LOCKED`) instead of waited for; SQLite runs writing transactions one at a time.

Everything is scoped like the branch's day (`branch_day.BranchAccess`): a ticket of a branch
the caller does not work at is not found (404), another branch's queue is forbidden (403).
Tickets are also drawn by kiosk clients with the scope `appointments:tickets`, each at the one
branch it is bound to (`api_clients.branch_id`).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.appointments.branch_day import BranchAccess, branch_day_service
from app.appointments.calendar import (
    day_bounds,
    day_walk_in_units,
    holiday_name,
    local_day,
    rfc3339,
    unit_starts,
)
from app.appointments.call_order import CallRule, QueueEntry, QueueKind, call_order
from app.appointments.errors import (
    WALK_INS_CLOSED,
    BookingNotFound,
    CounterNotFound,
    KioskNotAtBranch,
    QueueEmpty,
    TicketNotFound,
    TooManyPersons,
    WalkInCapacityExhausted,
)
from app.appointments.models import (
    AppointmentService,
    Booking,
    Counter,
    QueueCall,
    WalkInTicket,
)
from app.appointments.repository import BOOKINGS, BookingStatus
from app.appointments.service import calendar_service, hold_service
from app.appointments.tickets import (
    TICKETS,
    TicketStatus,
    ticket_call_number,
    walk_in_budgets,
)
from app.core.audit import record
from app.core.auth import MissingRole
from app.core.config import Settings
from app.core.errors import AppError
from app.core.jobs.queue import emit
from app.core.principal import Principal, PrincipalType
from app.organisation.service import branch_service

RECENT_CALLS_LIMIT = 10
MAX_RECENT_CALLS = 50


def call_rule(settings: Settings) -> CallRule:
    return CallRule(settings.queue_early_minutes, settings.queue_late_minutes)


@dataclass(frozen=True, slots=True)
class RecentCall:
    """One call as the waiting room sees it: "A017 → Schalter 3"."""

    call_number: str
    counter_id: uuid.UUID
    counter_name: str
    called_at: datetime

    def json(self) -> dict[str, Any]:
        return {
            "call_number": self.call_number,
            "counter_id": str(self.counter_id),
            "counter_name": self.counter_name,
            "called_at": rfc3339(self.called_at),
        }


async def recent_calls(
    session: AsyncSession, branch_id: uuid.UUID, day: date, limit: int = RECENT_CALLS_LIMIT
) -> list[RecentCall]:
    """The branch's calls and recalls of `day` (Berlin), newest first, at most `limit`: what
    the call-up display shows. No names, no references."""
    try:
        start, end = day_bounds(day)
    except OverflowError:  # the first or the last day a date can name: no calls
        return []
    rows = await session.execute(
        select(QueueCall.call_number, QueueCall.counter_id, Counter.name, QueueCall.called_at)
        .join(Counter, Counter.id == QueueCall.counter_id)
        .where(
            QueueCall.branch_id == branch_id,
            QueueCall.called_at >= start,
            QueueCall.called_at < end,
        )
        .order_by(QueueCall.called_at.desc(), QueueCall.call_number.desc())
        .limit(limit)
    )
    return [RecentCall(*row) for row in rows.all()]


@dataclass(frozen=True, slots=True)
class _Waiting:
    """A queue entry with what the clerks see of it."""

    entry: QueueEntry
    call_number: str
    service_id: uuid.UUID
    persons: int


class QueueService:
    async def draw_ticket(
        self,
        session: AsyncSession,
        principal: Principal,
        settings: Settings,
        branch_id: uuid.UUID,
        service_id: uuid.UUID,
        persons: int,
        now: datetime,
    ) -> dict[str, Any]:
        """Draw today's next walk-in ticket for `service_id` at the branch, taking its units
        from the day's walk-in budget; refused (and counted as turned away) when the budget
        has not that many left."""
        await self._may_draw(session, principal, settings, branch_id)
        offer = await hold_service.offer(session, service_id, branch_id)
        if persons > offer.service.max_persons:
            raise TooManyPersons(pointer="#/persons")
        units = offer.units_for(persons)
        today = local_day(now)
        capacity, open_now = await self.walk_in_capacity(session, branch_id, today, now)
        if not open_now:
            raise WalkInCapacityExhausted(WALK_INS_CLOSED)
        number = await walk_in_budgets.claim(session, branch_id, today, capacity, units)
        if number is None:
            await walk_in_budgets.turn_away(session, branch_id, today)
            raise WalkInCapacityExhausted()
        ticket = WalkInTicket(
            branch_id=branch_id,
            service_id=service_id,
            day=today,
            number=number,
            call_number=ticket_call_number(number),
            status=TicketStatus.waiting,
            units=units,
            persons=persons,
            drawn_by=f"{principal.actor.type.value}:{principal.actor.id}",
            drawn_at=now,
        )
        session.add(ticket)
        await session.flush()
        await record(
            session,
            action="walk_in_ticket.draw",
            object_type=TICKETS.aggregate,
            object_id=ticket.id,
            summary={"status": TicketStatus.waiting, "units": units, "number": number},
        )
        await emit(
            session,
            "walk_in_ticket.draw",
            aggregate_type=TICKETS.aggregate,
            aggregate_id=ticket.id,
            payload={"status": TicketStatus.waiting, "branch_id": str(branch_id)},
        )
        return await self._ticket_json(session, ticket)

    async def walk_in_capacity(
        self, session: AsyncSession, branch_id: uuid.UUID, day: date, now: datetime
    ) -> tuple[int, bool]:
        """The day's walk-in budget by the current rules, and whether the branch's opening
        hours of the day have not ended at `now`."""
        rules = (await calendar_service.day_rules(session, branch_id, day, day)).get(day)
        if rules is None:
            return 0, False
        starts = unit_starts(day, rules.periods, rules.unit_minutes)
        open_now = (
            bool(starts)
            and now < starts[-1] + timedelta(minutes=rules.unit_minutes)
            and holiday_name(day) is None
        )
        return day_walk_in_units(day, rules), open_now

    async def _may_draw(
        self, session: AsyncSession, principal: Principal, settings: Settings, branch_id: uuid.UUID
    ) -> None:
        if principal.type is PrincipalType.client:
            # A kiosk (its scope was checked with the route's access) draws at its branch only.
            if principal.branch_id != branch_id:
                raise KioskNotAtBranch()
            return
        access = await branch_day_service.access(session, principal, settings)
        if not access.allows(branch_id):
            raise MissingRole()

    async def waiting(
        self,
        session: AsyncSession,
        access: BranchAccess,
        branch_id: uuid.UUID,
        counter_id: uuid.UUID | None,
        now: datetime,
        rule: CallRule,
    ) -> dict[str, Any]:
        """Everybody waiting at the branch today, in the order of the call rule, and the
        day's walk-in budget."""
        await self._check_branch(session, access, branch_id)
        if counter_id is not None:
            await self._counter(session, branch_id, counter_id, found_as=CounterNotFound)
        today = local_day(now)
        waiting = await self._waiting(session, branch_id, today)
        by_id = {w.entry.id: w for w in waiting}
        ordered = call_order([w.entry for w in waiting], now, rule, counter_id)
        names = await self._service_names(session, {w.service_id for w in waiting})
        capacity, _ = await self.walk_in_capacity(session, branch_id, today, now)
        budget = await walk_in_budgets.of_day(session, branch_id, today)
        used = budget.used if budget else 0
        return {
            "branch_id": str(branch_id),
            "date": today.isoformat(),
            "counter_id": str(counter_id) if counter_id else None,
            "walk_in_budget": {
                "capacity": max(capacity, used),
                "used": used,
                "remaining": max(capacity - used, 0),
                "turned_away": budget.turned_away if budget else 0,
            },
            "items": [_queue_item_json(by_id[entry.id], names, now, rule) for entry in ordered],
        }

    async def call_next(
        self,
        session: AsyncSession,
        access: BranchAccess,
        branch_id: uuid.UUID,
        counter_id: uuid.UUID,
        now: datetime,
        rule: CallRule,
    ) -> dict[str, Any]:
        """Call the next citizen by the call rule to the counter; 409 `queue-empty` when
        nobody waits for it."""
        await self._check_branch(session, access, branch_id)
        counter = await self._counter(session, branch_id, counter_id, found_as=CounterNotFound)
        waiting = await self._waiting(session, branch_id, local_day(now))
        by_id = {w.entry.id: w for w in waiting}
        for entry in call_order([w.entry for w in waiting], now, rule, counter_id):
            call_number = by_id[entry.id].call_number
            if entry.kind is QueueKind.appointment:
                called = await self._call_booking(session, access, entry.id, counter, now)
            else:
                called = await self._call_ticket(session, access, entry.id, counter, now)
            if called:
                return await self._record_call(
                    session, access, entry.kind, entry.id, call_number, counter, now
                )
        raise QueueEmpty()

    async def _call_booking(
        self,
        session: AsyncSession,
        access: BranchAccess,
        booking_id: uuid.UUID,
        counter: Counter,
        now: datetime,
    ) -> bool:
        """Take a checked-in appointment for the counter, unless another counter took it
        (or is taking it) first."""
        free = await session.scalar(
            select(Booking.id)
            .where(Booking.id == booking_id, Booking.status == BookingStatus.checked_in)
            .with_for_update(skip_locked=True)  # PostgreSQL; SQLite serialises writers
        )
        if free is None:
            return False
        try:
            await BOOKINGS.apply(
                session,
                booking_id,
                "call",
                where=[or_(Booking.counter_id.is_(None), Booking.counter_id == counter.id)],
                values={
                    "called_at": now,
                    "called_by": access.principal.id,
                    "counter_id": counter.id,
                },
                summary={"counter_id": str(counter.id)},
                payload={"branch_id": str(counter.branch_id), "counter_id": str(counter.id)},
            )
        except AppError:
            return False
        return True

    async def _call_ticket(
        self,
        session: AsyncSession,
        access: BranchAccess,
        ticket_id: uuid.UUID,
        counter: Counter,
        now: datetime,
    ) -> bool:
        free = await session.scalar(
            select(WalkInTicket.id)
            .where(WalkInTicket.id == ticket_id, WalkInTicket.status == TicketStatus.waiting)
            .with_for_update(skip_locked=True)
        )
        if free is None:
            return False
        try:
            await TICKETS.apply(
                session,
                ticket_id,
                "call",
                values={
                    "called_at": now,
                    "called_by": access.principal.id,
                    "counter_id": counter.id,
                },
                summary={"counter_id": str(counter.id)},
                payload={"branch_id": str(counter.branch_id), "counter_id": str(counter.id)},
            )
        except AppError:
            return False
        return True

    async def recall_booking(
        self, session: AsyncSession, access: BranchAccess, booking_id: uuid.UUID, now: datetime
    ) -> dict[str, Any]:
        """Call a called appointment again, to the same counter."""
        booking = await session.get(Booking, booking_id, populate_existing=True)
        if booking is None or not access.allows(booking.branch_id):
            raise BookingNotFound()
        recalled = await BOOKINGS.apply(
            session,
            booking_id,
            "recall",
            values={"called_at": now, "called_by": access.principal.id},
        )
        counter = await session.get(Counter, recalled.counter_id)
        assert counter is not None  # called
        assert recalled.call_number is not None
        return await self._record_call(
            session, access, QueueKind.appointment, booking_id, recalled.call_number, counter, now
        )

    async def recall_ticket(
        self, session: AsyncSession, access: BranchAccess, ticket_id: uuid.UUID, now: datetime
    ) -> dict[str, Any]:
        """Call a called walk-in again, to the same counter."""
        await self._visible_ticket(session, access, ticket_id)
        recalled = await TICKETS.apply(
            session,
            ticket_id,
            "recall",
            values={"called_at": now, "called_by": access.principal.id},
        )
        counter = await session.get(Counter, recalled.counter_id)
        assert counter is not None  # called
        return await self._record_call(
            session, access, QueueKind.walk_in, ticket_id, recalled.call_number, counter, now
        )

    async def ticket(
        self, session: AsyncSession, access: BranchAccess, ticket_id: uuid.UUID
    ) -> dict[str, Any]:
        return await self._ticket_json(
            session, await self._visible_ticket(session, access, ticket_id)
        )

    async def complete_ticket(
        self, session: AsyncSession, access: BranchAccess, ticket_id: uuid.UUID, now: datetime
    ) -> dict[str, Any]:
        """Close a called walk-in's visit, with its service time from the call."""
        ticket = await self._visible_ticket(session, access, ticket_id)
        called_at = ticket.called_at or now
        completed = await TICKETS.apply(
            session,
            ticket_id,
            "complete",
            values={
                "completed_at": now,
                "service_seconds": max(0, int((now - called_at).total_seconds())),
                "handled_by": access.principal.id,
            },
        )
        return await self._ticket_json(session, completed)

    async def mark_ticket_no_show(
        self, session: AsyncSession, access: BranchAccess, ticket_id: uuid.UUID, now: datetime
    ) -> dict[str, Any]:
        """A called walk-in who did not come to the counter; the units stay used."""
        await self._visible_ticket(session, access, ticket_id)
        marked = await TICKETS.apply(
            session,
            ticket_id,
            "mark_no_show",
            values={"no_show_at": now, "handled_by": access.principal.id},
        )
        return await self._ticket_json(session, marked)

    async def cancel_ticket(
        self, session: AsyncSession, access: BranchAccess, ticket_id: uuid.UUID, now: datetime
    ) -> dict[str, Any]:
        """A walk-in who leaves before the call: the ticket's units go back to the day's
        walk-in budget (its number is not reused)."""
        await self._visible_ticket(session, access, ticket_id)
        cancelled = await TICKETS.apply(
            session,
            ticket_id,
            "cancel",
            values={"cancelled_at": now, "handled_by": access.principal.id},
        )
        await walk_in_budgets.give_back(
            session, cancelled.branch_id, cancelled.day, cancelled.units
        )
        return await self._ticket_json(session, cancelled)

    async def recent(
        self,
        session: AsyncSession,
        access: BranchAccess,
        branch_id: uuid.UUID,
        day: date,
        limit: int,
    ) -> dict[str, Any]:
        await self._check_branch(session, access, branch_id)
        calls = await recent_calls(session, branch_id, day, limit)
        return {
            "branch_id": str(branch_id),
            "date": day.isoformat(),
            "items": [call.json() for call in calls],
        }

    async def _record_call(
        self,
        session: AsyncSession,
        access: BranchAccess,
        kind: QueueKind,
        item_id: uuid.UUID,
        call_number: str,
        counter: Counter,
        now: datetime,
    ) -> dict[str, Any]:
        is_booking = kind is QueueKind.appointment
        session.add(
            QueueCall(
                branch_id=counter.branch_id,
                call_number=call_number,
                counter_id=counter.id,
                called_at=now,
                called_by=access.principal.id,
                booking_id=item_id if is_booking else None,
                ticket_id=None if is_booking else item_id,
            )
        )
        await session.flush()
        if is_booking:
            booking = await session.get(Booking, item_id)
            assert booking is not None
            service = await session.get(AppointmentService, booking.service_id)
            assert service is not None
            details: dict[str, Any] = {
                "service_id": str(booking.service_id),
                "service_name": {"de": service.name_de, "en": service.name_en},
                "persons": booking.persons,
                "reference": booking.reference,
                "name": booking.name,
                "start": rfc3339(booking.starts_at),
            }
        else:
            ticket = await session.get(WalkInTicket, item_id)
            assert ticket is not None
            service = await session.get(AppointmentService, ticket.service_id)
            assert service is not None
            details = {
                "service_id": str(ticket.service_id),
                "service_name": {"de": service.name_de, "en": service.name_en},
                "persons": ticket.persons,
                "reference": None,
                "name": None,
                "start": None,
            }
        return {
            "kind": kind.value,
            "id": str(item_id),
            "call_number": call_number,
            "counter_id": str(counter.id),
            "counter_name": counter.name,
            "called_at": rfc3339(now),
            **details,
        }

    async def _waiting(
        self, session: AsyncSession, branch_id: uuid.UUID, day: date
    ) -> list[_Waiting]:
        """Today's checked-in appointments and waiting tickets of the branch."""
        start, end = day_bounds(day)
        bookings = await session.execute(
            select(
                Booking.id,
                Booking.checked_in_at,
                Booking.starts_at,
                Booking.counter_id,
                Booking.call_number,
                Booking.service_id,
                Booking.persons,
            ).where(
                Booking.branch_id == branch_id,
                Booking.status == BookingStatus.checked_in,
                Booking.starts_at >= start,
                Booking.starts_at < end,
            )
        )
        tickets = await session.execute(
            select(
                WalkInTicket.id,
                WalkInTicket.drawn_at,
                WalkInTicket.number,
                WalkInTicket.call_number,
                WalkInTicket.service_id,
                WalkInTicket.persons,
            ).where(
                WalkInTicket.branch_id == branch_id,
                WalkInTicket.day == day,
                WalkInTicket.status == TicketStatus.waiting,
            )
        )
        waiting = [
            _Waiting(
                QueueEntry(
                    QueueKind.appointment,
                    booking_id,
                    checked_in_at or starts_at,
                    starts_at=starts_at,
                    counter_id=counter_id,
                ),
                call_number or "",
                service_id,
                persons,
            )
            for booking_id, checked_in_at, starts_at, counter_id, call_number, service_id, persons in bookings
        ]
        waiting += [
            _Waiting(
                QueueEntry(QueueKind.walk_in, ticket_id, drawn_at, ticket_number=number),
                call_number,
                service_id,
                persons,
            )
            for ticket_id, drawn_at, number, call_number, service_id, persons in tickets
        ]
        return waiting

    async def _service_names(
        self, session: AsyncSession, service_ids: set[uuid.UUID]
    ) -> dict[uuid.UUID, dict[str, str]]:
        if not service_ids:
            return {}
        rows = await session.execute(
            select(
                AppointmentService.id, AppointmentService.name_de, AppointmentService.name_en
            ).where(AppointmentService.id.in_(sorted(service_ids)))
        )
        return {service_id: {"de": de, "en": en} for service_id, de, en in rows.all()}

    async def _check_branch(
        self, session: AsyncSession, access: BranchAccess, branch_id: uuid.UUID
    ) -> None:
        if not access.allows(branch_id):
            raise MissingRole()
        await branch_service.get(session, branch_id)

    async def _counter(
        self,
        session: AsyncSession,
        branch_id: uuid.UUID,
        counter_id: uuid.UUID | None,
        *,
        found_as: type[AppError],
    ) -> Counter:
        counter = await session.scalar(
            select(Counter).where(
                Counter.id == counter_id, Counter.branch_id == branch_id, Counter.active.is_(True)
            )
        )
        if counter is None:
            raise found_as()
        return counter

    async def _visible_ticket(
        self, session: AsyncSession, access: BranchAccess, ticket_id: uuid.UUID
    ) -> WalkInTicket:
        ticket = await session.get(WalkInTicket, ticket_id, populate_existing=True)
        if ticket is None or not access.allows(ticket.branch_id):
            raise TicketNotFound()
        return ticket

    async def _ticket_json(self, session: AsyncSession, ticket: WalkInTicket) -> dict[str, Any]:
        service = await session.get(AppointmentService, ticket.service_id)
        assert service is not None  # a foreign key
        ahead = None
        if ticket.status == TicketStatus.waiting:
            ahead = await session.scalar(
                select(func.count(WalkInTicket.id)).where(
                    WalkInTicket.branch_id == ticket.branch_id,
                    WalkInTicket.day == ticket.day,
                    WalkInTicket.status == TicketStatus.waiting,
                    WalkInTicket.number < ticket.number,
                )
            )
        label = TICKETS.labels[ticket.status]
        return {
            "id": str(ticket.id),
            "call_number": ticket.call_number,
            "status": ticket.status,
            "status_label": {"de": label.de, "en": label.en},
            "branch_id": str(ticket.branch_id),
            "service_id": str(ticket.service_id),
            "service_name": {"de": service.name_de, "en": service.name_en},
            "persons": ticket.persons,
            "date": ticket.day.isoformat(),
            "drawn_at": rfc3339(ticket.drawn_at),
            "tickets_ahead": ahead,
            "counter_id": str(ticket.counter_id) if ticket.counter_id else None,
            "called_at": rfc3339(ticket.called_at) if ticket.called_at else None,
            "completed_at": rfc3339(ticket.completed_at) if ticket.completed_at else None,
            "service_seconds": ticket.service_seconds,
        }


def _queue_item_json(
    waiting: _Waiting, names: dict[uuid.UUID, dict[str, str]], now: datetime, rule: CallRule
) -> dict[str, Any]:
    entry = waiting.entry
    return {
        "kind": entry.kind.value,
        "id": str(entry.id),
        "call_number": waiting.call_number,
        "group": entry.group(now, rule).value,
        "arrived_at": rfc3339(entry.arrived_at),
        "start": rfc3339(entry.starts_at) if entry.starts_at else None,
        "counter_id": str(entry.counter_id) if entry.counter_id else None,
        "service_id": str(waiting.service_id),
        "service_name": names.get(waiting.service_id, {"de": "", "en": ""}),
        "persons": waiting.persons,
    }


queue_service = QueueService()
"""The branch's one queue: walk-in tickets, calls to the counters, and the calls shown."""
