"""Who is called next to a counter: the one rule of the branch's queue, without the database.

The queue holds the day's checked-in appointments and waiting walk-in tickets. `call_order`
puts them in the order in which "call next" offers them to a counter:

1. **Appointments in their window**, by their start (then by check-in). An appointment is in
   its window from `early_minutes` before its start on (`RATHAUS_QUEUE_EARLY_MINUTES`,
   default 5), provided its citizen checked in no later than `late_minutes` after the start
   (`RATHAUS_QUEUE_LATE_MINUTES`, default 5). Waiting past the start because the counters
   are busy never costs an appointment its place.
2. **Walk-in tickets, in ticket order, and late appointments among them.** An appointment
   checked in more than `late_minutes` after its start lost its slot: it queues as if its
   citizen had drawn a ticket at check-in, i.e. before every ticket drawn later.
3. **Early appointments** (more than `early_minutes` before their start), by their start,
   only when nobody else waits: a counter with nothing else to do serves them rather than
   stand idle, and nobody waiting for their turn is passed over.

An appointment sent to another counter at check-in is not offered to this one; one sent to
this counter, or to none, is.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum


class QueueKind(StrEnum):
    appointment = "appointment"
    walk_in = "walk_in"


class QueueGroup(StrEnum):
    """Where an entry stands by the rule, in the order the groups are called."""

    due = "due"
    walk_in = "walk_in"
    late = "late"
    early = "early"


@dataclass(frozen=True, slots=True)
class CallRule:
    early_minutes: int
    late_minutes: int


@dataclass(frozen=True, slots=True)
class QueueEntry:
    """One citizen waiting: a checked-in appointment or a waiting walk-in ticket.

    `arrived_at` is the check-in or the moment the ticket was drawn; `ticket_number` orders
    tickets; `starts_at` and `counter_id` are an appointment's start and the counter it was
    sent to at check-in, if any.
    """

    kind: QueueKind
    id: uuid.UUID
    arrived_at: datetime
    ticket_number: int = 0
    starts_at: datetime | None = None
    counter_id: uuid.UUID | None = None

    def group(self, now: datetime, rule: CallRule) -> QueueGroup:
        if self.kind is QueueKind.walk_in or self.starts_at is None:
            return QueueGroup.walk_in
        if self.arrived_at > self.starts_at + timedelta(minutes=rule.late_minutes):
            return QueueGroup.late
        if now < self.starts_at - timedelta(minutes=rule.early_minutes):
            return QueueGroup.early
        return QueueGroup.due


def call_order(
    entries: Iterable[QueueEntry],
    now: datetime,
    rule: CallRule,
    counter_id: uuid.UUID | None = None,
) -> list[QueueEntry]:
    """The entries in the order "call next" offers them to `counter_id` at `now` (see the
    module's docstring); with no counter, everybody's order, as the waiting room sees it."""
    groups: dict[QueueGroup, list[QueueEntry]] = {group: [] for group in QueueGroup}
    for entry in entries:
        if counter_id is not None and entry.counter_id not in (None, counter_id):
            continue
        groups[entry.group(now, rule)].append(entry)
    due = sorted(groups[QueueGroup.due], key=_by_start)
    tickets = sorted(groups[QueueGroup.walk_in], key=lambda e: (e.ticket_number, e.id))
    late = sorted(groups[QueueGroup.late], key=lambda e: (e.arrived_at, e.id))
    early = sorted(groups[QueueGroup.early], key=_by_start)
    return [*due, *_merge_by_arrival(tickets, late), *early]


def _by_start(entry: QueueEntry) -> tuple[datetime, datetime, uuid.UUID]:
    assert entry.starts_at is not None  # appointments only
    return entry.starts_at, entry.arrived_at, entry.id


def _merge_by_arrival(tickets: list[QueueEntry], late: list[QueueEntry]) -> Iterator[QueueEntry]:
    """Tickets keep their order; a late appointment goes before the first ticket drawn after
    its check-in."""
    remaining = iter(late)
    pending = next(remaining, None)
    for ticket in tickets:
        while pending is not None and pending.arrived_at < ticket.arrived_at:
            yield pending
            pending = next(remaining, None)
        yield ticket
    if pending is not None:
        yield pending
        yield from remaining
