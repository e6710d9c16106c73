"""Calendar arithmetic without the database: which slot units a branch has on a day, and how
many online bookings each can take.

Time is computed in Europe/Berlin and kept in UTC. A day's units are laid out on the real
(UTC) timeline from each opening to its closing, so on the last Sunday of March the hour
02:00–03:00 that does not exist has no units, and on the last Sunday of October the repeated
hour has each of its units once per real instant, never twice for one instant.

Online capacity per unit: a counter with an online share of s percent contributes s/100 of
each unit it is open (the branch open, neither the branch nor the counter closed). The exact
sum f(u) over the counters is turned into whole units by cumulative rounding over the day:
capacity(u) = round(F(u)) − round(F(u − 1)), where F is the running total of f from the day's
first unit and round is half up. So every unit gets ⌊f(u)⌋ or ⌈f(u)⌉ (never more than the
counters open), the day's total is round(Σ f), and the result depends on nothing but the
rules. Because identical counters are assigned at check-in, a unit with capacity k can take
any k overlapping bookings (interval graphs are perfect).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache

import holidays

from app.core.i18n import BERLIN as BERLIN  # the calendar's modules import it from here

HOLIDAY_SUBDIVISION = "NW"

Interval = tuple[datetime, datetime]


def local_instant(day: date, wall_time: time) -> datetime:
    """The UTC instant of a Berlin wall-clock time; a time skipped in March is read with the
    offset before the switch, i.e. one hour later in real time."""
    return datetime.combine(day, wall_time, tzinfo=BERLIN).astimezone(UTC)


def local_day(instant: datetime) -> date:
    return instant.astimezone(BERLIN).date()


def day_bounds(day: date) -> Interval:
    """The UTC instants of a Berlin day's first and next day's first moment."""
    return local_instant(day, time()), local_instant(day + timedelta(days=1), time())


def rfc3339(instant: datetime) -> str:
    """A Berlin time with its offset, e.g. `2027-03-29T08:00:00+02:00`."""
    return instant.astimezone(BERLIN).isoformat(timespec="seconds")


@lru_cache(maxsize=32)
def _holidays(year: int, language: str) -> holidays.HolidayBase:
    return holidays.country_holidays(
        "DE", subdiv=HOLIDAY_SUBDIVISION, years=year, language=language
    )


def holiday_name(day: date, language: str = "de") -> str | None:
    """The public holiday of North Rhine-Westphalia on `day`, if any, named in `language`."""
    name = _holidays(day.year, language).get(day)
    return str(name) if name else None


@dataclass(frozen=True, slots=True)
class Period:
    """One opening period of a weekday, valid between two dates (inclusive)."""

    weekday: int
    opens: time
    closes: time
    valid_from: date
    valid_until: date | None

    def applies_to(self, day: date) -> bool:
        return (
            self.weekday == day.weekday()
            and self.valid_from <= day
            and (self.valid_until is None or day <= self.valid_until)
        )


@dataclass(frozen=True, slots=True)
class CounterPlan:
    share_percent: int
    closures: tuple[Interval, ...] = ()


@dataclass(frozen=True, slots=True)
class DayRules:
    """Everything that decides one branch's capacity on one day."""

    unit_minutes: int
    periods: tuple[Period, ...]
    counters: tuple[CounterPlan, ...]
    branch_closures: tuple[Interval, ...] = ()


def unit_starts(day: date, periods: Iterable[Period], unit_minutes: int) -> list[datetime]:
    """The UTC starts of the day's units, in order, each once."""
    step = timedelta(minutes=unit_minutes)
    starts: set[datetime] = set()
    for period in periods:
        if not period.applies_to(day):
            continue
        start, end = local_instant(day, period.opens), local_instant(day, period.closes)
        while start + step <= end:
            starts.add(start)
            start += step
    return sorted(starts)


def _overlaps(intervals: Sequence[Interval], start: datetime, end: datetime) -> bool:
    return any(begin < end and start < finish for begin, finish in intervals)


def day_capacity(day: date, rules: DayRules) -> dict[datetime, int]:
    """Online capacity per unit start (UTC) of one branch on one day; units without any are
    left out. Public holidays have none."""
    if holiday_name(day) is not None:
        return {}
    step = timedelta(minutes=rules.unit_minutes)
    capacity: dict[datetime, int] = {}
    running_hundredths = 0
    rounded_so_far = 0
    for start in unit_starts(day, rules.periods, rules.unit_minutes):
        end = start + step
        if not _overlaps(rules.branch_closures, start, end):
            running_hundredths += sum(
                counter.share_percent
                for counter in rules.counters
                if not _overlaps(counter.closures, start, end)
            )
        rounded = (running_hundredths + 50) // 100
        if rounded > rounded_so_far:
            capacity[start] = rounded - rounded_so_far
        rounded_so_far = rounded
    return capacity


def day_walk_in_units(day: date, rules: DayRules) -> int:
    """The walk-in budget of one branch on one day, in slot units: the counters' open units
    (the branch open, neither it nor the counter closed) less the day's online capacity
    (`day_capacity`, whose total is the rounded sum of the online shares). So each counter
    gives walk-ins its `100 - online_share_percent` of the units it is open, and online
    capacity and walk-in budget add up to exactly the open units: they never disagree."""
    if holiday_name(day) is not None:
        return 0
    step = timedelta(minutes=rules.unit_minutes)
    open_units = 0
    for start in unit_starts(day, rules.periods, rules.unit_minutes):
        end = start + step
        if _overlaps(rules.branch_closures, start, end):
            continue
        open_units += sum(1 for c in rules.counters if not _overlaps(c.closures, start, end))
    return open_units - sum(day_capacity(day, rules).values())


def is_aligned(instant: datetime, unit_minutes: int) -> bool:
    """Whether `instant` can start a unit: units start on whole multiples of their length
    within the hour (the length divides 60, and Berlin's offsets are whole hours)."""
    return instant.second == 0 and instant.microsecond == 0 and instant.minute % unit_minutes == 0


def bookable_starts(
    free: Sequence[tuple[datetime, int]], units: int, unit_minutes: int
) -> list[datetime]:
    """The starts from which `units` consecutive units are all free.

    `free` is one branch's units with free capacity, ordered by start. One backward pass
    counts, for each unit, how many consecutive free units begin there.
    """
    if units == 1:
        return [start for start, _ in free]
    step = timedelta(minutes=unit_minutes)
    run = [0] * len(free)
    following = 0
    for index in range(len(free) - 1, -1, -1):
        start = free[index][0]
        adjacent = index + 1 < len(free) and free[index + 1][0] - start == step
        following = following + 1 if adjacent else 1
        run[index] = following
    return [free[i][0] for i in range(len(free)) if run[i] >= units]
