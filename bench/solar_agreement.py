"""How far stembeat's solar times are from celery's ``solar`` (ephem), per event and latitude.

``python -m bench.solar_agreement [--step DEGREES]`` prints the Markdown table that
docs/schedules.md quotes: for each event and latitude band, the largest difference in seconds
over every day of a year, at latitudes ``--step`` apart in both hemispheres and at a few
longitudes. Grazing days are left out and counted: days on which the sun's highest or lowest
point comes within :data:`GRAZE` degrees of the event's altitude. On those the event barely
happens, or not at all (polar day and night, summer nights without astronomical darkness), the
sun crosses that altitude almost level, and the libraries' small differences in refraction and
horizon grow into minutes, or into a day. tests/specs/test_solar_agreement.py checks the
documented table on a sample of the same grid.
"""

from __future__ import annotations

import argparse
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from astral import Observer
from astral import sun as astral_sun
from celery import Celery
from celery.schedules import solar

from celery_stembeat.specs.solar import EVENTS, SolarSpec

#: Latitude bands (absolute degrees; the lower bound is in the band, the upper one is not,
#: except 90).
BANDS = ((0, 30), (30, 45), (45, 55), (55, 60), (60, 65), (65, 70), (70, 80), (80, 90))
LONGITUDES = (-122.4, 0.0, 139.7)
YEAR = 2026
#: Degrees: a day whose sun passes this close to the event's altitude is a grazing day.
GRAZE = 1.0
#: The altitude of the sun's centre at each event (solar noon has none: it always happens).
ALTITUDES = {
    "dawn_astronomical": -18.0,
    "dawn_nautical": -12.0,
    "dawn_civil": -6.0,
    "sunrise": -0.833,
    "sunset": -0.833,
    "dusk_civil": -6.0,
    "dusk_nautical": -12.0,
    "dusk_astronomical": -18.0,
}
#: The event celery finds is searched for from this long before ours.
_LEAD = timedelta(hours=3)
_HALF_DAY = timedelta(hours=12)
_APP = Celery("stembeat-solar-agreement", set_as_current=False)


@dataclass
class Agreement:
    """The largest difference found (seconds, and where), the days compared and left out."""

    worst: float = 0.0
    where: tuple[float, float, date] | None = None
    compared: int = 0
    grazing: int = 0

    def add(self, other: Agreement) -> None:
        """Fold in ``other``, another place's result."""
        if self.where is None or other.worst > self.worst:
            self.worst, self.where = other.worst, other.where
        self.compared += other.compared
        self.grazing += other.grazing


def band_latitudes(band: tuple[int, int], step: float) -> list[float]:
    """The latitudes of ``band`` on a grid ``step`` degrees apart, north and south."""
    low, high = band
    count = round((high - low) / step) + (1 if high == 90 else 0)
    north = [low + i * step for i in range(count)]
    return sorted({*north, *(-latitude for latitude in north)})


def celery_event_after(schedule: solar, after: datetime) -> datetime:
    """The first event after ``after`` as celery's ``solar`` finds it (beat's question)."""
    schedule.nowfun = lambda: after
    found: datetime = after + schedule.remaining_estimate(after)
    return found


def grazing(event: str, observer: Observer, moment: datetime) -> bool:
    """Whether the sun's path around ``moment`` comes within :data:`GRAZE` of the event's
    altitude: at the solar noon nearest ``moment``, or at the midnight on its side."""
    if event not in ALTITUDES:
        return False
    noon = min(
        (astral_sun.noon(observer, moment.date() + timedelta(days=days)) for days in (-1, 0, 1)),
        key=lambda candidate: abs(candidate - moment),
    )
    midnight = noon + (_HALF_DAY if moment > noon else -_HALF_DAY)
    highest = astral_sun.elevation(observer, noon, with_refraction=False)
    lowest = astral_sun.elevation(observer, midnight, with_refraction=False)
    altitude = ALTITUDES[event]
    return min(highest - altitude, altitude - lowest) < GRAZE


def compare(event: str, latitude: float, longitude: float, days: Sequence[date]) -> Agreement:
    """Our ``event`` on each of ``days`` against the one celery finds, at one place."""
    spec = SolarSpec(event, latitude, longitude)
    schedule = solar(event, latitude, longitude, app=_APP)
    observer = Observer(latitude=latitude, longitude=longitude)
    result = Agreement()
    for day in days:
        moment = spec.event_on(day)
        if moment is None or grazing(event, observer, moment):
            result.grazing += 1
            continue
        difference = abs((celery_event_after(schedule, moment - _LEAD) - moment).total_seconds())
        result.compared += 1
        if result.where is None or difference > result.worst:
            result.worst, result.where = difference, (latitude, longitude, day)
    return result


def year_days(every: int = 1, first: int = 0) -> list[date]:
    """Every ``every``-th day of :data:`YEAR`, from day ``first`` (0 is 1 January)."""
    start = date(YEAR, 1, 1)
    return [start + timedelta(days=n) for n in range(first, 365, every)]


def measure(
    band: tuple[int, int],
    event: str,
    step: float,
    longitudes: Sequence[float] = LONGITUDES,
    days: Sequence[date] | None = None,
) -> Agreement:
    """``event`` over ``band`` at latitudes ``step`` apart (by default on every day)."""
    total = Agreement()
    for latitude in band_latitudes(band, step):
        for longitude in longitudes:
            total.add(compare(event, latitude, longitude, days or year_days()))
    return total


def main(argv: Sequence[str] | None = None) -> None:
    """Print the table (the largest difference per event and band, in whole seconds rounded up)
    and where each was found."""
    parser = argparse.ArgumentParser(prog="python -m bench.solar_agreement")
    parser.add_argument("--step", type=float, default=0.5, help="degrees between latitudes")
    arguments = parser.parse_args(argv)
    started = time.monotonic()
    header = ["event", *(f"{low}-{high}°" for low, high in BANDS)]
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    notes = []
    for event in EVENTS:
        cells = []
        for band in BANDS:
            found = measure(band, event, arguments.step)
            cells.append(f"{math.ceil(found.worst)}" if found.compared else "-")
            notes.append(f"{event} {band}: {found}")
        print(f"| {event} | " + " | ".join(cells) + " |", flush=True)
    print()
    for note in notes:
        print(note)
    print(f"\n{time.monotonic() - started:.0f} s, latitudes {arguments.step}° apart")


if __name__ == "__main__":
    main()
