"""``every()``: the ``schedule`` library's words for a schedule, giving the spec they mean.

Each finished phrase *is* the spec ``parse_spec`` makes of its dict form (an
:class:`~celery_stembeat.specs.IntervalSpec` or :class:`~celery_stembeat.specs.CronSpec`, equal
to it, hashing and pickling as it), with the builder's next words as methods:

>>> from celery_stembeat import every
>>> every(10).minutes
IntervalSpec(every=600.0, start_at=None, end_at=None, up_to=None)
>>> every().day.at("03:00").to_dict()
{'type': 'cron', 'expression': '0 3 * * *', 'timezone': 'UTC'}
>>> every().monday.at("09:00", tz="Europe/Berlin").describe()
'cron 0 9 * * 1 (Europe/Berlin)'
>>> every().minute.at(":15").expression
'15 * * * * *'
>>> every(5).to(10).minutes.describe()
'every 5-10m'
>>> every(3).days.starting("2026-01-01T10:00:00Z").until("2027-01-01T00:00:00Z").describe()
'every 3d from 2026-01-01T10:00:00Z until 2027-01-01T00:00:00Z'

What a spec cannot say exactly is refused when the phrase is built:

>>> every(3).days.at("10:00")  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
celery_stembeat.specs.errors.SpecError: at(): every 3 days at a time is not a cron schedule ...
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from typing import Any

from celery_stembeat.limits import shorten
from celery_stembeat.specs.base import Spec
from celery_stembeat.specs.cron import CronSpec
from celery_stembeat.specs.errors import SpecError
from celery_stembeat.specs.interval import MAX_EVERY, IntervalSpec
from celery_stembeat.specs.parse import parse_spec

#: Plural unit → its length in seconds; the singular is the plural without its "s".
_UNITS = {"seconds": 1, "minutes": 60, "hours": 3600, "days": 86400, "weeks": 604800}
#: Day words → cron's day-of-week field.
_DAYS = {
    "monday": "1",
    "tuesday": "2",
    "wednesday": "3",
    "thursday": "4",
    "friday": "5",
    "saturday": "6",
    "sunday": "0",
    "weekday": "1-5",
}
#: ``.at()`` text by unit: a regular expression and the form the message suggests.
_AT_FORMS = {
    "minutes": (re.compile(r":(?P<second>[0-9]{2})"), "':SS'"),
    "hours": (
        re.compile(r"(?:(?P<minute>[0-9]{2}):(?P<second>[0-9]{2})|:(?P<minute_only>[0-9]{2}))"),
        "':MM' or 'MM:SS'",
    ),
    "days": (
        re.compile(r"(?P<hour>[0-9]{1,2}):(?P<minute>[0-9]{2})(?::(?P<second>[0-9]{2}))?"),
        "'HH:MM' or 'HH:MM:SS'",
    ),
}
#: How many of each unit make up the next larger cycle: a step must divide it to stay regular.
_CYCLES = {"minutes": 60, "hours": 24}
_RANGES = {"hour": 23, "minute": 59, "second": 59}
_HINT = "'2026-01-01T00:00:00Z'"


def _count(value: object, name: str, field: str) -> float:
    """A positive finite number given to ``every()`` or ``to()``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise SpecError(f"{name}: {shorten(value)} is not a number", field)
    if isinstance(value, float) and not math.isfinite(value):
        raise SpecError(f"{name}: {shorten(value)} is not a finite number", field)
    if value <= 0:
        raise SpecError(f"{name}: {shorten(value)} must be more than 0", field)
    return value


def _instant(value: object, method: str) -> Any:
    """Refuse what names no instant by itself; the spec reads text and aware datetimes."""
    if isinstance(value, (str, datetime)):
        return value
    if isinstance(value, date):
        problem = "a date has no time of day or zone"
    elif isinstance(value, (timedelta, time)):
        problem = f"a {type(value).__name__} counts from now, which a spec cannot know"
    else:
        problem = f"{shorten(value)} is not an instant"
    raise SpecError(f"{method}(): {problem}; give an instant such as {_HINT}", method)


class _Built:
    """What every finished phrase shares: it equals, hashes, prints and pickles as its plain
    spec (``parse_spec`` of its dict form)."""

    @property
    def spec(self) -> Spec:
        """The plain spec this phrase is (what a store gives back)."""
        plain = self.__dict__.get("_plain")
        if plain is None:  # made on first use, also for a copy made by dataclasses.replace()
            plain = parse_spec(self.to_dict())  # type: ignore[attr-defined]
            object.__setattr__(self, "_plain", plain)
        return plain

    def _word(self) -> str:
        return str(self.__dict__.get("_said") or self.spec.describe())

    def __eq__(self, other: object) -> bool:
        return self.spec == (other.spec if isinstance(other, _Built) else other)

    def __hash__(self) -> int:
        return hash(self.spec)

    def __repr__(self) -> str:
        return repr(self.spec)

    def __reduce__(self) -> tuple[Any, ...]:
        return self.spec.__reduce__()


def _built(cls: type[Any], spec: Spec, word: str, **state: object) -> Any:
    """``spec`` as an instance of the phrase class ``cls``, remembering how it was said."""
    phrase = cls.from_dict(spec.to_dict())
    for name, value in {"_said": word, **state}.items():
        object.__setattr__(phrase, name, value)
    return phrase


class IntervalPhrase(_Built, IntervalSpec):
    """``every(n).<unit>``: an :class:`IntervalSpec`, with ``at``, ``until`` and ``starting``."""

    def at(self, time_text: str, tz: str | None = None) -> CronPhrase:
        """The same cadence pinned to a time within it: ``every().day.at("03:00")`` (optional
        seconds), ``every().hour.at(":30")`` or ``("MM:SS")``, ``every().minute.at(":15")``.

        A cron spec in ``tz`` (default UTC, not celery's ``timezone``). A step of hours or minutes
        must divide a day or an hour (``*/n``, counted from midnight or the full hour); days take
        no step.
        """
        unit, word = self.__dict__.get("_per"), self._word()
        if self.up_to is not None:
            raise SpecError(f"at(): {word} is a random interval; a cron spec cannot say it", "at")
        if self.start_at or self.end_at:
            raise SpecError(f"at(): {word} has a start or an end, which a cron spec has not", "at")
        if unit not in _AT_FORMS:
            raise SpecError(
                f"at(): not for {word}; use it after .minute(s), .hour(s), .day or a weekday",
                "at",
            )
        fields, count = _time_fields(time_text, unit), self.__dict__["_count"]
        if unit == "days":
            if count != 1:
                shown, clock = shorten(count), f"{fields['hour']:02d}:{fields['minute']:02d}"
                raise SpecError(
                    f"at(): every {shown} days at a time is not a cron schedule (a {shown}-day "
                    f"step restarts each month); use every({shown}).days.starting("
                    f"'2026-01-01T{clock}:00Z')",
                    "at",
                )
            expression = _expression(fields)
        else:
            cycle = _CYCLES[unit]
            if count != int(count) or cycle % int(count):
                raise SpecError(
                    f"at(): {word}: a step of {shorten(count)} {unit} does not divide "
                    f"{'a day' if unit == 'hours' else 'an hour'} into equal parts",
                    "at",
                )
            step = "*" if count == 1 else f"*/{int(count)}"
            expression = _expression(fields, per=(unit, step))
        return _cron(expression, tz, f"{word}.at({time_text!r})")

    def until(self, end: str | datetime) -> IntervalPhrase:
        """No occurrence after ``end`` (an aware datetime or ISO 8601 text with a zone)."""
        spec = IntervalSpec(self.every, self.start_at, _instant(end, "until"), self.up_to)
        return self._again(spec, ".until(...)")

    def starting(self, start: str | datetime) -> IntervalPhrase:
        """The first occurrence is ``start``; a fixed interval then runs on
        ``start + k·every``."""
        spec = IntervalSpec(self.every, _instant(start, "starting"), self.end_at, self.up_to)
        return self._again(spec, ".starting(...)")

    def _again(self, spec: Spec, words: str) -> IntervalPhrase:
        # A start or an end keeps the phrase from .at(), so the unit and count stay behind.
        phrase: IntervalPhrase = _built(IntervalPhrase, spec, self._word() + words)
        return phrase


class CronPhrase(_Built, CronSpec):
    """``every().<day>`` or ``… .at(…)``: a :class:`CronSpec`; ``at`` pins a day's time."""

    def at(self, time_text: str, tz: str | None = None) -> CronPhrase:
        """This day at ``"HH:MM"`` or ``"HH:MM:SS"`` in ``tz`` (default UTC)."""
        days = self.__dict__.get("_days")
        if days is None:
            raise SpecError(f"at(): {self._word()} already has its time", "at")
        expression = _expression(_time_fields(time_text, "days"), days)
        return _cron(expression, tz, f"{self._word()}.at({time_text!r})")

    def until(self, end: object) -> CronPhrase:
        """Refused: a cron spec has no end (an entry's ``expire_at`` has)."""
        raise SpecError(
            f"until(): {self._word()} is a cron spec, which has no end; "
            "set the entry's expire_at instead",
            "until",
        )

    def starting(self, start: object) -> CronPhrase:
        """Refused: a cron spec has no start."""
        raise SpecError(
            f"starting(): {self._word()} is a cron spec, which has no start; "
            "add the entry when it should begin",
            "starting",
        )


def _time_fields(text: object, unit: str) -> dict[str, int]:
    """The hour, minute and second ``text`` names for ``.at()`` on ``unit`` (absent: -1)."""
    pattern, form = _AT_FORMS[unit]
    if not isinstance(text, str):
        raise SpecError(f"at(): expected text such as {form}, got {shorten(text)}", "at")
    match = pattern.fullmatch(text)
    if match is None:
        raise SpecError(f"at(): {shorten(text)} is not a time of the form {form}", "at")
    found = {name: int(value) for name, value in match.groupdict().items() if value is not None}
    if "minute_only" in found:
        found["minute"] = found.pop("minute_only")
    for name, value in found.items():
        if value > _RANGES[name]:
            raise SpecError(
                f"at(): {shorten(text)}: {name} {value} is outside 0-{_RANGES[name]}", "at"
            )
    return {name: found.get(name, -1) for name in _RANGES}


def _expression(fields: dict[str, int], days: str = "*", per: tuple[str, str] | None = None) -> str:
    """The cron text for ``fields`` on ``days``, once a day or, with ``per`` (``"minutes"`` or
    ``"hours"`` and a cron step), repeating every step of the unit above them."""
    minute, hour = str(fields["minute"]), str(fields["hour"])
    if per is not None:
        unit, step = per
        minute, hour = (step, "*") if unit == "minutes" else (minute, step)
    text = f"{minute} {hour} * * {days}"
    return text if fields["second"] < 0 else f"{fields['second']} {text}"


def _cron(expression: str, tz: str | None, word: str) -> CronPhrase:
    try:
        spec = CronSpec(expression, "UTC" if tz is None else tz)
    except SpecError as exc:
        raise SpecError(f"at(): tz: {exc}", exc.field) from None
    phrase: CronPhrase = _built(CronPhrase, spec, word)
    return phrase


@dataclass(frozen=True)
class Every:
    """``every(n)`` (``every(n).to(m)``), waiting for its unit: ``.seconds``, ``.minutes``,
    ``.hours``, ``.days``, ``.weeks`` (singular when n is 1), ``.monday`` … ``.sunday`` or
    ``.weekday`` (Monday to Friday)."""

    count: float = 1
    up_to: float | None = None

    def to(self, latest: float) -> Every:
        """A random interval: each gap between ``count`` and ``latest`` units, the same gap on
        every beat (``every(5).to(10).minutes``)."""
        if self.up_to is not None:
            raise SpecError("to(): given twice", "up_to")
        up_to = _count(latest, "to()", "up_to")
        if up_to <= self.count:
            raise SpecError(
                f"to(): {shorten(latest)} must be more than every()'s {shorten(self.count)}",
                "up_to",
            )
        return replace(self, up_to=up_to)

    def _word(self, unit: str) -> str:
        shown = "" if self.count == 1 and self.up_to is None else shorten(self.count)
        to = "" if self.up_to is None else f".to({shorten(self.up_to)})"
        return f"every({shown}){to}.{unit}"

    def _interval(self, unit: str, said: str | None = None) -> IntervalPhrase:
        size = _UNITS[unit]
        for value, field in ((self.count, "every"), (self.up_to, "up_to")):
            if value is not None and value > MAX_EVERY / size:
                raise SpecError(f"{field}: {shorten(value)} {unit} is more than 100 years", field)
        up_to = None if self.up_to is None else self.up_to * size
        spec = IntervalSpec(self.count * size, up_to=up_to)
        phrase: IntervalPhrase = _built(
            IntervalPhrase, spec, self._word(said or unit), _per=unit, _count=self.count
        )
        return phrase

    def _single(self, unit: str) -> IntervalPhrase:
        if self.count != 1 or self.up_to is not None:
            raise SpecError(f"{self._word(unit)}: .{unit} is for one; use .{unit}s", "every")
        return self._interval(unit + "s", unit)

    def _day(self, day: str) -> CronPhrase:
        word = self._word(day)
        if self.up_to is not None:
            raise SpecError(f"{word}: a random interval has no day of the week", "up_to")
        if self.count != 1:
            if day == "weekday":
                raise SpecError(f"{word}: .weekday runs every week (n must be 1)", "every")
            shown, first = shorten(self.count), date(2026, 1, 4 + int(_DAYS[day]))
            raise SpecError(
                f"{word}: a cron spec cannot say every {shown} {day.title()}s; use "
                f"every({shown}).weeks.starting('{first.isoformat()}T00:00:00Z') (a {day.title()})",
                "every",
            )
        spec = CronSpec(f"0 0 * * {_DAYS[day]}")
        phrase: CronPhrase = _built(CronPhrase, spec, self._word(day), _days=_DAYS[day])
        return phrase

    @property
    def second(self) -> IntervalPhrase:
        """Every second (n must be 1)."""
        return self._single("second")

    @property
    def seconds(self) -> IntervalPhrase:
        """Every n seconds."""
        return self._interval("seconds")

    @property
    def minute(self) -> IntervalPhrase:
        """Every minute (n must be 1)."""
        return self._single("minute")

    @property
    def minutes(self) -> IntervalPhrase:
        """Every n minutes."""
        return self._interval("minutes")

    @property
    def hour(self) -> IntervalPhrase:
        """Every hour (n must be 1)."""
        return self._single("hour")

    @property
    def hours(self) -> IntervalPhrase:
        """Every n hours."""
        return self._interval("hours")

    @property
    def day(self) -> IntervalPhrase:
        """Every day: 86400 s apart (n must be 1); ``.at()`` pins the time."""
        return self._single("day")

    @property
    def days(self) -> IntervalPhrase:
        """Every n days (n·86400 s)."""
        return self._interval("days")

    @property
    def week(self) -> IntervalPhrase:
        """Every week (n must be 1)."""
        return self._single("week")

    @property
    def weeks(self) -> IntervalPhrase:
        """Every n weeks."""
        return self._interval("weeks")

    @property
    def monday(self) -> CronPhrase:
        """Mondays at 00:00 UTC; ``.at()`` pins the time (n must be 1)."""
        return self._day("monday")

    @property
    def tuesday(self) -> CronPhrase:
        """Tuesdays at 00:00 UTC; ``.at()`` pins the time (n must be 1)."""
        return self._day("tuesday")

    @property
    def wednesday(self) -> CronPhrase:
        """Wednesdays at 00:00 UTC; ``.at()`` pins the time (n must be 1)."""
        return self._day("wednesday")

    @property
    def thursday(self) -> CronPhrase:
        """Thursdays at 00:00 UTC; ``.at()`` pins the time (n must be 1)."""
        return self._day("thursday")

    @property
    def friday(self) -> CronPhrase:
        """Fridays at 00:00 UTC; ``.at()`` pins the time (n must be 1)."""
        return self._day("friday")

    @property
    def saturday(self) -> CronPhrase:
        """Saturdays at 00:00 UTC; ``.at()`` pins the time (n must be 1)."""
        return self._day("saturday")

    @property
    def sunday(self) -> CronPhrase:
        """Sundays at 00:00 UTC; ``.at()`` pins the time (n must be 1)."""
        return self._day("sunday")

    @property
    def weekday(self) -> CronPhrase:
        """Monday to Friday at 00:00 UTC; ``.at()`` pins the time (n must be 1)."""
        return self._day("weekday")


def every(interval: float = 1) -> Every:
    """Start a schedule phrase in the ``schedule`` library's words: ``every(10).minutes``,
    ``every().day.at("03:00")``, ``every().monday.at("09:00", tz="Europe/Berlin")``."""
    return Every(_count(interval, "every()", "every"))


__all__ = ["CronPhrase", "Every", "IntervalPhrase", "every"]
