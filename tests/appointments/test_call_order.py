"""The call rule on its own, without a database: whom "call next" offers a counter first."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from app.appointments.call_order import CallRule, QueueEntry, QueueGroup, QueueKind, call_order

NINE = datetime(2027, 3, 22, 8, 0, tzinfo=UTC)  # 9:00 in Berlin
RULE = CallRule(early_minutes=5, late_minutes=5)
COUNTER = uuid.uuid4()
OTHER_COUNTER = uuid.uuid4()


def minutes(n: float) -> timedelta:
    return timedelta(minutes=n)


def appointment(
    start: datetime, checked_in: datetime, counter_id: uuid.UUID | None = None
) -> QueueEntry:
    return QueueEntry(
        QueueKind.appointment, uuid.uuid4(), checked_in, starts_at=start, counter_id=counter_id
    )


def ticket(number: int, drawn: datetime) -> QueueEntry:
    return QueueEntry(QueueKind.walk_in, uuid.uuid4(), drawn, ticket_number=number)


def test_an_appointment_in_its_window_goes_before_walk_ins_who_came_earlier() -> None:
    walk_in = ticket(1, NINE - minutes(40))
    booked = appointment(NINE, NINE - minutes(10))

    assert call_order([walk_in, booked], NINE, RULE) == [booked, walk_in]


def test_appointments_in_their_window_are_called_by_their_start() -> None:
    later = appointment(NINE + minutes(4), NINE - minutes(20))
    sooner = appointment(NINE, NINE - minutes(2))

    assert call_order([later, sooner], NINE, RULE) == [sooner, later]


def test_walk_ins_are_called_in_ticket_order_whatever_their_clocks_say() -> None:
    second = ticket(2, NINE - minutes(10))
    first = ticket(1, NINE - minutes(9))  # drawn a moment later by the clock, number 1
    third = ticket(3, NINE - minutes(1))

    assert call_order([third, second, first], NINE, RULE) == [first, second, third]


def test_an_appointment_waiting_past_its_start_keeps_its_place_before_walk_ins() -> None:
    walk_in = ticket(1, NINE - minutes(60))
    kept_waiting = appointment(NINE - minutes(30), NINE - minutes(35))

    assert kept_waiting.group(NINE, RULE) is QueueGroup.due
    assert call_order([walk_in, kept_waiting], NINE, RULE) == [kept_waiting, walk_in]


def test_a_late_appointment_queues_among_walk_ins_by_its_check_in() -> None:
    before = ticket(1, NINE - minutes(3))
    after = ticket(2, NINE + minutes(1))
    late = appointment(NINE - minutes(20), NINE)  # checked in 20 minutes after its start

    assert late.group(NINE, RULE) is QueueGroup.late
    assert call_order([after, late, before], NINE, RULE) == [before, late, after]


def test_a_check_in_within_the_late_minutes_is_not_late() -> None:
    walk_in = ticket(1, NINE - minutes(30))
    just_in_time = appointment(NINE - minutes(5), NINE)

    assert call_order([walk_in, just_in_time], NINE, RULE) == [just_in_time, walk_in]


def test_an_early_appointment_waits_for_its_window_while_others_wait() -> None:
    early = appointment(NINE + minutes(30), NINE - minutes(5))
    walk_in = ticket(1, NINE)

    assert early.group(NINE, RULE) is QueueGroup.early
    assert call_order([early, walk_in], NINE, RULE) == [walk_in, early]
    assert early.group(NINE + minutes(25), RULE) is QueueGroup.due
    assert call_order([early, walk_in], NINE + minutes(25), RULE) == [early, walk_in]


def test_an_idle_counter_calls_an_early_appointment_rather_than_nobody() -> None:
    early = appointment(NINE + minutes(45), NINE)

    assert call_order([early], NINE, RULE) == [early]


def test_an_appointment_sent_to_another_counter_is_left_to_it() -> None:
    theirs = appointment(NINE, NINE - minutes(5), counter_id=OTHER_COUNTER)
    mine = appointment(NINE + minutes(1), NINE - minutes(5), counter_id=COUNTER)
    anyone = appointment(NINE + minutes(2), NINE - minutes(5))
    walk_in = ticket(1, NINE - minutes(20))
    entries = [theirs, mine, anyone, walk_in]

    assert call_order(entries, NINE, RULE, COUNTER) == [mine, anyone, walk_in]
    assert call_order(entries, NINE, RULE, OTHER_COUNTER) == [theirs, anyone, walk_in]
    assert call_order(entries, NINE, RULE) == [theirs, mine, anyone, walk_in]


def test_the_whole_order_due_then_walk_ins_with_late_then_early() -> None:
    due = appointment(NINE, NINE - minutes(8))
    late = appointment(NINE - minutes(40), NINE - minutes(15))
    first, second = ticket(1, NINE - minutes(20)), ticket(2, NINE - minutes(10))
    early = appointment(NINE + minutes(20), NINE - minutes(1))

    order = call_order([early, second, late, first, due], NINE, RULE)

    assert order == [due, first, late, second, early]
    assert call_order([], NINE, RULE) == []
