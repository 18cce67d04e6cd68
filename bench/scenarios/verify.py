"""``import --verify``: sixteen django-celery-beat tasks predicted over an ``n``-day window both
ways (celery's own schedules, as django-celery-beat drives them, and the imported entries) and
compared, as the command does after reading the rows.

The tasks are what a project has: intervals from 10 s to an hour (one overdue), crontabs every
minute to once a month in UTC, New York, London, Paris, Berlin and Sydney (each window crosses
clock changes), a sunrise, a one-off clocked task. The verification reads no store, so it runs
once, in the ``stembeat-sqlite`` column. Compared fires per second counts each pair of fires once
(and each fire only one side makes); peak RSS is the child process's high-water mark, imports
included.
"""

from __future__ import annotations

import resource
import time
from datetime import datetime, timedelta, timezone
from typing import Any

from bench.context import Context
from bench.stats import Metric

NAME = "verify"
METRICS = (
    Metric("fires_per_s", "verify, 16 tasks: compared fires", "fires/s", lower_is_better=False),
    Metric("peak_rss_mb", "verify, 16 tasks: peak RSS", "MB"),
)
NOW = datetime(2026, 3, 6, 12, 0, tzinfo=timezone.utc)


def plan(ctx: Context) -> list[tuple[int, tuple[str, ...]]]:
    """A 120-day window (10 days in quick mode)."""
    return [(10 if ctx.quick else 120, ("stembeat-sqlite",))]


def _interval(index: int, name: str, every: int, period: str, late: timedelta) -> Any:
    from celery_stembeat.migrate.dcb_rows import ScheduleRow, TaskRow

    schedule = ScheduleRow("interval", index, {"every": every, "period": period})
    return TaskRow(
        index,
        name,
        f"proj.{name}",
        last_run_at=NOW - late,
        links={"interval": index},
        schedules={"interval": schedule},
    )


def _crontab(index: int, name: str, fields: str, zone: str) -> Any:
    from celery_stembeat.migrate.dcb_rows import ScheduleRow, TaskRow

    minute, hour, day_of_month, month_of_year, day_of_week = fields.split()
    values = {
        "minute": minute,
        "hour": hour,
        "day_of_month": day_of_month,
        "month_of_year": month_of_year,
        "day_of_week": day_of_week,
        "timezone": zone,
    }
    return TaskRow(
        index,
        name,
        f"proj.{name}",
        last_run_at=NOW - timedelta(minutes=1),
        links={"crontab": index},
        schedules={"crontab": ScheduleRow("crontab", index, values)},
    )


def tasks() -> list[Any]:
    """The sixteen rows."""
    from celery_stembeat.migrate.dcb_rows import ScheduleRow, TaskRow

    seconds = timedelta(seconds=3)
    sunrise = {"event": "sunrise", "latitude": 40.7128, "longitude": -74.006}
    launch = {"clocked_time": NOW + timedelta(days=3)}
    return [
        _interval(1, "poll-10s", 10, "seconds", seconds),
        _interval(2, "poll-30s", 30, "seconds", seconds),
        _interval(3, "sync-1m", 1, "minutes", seconds),
        _interval(4, "sync-5m", 5, "minutes", seconds),
        _interval(5, "hourly", 1, "hours", seconds),
        _interval(6, "overdue-2m", 2, "minutes", timedelta(hours=1)),
        _crontab(7, "minutely", "* * * * *", "UTC"),
        _crontab(8, "minutely-ny", "* * * * *", "America/New_York"),
        _crontab(9, "minutely-sydney", "* * * * *", "Australia/Sydney"),
        _crontab(10, "five-london", "*/5 * * * *", "Europe/London"),
        _crontab(11, "quarter-berlin", "*/15 * * * *", "Europe/Berlin"),
        _crontab(12, "nightly-ny", "30 2 * * *", "America/New_York"),
        _crontab(13, "weekdays-paris", "0 9 * * 1-5", "Europe/Paris"),
        _crontab(14, "first-monday", "0 9 1-7 * mon", "Europe/Berlin"),
        TaskRow(
            15,
            "sunrise",
            "proj.lights",
            last_run_at=NOW - timedelta(hours=1),
            links={"solar": 15},
            schedules={"solar": ScheduleRow("solar", 15, sunrise)},
        ),
        TaskRow(
            16,
            "launch",
            "proj.launch",
            one_off=True,
            links={"clocked": 16},
            schedules={"clocked": ScheduleRow("clocked", 16, launch)},
        ),
    ]


def measure(ctx: Context, subject: str, n: int, rep: int) -> dict[str, float]:
    """Convert the rows as the import does, then time the verification of ``n`` days."""
    from celery_stembeat.migrate.convert import convert_task
    from celery_stembeat.migrate.dcb_rows import DcbSettings
    from celery_stembeat.migrate.oracle import DcbOracle
    from celery_stembeat.migrate.verify import verify

    settings = DcbSettings()
    rows = tasks()
    entries = {}
    for row in rows:
        entry = convert_task(row, settings, NOW).entry
        if entry is not None:
            entries[row.name] = entry
    started = time.perf_counter()
    found = verify(rows, entries, DcbOracle(settings), NOW, NOW + timedelta(days=n))
    elapsed = time.perf_counter() - started
    if not found.safe:
        raise AssertionError(f"{found.divergence_count} divergences")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    dcb, ours = found.fires
    return {
        "fires_per_s": found.compared / elapsed,
        "peak_rss_mb": peak,
        "compared": found.compared,
        "dcb_fires": dcb,
        "stembeat_fires": ours,
        "seconds": elapsed,
    }
