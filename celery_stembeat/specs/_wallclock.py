"""Cron-style matching of local wall-clock times, mapped to UTC instants across DST.

croniter finds the next matching *wall-clock* time (naive, pure calendar arithmetic); this
module turns wall-clock times into instants in a time zone, following ISC/Vixie cron:

* ``fixed`` schedules (the hour field names hours) fire once per matching wall-clock time:
  a time inside a spring-forward gap fires once, at the first instant after the gap; a time
  inside an autumn fold fires once, on its first pass.
* other schedules (hour ``*`` or ``*/n``) fire at every instant whose wall-clock time matches:
  times inside a gap do not exist and are skipped, times inside a fold fire on both passes.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo

from croniter import CroniterError, croniter

from celery_stembeat.specs._time import UTC

_SECOND = timedelta(seconds=1)
#: Longer than any UTC offset change in the tz database (Antarctica/Troll shifts 2 h).
_SHIFT_HORIZON = timedelta(hours=3)
#: How many wall-clock candidates a single search may examine before giving up.
_CANDIDATE_LIMIT = 1000


@functools.lru_cache(maxsize=4096)
def _template(expression: str, day_or: bool, seconds: bool) -> croniter:
    return croniter(
        expression,
        datetime(2000, 1, 1),
        day_or=day_or,
        second_at_beginning=seconds,
    )


def compile_expression(expression: str, day_or: bool, seconds: bool) -> None:
    """Let croniter parse ``expression``; raises croniter's own error when it cannot."""
    _template(expression, day_or, seconds)


def _transition(zone: tzinfo, before: datetime, after: datetime) -> datetime:
    """The first whole-second instant in ``(before, after]`` with ``after``'s UTC offset."""
    target = after.astimezone(zone).utcoffset()
    low = int(before.timestamp())
    high = int(after.timestamp()) + 1
    while high - low > 1:
        middle = (low + high) // 2
        probe = datetime.fromtimestamp(middle, UTC)
        if probe.astimezone(zone).utcoffset() == target:
            high = middle
        else:
            low = middle
    return datetime.fromtimestamp(high, UTC)


def _wall(instant: datetime, zone: tzinfo) -> datetime:
    return instant.astimezone(zone).replace(tzinfo=None, fold=0)


@dataclass(frozen=True)
class WallClockSchedule:
    """A croniter expression evaluated in ``zone`` with the DST rule of this module."""

    expression: str
    zone: tzinfo
    day_or: bool
    seconds: bool
    fixed: bool

    def _candidates(self, start: datetime, inclusive: bool) -> Callable[[], datetime]:
        cursor = copy.copy(_template(self.expression, self.day_or, self.seconds))
        cursor.set_current(start - _SECOND if inclusive else start, force=True)
        return lambda: cursor.get_next(datetime)

    def next_after(self, after: datetime) -> datetime | None:
        """The first occurrence strictly after the aware UTC instant ``after``, or ``None``.

        Near the end of datetime this may raise OverflowError (``Spec.next_after`` maps it to
        ``None``).
        """
        offset = after.astimezone(self.zone).utcoffset()
        try:
            later = (after + _SHIFT_HORIZON).astimezone(self.zone).utcoffset()
        except OverflowError:  # the last hours of 9999: no zone changes its clocks on 31 December
            later = offset
        try:
            if offset is not None and later is not None and later < offset:
                return self._across_fold(after, offset, later)
            return self._scan(_wall(after, self.zone), False, after)
        except ValueError:
            # croniter gave up (CroniterBadDateError), or built a date past year 9999 (datetime's
            # ValueError): either way there is no occurrence to return.
            return None

    def _across_fold(self, after: datetime, offset: timedelta, later: timedelta) -> datetime | None:
        """``after`` lies shortly before the clocks go back: walls will repeat."""
        shift_at = _transition(self.zone, after, after + _SHIFT_HORIZON)
        first_pass_end = shift_at.replace(tzinfo=None) + offset
        wall = self._candidates(_wall(after, self.zone), False)()
        if wall < first_pass_end:
            return (wall - offset).replace(tzinfo=UTC)
        resume = first_pass_end if self.fixed else shift_at.replace(tzinfo=None) + later
        return self._scan(resume, True, shift_at - timedelta(microseconds=1))

    def _scan(self, start: datetime, inclusive: bool, after: datetime) -> datetime | None:
        """Walk matching walls from ``start``; valid where walls map monotonically to instants."""
        candidate = self._candidates(start, inclusive)
        for _ in range(_CANDIDATE_LIMIT):
            wall = candidate()
            first = wall.replace(tzinfo=self.zone, fold=0).astimezone(UTC)
            second = wall.replace(tzinfo=self.zone, fold=1).astimezone(UTC)
            if first == second:
                if first > after:
                    return first
            elif first > second:  # the wall falls in a spring-forward gap
                gap_end = _transition(self.zone, second, first)
                if self.fixed and gap_end > after:
                    return gap_end
                candidate = self._candidates(_wall(gap_end, self.zone), True)
            else:  # the wall repeats in an autumn fold
                if first > after:
                    return first
                if not self.fixed and second > after:
                    return second
                if self.fixed:
                    shift_at = _transition(self.zone, first, second)
                    first_pass_offset = first.astimezone(self.zone).utcoffset() or timedelta()
                    resume = shift_at.replace(tzinfo=None) + first_pass_offset
                    candidate = self._candidates(resume, True)
        return None


__all__ = ["CroniterError", "WallClockSchedule", "compile_expression"]
