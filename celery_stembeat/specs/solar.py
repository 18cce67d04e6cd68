"""Solar schedules: sunrise, sunset, dawn, dusk and solar noon at a place, via astral."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Any, ClassVar

from astral import Observer
from astral import sun as astral_sun

from celery_stembeat.limits import shorten
from celery_stembeat.specs._time import UTC
from celery_stembeat.specs.base import Spec, check_keys
from celery_stembeat.specs.errors import SpecError
from celery_stembeat.specs.interval import format_duration

#: celery's event names → the astral function, its arguments, and whether it is an evening event.
_EVENTS: dict[str, tuple[Callable[..., datetime], dict[str, float], bool]] = {
    "dawn_astronomical": (astral_sun.dawn, {"depression": 18}, False),
    "dawn_nautical": (astral_sun.dawn, {"depression": 12}, False),
    "dawn_civil": (astral_sun.dawn, {"depression": 6}, False),
    "sunrise": (astral_sun.sunrise, {}, False),
    "solar_noon": (astral_sun.noon, {}, False),
    "sunset": (astral_sun.sunset, {}, True),
    "dusk_civil": (astral_sun.dusk, {"depression": 6}, True),
    "dusk_nautical": (astral_sun.dusk, {"depression": 12}, True),
    "dusk_astronomical": (astral_sun.dusk, {"depression": 18}, True),
}
EVENTS = tuple(_EVENTS)
#: How far ahead to look for an event that polar day or night suppresses.
SEARCH_DAYS = 370
MAX_OFFSET = 86400.0


def _coordinate(name: str, value: object, limit: int) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise SpecError(f"{name} {shorten(value)} is not a number", name)
    try:
        number = float(value)
    except ValueError:
        raise SpecError(f"{name} {shorten(value)} is not a number", name) from None
    if not -limit <= number <= limit:
        raise SpecError(f"{name} {shorten(value)} is outside -{limit}..{limit}", name)
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
        if not isinstance(self.event, str) or self.event not in _EVENTS:
            known = ", ".join(EVENTS)
            raise SpecError(f"solar event {shorten(self.event)} is not one of {known}", "event")
        object.__setattr__(self, "latitude", _coordinate("latitude", self.latitude, 90))
        object.__setattr__(self, "longitude", _coordinate("longitude", self.longitude, 180))
        offset = self.offset
        if isinstance(offset, bool) or not isinstance(offset, (int, float)):
            raise SpecError(f"solar offset {shorten(offset)} is not a number of seconds", "offset")
        if not -MAX_OFFSET <= offset <= MAX_OFFSET:
            raise SpecError(
                f"solar offset {shorten(offset)} is outside ±{MAX_OFFSET:g} s", "offset"
            )
        object.__setattr__(self, "offset", round(float(offset), 3))

    @property
    def solar_day(self) -> timezone:
        """The fixed-offset zone whose dates each hold exactly one of this event.

        Local mean solar time (longitude/15 hours); for evening events the day starts at solar
        noon instead of midnight, so a dusk near midnight never lands twice on one date.
        """
        minutes = round(self.longitude * 4) + (720 if _EVENTS[self.event][2] else 0)
        return timezone(timedelta(minutes=(minutes + 720) % 1440 - 720))

    def event_on(self, day: date) -> datetime | None:
        """The event (no offset) on ``day`` of :attr:`solar_day`, to the second, or ``None``."""
        function, arguments, _ = _EVENTS[self.event]
        observer = Observer(latitude=self.latitude, longitude=self.longitude)
        try:
            moment = function(observer, day, tzinfo=self.solar_day, **arguments)
        except ValueError:
            return None
        return (moment.astimezone(UTC) + timedelta(microseconds=500_000)).replace(microsecond=0)

    def _next_after(self, after: datetime) -> datetime | None:
        shift = timedelta(seconds=self.offset)
        start = (after - shift).astimezone(self.solar_day).date() - timedelta(days=1)
        for days in range(SEARCH_DAYS):
            found = self.event_on(start + timedelta(days=days))
            if found is not None and found + shift > after:
                return found + shift
        return None

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
        """Build from the dict form; unknown keys are an error."""
        check_keys(cls.kind, data, ("event", "latitude", "longitude", "offset"))
        for name in ("event", "latitude", "longitude"):
            if name not in data:
                raise SpecError(f"solar {name!r}: missing", name)
        return cls(
            event=data["event"],
            latitude=data["latitude"],
            longitude=data["longitude"],
            offset=data.get("offset") or 0.0,
        )
