"""Which stembeat entries a celery-style scheduler can express, and as which crontab fields.

Both back-out targets (django-celery-beat and a plain ``beat_schedule``) run celery's own
schedules, so they share the question; each says what it cannot carry as :class:`Inexpressible`.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone

from celery.schedules import crontab

from celery_stembeat.celery_schedules import from_celery
from celery_stembeat.entry import Entry
from celery_stembeat.specs import CalendarSpec, CronSpec, Spec, WindowedSpec, unwrap
from celery_stembeat.specs.calendar import compress
from celery_stembeat.specs.cron import split_fields

#: How many occurrences must agree for a crontab to stand for a spec it does not equal.
_SAMPLE = 400
_FROM = datetime(2026, 1, 1, tzinfo=timezone.utc)


class Inexpressible(Exception):
    """The target cannot express this entry; the message says what."""


def crontab_fields(spec: CronSpec | CalendarSpec) -> dict[str, str]:
    """The crontab fields (celery's names) that run exactly as ``spec`` does.

    A cron expression with seconds, ``L``/``#`` items, or both day fields restricted (Vixie's
    OR; celery requires both) has none.
    """
    if isinstance(spec, CalendarSpec):
        fields = {
            "minute": compress(spec.minutes) or "*",
            "hour": compress(spec.hours) or "*",
            "day_of_month": compress(spec.monthdays) or "*",
            "month_of_year": compress(spec.months) or "*",
            "day_of_week": compress(spec.weekdays) or "*",
        }
    else:
        _, parts, seconds = split_fields(spec.expression)
        if seconds:
            raise Inexpressible(f"cron {spec.expression!r} has a seconds field")
        minute, hour, day_of_month, month_of_year, day_of_week = parts
        if "#" in day_of_week or "l" in f"{day_of_month} {day_of_week}".lower():
            raise Inexpressible(f"cron {spec.expression!r}: celery has no 'L' or '#'")
        if day_of_month not in ("*", "?") and day_of_week not in ("*", "?"):
            raise Inexpressible(
                f"cron {spec.expression!r} restricts both day fields (either may match); "
                "celery's crontab requires both"
            )
        fields = {
            "minute": minute,
            "hour": hour,
            "day_of_month": day_of_month.replace("?", "*"),
            "month_of_year": month_of_year,
            "day_of_week": day_of_week.replace("?", "*"),
        }
    _check_same(spec, fields)
    return fields


def _check_same(spec: Spec, fields: dict[str, str]) -> None:
    zone = spec.timezone if isinstance(spec, (CronSpec, CalendarSpec)) else "UTC"
    try:
        back = from_celery(crontab(**fields), timezone=zone)
    except ValueError as exc:
        raise Inexpressible(f"{spec.describe()}: celery refuses {fields}: {exc}") from None
    if back == spec:
        return
    assert back is not None
    if list(back.occurrences(_FROM, _SAMPLE)) != list(spec.occurrences(_FROM, _SAMPLE)):
        raise Inexpressible(f"{spec.describe()} has no crontab that runs the same")


def interval_period(seconds: float) -> tuple[int, str]:
    """``every`` and ``period`` of django-celery-beat's interval: the largest exact unit."""
    for period, size in (("days", 86400), ("hours", 3600), ("minutes", 60), ("seconds", 1)):
        count = seconds / size
        if count == int(count):
            return int(count), period
    return round(seconds * 1_000_000), "microseconds"


def check_celery_rules(entry: Entry) -> None:
    """What no celery-driven scheduler has: catch-up policies other than one run, jitter,
    skipping overlaps."""
    if entry.catch_up != "fire_one":
        raise Inexpressible(f"catch_up={entry.catch_up} (celery runs one late run)")
    if entry.jitter:
        raise Inexpressible(f"jitter={entry.jitter:g} s")
    if entry.overlap != "allow":
        raise Inexpressible(f"overlap={entry.overlap} (celery sends every occurrence)")


def left_out(entry: Entry) -> list[str]:
    """The fields of ``entry`` a celery-style target has no room for, so an export writes the
    entry without them and names them: its tags and its blackout windows."""
    names = ["tags"] if entry.tags else []
    if isinstance(entry.spec, WindowedSpec):
        names += [
            name
            for name, rules in (("except", entry.spec.exclude), ("only", entry.spec.only))
            if rules
        ]
    return names


def without_left_out(entry: Entry) -> Entry:
    """``entry`` as a celery-style target keeps it: no tags, no windows."""
    return replace(entry, tags=(), spec=unwrap(entry.spec))


def after_expire(expire_at: datetime) -> datetime:
    """django-celery-beat's ``expires`` for an ``expire_at``: the millisecond after it."""
    return expire_at + timedelta(milliseconds=1)
