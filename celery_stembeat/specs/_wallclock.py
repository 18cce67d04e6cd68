"""Cron-style matching of local wall-clock times, mapped to UTC instants across DST.

:mod:`._cronmatch` finds the next matching *wall-clock* time (naive, pure calendar arithmetic);
this module turns wall-clock times into instants in a time zone, following ISC/Vixie cron:

* ``fixed`` schedules (the hour field names hours) fire once per matching wall-clock time:
  a time inside a spring-forward gap fires once, at the first instant after the gap; a time
  inside an autumn fold fires once, on its first pass.
* other schedules (hour ``*`` or ``*/n``) fire at every instant whose wall-clock time matches:
  times inside a gap do not exist and are skipped, times inside a fold fire on both passes.

A fixed-offset zone (``datetime.timezone``, which UTC is) has neither gaps nor folds: its
walls map to instants by subtracting the offset.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone, tzinfo

from celery_stembeat.specs._cronmatch import CronMatcher, compile_matcher
from celery_stembeat.specs._time import UTC

_SECOND = timedelta(seconds=1)
#: Longer than any UTC offset change in the tz database (Antarctica/Troll shifts 2 h).
_SHIFT_HORIZON = timedelta(hours=3)
#: How many wall-clock candidates a single search may examine before giving up.
_CANDIDATE_LIMIT = 1000


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
    """A cron expression evaluated in ``zone`` with the DST rule of this module."""

    expression: str
    zone: tzinfo
    day_or: bool
    seconds: bool
    fixed: bool
    matcher: CronMatcher = field(init=False, repr=False, compare=False)
    #: Whether the zone's offset never changes (a ``datetime.timezone``, as UTC is).
    constant: bool = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        matcher = compile_matcher(self.expression, self.day_or, self.seconds)
        object.__setattr__(self, "matcher", matcher)
        object.__setattr__(self, "constant", isinstance(self.zone, timezone))

    def next_after(self, after: datetime) -> datetime | None:
        """The first occurrence strictly after the aware UTC instant ``after``, or ``None``.

        Near the end of datetime this may raise OverflowError (``Spec.next_after`` maps it to
        ``None``).
        """
        local = after.astimezone(self.zone)
        if self.constant:
            wall = self.matcher.next_after(local, self.zone)
            return None if wall is None else wall.astimezone(UTC)
        offset = local.utcoffset()
        try:
            later = (after + _SHIFT_HORIZON).astimezone(self.zone).utcoffset()
        except OverflowError:  # the last hours of 9999: no zone changes its clocks on 31 December
            later = offset
        if offset is not None and later is not None and later < offset:
            return self._across_fold(after, offset, later)
        return self._scan(local, False, after)

    def _across_fold(self, after: datetime, offset: timedelta, later: timedelta) -> datetime | None:
        """``after`` lies shortly before the clocks go back: walls will repeat."""
        shift_at = _transition(self.zone, after, after + _SHIFT_HORIZON)
        first_pass_end = shift_at.replace(tzinfo=None) + offset
        wall = self.matcher.next_after(_wall(after, self.zone))
        if wall is None:
            return None
        if wall < first_pass_end:
            return (wall - offset).replace(tzinfo=UTC)
        resume = first_pass_end if self.fixed else shift_at.replace(tzinfo=None) + later
        return self._scan(resume, True, shift_at - timedelta(microseconds=1))

    def _scan(self, start: datetime, inclusive: bool, after: datetime) -> datetime | None:
        """Walk matching walls from ``start``; valid where walls map monotonically to instants.

        Only the wall-clock fields of ``start`` count, not its time zone or fold.
        """
        zone = self.zone
        wall = start - _SECOND if inclusive else start
        for _ in range(_CANDIDATE_LIMIT):
            found = self.matcher.next_after(wall, zone)
            if found is None:
                return None
            wall = found
            first = wall.astimezone(UTC)
            second = wall.replace(fold=1).astimezone(UTC)
            if first == second:
                if first > after:
                    return first
            elif first > second:  # the wall falls in a spring-forward gap
                gap_end = _transition(zone, second, first)
                if self.fixed and gap_end > after:
                    return gap_end
                wall = _wall(gap_end, zone) - _SECOND
            else:  # the wall repeats in an autumn fold
                if first > after:
                    return first
                if not self.fixed and second > after:
                    return second
                if self.fixed:
                    shift_at = _transition(zone, first, second)
                    first_pass_offset = first.astimezone(zone).utcoffset() or timedelta()
                    resume = shift_at.replace(tzinfo=None) + first_pass_offset
                    wall = resume - _SECOND
        return None


__all__ = ["WallClockSchedule"]
