"""Blackout windows: any spec with ``except`` and ``only`` rules that skip some occurrences.

An occurrence of the inner spec that an ``except`` rule covers, or that no ``only`` rule
covers, is skipped: :meth:`WindowedSpec.next_after` gives the next allowed one. The search
jumps over whole excluded stretches (it asks the inner spec for its first occurrence at the
end of one), and gives up, answering ``None``, when every occurrence in the :data:`HORIZON`
that starts at the inner spec's next occurrence is excluded.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from typing import Any, ClassVar

from celery_stembeat.limits import shorten
from celery_stembeat.specs._cover import Cover
from celery_stembeat.specs._rules import WindowRule, parse_rules
from celery_stembeat.specs._time import UTC, load_zone
from celery_stembeat.specs.base import Spec
from celery_stembeat.specs.calendar import CalendarSpec
from celery_stembeat.specs.cron import CronSpec
from celery_stembeat.specs.errors import SpecError
from celery_stembeat.specs.interval import IntervalSpec

#: How far past the inner spec's next occurrence the search for an allowed one goes: 10 years.
HORIZON = timedelta(days=3653)
#: The spec dict keys that hold window rules.
WINDOW_KEYS = ("except", "only")
_HAIR = timedelta(microseconds=1)


def unwrap(spec: Spec) -> Spec:
    """The spec whose occurrences ``spec`` filters (``spec`` itself when it has no windows)."""
    return spec.inner if isinstance(spec, WindowedSpec) else spec


def spec_zone(spec: Spec) -> str:
    """The zone a spec is read in, and its rules without a zone: its own for cron and
    calendar specs, UTC for the others."""
    spec = unwrap(spec)
    return spec.timezone if isinstance(spec, (CronSpec, CalendarSpec)) else "UTC"


def _covers(rules: Iterable[WindowRule], zone: str) -> tuple[Cover, ...]:
    """The rules grouped by the zone each is read in."""
    by_zone: dict[str, list[WindowRule]] = {}
    for rule in rules:
        by_zone.setdefault(rule.timezone or zone, []).append(rule)
    return tuple(Cover(load_zone(name), tuple(group)) for name, group in sorted(by_zone.items()))


@dataclass(frozen=True)
class WindowedSpec(Spec):
    """``inner``'s occurrences, less those ``exclude`` covers and those ``only`` does not."""

    inner: Spec
    exclude: tuple[WindowRule, ...] = ()
    only: tuple[WindowRule, ...] = ()

    kind: ClassVar[str] = "windows"

    def __post_init__(self) -> None:
        if not isinstance(self.inner, Spec) or isinstance(self.inner, WindowedSpec):
            raise SpecError(f"windows: {shorten(self.inner)} is not a spec without windows")
        exclude = parse_rules(self.exclude, "except") if self.exclude != () else ()
        only = parse_rules(self.only, "only") if self.only != () else ()
        if not exclude and not only:
            raise SpecError("windows: give 'except' or 'only' rules", "except")
        object.__setattr__(self, "exclude", exclude)
        object.__setattr__(self, "only", only)
        zone = spec_zone(self.inner)
        object.__setattr__(self, "_excluded", _covers(exclude, zone))
        object.__setattr__(self, "_allowed", _covers(only, zone))

    @property
    def run_once(self) -> bool:  # type: ignore[override]
        """Whether the inner spec runs once (a clocked spec)."""
        return self.inner.run_once

    def _next_after(self, after: datetime) -> datetime | None:
        candidate = self.inner.next_after(after)
        if candidate is None:
            return None
        try:
            limit = candidate + HORIZON
        except OverflowError:
            limit = datetime.max.replace(tzinfo=UTC)
        walk = _Walk(self.__dict__["_excluded"], self.__dict__["_allowed"], limit)
        while candidate is not None:
            allowed = walk.allowed_from(candidate)
            if allowed is None or allowed == candidate:
                return allowed
            candidate = self._inner_from(allowed, after)
        return None

    def _inner_from(self, instant: datetime, after: datetime) -> datetime | None:
        """The inner spec's first occurrence at or after ``instant``, in the sequence that
        starts after ``after``."""
        inner = self.inner
        if isinstance(inner, IntervalSpec) and inner.start_at is None:
            # Its occurrences count periods from `after`, not from the instant asked about.
            found = after - ((after - instant) // inner.period) * inner.period
            return None if inner.end_at is not None and found > inner.end_at else found
        return inner.next_after(instant - _HAIR)

    def to_dict(self) -> dict[str, Any]:
        data = self.inner.to_dict()
        if self.exclude:
            data["except"] = [rule.to_value() for rule in self.exclude]
        if self.only:
            data["only"] = [rule.to_value() for rule in self.only]
        return data

    def describe(self) -> str:
        text = self.inner.describe()
        for name, rules in (("except", self.exclude), ("only", self.only)):
            if rules:
                text += f" {name} " + ", ".join(rule.describe() for rule in rules)
        return text

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Spec:
        """Build from the dict form: an inner spec's dict with ``except`` and/or ``only``."""
        from celery_stembeat.specs.parse import parse_spec

        return parse_spec(data)


class _Walk:
    """One search over the rules, from one instant on to ``limit``.

    The search only moves forward, so each cover's last answer is kept: an answer found from
    ``start`` holds for every instant from ``start`` up to it (a stretch with nothing to skip
    is walked once per search, not once per inner occurrence).
    """

    def __init__(
        self, excluded: tuple[Cover, ...], allowed: tuple[Cover, ...], limit: datetime
    ) -> None:
        self.excluded = excluded
        self.allowed = allowed
        self.limit = limit
        self._known: dict[tuple[bool, int], tuple[datetime, datetime | None]] = {}

    def _ask(self, cover: Cover, index: int, uncovered: bool, instant: datetime) -> datetime | None:
        known = self._known.get((uncovered, index))
        if known is not None:
            start, found = known
            if start <= instant <= (self.limit if found is None else found):
                return found
        method = cover.uncovered_from if uncovered else cover.covered_from
        found = method(instant, self.limit)
        self._known[uncovered, index] = (instant, found)
        return found

    def allowed_from(self, instant: datetime) -> datetime | None:
        """The first instant at or after ``instant`` the rules allow; ``None`` past the limit."""
        while True:
            moved: datetime | None = instant
            for index, cover in enumerate(self.excluded):
                assert moved is not None
                moved = self._ask(cover, index, True, moved)
                if moved is None:
                    return None
            assert moved is not None
            if self.allowed and not any(cover.covers(moved) for cover in self.allowed):
                starts = [
                    self._ask(cover, index, False, moved)
                    for index, cover in enumerate(self.allowed)
                ]
                moved = min((start for start in starts if start is not None), default=None)
                if moved is None:
                    return None
            if moved == instant:
                return instant
            instant = moved


def calendar_names(spec: Spec) -> frozenset[str]:
    """The holiday calendars the rules of ``spec`` name."""
    if not isinstance(spec, WindowedSpec):
        return frozenset()
    rules = (*spec.exclude, *spec.only)
    return frozenset(rule.calendar for rule in rules if rule.calendar is not None)


def bind_calendars(spec: Spec, calendars: Mapping[str, Collection[date]]) -> Spec:
    """``spec`` with the dates of each holiday calendar its rules name (``calendars``: name →
    dates) in those rules; an unknown name is a :class:`SpecError` naming the rule."""
    if not calendar_names(spec):
        return spec
    assert isinstance(spec, WindowedSpec)
    lists = []
    for where, rules in (("except", spec.exclude), ("only", spec.only)):
        bound = []
        for index, rule in enumerate(rules):
            if rule.calendar is not None:
                days = calendars.get(rule.calendar)
                if days is None:
                    raise SpecError(
                        f"{where}[{index}]: unknown calendar {shorten(rule.calendar)}", where
                    )
                rule = replace(rule, dates=tuple(sorted(set(days))))
            bound.append(rule)
        lists.append(tuple(bound))
    return WindowedSpec(spec.inner, *lists)


def with_windows(inner: Spec, data: Mapping[str, Any]) -> Spec:
    """``inner`` with the rules of ``data``'s ``except`` and ``only`` keys, if it has any."""
    exclude, only = data.get("except"), data.get("only")
    if exclude is None and only is None:
        return inner
    return WindowedSpec(inner, () if exclude is None else exclude, () if only is None else only)


__all__ = [
    "HORIZON",
    "WINDOW_KEYS",
    "WindowedSpec",
    "bind_calendars",
    "calendar_names",
    "spec_zone",
    "unwrap",
    "with_windows",
]
