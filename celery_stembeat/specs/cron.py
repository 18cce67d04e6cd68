"""Cron expressions: five fields, or six with leading seconds, in a per-entry time zone."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Any, ClassVar

from celery_stembeat.limits import shorten
from celery_stembeat.specs._time import load_zone, zone_name
from celery_stembeat.specs._wallclock import WallClockSchedule
from celery_stembeat.specs.base import Spec, check_keys
from celery_stembeat.specs.errors import SpecError

MACROS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}

MONTH_NAMES = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
WEEKDAY_NAMES = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
MONTH_FULL_NAMES = (
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
)
WEEKDAY_FULL_NAMES = (
    "sunday",
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
)


@dataclass(frozen=True)
class CronField:
    name: str
    low: int
    high: int
    names: dict[str, int]
    #: The largest useful step: any larger one matches only the first value of the field.
    max_step: int

    @property
    def top(self) -> int:
        """The last value of the field's cycle: 6 (Saturday) for day-of-week, where 7 is Sunday."""
        return self.low + self.max_step


_SECOND_FIELD = CronField("second", 0, 59, {}, 59)
_FIVE_FIELDS = (
    CronField("minute", 0, 59, {}, 59),
    CronField("hour", 0, 23, {}, 23),
    CronField("day-of-month", 1, 31, {}, 30),
    CronField(
        "month",
        1,
        12,
        {name: i % 12 + 1 for i, name in enumerate(MONTH_NAMES + MONTH_FULL_NAMES)},
        11,
    ),
    CronField(
        "day-of-week",
        0,
        7,
        {name: i % 7 for i, name in enumerate(WEEKDAY_NAMES + WEEKDAY_FULL_NAMES)},
        6,
    ),
)
_ITEM = re.compile(r"^(?P<base>\*|\?|[^-/]+(?:-[^-/]+)?)(?:/(?P<step>[^/]*))?$")
_NTH_WEEKDAY = re.compile(r"^(?P<day>[^#]+)#(?P<nth>\d+)$")
#: The last given weekday of the month: ``5L``/``FRIL`` (Quartz, Spring) or ``L5`` (croniter).
_LAST_WEEKDAY = re.compile(r"^(?:[lL](?P<number>[0-9]+)|(?P<day>\w+)[lL])$")


def find_field(name: str) -> CronField:
    """The cron field called ``name`` (``minute`` … ``day-of-week``)."""
    return next(field for field in _FIVE_FIELDS if field.name == name)


def field_value(field: CronField, token: str, label: str | None = None) -> int:
    """The number ``token`` stands for in ``field``; errors name ``label`` (the field)."""
    label = label or f"cron field {field.name!r}"
    text = token.strip().lower()
    if text in field.names:
        return field.names[text]
    if not text.isdecimal():
        raise SpecError(f"{label}: {shorten(token)} is not a number or name", field.name)
    # Ten digits are past every field's range, and int() refuses texts of 4,300 digits.
    number = int(text) if len(text) <= 10 else None
    if number is None or not field.low <= number <= field.high:
        shown = text if number is not None else shorten(text)
        raise SpecError(f"{label}: {shown} is outside {field.low}-{field.high}", field.name)
    return number


def range_values(field: CronField, start: int, end: int, step: int = 1) -> tuple[int, ...]:
    """The values of the range ``start-end/step`` in ``field``, in the order they are counted.

    An end below the start wraps round the top of the field, and the step counts on across
    the wrap: ``22-2`` is 22,23,0,1,2 and ``23-1/2`` is 23,1 (as celery's ``crontab`` reads
    them). A start of 7 in day-of-week is Sunday, so ``7-2`` is 0,1,2.
    """
    if end < start:
        counted = [*range(start, field.top + 1), *range(field.low, end + 1)]
    else:
        counted = list(range(start, end + 1))
    return tuple(counted[::step])


def _spell_item(field: CronField, item: str) -> str:
    """Validate one item of ``field``; return croniter's spelling of it.

    Names become numbers and a range becomes the list of its values, so that croniter (which
    reads ``5-5`` as ``*`` and miscounts a step across a wrap) never expands a range.
    """
    if field.name == "day-of-month" and item.upper() == "L":
        return item
    match = _ITEM.match(item)
    if not match:
        raise SpecError(f"cron field {field.name!r}: {shorten(item)} is not valid", field.name)
    base, step = match["base"], match["step"]
    if step is not None and (not step.isdecimal() or not step.strip("0")):
        raise SpecError(
            f"cron field {field.name!r}: step {shorten(step)} must be a positive number", field.name
        )
    if step is not None and (len(step) > 10 or int(step) > field.max_step):
        shown = step if len(step) <= 10 else shorten(step)
        raise SpecError(
            f"cron field {field.name!r}: step {shown} is more than {field.max_step}, "
            "so it would only ever match its first value",
            field.name,
        )
    if base == "?" and field.name not in ("day-of-month", "day-of-week"):
        raise SpecError(f"cron field {field.name!r}: '?' is only for day fields", field.name)
    if base in ("*", "?"):
        return item
    low, dash, high = base.partition("-")
    start = field_value(field, low)
    if not dash:
        return f"{start}" if step is None else f"{start}/{step}"
    values = range_values(field, start, field_value(field, high), int(step or 1))
    return ",".join(map(str, values))


def _spell_items(spelled: list[str]) -> str:
    """Spelled items as one field, each value once (a long list of ranges stays short)."""
    return ",".join(dict.fromkeys(",".join(spelled).split(",")))


def _special_weekday(field: CronField, item: str) -> str | None:
    """croniter's spelling of an nth (``FRI#2``) or last (``5L``) weekday item, else ``None``."""
    nth = _NTH_WEEKDAY.match(item)
    if nth:
        day = field_value(field, nth["day"])
        if not 1 <= int(nth["nth"]) <= 5:
            raise SpecError(
                f"cron field 'day-of-week': {shorten(item)}: the week must be 1-5", field.name
            )
        return f"{day}#{nth['nth']}"
    last = _LAST_WEEKDAY.match(item)
    if last:
        return f"L{field_value(field, last['number'] or last['day'])}"
    return None


def _check_weekdays(field: CronField, part: str, day_of_month: str) -> str:
    """Validate the day-of-week field ``part``; return it as croniter spells it.

    ``#`` and ``L`` items stand alone: croniter cannot mix them with plain days, and with a
    restricted day-of-month it follows neither Vixie's OR nor an AND.
    """
    items = part.split(",")
    plain, special = [], []
    for item in items:
        spelled = _special_weekday(field, item)
        if spelled is None:
            plain.append(_spell_item(field, item))
        else:
            special.append(spelled)
    if not special:
        return _spell_items(plain)
    if plain:
        raise SpecError(
            f"cron field 'day-of-week': {shorten(part)} mixes '#' or 'L' items with plain days",
            field.name,
        )
    if day_of_month not in ("*", "?"):
        raise SpecError(
            f"cron field 'day-of-week': {shorten(part)} needs '*' or '?' in day-of-month, "
            f"not {shorten(day_of_month)}",
            field.name,
        )
    return ",".join(special)


def split_fields(expression: str) -> tuple[str, list[str], bool]:
    """Validate ``expression``; return its croniter spelling, its fields, and whether it has
    seconds (the spelling expands macros, writes names as numbers, ranges as lists of values
    and last-weekday items as ``L5``)."""
    text = " ".join(expression.split())
    if not text:
        raise SpecError("cron expression: empty", "expression")
    if text.startswith("@"):
        if text.lower() not in MACROS:
            known = ", ".join(sorted(MACROS))
            raise SpecError(
                f"cron expression: unknown macro {shorten(text)} (use {known})", "expression"
            )
        text = MACROS[text.lower()]
    parts = text.split(" ")
    if len(parts) not in (5, 6):
        raise SpecError(
            f"cron expression {shorten(expression)}: expected 5 fields (6 with leading seconds), "
            f"got {len(parts)}",
            "expression",
        )
    fields = (_SECOND_FIELD, *_FIVE_FIELDS) if len(parts) == 6 else _FIVE_FIELDS
    spelled = []
    for field, part in zip(fields, parts, strict=True):
        if field.name == "day-of-week":
            spelled.append(_check_weekdays(field, part, parts[-3]))
        else:
            spelled.append(_spell_items([_spell_item(field, item) for item in part.split(",")]))
    return " ".join(spelled), parts, len(parts) == 6


def compile_wallclock(
    text: str, hour: str, seconds: bool, day_or: bool, zone: tzinfo
) -> WallClockSchedule:
    """A DST-aware evaluator for a validated expression; ``hour`` decides the DST rule."""
    fixed = not hour.startswith("*")
    try:
        return WallClockSchedule(text, zone, day_or, seconds, fixed)
    except ValueError as exc:  # croniter's errors (CroniterError) are ValueErrors
        raise SpecError(f"cron expression {shorten(text)}: {exc}", "expression") from None


@dataclass(frozen=True)
class CronSpec(Spec):
    """A cron expression (Vixie syntax and day-of-month/day-of-week OR) in ``timezone``."""

    expression: str
    timezone: str = "UTC"

    kind: ClassVar[str] = "cron"

    def __post_init__(self) -> None:
        if not isinstance(self.expression, str):
            raise SpecError(
                f"cron expression: expected text, got {shorten(self.expression)}", "expression"
            )
        object.__setattr__(self, "expression", " ".join(self.expression.split()))
        object.__setattr__(self, "timezone", zone_name(self.timezone))
        text, parts, seconds = split_fields(self.expression)
        hour = parts[2] if seconds else parts[1]
        schedule = compile_wallclock(text, hour, seconds, True, load_zone(self.timezone))
        object.__setattr__(self, "_schedule", schedule)
        if schedule.matcher.never:
            raise SpecError(
                f"cron expression {shorten(self.expression)}: never matches a date", "expression"
            )

    @property
    def has_seconds(self) -> bool:
        """Whether the expression has a leading seconds field."""
        return self._wallclock.seconds

    @property
    def _wallclock(self) -> WallClockSchedule:
        schedule: WallClockSchedule = self.__dict__["_schedule"]
        return schedule

    def _next_after(self, after: datetime) -> datetime | None:
        return self._wallclock.next_after(after)

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.kind, "expression": self.expression, "timezone": self.timezone}

    def describe(self) -> str:
        return f"cron {self.expression} ({self.timezone})"

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CronSpec:
        """Build from the dict form; unknown keys are an error."""
        check_keys(cls.kind, data, ("expression", "timezone"))
        if "expression" not in data:
            raise SpecError("cron 'expression': missing", "expression")
        return cls(expression=data["expression"], timezone=data.get("timezone") or "UTC")
