"""The next wall-clock time a cron expression matches, walked over precomputed field sets.

croniter parses and validates the expression and expands each field into its values; this
module turns that expansion, once per expression, into sorted tuples (months, hours, minutes,
seconds) and day-of-month bitmasks, then finds the next match by walking month → day → hour →
minute → second with bisection. Times are wall-clock times, pure calendar arithmetic: a time
zone is only attached to the result.

The day rule is croniter's: when both day fields are restricted and ``day_or`` is set, a day
matches either one (Vixie cron's OR); otherwise it must match both, ``*`` matching every day.
"""

from __future__ import annotations

import functools
from bisect import bisect_left
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, tzinfo

from croniter import croniter

#: Days in each month of a common year; index 0 is unused.
_MONTH_DAYS = (0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
#: Every length a month can have: February has 29 days in leap years.
_MONTH_LENGTHS = tuple(
    (28, 29) if month == 2 else (days,) for month, days in enumerate(_MONTH_DAYS)
)
_LAST_YEAR = 9999


def _day_index(month_days: int, first_weekday: int) -> int:
    """Where a month of ``month_days`` days whose 1st is ``first_weekday`` (0 = Sunday) sits."""
    return (month_days - 28) * 7 + first_weekday


@dataclass(frozen=True, slots=True)
class CronMatcher:
    """A compiled cron expression: the values each field accepts, ready to search."""

    months: tuple[int, ...]
    hours: tuple[int, ...]
    minutes: tuple[int, ...]
    #: ``(0,)`` for a five-field expression.
    seconds: tuple[int, ...]
    #: Whether the expression has a seconds field (its times step by seconds, not minutes).
    has_seconds: bool
    #: The matching days of a month as a bitmask (bit d for day d), by :func:`_day_index`.
    day_masks: tuple[int, ...]
    #: Whether the matching days depend on the weekday the month starts on.
    by_weekday: bool
    #: Whether no date in any year can match (e.g. 30 February).
    never: bool

    def next_after(self, wall: datetime, zone: tzinfo | None = None) -> datetime | None:
        """The first matching wall-clock time strictly after ``wall``'s, in ``zone``.

        Only the wall-clock fields of ``wall`` are read (not its time zone or fold); the result
        is a fresh datetime (``fold=0``) with tzinfo ``zone``, or ``None`` past year 9999.
        """
        if self.never:
            return None
        year, month, day, hour, minute = wall.year, wall.month, wall.day, wall.hour, wall.minute
        if self.has_seconds:
            second = wall.second + 1
        else:
            minute, second = minute + 1, 0
        months = self.months
        while year <= _LAST_YEAR:
            index = bisect_left(months, month)
            if index == len(months):
                year, month, day, hour, minute, second = year + 1, months[0], 1, 0, 0, 0
                continue
            if months[index] != month:
                month, day, hour, minute, second = months[index], 1, 0, 0, 0
            days = self._days(year, month) >> day
            if days & 1:
                found = self._time_from(hour, minute, second)
                if found is not None:
                    return datetime(year, month, day, *found, 0, zone)
            later = days >> 1
            if later:  # a later day of this month matches: its first time of day
                day += (later & -later).bit_length()
                first = self.hours[0], self.minutes[0], self.seconds[0]
                return datetime(year, month, day, *first, 0, zone)
            month, day, hour, minute, second = month + 1, 1, 0, 0, 0
        return None

    def _days(self, year: int, month: int) -> int:
        """The matching days of ``month`` in ``year`` as a bitmask."""
        month_days = _MONTH_DAYS[month]
        if month == 2 and year % 4 == 0 and (year % 100 != 0 or year % 400 == 0):
            month_days = 29
        # date.toordinal() is 1 on Monday 1 January of year 1, so modulo 7 it is cron's weekday.
        first_weekday = date(year, month, 1).toordinal() % 7 if self.by_weekday else 0
        return self.day_masks[_day_index(month_days, first_weekday)]

    def _time_from(self, hour: int, minute: int, second: int) -> tuple[int, int, int] | None:
        """The first matching time of day at or after the given one (minute or second may be 60)."""
        hours, minutes, seconds = self.hours, self.minutes, self.seconds
        at_hour = bisect_left(hours, hour)
        if at_hour < len(hours) and hours[at_hour] == hour:
            at_minute = bisect_left(minutes, minute)
            if at_minute < len(minutes) and minutes[at_minute] == minute:
                at_second = bisect_left(seconds, second)
                if at_second < len(seconds):
                    return hour, minute, seconds[at_second]
                at_minute += 1
            if at_minute < len(minutes):
                return hour, minutes[at_minute], seconds[0]
            at_hour += 1
        if at_hour < len(hours):
            return hours[at_hour], minutes[0], seconds[0]
        return None


def _number(value: object) -> int:
    """An int from croniter's expansion (typed loosely by its stubs)."""
    if not isinstance(value, int):
        raise ValueError(f"unexpected value {value!r} in croniter's expansion")
    return value


def _values(field: Iterable[object], low: int, high: int) -> tuple[int, ...]:
    """A field's values in order; a ``*`` among them means every value from low to high."""
    items = list(field)
    if "*" in items:
        return tuple(range(low, high + 1))
    return tuple(sorted({_number(item) for item in items}))


def _weekday_days(weekdays: frozenset[int], first_weekday: int, month_days: int) -> int:
    """The days of the month falling on one of ``weekdays``, as a bitmask."""
    mask = 0
    for day in range(1, month_days + 1):
        if (first_weekday + day - 1) % 7 in weekdays:
            mask |= 1 << day
    return mask


def _nth_days(nth: Mapping[int, Iterable[object]], first_weekday: int, month_days: int) -> int:
    """The days named by ``#n`` (nth weekday) and ``L<n>`` (last weekday) items, as a bitmask."""
    mask = 0
    for weekday, which in nth.items():
        days = range(1 + (weekday - first_weekday) % 7, month_days + 1, 7)
        for ordinal in which:
            if ordinal == "l":
                mask |= 1 << days[-1]
            elif (nth_week := _number(ordinal)) <= len(days):
                mask |= 1 << days[nth_week - 1]
    return mask


def _day_masks(parsed: croniter, day_or: bool) -> tuple[int, ...]:
    """Every month's matching days, for each month length and weekday of the 1st."""
    day_field, weekday_field = list(parsed.expanded[2]), list(parsed.expanded[4])
    nth = parsed.nth_weekday_of_month
    any_day = "*" in day_field
    any_weekday = "*" in weekday_field and not nth
    if nth and not any_day:
        raise ValueError("'#' and 'L' weekdays are not supported with a restricted day of month")
    last = "l" in day_field
    listed = sum(1 << _number(day) for day in day_field if day not in ("*", "l"))
    weekdays = frozenset(_number(day) for day in weekday_field if day != "*")
    either = day_or and not any_day and not any_weekday
    masks = []
    for month_days in range(28, 32):
        whole = (1 << (month_days + 1)) - 2
        for first_weekday in range(7):
            days = whole if any_day else (listed | (1 << month_days if last else 0)) & whole
            if nth:
                week = _nth_days(nth, first_weekday, month_days)
            else:
                week = whole if any_weekday else _weekday_days(weekdays, first_weekday, month_days)
            masks.append(days | week if either else days & week)
    return tuple(masks)


@functools.lru_cache(maxsize=4096)
def compile_matcher(expression: str, day_or: bool, seconds: bool) -> CronMatcher:
    """Parse ``expression`` with croniter (its errors propagate) and compile its fields."""
    parsed = croniter(expression, datetime(2000, 1, 1), day_or=day_or, second_at_beginning=seconds)
    if parsed.nearest_weekday or len(parsed.expanded) != (6 if seconds else 5):
        raise ValueError("only five fields, or six with seconds, and no 'W' days are supported")
    minutes, hours, _, months, _, *second_field = parsed.expanded
    day_masks = _day_masks(parsed, day_or)
    month_values = _values(months, 1, 12)
    # Every month length meets every weekday of the 1st within 400 years (the Gregorian cycle).
    never = not any(
        day_masks[_day_index(month_days, first_weekday)]
        for month in month_values
        for month_days in _MONTH_LENGTHS[month]
        for first_weekday in range(7)
    )
    return CronMatcher(
        months=month_values,
        hours=_values(hours, 0, 23),
        minutes=_values(minutes, 0, 59),
        seconds=_values(second_field[0], 0, 59) if seconds else (0,),
        has_seconds=seconds,
        day_masks=day_masks,
        by_weekday=any(len(set(day_masks[i : i + 7])) > 1 for i in range(0, len(day_masks), 7)),
        never=never,
    )


__all__ = ["CronMatcher", "compile_matcher"]
