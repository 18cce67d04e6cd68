"""Window rules: which local days and times an ``except`` or ``only`` rule covers.

A rule is a bare date (``"2026-12-25"``) or an object. Its day part is calendar filters
(``months``, ``weekdays``, ``monthdays``, combined with AND, empty = any), a list of
``dates``, or a store-wide holiday ``calendar`` by name, whose dates are bound into the rule
(see :func:`celery_stembeat.specs.windows.bind_calendars`). Its time part is ``hours`` or a
daily ``between`` range (which may wrap midnight: ``["22:00", "02:00"]`` covers the night that
starts on a matching day). Without a time part a rule covers whole days; without a day part,
every day. ``timezone`` is the zone the rule is read in; without one, the spec's own.
"""

from __future__ import annotations

import re
from calendar import monthrange
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from celery_stembeat.limits import MAX_WINDOW_ITEMS, shorten
from celery_stembeat.specs._time import zone_name
from celery_stembeat.specs.calendar import describe_filter, expand_filter
from celery_stembeat.specs.errors import SpecError

DAY_FILTERS = ("months", "weekdays", "monthdays")
#: The keys of a rule object, in the order of its dict form and of ``describe``.
RULE_KEYS = (*DAY_FILTERS, "calendar", "dates", "hours", "between", "timezone")
#: A holiday calendar's name: as a tag, without ``/``.
CALENDAR_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}")
#: Microseconds in a day: a span of a day is ``[start, end)`` in microseconds after midnight.
DAY_US = 86_400_000_000
_HOUR_US = 3_600_000_000
_TIME = re.compile(r"([0-9]{1,2}):([0-9]{2})(?::([0-9]{2}))?")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")

Span = tuple[int, int]


def _parse_date(value: object, label: str, where: str) -> date:
    if isinstance(value, str) and _DATE.fullmatch(value.strip()):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise SpecError(f"{label}: {shorten(value)} is not a date (YYYY-MM-DD)", where)


def _parse_time(value: object, label: str, where: str, *, end: bool) -> int:
    """Seconds after midnight of ``HH:MM`` or ``HH:MM:SS``; ``24:00`` only as an end."""
    match = _TIME.fullmatch(value.strip()) if isinstance(value, str) else None
    if match:
        hour, minute, second = int(match[1]), int(match[2]), int(match[3] or 0)
        seconds = hour * 3600 + minute * 60 + second
        if minute < 60 and second < 60 and (seconds < 86400 or (end and seconds == 86400)):
            return seconds
    upper = "24:00" if end else "23:59:59"
    raise SpecError(f"{label}: {shorten(value)} is not a time of day (00:00-{upper})", where)


def _format_time(seconds: int) -> str:
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours:02d}:{minutes:02d}" + (f":{secs:02d}" if secs else "")


@dataclass(frozen=True)
class WindowRule:
    """One rule of an ``except`` or ``only`` list, validated and in canonical form."""

    months: tuple[int, ...] = ()
    weekdays: tuple[int, ...] = ()
    monthdays: tuple[int, ...] = ()
    dates: tuple[date, ...] = ()
    hours: tuple[int, ...] = ()
    #: ``(start, end)`` in seconds after midnight; ``end`` may be 86400 or below ``start``.
    between: tuple[int, int] | None = None
    timezone: str | None = None
    #: The holiday calendar whose dates ``dates`` holds (none yet while unbound).
    calendar: str | None = None
    #: Written as a bare date string (its dict form gives the string back).
    bare: bool = False
    _date_set: frozenset[date] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_date_set", frozenset(self.dates))

    def matches_day(self, day: date) -> bool:
        """Whether the rule's day part takes the local date ``day``."""
        if self.dates or self.calendar is not None:
            return day in self._date_set
        if self.months and day.month not in self.months:
            return False
        if self.monthdays and day.day not in self.monthdays:
            return False
        return not self.weekdays or day.isoweekday() % 7 in self.weekdays

    def spans(self, day: date) -> list[Span]:
        """The parts of the local date ``day`` the rule covers (unmerged)."""
        if self.between is not None:
            start, end = (second * 1_000_000 for second in self.between)
            if start < end:
                return [(start, end)] if self.matches_day(day) else []
            found = [(0, end)] if self.matches_day(day - timedelta(days=1)) else []
            return [*found, (start, DAY_US)] if self.matches_day(day) else found
        if not self.matches_day(day):
            return []
        if self.hours:
            return [(hour * _HOUR_US, (hour + 1) * _HOUR_US) for hour in self.hours]
        return [(0, DAY_US)]

    def to_value(self) -> str | dict[str, Any]:
        """The rule as written in a spec dict."""
        if self.bare:
            return self.dates[0].isoformat()
        data: dict[str, Any] = {} if self.calendar is None else {"calendar": self.calendar}
        for name in (*DAY_FILTERS, "hours"):
            if getattr(self, name):
                data[name] = list(getattr(self, name))
        if self.dates:
            data["dates"] = [day.isoformat() for day in self.dates]
        if self.between is not None:
            data["between"] = [_format_time(second) for second in self.between]
        if self.timezone is not None:
            data["timezone"] = self.timezone
        return {name: data[name] for name in RULE_KEYS if name in data}

    def describe(self) -> str:
        """``2026-12-25``, ``months=12 monthdays=24-26``, ``weekdays=mon-fri 09:00-17:00``."""
        if self.bare:
            return self.dates[0].isoformat()
        parts = [
            f"{name}={describe_filter(name, getattr(self, name))}"
            for name in DAY_FILTERS
            if getattr(self, name)
        ]
        if self.calendar is not None:
            parts.append(f"calendar={self.calendar}")
        elif self.dates:
            parts.append("dates=" + ",".join(day.isoformat() for day in self.dates))
        if self.hours:
            parts.append(f"hours={describe_filter('hours', self.hours)}")
        if self.between is not None:
            parts.append("-".join(_format_time(second) for second in self.between))
        if self.timezone is not None:
            parts.append(f"({self.timezone})")
        return " ".join(parts)


def _rule_object(data: Mapping[Any, Any], label: str, where: str) -> WindowRule:
    unknown = sorted(str(key) for key in data if key not in RULE_KEYS)
    if unknown:
        raise SpecError(
            f"{label}: unknown field {shorten(unknown[0])} (known: {', '.join(RULE_KEYS)})", where
        )
    values: dict[str, Any] = {}
    for name in (*DAY_FILTERS, "hours"):
        try:
            values[name] = expand_filter(name, data.get(name), label)
        except SpecError as exc:
            raise SpecError(str(exc), where) from None
    if data.get("calendar") is not None:
        values["calendar"] = check_calendar_name(data["calendar"], f"{label} 'calendar'", where)
    if data.get("dates") is not None:
        bound = values.get("calendar") is not None
        values["dates"] = _dates(data["dates"], f"{label} 'dates'", where, empty=bound)
    if data.get("between") is not None:
        values["between"] = _between(data["between"], f"{label} 'between'", where)
    if data.get("timezone") is not None:
        try:
            values["timezone"] = zone_name(data["timezone"])
        except SpecError as exc:
            raise SpecError(f"{label}: {exc}", where) from None
    rule = WindowRule(**values)
    parts = (*DAY_FILTERS, "calendar", "dates", "hours", "between")
    if not any(getattr(rule, name) for name in parts):
        raise SpecError(
            f"{label}: a rule needs months, weekdays, monthdays, calendar, dates, hours or between",
            where,
        )
    named = "'calendar'" if rule.calendar is not None else "'dates'"
    if (rule.dates or rule.calendar) and any(getattr(rule, name) for name in DAY_FILTERS):
        raise SpecError(f"{label}: {named} cannot be combined with {', '.join(DAY_FILTERS)}", where)
    if rule.hours and rule.between is not None:
        raise SpecError(f"{label}: give 'hours' or 'between', not both", where)
    if not _can_match(rule):
        raise SpecError(f"{label}: {rule.describe()!r} never matches a date", where)
    return rule


def _can_match(rule: WindowRule) -> bool:
    """Whether some month has one of the rule's days (weekdays meet every day in time, any
    month day meets a month of 31 days, and dates take no day filters)."""
    if not rule.months or not rule.monthdays:
        return True
    # 2000 is a leap year: a February 29 comes again.
    return any(day <= monthrange(2000, month)[1] for month in rule.months for day in rule.monthdays)


def _items(values: object, label: str, where: str) -> list[Any]:
    if isinstance(values, (str, bytes, Mapping)) or not isinstance(values, Iterable):
        raise SpecError(f"{label}: expected a list, got {shorten(values)}", where)
    items = []
    for item in values:
        items.append(item)
        if len(items) > MAX_WINDOW_ITEMS:
            raise SpecError(f"{label}: more than {MAX_WINDOW_ITEMS} items", where)
    return items


def check_calendar_name(value: object, label: str = "calendar", where: str = "calendar") -> str:
    """``value`` if it is a holiday calendar's name, else :class:`SpecError` naming ``label``."""
    if isinstance(value, str) and CALENDAR_NAME.fullmatch(value):
        return value
    raise SpecError(
        f"{label}: {shorten(value)} is not a calendar name (1-64 of A-Z a-z 0-9 _ . : -)", where
    )


def _dates(values: object, label: str, where: str, *, empty: bool) -> tuple[date, ...]:
    found = {_parse_date(item, label, where) for item in _items(values, label, where)}
    if not found and not empty:
        raise SpecError(f"{label}: empty", where)
    return tuple(sorted(found))


def _between(values: object, label: str, where: str) -> tuple[int, int]:
    items = _items(values, label, where)
    if len(items) != 2:
        raise SpecError(f"{label}: expected [start, end], got {shorten(values)}", where)
    start = _parse_time(items[0], label, where, end=False)
    end = _parse_time(items[1], label, where, end=True)
    if start == end or (start == 0 and end == 86400):
        raise SpecError(f"{label}: {shorten(values)} is empty or the whole day", where)
    return start, end


def parse_rules(values: object, where: str) -> tuple[WindowRule, ...]:
    """The rules of an ``except`` or ``only`` list; errors name ``where`` and the item."""
    rules = []
    for index, item in enumerate(_items(values, repr(where), where)):
        label = f"{where}[{index}]"
        if isinstance(item, WindowRule):
            rules.append(item)
        elif isinstance(item, str):
            rules.append(WindowRule(dates=(_parse_date(item, label, where),), bare=True))
        elif isinstance(item, Mapping):
            rules.append(_rule_object(item, label, where))
        else:
            raise SpecError(f"{label}: {shorten(item)} is not a date or a rule object", where)
    if not rules:
        raise SpecError(f"{where!r}: empty (leave it out instead)", where)
    return tuple(rules)


__all__ = ["DAY_US", "RULE_KEYS", "Span", "WindowRule", "check_calendar_name", "parse_rules"]
