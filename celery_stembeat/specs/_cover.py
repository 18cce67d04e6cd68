"""What a set of window rules read in one time zone covers, as stretches of instants.

An instant is covered when its local wall-clock time falls in a span a rule gives its local
date. Across a DST change the wall clock jumps: the searches here walk from span edge to span
edge in wall-clock time and stop at each change of UTC offset, so a span that a jump enters
or leaves mid-way is cut exactly where the clock says.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone, tzinfo

from celery_stembeat.specs._rules import Span, WindowRule
from celery_stembeat.specs._time import UTC
from celery_stembeat.specs._wallclock import _transition

_DAY = timedelta(days=1)


def _merge(spans: list[Span]) -> list[Span]:
    merged: list[Span] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


def _wall_of_day(local: datetime) -> int:
    """Microseconds since local midnight on the wall clock."""
    return ((local.hour * 60 + local.minute) * 60 + local.second) * 1_000_000 + local.microsecond


@dataclass(frozen=True)
class Cover:
    """The union of ``rules`` read in ``zone``."""

    zone: tzinfo
    rules: tuple[WindowRule, ...]
    _days: dict[date, list[Span]] = field(default_factory=dict, repr=False, compare=False)

    def spans(self, day: date) -> list[Span]:
        """The merged spans the rules cover on the local date ``day``."""
        found = self._days.get(day)
        if found is None:
            if len(self._days) > 4096:
                self._days.clear()
            found = _merge([span for rule in self.rules for span in rule.spans(day)])
            self._days[day] = found
        return found

    def _span_at(self, local: datetime) -> Span | None:
        at = _wall_of_day(local)
        for start, end in self.spans(local.date()):
            if start <= at < end:
                return start, end
        return None

    def covers(self, instant: datetime) -> bool:
        """Whether the rules cover ``instant``."""
        return self._span_at(instant.astimezone(self.zone)) is not None

    def _reach(self, instant: datetime, wall: datetime) -> datetime:
        """When the clock, now at ``instant``, shows ``wall`` (naive, later than now); or
        the first instant with another UTC offset, if the offset changes before that."""
        offset = instant.astimezone(self.zone).utcoffset() or timedelta()
        reached = (wall - offset).replace(tzinfo=UTC)
        if isinstance(self.zone, timezone) or reached.astimezone(self.zone).utcoffset() == offset:
            return reached
        return _transition(self.zone, instant, reached)

    def uncovered_from(self, instant: datetime, limit: datetime) -> datetime | None:
        """The first instant at or after ``instant`` the rules do not cover; ``None`` past
        ``limit``."""
        while True:
            local = instant.astimezone(self.zone)
            span = self._span_at(local)
            if span is None:
                return instant
            if instant > limit:
                return None
            midnight = datetime.combine(local.date(), time())
            instant = self._reach(instant, midnight + timedelta(microseconds=span[1]))

    def covered_from(self, instant: datetime, limit: datetime) -> datetime | None:
        """The first instant at or after ``instant`` the rules cover; ``None`` past ``limit``."""
        while True:
            local = instant.astimezone(self.zone)
            at = _wall_of_day(local)
            starts = [start for start, end in self.spans(local.date()) if end > at]
            if starts and starts[0] <= at:
                return instant
            if instant > limit:
                return None
            midnight = datetime.combine(local.date(), time())
            later = timedelta(microseconds=starts[0]) if starts else _DAY
            instant = self._reach(instant, midnight + later)


__all__ = ["Cover"]
