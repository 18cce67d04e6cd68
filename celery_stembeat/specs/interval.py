"""Fixed-period schedules: every N seconds, millisecond resolution, optionally anchored; or a
random period between two bounds, the same on every beat."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, ClassVar

from celery_stembeat.limits import shorten
from celery_stembeat.specs._time import format_instant, parse_instant, truncate_to_ms
from celery_stembeat.specs.base import Spec, check_keys
from celery_stembeat.specs.errors import SpecError

_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
#: A plain decimal: no sign, exponent, digit separator, nan or inf.
_NUMBER = r"[0-9]+(?:\.[0-9]+)?"
_BARE = re.compile(_NUMBER)
_PART = re.compile(rf"({_NUMBER})(ms|s|m|h|d|w)")
_WHOLE = re.compile(rf"(?:{_NUMBER}(?:ms|s|m|h|d|w))+")
#: Blanks between two numbers ("1 30"): never read as one number.
_SPLIT_NUMBER = re.compile(r"[0-9.]\s+[0-9.]")
_MS = timedelta(milliseconds=1)
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
#: A duration as ``format_duration`` writes it in one unit (``5m``, ``1.5s``).
_ONE_UNIT = re.compile(r"([0-9.]+)([a-z]+)")
#: The longest `every`: 100 years of 365.25 days.
MAX_EVERY = 100 * 365.25 * 86400


def _duration_error(text: str, raw: str, field: str) -> SpecError:
    if _SPLIT_NUMBER.search(raw):
        problem = "has a space between two numbers"
    elif "_" in raw:
        problem = "has a '_' digit separator"
    elif raw.lstrip("+-") in ("nan", "inf", "infinity"):
        problem = "is not a finite number"
    elif re.fullmatch(r"[+-]?[0-9.]+e[+-]?[0-9]+", raw):
        problem = "has an exponent (write the number out)"
    else:
        problem = "is not a duration"
    return SpecError(
        f"interval {field!r}: {shorten(text)} {problem} (use e.g. 30, 30s, 5m, 1h30m, 250ms)", field
    )


def parse_duration(text: str, field: str = "every") -> float:
    """Seconds in ``30s``, ``5m``, ``1h30m``, ``1h 30m``, ``250ms``, ``every:5m`` or ``30``.

    Numbers are plain decimals; blanks may separate units but never two numbers. Errors name
    ``field``.
    """
    raw = text.strip().lower()
    for prefix in ("every:", "every "):
        if raw.startswith(prefix):
            raw = raw[len(prefix) :].strip()
    compact = "".join(raw.split())
    if not _SPLIT_NUMBER.search(raw):
        if _BARE.fullmatch(compact):
            return float(compact)
        if _WHOLE.fullmatch(compact):
            return sum(float(n) * _UNIT_SECONDS[unit] for n, unit in _PART.findall(compact))
    raise _duration_error(text, raw, field)


def format_duration(seconds: float) -> str:
    """``5400`` → ``1h30m``; ``1.5`` → ``1.5s``; ``0.25`` → ``250ms``."""
    total_ms = round(seconds * 1000)
    if total_ms < 1000:
        return f"{total_ms}ms"
    parts = []
    whole, ms = divmod(total_ms, 1000)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        count, whole = divmod(whole, size)
        if count:
            parts.append(f"{count}{unit}")
    if whole or ms:
        parts.append(f"{whole}.{ms:03d}".rstrip("0").rstrip(".") + "s")
    return "".join(parts)


def _seconds(value: object, name: str) -> float:
    """``value`` as a number of seconds rounded to whole milliseconds; errors name ``name``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise SpecError(f"interval {name!r}: {shorten(value)} is not a number of seconds", name)
    if value != value or value in (float("inf"), float("-inf")):
        raise SpecError(f"interval {name!r}: {shorten(value)} is not a finite number", name)
    if value > MAX_EVERY:  # compared before float(), which a huge int would overflow
        raise SpecError(
            f"interval {name!r}: {shorten(value)} is more than 100 years ({MAX_EVERY:.0f} s)",
            name,
        )
    rounded = round(float(value), 3)
    if rounded <= 0:
        raise SpecError(f"interval {name!r}: {shorten(value)} must be at least 0.001 s", name)
    return rounded


@dataclass(frozen=True)
class IntervalSpec(Spec):
    """Every ``every`` seconds; with ``start_at`` the occurrences are ``start_at + k·every``.

    With ``up_to``, each occurrence comes between ``every`` and ``up_to`` seconds after the
    previous one (``start_at``, if given, is the first): the gap is drawn from a hash of the
    spec and the previous instant, so every beat computes the same one.
    ``every`` and ``up_to`` are rounded, and ``start_at``/``end_at`` truncated, to whole
    milliseconds.
    """

    every: float
    start_at: datetime | None = None
    end_at: datetime | None = None
    up_to: float | None = None

    kind: ClassVar[str] = "interval"

    def __post_init__(self) -> None:
        object.__setattr__(self, "every", _seconds(self.every, "every"))
        if self.up_to is not None:
            up_to = _seconds(self.up_to, "up_to")
            if up_to <= self.every:
                raise SpecError(
                    f"interval 'up_to': {shorten(self.up_to)} must be more than "
                    f"'every' ({format_duration(self.every)})",
                    "up_to",
                )
            object.__setattr__(self, "up_to", up_to)
        for name in ("start_at", "end_at"):
            value = getattr(self, name)
            if value is not None:
                instant = parse_instant(value, f"interval {name!r}", name)
                object.__setattr__(self, name, truncate_to_ms(instant))
        if self.start_at and self.end_at and self.end_at < self.start_at:
            raise SpecError(
                f"interval 'end_at': {format_instant(self.end_at)} is before 'start_at'", "end_at"
            )
        if self.up_to is not None:
            canonical = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))
            object.__setattr__(self, "_seed", canonical.encode())

    @property
    def period(self) -> timedelta:
        """``every`` as a timedelta (whole milliseconds)."""
        return round(self.every * 1000) * _MS

    def _random_gap(self, after: datetime) -> timedelta:
        """A gap in ``[every, up_to]``, whole milliseconds, chosen by ``after`` (to the ms)."""
        assert self.up_to is not None
        spread = round(self.up_to * 1000) - round(self.every * 1000)
        after_ms = (after - _EPOCH) // _MS
        digest = hashlib.blake2b(self.__dict__["_seed"] + b"@%d" % after_ms, digest_size=8)
        return self.period + (int.from_bytes(digest.digest(), "big") % (spread + 1)) * _MS

    def _next_after(self, after: datetime) -> datetime | None:
        period = self.period
        if self.up_to is not None:
            if self.start_at is not None and after < self.start_at:
                found = self.start_at
            else:
                found = after + self._random_gap(after)
        elif self.start_at is None:
            found = after + period
        elif after < self.start_at:
            found = self.start_at
        else:
            steps = (after - self.start_at) // period + 1
            found = self.start_at + steps * period
        if self.end_at is not None and found > self.end_at:
            return None
        return found

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "type": self.kind,
            "every": self.every,
            "start_at": format_instant(self.start_at) if self.start_at else None,
            "end_at": format_instant(self.end_at) if self.end_at else None,
        }
        if self.up_to is not None:
            data["up_to"] = self.up_to
        return data

    def _describe_period(self) -> str:
        """``5m``, or with ``up_to`` ``5-10m`` (one unit) or ``90s-5m``."""
        low = format_duration(self.every)
        if self.up_to is None:
            return low
        high = format_duration(self.up_to)
        low_parts, high_parts = _ONE_UNIT.fullmatch(low), _ONE_UNIT.fullmatch(high)
        if low_parts and high_parts and low_parts[2] == high_parts[2]:
            return f"{low_parts[1]}-{high}"
        return f"{low}-{high}"

    def describe(self) -> str:
        text = f"every {self._describe_period()}"
        if self.start_at:
            text += f" from {format_instant(self.start_at)}"
        if self.end_at:
            text += f" until {format_instant(self.end_at)}"
        return text

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> IntervalSpec:
        """Build from the dict form; ``every`` and ``up_to`` may also be duration strings;
        unknown keys fail."""
        check_keys(cls.kind, data, ("every", "start_at", "end_at", "up_to"))
        if "every" not in data:
            raise SpecError("interval 'every': missing", "every")
        every, up_to = data["every"], data.get("up_to")
        if isinstance(every, str):
            every = parse_duration(every)
        if isinstance(up_to, str):
            up_to = parse_duration(up_to, "up_to")
        return cls(
            every=every, start_at=data.get("start_at"), end_at=data.get("end_at"), up_to=up_to
        )
