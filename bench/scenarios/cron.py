"""Next fire of five typical cron expressions, per call: stembeat's cron spec (what every
stembeat store uses) against celery's ``crontab`` (what celery's schedulers and RedBeat use).

``n`` instants spread over a year (the same ones for every subject) are each asked for the
next fire after them; celery's ``remaining_estimate`` is its own next-fire computation.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

from bench import subjects
from bench.context import Context
from bench.stats import Metric

NAME = "cron"
EXPRESSIONS = ("*/5 * * * *", "0 9 * * 1-5", "30 2 * * *", "0 0 1 * *", "15,45 8-18 * * 1-5")
METRICS = tuple(Metric(f"cron{i}", f"next fire `{e}`", "µs") for i, e in enumerate(EXPRESSIONS))


def plan(ctx: Context) -> list[tuple[int, tuple[str, ...]]]:
    """Every subject; ``n`` instants per expression."""
    return [(500 if ctx.quick else 5_000, subjects.SUBJECTS)]


def measure(ctx: Context, subject: str, n: int, rep: int) -> dict[str, float]:
    """The best of three timed sweeps over the instants, per expression."""
    generator = random.Random(2026)
    start = datetime(2026, 1, 1, tzinfo=timezone.utc)
    instants = [start + timedelta(seconds=generator.uniform(0, 365 * 86400)) for _ in range(n)]
    results = {}
    for index, expression in enumerate(EXPRESSIONS):
        next_fire = _stembeat(expression) if subject in subjects.STEMBEATS else _celery(expression)
        sweeps = []
        for _ in range(3):
            started = time.perf_counter()
            for instant in instants:
                next_fire(instant)
            sweeps.append(time.perf_counter() - started)
        results[f"cron{index}"] = min(sweeps) / n * 1e6
    return results


def _stembeat(expression: str) -> Callable[[datetime], Any]:
    from celery_stembeat.specs import CronSpec

    return CronSpec(expression, "UTC").next_after


def _celery(expression: str) -> Callable[[datetime], Any]:
    from celery.schedules import crontab

    minute, hour, day_of_month, month_of_year, day_of_week = expression.split()
    schedule = crontab(
        minute=minute,
        hour=hour,
        day_of_month=day_of_month,
        month_of_year=month_of_year,
        day_of_week=day_of_week,
    )
    return schedule.remaining_estimate
