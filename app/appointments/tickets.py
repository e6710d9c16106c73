"""Walk-in tickets and the day's walk-in budget they draw on: the ticket's state machine,
the guarded claim that takes a ticket's units and its number at once, and the invariant
that ties budgets and tickets together."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from typing import Any

from sqlalchemy import and_, case, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from app.appointments.errors import TicketNotFound
from app.appointments.models import WalkInBudget, WalkInTicket
from app.core.i18n import Text
from app.core.state_machine import StateMachine, Transition

TICKET_PREFIX = "W"
"""Call numbers of walk-in tickets (`W001`, …); appointments' are `A…`, so the two series
never collide."""


def ticket_call_number(number: int) -> str:
    return f"{TICKET_PREFIX}{number:03d}"


class TicketStatus(StrEnum):
    waiting = "waiting"
    called = "called"
    completed = "completed"
    no_show = "no_show"
    cancelled = "cancelled"


BUDGET_STATUSES = (
    TicketStatus.waiting,
    TicketStatus.called,
    TicketStatus.completed,
    TicketStatus.no_show,
)
"""The statuses in which a ticket counts in `used` of its day's walk-in budget: only a
ticket cancelled before its call gives its units back."""

TICKETS = StateMachine(
    "walk_in_ticket",
    WalkInTicket,
    [
        Transition.of("call", [TicketStatus.waiting], TicketStatus.called),
        Transition.of("recall", [TicketStatus.called], TicketStatus.called),
        Transition.of("complete", [TicketStatus.called], TicketStatus.completed),
        Transition.of("mark_no_show", [TicketStatus.called], TicketStatus.no_show),
        Transition.of("cancel", [TicketStatus.waiting], TicketStatus.cancelled),
    ],
    not_found=TicketNotFound,
    initial=TicketStatus.waiting,
    labels={
        TicketStatus.waiting: Text(de="wartet", en="waiting"),
        TicketStatus.called: Text(de="aufgerufen", en="called"),
        TicketStatus.completed: Text(de="erledigt", en="completed"),
        TicketStatus.no_show: Text(de="nicht erschienen", en="no-show"),
        TicketStatus.cancelled: Text(de="storniert", en="cancelled"),
    },
)


@dataclass
class WalkInInvariantReport:
    """Budgets whose `used` is not the sum of their tickets' units, or above `capacity`, and
    days whose ticket numbers are not 1, 2, … `last_number`; all empty when they agree."""

    miscounted: list[tuple[uuid.UUID, date, int, int]] = field(default_factory=list)
    over_capacity: list[tuple[uuid.UUID, date]] = field(default_factory=list)
    misnumbered: list[tuple[uuid.UUID, date]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.miscounted or self.over_capacity or self.misnumbered)


def _upsert(session: AsyncSession) -> Any:
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    return insert(WalkInBudget)


class WalkInBudgets:
    async def claim(
        self, session: AsyncSession, branch_id: uuid.UUID, day: date, capacity: int, units: int
    ) -> int | None:
        """Take `units` of the day's walk-in budget and the day's next ticket number, or
        None when the budget has not that many left.

        First the budget is brought in line with `capacity`, the current rules' (never
        below what drawn tickets use), then one guarded `UPDATE … WHERE used + n <=
        capacity` claims: of two kiosks drawing at the same moment, the second waits for
        the first's row lock and then sees what it left."""
        await session.execute(
            _upsert(session)
            .values(branch_id=branch_id, day=day, capacity=capacity, used=0, last_number=0)
            .on_conflict_do_update(
                index_elements=[WalkInBudget.branch_id, WalkInBudget.day],
                set_={
                    "capacity": case(
                        (WalkInBudget.used > capacity, WalkInBudget.used), else_=capacity
                    )
                },
            )
        )
        return await session.scalar(
            update(WalkInBudget)
            .where(
                WalkInBudget.branch_id == branch_id,
                WalkInBudget.day == day,
                WalkInBudget.used + units <= WalkInBudget.capacity,
            )
            .values(used=WalkInBudget.used + units, last_number=WalkInBudget.last_number + 1)
            .returning(WalkInBudget.last_number)
            .execution_options(synchronize_session=False)
        )

    async def turn_away(self, session: AsyncSession, branch_id: uuid.UUID, day: date) -> None:
        """Count a refused ticket (the budget row exists: `claim` made it)."""
        await session.execute(
            update(WalkInBudget)
            .where(WalkInBudget.branch_id == branch_id, WalkInBudget.day == day)
            .values(turned_away=WalkInBudget.turned_away + 1)
            .execution_options(synchronize_session=False)
        )

    async def give_back(
        self, session: AsyncSession, branch_id: uuid.UUID, day: date, units: int
    ) -> None:
        await session.execute(
            update(WalkInBudget)
            .where(WalkInBudget.branch_id == branch_id, WalkInBudget.day == day)
            .values(used=WalkInBudget.used - units)
            .execution_options(synchronize_session=False)
        )

    async def of_day(
        self, session: AsyncSession, branch_id: uuid.UUID, day: date
    ) -> WalkInBudget | None:
        return await session.get(WalkInBudget, (branch_id, day), populate_existing=True)

    async def invariant_report(self, session: AsyncSession) -> WalkInInvariantReport:
        report = WalkInInvariantReport()
        over = await session.execute(
            select(WalkInBudget.branch_id, WalkInBudget.day).where(
                (WalkInBudget.used > WalkInBudget.capacity) | (WalkInBudget.used < 0)
            )
        )
        report.over_capacity = [(b, d) for b, d in over]
        ticket_of_budget = and_(
            WalkInTicket.branch_id == WalkInBudget.branch_id, WalkInTicket.day == WalkInBudget.day
        )
        claimed = (
            select(func.coalesce(func.sum(WalkInTicket.units), 0))
            .where(ticket_of_budget, WalkInTicket.status.in_(BUDGET_STATUSES))
            .scalar_subquery()
        )
        miscounted = await session.execute(
            select(WalkInBudget.branch_id, WalkInBudget.day, WalkInBudget.used, claimed).where(
                WalkInBudget.used != claimed
            )
        )
        report.miscounted = [(b, d, used, count) for b, d, used, count in miscounted]
        numbers = await session.execute(
            select(
                WalkInTicket.branch_id,
                WalkInTicket.day,
                func.count(WalkInTicket.id),
                func.count(func.distinct(WalkInTicket.number)),
                func.max(WalkInTicket.number),
            ).group_by(WalkInTicket.branch_id, WalkInTicket.day)
        )
        drawn = {(b, d): (count, distinct, highest) for b, d, count, distinct, highest in numbers}
        budgets = await session.execute(
            select(WalkInBudget.branch_id, WalkInBudget.day, WalkInBudget.last_number)
        )
        for branch_id, day, last_number in budgets:
            count, distinct, highest = drawn.pop((branch_id, day), (0, 0, 0))
            if not count == distinct == highest == last_number:
                report.misnumbered.append((branch_id, day))
        report.misnumbered += list(drawn)  # tickets of a day without a budget
        return report


walk_in_budgets = WalkInBudgets()
