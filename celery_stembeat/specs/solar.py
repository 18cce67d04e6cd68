"""Solar schedules: sunrise, sunset, dawn, dusk and solar noon at a place, via astral."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, ClassVar

from astral import Observer
from astral import sun as astral_sun

from celery_stembeat.specs._time import UTC, require_aware
from celery_stembeat.specs.base import Spec
from celery_stembeat.specs.errors import SpecError
from celery_stembeat.specs.interval import format_duration

EventFunction = Callable[[Observer, date], datetime]


def _depression(kind: Callable[..., datetime], degrees: float) -> EventFunction:
    return functools.partial(kind, depression=degrees, tzinfo=UTC)


#: celery's event names, each with the astral function that computes it in UTC.
EVENTS: dict[str, EventFunction] = {
    "dawn_astronomical": _depression(astral_sun.dawn, 18),
    "dawn_nautical": _depression(astral_sun.dawn, 12),
    "dawn_civil": _depression(astral_sun.dawn, 6),
    "sunrise": functools.partial(astral_sun.sunrise, tzinfo=UTC),
    "solar_noon": functools.partial(astral_sun.noon, tzinfo=UTC),
    "sunset": functools.partial(astral_sun.sunset, tzinfo=UTC),
    "dusk_civil": _depression(astral_sun.dusk, 6),
    "dusk_nautical": _depression(astral_sun.dusk, 12),
    "dusk_astronomical": _depression(astral_sun.dusk, 18),
}
#: How far ahead to look for an event that polar day or night suppresses.
SEARCH_DAYS = 370
MAX_OFFSET = 86400.0


def _coordinate(name: str, value: object, limit: int) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise SpecError(f"{name} {value!r} is not a number", name)
    try:
        number = float(value)
    except ValueError:
        raise SpecError(f"{name} {value!r} is not a number", name) from None
    if not -limit <= number <= limit:
        raise SpecError(f"{name} {value} is outside -{limit}..{limit}", name)
    return round(number, 6)


def _format_degrees(value: float) -> str:
    return f"{value:.6f}".rstrip("0").rstrip(".")


@dataclass(frozen=True)
class SolarSpec(Spec):
    """``event`` at ``latitude``/``longitude``, shifted by ``offset`` seconds."""

    event: str
    latitude: float
    longitude: float
    offset: float = 0.0

    kind: ClassVar[str] = "solar"

    def __post_init__(self) -> None:
        if self.event not in EVENTS:
            known = ", ".join(EVENTS)
            raise SpecError(f"solar event {self.event!r} is not one of {known}", "event")
        object.__setattr__(self, "latitude", _coordinate("latitude", self.latitude, 90))
        object.__setattr__(self, "longitude", _coordinate("longitude", self.longitude, 180))
        offset = self.offset
        if isinstance(offset, bool) or not isinstance(offset, (int, float)):
            raise SpecError(f"solar offset {offset!r} is not a number of seconds", "offset")
        if not -MAX_OFFSET <= offset <= MAX_OFFSET:
            raise SpecError(f"solar offset {offset} is outside ±{MAX_OFFSET:g} s", "offset")
        object.__setattr__(self, "offset", round(float(offset), 3))

    def event_on(self, day: date) -> datetime | None:
        """The event (no offset) on UTC date ``day``, to the second; ``None`` if none occurs."""
        observer = Observer(latitude=self.latitude, longitude=self.longitude)
        try:
            moment = EVENTS[self.event](observer, day).astimezone(UTC)
        except ValueError:
            return None
        return (moment + timedelta(microseconds=500_000)).replace(microsecond=0)

    def next_after(self, after: datetime) -> datetime | None:
        after = require_aware(after, "next_after")
        shift = timedelta(seconds=self.offset)
        start = (after - shift).date() - timedelta(days=1)
        best: datetime | None = None
        for days in range(SEARCH_DAYS):
            found = self.event_on(start + timedelta(days=days))
            if found is not None:
                found += shift
            if best is not None:
                # Successive days' events are about a day apart; one more day settles the order.
                return best if found is None or found <= after else min(best, found)
            if found is not None and found > after:
                best = found
        return best

    def to_dict(self) -> dict[str, Any]:
        return {
            "type": self.kind,
            "event": self.event,
            "latitude": self.latitude,
            "longitude": self.longitude,
            "offset": self.offset,
        }

    def describe(self) -> str:
        shift = ""
        if self.offset:
            sign = "+" if self.offset > 0 else "-"
            shift = f"{sign}{format_duration(abs(self.offset))}"
        place = f"{_format_degrees(self.latitude)}/{_format_degrees(self.longitude)}"
        return f"{self.event}{shift} @{place}"

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SolarSpec:
        """Build from the dict form."""
        for name in ("event", "latitude", "longitude"):
            if name not in data:
                raise SpecError(f"solar {name!r}: missing", name)
        return cls(
            event=data["event"],
            latitude=data["latitude"],
            longitude=data["longitude"],
            offset=data.get("offset") or 0.0,
        )
