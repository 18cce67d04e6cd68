"""Helpers shared by the cron test files: instants, DST transitions, croniter and celery.

The two reference libraries are driven the way their users drive them:

* croniter directly, with a tz-aware start: ``croniter(expr, start).get_next(datetime)``;
* celery's ``crontab`` in an app whose ``timezone`` is the zone, asked where beat would run
  the entry next if it last ran at ``after`` (see :func:`celery_next`).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone, tzinfo
from zoneinfo import ZoneInfo

from celery import Celery
from celery.schedules import crontab
from croniter import croniter

from tests._celery_versions import skip_before_celery

UTC = timezone.utc
#: celery's crontab takes month names (``jan``, ``December``) from celery 5.5 on; before, it
#: refuses them ("Invalid weekday literal 'dec'").
CELERY_MONTH_NAMES = ((5, 5), "celery's crontab takes month names from celery 5.5 on")


def utc(text: str) -> datetime:
    """``"2025-03-09 07:00"`` (seconds and fractions optional) as an aware UTC datetime."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def load(zone: str) -> tzinfo:
    """The tzinfo for an IANA name, ``"UTC"`` included."""
    return UTC if zone == "UTC" else ZoneInfo(zone)


@dataclass(frozen=True)
class Transition:
    """A UTC offset change: ``at`` is the first instant with the new offset."""

    at: datetime
    shift: timedelta  # new offset minus old offset: positive when the clocks spring forward

    def window(self) -> tuple[datetime, datetime]:
        """The instants whose wall clock is skipped or repeated, widened to both sides."""
        size = abs(self.shift)
        return self.at - size, self.at + size


@functools.cache
def transitions(zone: str, first_year: int, last_year: int) -> tuple[Transition, ...]:
    """Every offset change of ``zone`` in the given years, to the second."""
    tz = load(zone)

    def offset(instant: datetime) -> timedelta:
        value = instant.astimezone(tz).utcoffset()
        assert value is not None
        return value

    found = []
    day = datetime(first_year, 1, 1, tzinfo=UTC)
    end = datetime(last_year + 1, 1, 1, tzinfo=UTC)
    while day < end:
        following = day + timedelta(days=1)
        if offset(day) != offset(following):
            low, high = int(day.timestamp()), int(following.timestamp())
            while high - low > 1:
                middle = (low + high) // 2
                if offset(datetime.fromtimestamp(middle, UTC)) == offset(day):
                    low = middle
                else:
                    high = middle
            at = datetime.fromtimestamp(high, UTC)
            found.append(Transition(at, offset(at) - offset(day)))
        day = following
    return tuple(found)


def croniter_next(expression: str, zone: str, after: datetime) -> datetime:
    """croniter's next time after ``after``, starting from ``after`` in ``zone``, as UTC."""
    start = after.astimezone(load(zone))
    seconds = len(expression.split()) == 6
    found: datetime = croniter(expression, start, second_at_beginning=seconds).get_next(datetime)
    return found.astimezone(UTC)


@functools.lru_cache(maxsize=4096)
def _croniter_for(expression: str, zone: str) -> croniter:
    seconds = len(expression.split()) == 6
    return croniter(
        expression, datetime(2000, 1, 1, tzinfo=load(zone)), second_at_beginning=seconds
    )


def croniter_next_cached(expression: str, zone: str, after: datetime) -> datetime:
    """:func:`croniter_next` without re-parsing: one iterator per expression, reset each call.

    ``croniter.__init__`` parses the expression and calls ``set_current(start, force=True)``;
    parsing does not depend on the start, so resetting a parsed iterator is the same thing.
    """
    iterator = _croniter_for(expression, zone)
    iterator.set_current(after.astimezone(load(zone)), force=True)
    found: datetime = iterator.get_next(datetime)
    return found.astimezone(UTC)


@functools.cache
def celery_app(zone: str) -> Celery:
    """A private celery app (never the current app) whose ``timezone`` is ``zone``."""
    app = Celery("stembeat-cron-tests", set_as_current=False)
    app.conf.timezone = zone
    return app


def needs_celery_month_names(expression: str) -> None:
    """Skip the running test below celery 5.5 when the month field is written with names."""
    if any(character.isalpha() for character in expression.split()[3]):
        skip_before_celery(*CELERY_MONTH_NAMES)


def celery_crontab(expression: str, zone: str) -> crontab:
    """celery's ``crontab`` for a five-field cron expression, in an app set to ``zone``."""
    minute, hour, day_of_month, month_of_year, day_of_week = expression.split()
    return crontab(
        minute=minute,
        hour=hour,
        day_of_week=day_of_week,
        day_of_month=day_of_month,
        month_of_year=month_of_year,
        app=celery_app(zone),
    )


def celery_next(entry: crontab, after: datetime) -> datetime:
    """The instant celery beat would next run ``entry`` if it last ran at ``after``, as UTC.

    Beat keeps ``last_run_at`` and ``now`` in the app's time zone (``app.now()``), so both are
    given that way. ``is_due(last_run_at)`` turns true once ``remaining_estimate`` (the due
    time minus ``now``, a real-time difference) reaches zero; with the clock stopped at
    ``after`` the due time is ``after + remaining_estimate(after)``. It can lie before
    ``after``: beat then runs the entry at once.
    """
    local = after.astimezone(entry.tz)
    entry.nowfun = lambda: local
    return after.astimezone(UTC) + entry.remaining_estimate(local)


@dataclass(frozen=True)
class Field:
    """A cron field for the expression generators: its range, how often it is ``*``, names."""

    low: int
    high: int
    star: float  # how often the generator writes ``*``
    names: tuple[str, ...] = ()
