"""The walk-in budget of a day, without the database: the counters' open units that are not
online capacity, so the online calendar and the queue always add up to the open time."""

from __future__ import annotations

from datetime import UTC, date, datetime, time

from app.appointments.calendar import CounterPlan, DayRules, Period, day_capacity, day_walk_in_units

MONDAY = date(2027, 3, 22)
EASTER_MONDAY = date(2027, 3, 29)
MORNING = tuple(Period(d, time(8), time(12), date(2026, 1, 1), None) for d in range(7))


def rules(*counters: CounterPlan, closures: tuple[tuple[datetime, datetime], ...] = ()) -> DayRules:
    return DayRules(10, MORNING, counters, closures)


def test_each_counter_gives_walk_ins_the_share_not_open_online() -> None:
    day = rules(CounterPlan(50), CounterPlan(100), CounterPlan(0))

    assert day_walk_in_units(MONDAY, day) == 12 + 0 + 24
    assert sum(day_capacity(MONDAY, day).values()) == 12 + 24


def test_online_capacity_and_walk_in_budget_add_up_to_the_open_units_whatever_the_rounding() -> (
    None
):
    for shares in ((33,), (67, 33), (25, 25, 25), (1,), (99, 99), (50, 50, 51)):
        day = rules(*(CounterPlan(share) for share in shares))
        online = sum(day_capacity(MONDAY, day).values())

        assert online + day_walk_in_units(MONDAY, day) == 24 * len(shares), shares


def test_closures_take_their_time_from_the_walk_in_budget_too() -> None:
    nine, ten = datetime(2027, 3, 22, 8, tzinfo=UTC), datetime(2027, 3, 22, 9, tzinfo=UTC)
    counter_closed = rules(CounterPlan(50, ((nine, ten),)), CounterPlan(0))
    branch_closed = rules(CounterPlan(0), closures=((nine, ten),))

    assert day_walk_in_units(MONDAY, counter_closed) == 9 + 24
    assert day_walk_in_units(MONDAY, branch_closed) == 18


def test_a_public_holiday_has_no_walk_in_budget() -> None:
    assert day_walk_in_units(EASTER_MONDAY, rules(CounterPlan(0))) == 0
