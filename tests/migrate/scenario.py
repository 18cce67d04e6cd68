"""Periodic tasks made with django-celery-beat's own models: every field, and the broken shapes.

The tasks are built through the ORM (``save()`` validates as the Django admin does); broken rows
are made the only way they reach a real database, by writes that skip validation
(``QuerySet.update``). ``date_changed`` is set explicitly, since ``auto_now`` would stamp the
machine's clock and the tests run on a fixed one.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from tests.migrate.conftest import NOW, UTC

#: The verification window of the tests: from NOW over the US (8 March) and EU (29 March)
#: daylight-saving changes.
WINDOW = "25d"
WINDOW_END = NOW + timedelta(days=25)
#: Every name :func:`build_all_fields` creates.
ALL_FIELDS = (
    "report-ny",
    "quarter-hours-london",
    "first-monday",
    "weekdays-paris",
    "half-hourly-in-microseconds",
    "sunrise-nyc",
    "launch",
    "one-off-interval",
    "start-later",
    "interval-start",
    "disabled",
    "ttl",
    "overdue-interval",
)
BROKEN = {
    "no-schedule": "no schedule",
    "two-schedules": "more than one schedule",
    "clocked-repeating": "one_off=False",
    "sunday-seven": "celery refuses it",
    "feb-30": "celery refuses it",
    "python-args": "Python repr text, not JSON",
    "bad-kwargs": "is not JSON",
}


def _models() -> Any:
    from django_celery_beat import models

    return models


def _task(
    alias: str, name: str, *, changed: datetime = NOW - timedelta(days=1), **fields: Any
) -> Any:
    models = _models()
    fields.setdefault("task", f"proj.{name.replace('-', '_')}")
    task = models.PeriodicTask(name=name, **fields)
    task.save(using=alias)
    models.PeriodicTask.objects.using(alias).filter(pk=task.pk).update(date_changed=changed)
    return task


def _crontab(
    alias: str, zone: str, minute: str, hour: str, dom: str = "*", dow: str = "*", month: str = "*"
) -> Any:
    return (
        _models()
        .CrontabSchedule.objects.using(alias)
        .create(
            minute=minute,
            hour=hour,
            day_of_month=dom,
            day_of_week=dow,
            month_of_year=month,
            timezone=ZoneInfo(zone),
        )
    )


def _interval(alias: str, every: int, period: str) -> Any:
    return _models().IntervalSchedule.objects.using(alias).create(every=every, period=period)


def build_all_fields(alias: str) -> None:
    """One task per field and schedule kind (see :data:`ALL_FIELDS`)."""
    models = _models()
    _task(
        alias,
        "report-ny",
        crontab=_crontab(alias, "America/New_York", "30", "2"),
        last_run_at=datetime(2026, 3, 6, 7, 30, tzinfo=UTC),
        total_run_count=41,
        args=json.dumps(["daily", 2]),
        kwargs=json.dumps({"to": "ops@example.com"}),
        queue="reports",
        exchange="reports-x",
        routing_key="reports.daily",
        priority=7,
        headers=json.dumps({"tenant": "acme"}),
        description="the New York report",
    )
    _task(
        alias,
        "quarter-hours-london",
        crontab=_crontab(alias, "Europe/London", "*/15", "*"),
        last_run_at=datetime(2026, 3, 6, 11, 45, tzinfo=UTC),
        total_run_count=9000,
    )
    _task(
        alias,
        "first-monday",
        crontab=_crontab(alias, "Europe/Berlin", "0", "9", dom="1-7", dow="mon"),
        last_run_at=datetime(2026, 3, 2, 8, 0, tzinfo=UTC),
        total_run_count=3,
    )
    _task(
        alias,
        "weekdays-paris",
        crontab=_crontab(alias, "Europe/Paris", "0", "9", dow="1-5"),
        last_run_at=datetime(2026, 3, 6, 8, 0, tzinfo=UTC),
        expires=datetime(2026, 3, 20, 8, 0, tzinfo=UTC),
    )
    _task(
        alias,
        "half-hourly-in-microseconds",
        interval=_interval(alias, 1_800_000_000, "microseconds"),
        last_run_at=NOW - timedelta(minutes=10, microseconds=250),
        total_run_count=5,
    )
    _task(
        alias,
        "sunrise-nyc",
        solar=models.SolarSchedule.objects.using(alias).create(
            event="sunrise", latitude=Decimal("40.712800"), longitude=Decimal("-74.006000")
        ),
        last_run_at=datetime(2026, 3, 6, 11, 20, tzinfo=UTC),
    )
    _task(
        alias,
        "launch",
        clocked=models.ClockedSchedule.objects.using(alias).create(
            clocked_time=datetime(2026, 3, 10, 15, 0, tzinfo=UTC)
        ),
        one_off=True,
    )
    _task(alias, "one-off-interval", interval=_interval(alias, 2, "days"), one_off=True)
    _task(
        alias,
        "start-later",
        crontab=_crontab(alias, "UTC", "0", "12"),
        start_time=datetime(2026, 3, 9, 10, 30, tzinfo=UTC),
    )
    _task(
        alias,
        "interval-start",
        interval=_interval(alias, 12, "hours"),
        start_time=datetime(2026, 3, 7, 6, 0, tzinfo=UTC),
    )
    _task(alias, "disabled", interval=_interval(alias, 1, "hours"), enabled=False)
    _task(
        alias,
        "ttl",
        interval=_interval(alias, 6, "hours"),
        expire_seconds=600,
        last_run_at=NOW - timedelta(hours=1),
    )
    _task(
        alias,
        "overdue-interval",
        interval=_interval(alias, 4, "hours"),
        last_run_at=NOW - timedelta(hours=5),
        total_run_count=2,
    )


def build_broken(alias: str) -> None:
    """Rows django-celery-beat itself cannot run (see :data:`BROKEN`)."""
    models = _models()
    tasks = models.PeriodicTask.objects.using(alias)
    hourly = _interval(alias, 1, "hours")
    made = _task(alias, "no-schedule", interval=hourly)
    tasks.filter(pk=made.pk).update(interval=None)
    made = _task(alias, "two-schedules", interval=hourly)
    tasks.filter(pk=made.pk).update(crontab=_crontab(alias, "UTC", "0", "1"))
    clocked = models.ClockedSchedule.objects.using(alias).create(
        clocked_time=datetime(2026, 3, 7, tzinfo=UTC)
    )
    made = _task(alias, "clocked-repeating", clocked=clocked, one_off=True)
    tasks.filter(pk=made.pk).update(one_off=False)
    _task(alias, "sunday-seven", crontab=_crontab(alias, "UTC", "0", "9", dow="7"))
    _task(alias, "feb-30", crontab=_crontab(alias, "UTC", "0", "9", dom="30", month="2"))
    made = _task(alias, "python-args", interval=hourly)
    tasks.filter(pk=made.pk).update(args="['a', 1]")
    made = _task(alias, "bad-kwargs", interval=hourly)
    tasks.filter(pk=made.pk).update(kwargs="{not json")


#: The clock of docs/migrating.md's walk-through.
WALKTHROUGH_NOW = datetime(2026, 12, 2, 5, 43, tzinfo=UTC)
#: Every name :func:`build_walkthrough` creates, in the order of the import's report.
WALKTHROUGH = (
    "nightly-report",
    "first-monday-digest",
    "poll-feeds",
    "lights-on",
    "new-year",
    "sunday-cleanup",
)


def build_walkthrough(alias: str) -> None:
    """The project of docs/migrating.md's walk-through, as django-celery-beat's beat left it
    (last runs with microseconds); ``sunday-cleanup`` has the day 7 that celery refuses."""
    models = _models()
    now = WALKTHROUGH_NOW
    changed = datetime(2026, 9, 14, 10, 2, 7, 512_394, tzinfo=UTC)
    _task(
        alias,
        "nightly-report",
        changed=changed,
        task="proj.tasks.report",
        crontab=_crontab(alias, "America/New_York", "30", "2"),
        last_run_at=datetime(2026, 12, 1, 7, 30, 0, 4_211, tzinfo=UTC),
        total_run_count=212,
    )
    _task(
        alias,
        "first-monday-digest",
        changed=changed,
        task="proj.tasks.digest",
        crontab=_crontab(alias, "Europe/Berlin", "0", "9", dom="1-7", dow="mon"),
        last_run_at=datetime(2026, 11, 2, 8, 0, 0, 1_907, tzinfo=UTC),
        total_run_count=14,
    )
    _task(
        alias,
        "poll-feeds",
        changed=changed,
        task="proj.tasks.poll",
        interval=_interval(alias, 5, "minutes"),
        expire_seconds=240,
        last_run_at=now - timedelta(minutes=3, seconds=12, microseconds=345_678),
        total_run_count=52_310,
    )
    _task(
        alias,
        "lights-on",
        changed=changed,
        task="proj.tasks.lights",
        args=json.dumps(["hall", "on"]),
        solar=models.SolarSchedule.objects.using(alias).create(
            event="sunset", latitude=Decimal("40.712800"), longitude=Decimal("-74.006000")
        ),
        last_run_at=datetime(2026, 12, 1, 21, 29, 31, 220_517, tzinfo=UTC),
        total_run_count=61,
    )
    _task(
        alias,
        "new-year",
        changed=changed,
        task="proj.tasks.greet",
        clocked=models.ClockedSchedule.objects.using(alias).create(
            clocked_time=datetime(2027, 1, 1, tzinfo=UTC)
        ),
        one_off=True,
    )
    _task(
        alias,
        "sunday-cleanup",
        changed=datetime(2026, 12, 1, 16, 20, 11, 734_802, tzinfo=UTC),
        task="proj.tasks.cleanup",
        crontab=_crontab(alias, "UTC", "0", "4", dow="7"),
    )


def fix_sunday_cleanup(alias: str) -> None:
    """The walk-through's edit in the Django admin: ``sunday-cleanup`` on day 0."""
    models = _models()
    schedule = models.PeriodicTask.objects.using(alias).get(name="sunday-cleanup").crontab
    schedule.day_of_week = "0"
    schedule.save(using=alias)


#: Every name :func:`build_run_once` creates.
RUN_ONCE = ("launch", "once-tomorrow", "until-sunday", "expired-unrun", "admin-disabled")


def build_run_once(alias: str) -> None:
    """Tasks stembeat disables itself within three days of NOW: a clocked one-off, a one-off
    interval, one that expires after some runs and one that expires before its next run; and
    one to disable in the Django admin (see :data:`RUN_ONCE`)."""
    models = _models()
    _task(
        alias,
        "launch",
        clocked=models.ClockedSchedule.objects.using(alias).create(
            clocked_time=datetime(2026, 3, 7, 9, 0, tzinfo=UTC)
        ),
        one_off=True,
    )
    _task(
        alias,
        "once-tomorrow",
        changed=NOW - timedelta(hours=12),
        interval=_interval(alias, 1, "days"),
        one_off=True,
    )
    _task(
        alias,
        "until-sunday",
        interval=_interval(alias, 12, "hours"),
        last_run_at=NOW - timedelta(hours=1),
        total_run_count=6,
        expires=datetime(2026, 3, 8, tzinfo=UTC),
    )
    _task(
        alias,
        "expired-unrun",
        interval=_interval(alias, 6, "hours"),
        last_run_at=NOW - timedelta(hours=1),
        total_run_count=3,
        expires=NOW + timedelta(hours=2),
    )
    _task(
        alias,
        "admin-disabled",
        interval=_interval(alias, 1, "hours"),
        last_run_at=NOW - timedelta(minutes=10),
        total_run_count=100,
    )
