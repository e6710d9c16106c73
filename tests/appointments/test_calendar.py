"""The calendar arithmetic on its own: units across the DST switches, online capacity from
counter shares, and runs of free units."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise

from app.appointments.calendar import (
    CounterPlan,
    DayRules,
    Period,
    bookable_starts,
    day_capacity,
    rfc3339,
    unit_starts,
)

SPRING_FORWARD = date(2027, 3, 28)
FALL_BACK = date(2027, 10, 31)
NIGHT = (Period(6, time(1), time(4), date(2027, 1, 1), None),)


def test_the_hour_skipped_in_march_has_no_units() -> None:
    starts = [rfc3339(s) for s in unit_starts(SPRING_FORWARD, NIGHT, 10)]

    assert len(starts) == 12
    assert starts[0] == "2027-03-28T01:00:00+01:00"
    assert starts[5] == "2027-03-28T01:50:00+01:00"
    assert starts[6] == "2027-03-28T03:00:00+02:00"
    assert not [s for s in starts if s.startswith("2027-03-28T02:")]


def test_the_hour_repeated_in_october_counts_once_per_real_instant() -> None:
    starts = unit_starts(FALL_BACK, NIGHT, 10)
    shown = [rfc3339(s) for s in starts]

    assert len(starts) == len(set(starts)) == 24
    assert "2027-10-31T02:00:00+02:00" in shown
    assert "2027-10-31T02:00:00+01:00" in shown
    assert shown.index("2027-10-31T02:50:00+02:00") + 1 == shown.index("2027-10-31T02:00:00+01:00")
    assert all(b - a == timedelta(minutes=10) for a, b in pairwise(starts))


def test_fractional_counter_shares_add_up_to_the_days_total() -> None:
    day = date(2027, 4, 5)
    periods = (Period(0, time(8), time(12), date(2027, 1, 1), None),)
    rules = DayRules(10, periods, (CounterPlan(60), CounterPlan(75), CounterPlan(50)))

    capacity = day_capacity(day, rules)

    # 24 units at 1.85 counters each: 44.4, rounded 44, each unit 1 or 2 and never 3.
    assert sum(capacity.values()) == 44
    assert set(capacity.values()) == {1, 2}
    assert capacity == day_capacity(day, rules)


def test_a_closed_counter_gives_no_capacity_while_it_is_closed() -> None:
    day = date(2027, 4, 6)
    periods = (Period(1, time(8), time(10), date(2027, 1, 1), None),)
    closed = (datetime(2027, 4, 6, 6, 0, tzinfo=UTC), datetime(2027, 4, 6, 7, 0, tzinfo=UTC))
    rules = DayRules(10, periods, (CounterPlan(100), CounterPlan(100, (closed,))))

    capacity = day_capacity(day, rules)

    assert [capacity[s] for s in sorted(capacity)] == [1] * 6 + [2] * 6


def test_public_holidays_of_nrw_have_no_capacity() -> None:
    easter_monday = date(2027, 3, 29)
    periods = (Period(0, time(8), time(12), date(2027, 1, 1), None),)

    assert day_capacity(easter_monday, DayRules(10, periods, (CounterPlan(100),))) == {}


def test_a_start_is_bookable_only_where_enough_consecutive_units_are_free() -> None:
    base = datetime(2027, 4, 5, 6, 0, tzinfo=UTC)
    minutes = [0, 10, 20, 40, 50, 70]
    free = [(base + timedelta(minutes=m), 1) for m in minutes]

    starts = bookable_starts(free, 2, 10)

    assert [int((s - base).total_seconds() // 60) for s in starts] == [0, 10, 40]
