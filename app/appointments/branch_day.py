"""The branch's day: the clerks' schedule, check-in with a call number, completed visits with
their service time, and no-shows, by hand or a set time after the start.

Everything is scoped to the branch: its staff, the supervisors of the department that runs
the branches (`RATHAUS_BRANCH_SUPERVISOR_DEPARTMENT`), and administrators. A booking at a
branch the caller does not work at is not found (404); another branch's day is forbidden
(403). A visit keeps its capacity units; a no-show only those begun before it was marked
(`occupies`).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.appointments.calendar import day_bounds, local_day, rfc3339
from app.appointments.errors import (
    AppointmentNotBegun,
    BookingNotFound,
    BookingNotToday,
    CounterNotAtBranch,
)
from app.appointments.models import BOOKING, AppointmentService, Booking, Counter
from app.appointments.repository import BOOKINGS, BookingStatus
from app.appointments.schemas import VisitStatus
from app.appointments.service import bookings
from app.core.auth import MissingRole
from app.core.config import Settings
from app.core.errors import AppError
from app.core.principal import Principal, Role
from app.core.references import parse
from app.core.state_machine import InvalidTransition
from app.organisation.service import branch_service, department_service

CALL_NUMBER_PREFIX = "A"
"""Call numbers of appointments; walk-in tickets' start with `W` (`tickets.TICKET_PREFIX`)."""
NO_SHOW_BATCH = 200
DAY_STATUSES = tuple(VisitStatus)


def call_number(number: int) -> str:
    """`A001`, `A017`, … `A999`, then `A1000`."""
    return f"{CALL_NUMBER_PREFIX}{number:03d}"


@dataclass(frozen=True, slots=True)
class BranchAccess:
    """Who may work at which branch: its staff, the branch supervisors, administrators."""

    principal: Principal
    supervising_department_id: uuid.UUID | None

    def allows(self, branch_id: uuid.UUID) -> bool:
        if self.principal.has_role(Role.branch_staff, branch_id=branch_id):
            return True
        department_id = self.supervising_department_id
        return department_id is not None and self.principal.has_role(
            Role.supervisor, department_id=department_id
        )


def visit_json(booking: Booking, service: AppointmentService) -> dict[str, Any]:
    """A booking in the shape of `VisitRead`."""
    label = BOOKINGS.labels[booking.status]
    return {
        "id": str(booking.id),
        "reference": booking.reference,
        "status": booking.status,
        "status_label": {"de": label.de, "en": label.en},
        "service_id": str(booking.service_id),
        "service_name": {"de": service.name_de, "en": service.name_en},
        "persons": booking.persons,
        "start": rfc3339(booking.starts_at),
        "end": rfc3339(booking.ends_at),
        "name": booking.name,
        "call_number": booking.call_number,
        "counter_id": str(booking.counter_id) if booking.counter_id else None,
        "checked_in_at": rfc3339(booking.checked_in_at) if booking.checked_in_at else None,
        "called_at": rfc3339(booking.called_at) if booking.called_at else None,
        "completed_at": rfc3339(booking.completed_at) if booking.completed_at else None,
        "service_seconds": booking.service_seconds,
    }


class BranchDayService:
    async def access(
        self, session: AsyncSession, principal: Principal, settings: Settings
    ) -> BranchAccess:
        department_id = await department_service.id_for_code(
            session, settings.branch_supervisor_department
        )
        return BranchAccess(principal, department_id)

    async def day(
        self,
        session: AsyncSession,
        access: BranchAccess,
        branch_id: uuid.UUID,
        day: date,
        counter_id: uuid.UUID | None,
    ) -> dict[str, Any]:
        """The appointments of `day` at the branch (or sent to one of its counters)."""
        if not access.allows(branch_id):
            raise MissingRole()
        await branch_service.get(session, branch_id)
        if counter_id is not None:
            await self._check_counter(session, branch_id, counter_id, pointer="#/query/counter_id")
        answer: dict[str, Any] = {
            "branch_id": str(branch_id),
            "date": day.isoformat(),
            "counter_id": str(counter_id) if counter_id else None,
            "items": [],
        }
        try:
            start, end = day_bounds(day)
        except OverflowError:  # the first or the last day a date can name: no appointments
            return answer
        query = (
            select(Booking, AppointmentService)
            .join(AppointmentService, AppointmentService.id == Booking.service_id)
            .where(
                Booking.branch_id == branch_id,
                Booking.starts_at >= start,
                Booking.starts_at < end,
                Booking.status.in_(DAY_STATUSES),
            )
            .order_by(Booking.starts_at, Booking.reference)
        )
        if counter_id is not None:
            query = query.where(Booking.counter_id == counter_id)
        rows = (await session.execute(query)).all()
        answer["items"] = [visit_json(booking, service) for booking, service in rows]
        return answer

    async def check_in(
        self,
        session: AsyncSession,
        access: BranchAccess,
        reference: str,
        counter_id: uuid.UUID | None,
        now: datetime,
    ) -> dict[str, Any]:
        """Check in a confirmed booking of today, by its reference as typed or scanned, and
        hand out the branch's next call number. The number is drawn after the guarded
        transition, so a refused check-in draws none, and its row is locked only briefly."""
        parsed = parse(BOOKING, reference)
        booking = (
            None
            if parsed is None
            else await session.scalar(select(Booking).where(Booking.reference == parsed))
        )
        if booking is None or not access.allows(booking.branch_id):
            raise BookingNotFound()
        if counter_id is not None:
            await self._check_counter(
                session, booking.branch_id, counter_id, pointer="#/counter_id"
            )
        today = local_day(now)
        if booking.status == BookingStatus.confirmed and local_day(booking.starts_at) != today:
            raise BookingNotToday(local_day(booking.starts_at).isoformat())
        start, end = day_bounds(today)
        checked_in = await self._apply(
            session,
            booking.id,
            "check_in",
            [Booking.starts_at >= start, Booking.starts_at < end],
            {"checked_in_at": now, "counter_id": counter_id, "handled_by": access.principal.id},
        )
        number = call_number(await bookings.next_call_number(session, checked_in.branch_id, today))
        checked_in.call_number = number
        await session.flush()
        return await self._visit(session, checked_in)

    async def complete(
        self, session: AsyncSession, access: BranchAccess, booking_id: uuid.UUID, now: datetime
    ) -> dict[str, Any]:
        """Close a called (or checked-in) visit, recording how long it took: from the call,
        or without one from the later of the check-in and the start."""
        booking = await self._visible(session, access, booking_id)
        served_from = booking.called_at or max(
            booking.checked_in_at or booking.starts_at, booking.starts_at
        )
        seconds = max(0, int((now - served_from).total_seconds()))
        completed = await self._apply(
            session,
            booking_id,
            "complete",
            [],
            {"completed_at": now, "service_seconds": seconds, "handled_by": access.principal.id},
        )
        await bookings.leave_quota(session, booking_id)
        return await self._visit(session, completed)

    async def mark_no_show(
        self, session: AsyncSession, access: BranchAccess, booking_id: uuid.UUID, now: datetime
    ) -> dict[str, Any]:
        """Mark a confirmed booking whose start has passed, or a called citizen who did not
        come to the counter, as a no-show. The units it has begun stay taken; the rest go to
        the waiting list first, as a cancellation's do. It no longer counts against the
        person's cap."""
        booking = await self._visible(session, access, booking_id)
        values: dict[str, Any] = {"no_show_at": now, "handled_by": access.principal.id}
        if booking.status == BookingStatus.called:
            no_show = await self._apply(session, booking_id, "call_unanswered", [], values)
        else:
            if booking.status == BookingStatus.confirmed and booking.starts_at > now:
                raise AppointmentNotBegun()
            no_show = await self._apply(
                session, booking_id, "mark_no_show", [Booking.starts_at <= now], values
            )
        await bookings.leave_quota(session, booking_id)
        await bookings.hand_back_after_no_show(session, no_show, now)
        return await self._visit(session, no_show)

    async def mark_no_shows_due(
        self, session: AsyncSession, now: datetime, settings: Settings
    ) -> int:
        """The job's work: confirmed bookings not checked in `no_show_after_minutes` after
        their start become no-shows, each by one guarded transition."""
        cutoff = now - timedelta(minutes=settings.no_show_after_minutes)
        marked = 0
        for booking_id in await bookings.no_show_due(session, cutoff, NO_SHOW_BATCH):
            try:
                no_show = await BOOKINGS.apply(
                    session,
                    booking_id,
                    "mark_no_show",
                    where=[Booking.starts_at <= cutoff],
                    values={"no_show_at": now},
                    summary={"automatic": True},
                )
            except AppError:
                continue  # checked in or cancelled meanwhile
            await bookings.leave_quota(session, booking_id)
            await bookings.hand_back_after_no_show(session, no_show, now)
            marked += 1
        return marked

    async def _visible(
        self, session: AsyncSession, access: BranchAccess, booking_id: uuid.UUID
    ) -> Booking:
        booking = await session.get(Booking, booking_id, populate_existing=True)
        if booking is None or not access.allows(booking.branch_id):
            raise BookingNotFound()
        return booking

    async def _apply(
        self,
        session: AsyncSession,
        booking_id: uuid.UUID,
        action: str,
        where: list[ColumnElement[bool]],
        values: dict[str, Any],
    ) -> Booking:
        """A guarded transition of a booking the caller has seen: a guard that fails is a
        conflict with the status it has now."""
        try:
            return await BOOKINGS.apply(session, booking_id, action, where=where, values=values)
        except BookingNotFound:
            status = await session.scalar(select(Booking.status).where(Booking.id == booking_id))
            if status is None:
                raise
            raise InvalidTransition(status, BOOKINGS.labels.get(status)) from None

    async def _check_counter(
        self, session: AsyncSession, branch_id: uuid.UUID, counter_id: uuid.UUID, *, pointer: str
    ) -> None:
        found = await session.scalar(
            select(Counter.id).where(
                Counter.id == counter_id, Counter.branch_id == branch_id, Counter.active.is_(True)
            )
        )
        if found is None:
            raise CounterNotAtBranch(pointer=pointer)

    async def _visit(self, session: AsyncSession, booking: Booking) -> dict[str, Any]:
        service = await session.get(AppointmentService, booking.service_id)
        assert service is not None  # a foreign key
        return visit_json(booking, service)


branch_day_service = BranchDayService()
