"""Two-way bridge to celery.schedules: read celery's schedules, and wrap specs for celery.

It sits above :mod:`celery_stembeat.specs`, which stays pure time math that imports no celery;
``celery_stembeat.specs`` still offers these names, imported from here on first use.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from celery import Celery
from celery.schedules import BaseSchedule, crontab, schedstate, schedule, solar

from celery_stembeat.specs import CalendarSpec, CronSpec, IntervalSpec, SolarSpec, Spec, zone_name
from celery_stembeat.specs.calendar import compress

#: Seconds until celery should look again at a schedule that will never fire again.
NEVER_CHECK_SECONDS = 100_000_000.0

_FIELD_RANGES = {
    "minute": (0, 59),
    "hour": (0, 23),
    "day_of_month": (1, 31),
    "month_of_year": (1, 12),
    "day_of_week": (0, 6),
}


def _values(entry: crontab, name: str) -> list[int]:
    return sorted(int(value) for value in getattr(entry, name))


def _is_full(entry: crontab, name: str) -> bool:
    low, high = _FIELD_RANGES[name]
    return _values(entry, name) == list(range(low, high + 1))


def _cron_field(entry: crontab, name: str) -> str:
    """A field of ``entry`` as cron text, keeping ``*``/``*/n`` where the user wrote them.

    A field that covers its whole range is ``*`` however it was written, so a day field
    listing every day leaves the other day field alone (celery's AND, not Vixie's OR). The
    hour is the exception: hours written out stay fixed-time for the daylight-saving rule.
    """
    low, high = _FIELD_RANGES[name]
    values = _values(entry, name)
    if name != "hour" and _is_full(entry, name):
        return "*"
    original = getattr(entry, f"_orig_{name}", None)
    if isinstance(original, str) and original.strip().startswith("*"):
        for step in range(1, high - low + 1):
            if values == list(range(low, high + 1, step)):
                return "*" if step == 1 else f"*/{step}"
    return compress(values)


def _crontab_zone(entry: crontab, timezone: str | None) -> str:
    if timezone:
        return zone_name(timezone)
    return zone_name(entry.tz)


def _from_crontab(entry: crontab, timezone: str | None) -> Spec:
    zone = _crontab_zone(entry, timezone)
    if not _is_full(entry, "day_of_month") and not _is_full(entry, "day_of_week"):
        # celery requires both day fields to match; Vixie cron would accept either.
        def chosen(name: str) -> tuple[int, ...]:
            return () if _is_full(entry, name) else tuple(_values(entry, name))

        return CalendarSpec(
            months=chosen("month_of_year"),
            weekdays=chosen("day_of_week"),
            monthdays=chosen("day_of_month"),
            hours=chosen("hour"),
            minutes=chosen("minute"),
            timezone=zone,
        )
    fields = (_cron_field(entry, name) for name in _FIELD_RANGES)
    return CronSpec(" ".join(fields), zone)


def from_celery(value: object, *, timezone: str | None = None) -> Spec | None:
    """The spec equivalent to a celery schedule object, or ``None`` for anything else."""
    if isinstance(value, SpecSchedule):
        return value.spec
    if isinstance(value, crontab):
        return _from_crontab(value, timezone)
    if isinstance(value, solar):
        return SolarSpec(event=value.event, latitude=value.lat, longitude=value.lon)
    if isinstance(value, schedule):
        run_every: timedelta = value.run_every
        return IntervalSpec(run_every.total_seconds())
    return None


class SpecSchedule(BaseSchedule):  # type: ignore[misc]
    """A spec dressed as a ``celery.schedules`` schedule, for celery's own machinery."""

    def __init__(
        self,
        spec: Spec,
        nowfun: Callable[[], datetime] | None = None,
        app: Celery | None = None,
    ) -> None:
        super().__init__(nowfun=nowfun, app=app)
        self.spec = spec

    def _next_after(self, instant: datetime) -> datetime | None:
        aware: datetime = self.maybe_make_aware(instant)
        return self.spec.next_after(aware)

    def remaining_estimate(self, last_run_at: datetime) -> timedelta:
        """Time from now to the first occurrence after ``last_run_at``.

        With no occurrence left it is the long :data:`NEVER_CHECK_SECONDS` wait, never
        ``None``: celery's ``solar`` also answers a positive time when it finds no event.
        """
        upcoming = self._next_after(last_run_at)
        if upcoming is None:
            return timedelta(seconds=NEVER_CHECK_SECONDS)
        now: datetime = self.maybe_make_aware(self.now())
        return upcoming - now

    def is_due(self, last_run_at: datetime) -> schedstate:
        """celery's ``(is_due, seconds until the next check)`` for ``last_run_at``."""
        now: datetime = self.maybe_make_aware(self.now())
        upcoming = self._next_after(last_run_at)
        if upcoming is None:
            return schedstate(is_due=False, next=NEVER_CHECK_SECONDS)
        if upcoming > now:
            return schedstate(is_due=False, next=(upcoming - now).total_seconds())
        following = self.spec.next_after(now)
        wait = NEVER_CHECK_SECONDS if following is None else (following - now).total_seconds()
        return schedstate(is_due=True, next=wait)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, SpecSchedule):
            return self.spec == other.spec
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self.spec)

    def __reduce__(self) -> tuple[Any, ...]:
        return (self.__class__, (self.spec,))

    def __repr__(self) -> str:
        return f"<stembeat: {self.spec.describe()}>"


def to_celery(spec: Spec, app: Celery | None = None) -> SpecSchedule:
    """Wrap ``spec`` so celery can hold it wherever it expects a schedule."""
    return SpecSchedule(spec, app=app)
