"""Calendar schedules: month, weekday, day-of-month, hour and minute filters, combined with AND."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar

from celery_stembeat.limits import shorten
from celery_stembeat.specs._time import load_zone, zone_name
from celery_stembeat.specs._wallclock import WallClockSchedule
from celery_stembeat.specs.base import Spec, check_keys
from celery_stembeat.specs.cron import (
    WEEKDAY_NAMES,
    compile_wallclock,
    field_value,
    find_field,
    range_values,
)
from celery_stembeat.specs.errors import SpecError

#: Filter name → the cron field it compiles to, in cron's field order.
FILTERS = {
    "minutes": "minute",
    "hours": "hour",
    "monthdays": "day-of-month",
    "months": "month",
    "weekdays": "day-of-week",
}
#: The filters in the order of the dict form and of ``describe``.
FILTER_ORDER = ("months", "weekdays", "monthdays", "hours", "minutes")


def expand_filter(name: str, values: object, label: str = "calendar") -> tuple[int, ...]:
    """The sorted values a filter (``months``, ``weekdays``…) lists; errors name ``label``."""
    field = find_field(FILTERS[name])
    if values is None:
        return ()
    if isinstance(values, (str, int)):
        values = [values]
    if not isinstance(values, Iterable):
        raise SpecError(f"{label} {name!r}: expected a list, got {shorten(values)}", name)
    chosen: set[int] = set()
    for item in values:
        if isinstance(item, bool) or not isinstance(item, (int, str)):
            raise SpecError(f"{label} {name!r}: {shorten(item)} is not a number or name", name)
        where = f"{label} {name!r}"
        if isinstance(item, int) and not field.low <= item <= field.high:
            # Said here: str() refuses integers of 4,300 digits.
            raise SpecError(f"{where}: {shorten(item)} is outside {field.low}-{field.high}", name)
        text = str(item).strip()
        low, dash, high = text.partition("-")
        try:
            start = field_value(field, low, where)
            end = field_value(field, high, where) if dash else start
        except SpecError as exc:
            raise SpecError(str(exc), name) from None
        chosen.update(range_values(field, start, end))
    if name == "weekdays" and 7 in chosen:
        chosen.discard(7)
        chosen.add(0)
    return tuple(sorted(chosen))


def _runs(values: Iterable[int]) -> list[tuple[int, int]]:
    """``[1, 2, 3, 5]`` → ``[(1, 3), (5, 5)]``."""
    runs: list[tuple[int, int]] = []
    for value in sorted(values):
        if runs and value == runs[-1][1] + 1:
            runs[-1] = (runs[-1][0], value)
        else:
            runs.append((value, value))
    return runs


def _join(runs: Iterable[tuple[str, str]]) -> str:
    return ",".join(first if first == last else f"{first}-{last}" for first, last in runs)


def compress(values: Iterable[int]) -> str:
    """``[1, 2, 3, 5]`` → ``1-3,5``."""
    return _join((str(first), str(last)) for first, last in _runs(values))


def describe_filter(name: str, values: tuple[int, ...]) -> str:
    """A filter's values as ranges; runs at both ends of the field join into one that wraps
    round it: hours 0-2 and 22-23 are ``22-2``, weekdays 0, 1, 5 and 6 are ``fri-mon``."""
    field = find_field(FILTERS[name])
    runs = _runs(values)
    if runs[0][0] == field.low and runs[-1][1] == field.top:
        runs = [*runs[1:-1], (runs[-1][0], runs[0][1])]
    if name == "weekdays":
        return _join((WEEKDAY_NAMES[first], WEEKDAY_NAMES[last]) for first, last in runs)
    return _join((str(first), str(last)) for first, last in runs)


@dataclass(frozen=True)
class CalendarSpec(Spec):
    """Fires at each minute whose local time passes every non-empty filter (empty = any)."""

    months: tuple[int, ...] = ()
    weekdays: tuple[int, ...] = ()
    monthdays: tuple[int, ...] = ()
    hours: tuple[int, ...] = ()
    minutes: tuple[int, ...] = ()
    timezone: str = "UTC"

    kind: ClassVar[str] = "calendar"

    def __post_init__(self) -> None:
        for name in FILTERS:
            object.__setattr__(self, name, expand_filter(name, getattr(self, name)))
        object.__setattr__(self, "timezone", zone_name(self.timezone))
        fields = [compress(getattr(self, name)) or "*" for name in FILTERS]
        schedule = compile_wallclock(
            " ".join(fields), fields[1], False, False, load_zone(self.timezone)
        )
        object.__setattr__(self, "_schedule", schedule)
        if schedule.matcher.never:
            raise SpecError(f"calendar {self.describe()!r}: never matches a date", "monthdays")

    @property
    def expression(self) -> str:
        """The cron expression the filters compile to (evaluated with day AND, not OR)."""
        schedule: WallClockSchedule = self.__dict__["_schedule"]
        return schedule.expression

    def _next_after(self, after: datetime) -> datetime | None:
        schedule: WallClockSchedule = self.__dict__["_schedule"]
        return schedule.next_after(after)

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"type": self.kind}
        for name in FILTER_ORDER:
            data[name] = list(getattr(self, name))
        data["timezone"] = self.timezone
        return data

    def describe(self) -> str:
        parts = [
            f"{name}={describe_filter(name, getattr(self, name))}"
            for name in FILTER_ORDER
            if getattr(self, name)
        ]
        return f"calendar {' '.join(parts) or 'every minute'} ({self.timezone})"

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CalendarSpec:
        """Build from the dict form; unknown keys are an error."""
        check_keys(cls.kind, data, (*FILTER_ORDER, "timezone"))
        return cls(
            months=data.get("months") or (),
            weekdays=data.get("weekdays") or (),
            monthdays=data.get("monthdays") or (),
            hours=data.get("hours") or (),
            minutes=data.get("minutes") or (),
            timezone=data.get("timezone") or "UTC",
        )
