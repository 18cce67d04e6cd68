"""The celery app every scheduler under test runs with, and the ``beat_schedule`` it gets."""

from __future__ import annotations

from typing import Any

from celery import Celery
from celery.schedules import crontab

from bench.context import Context

#: The task every benchmark entry sends; no worker runs it, the messages are counted.
TASK = "bench.noop"


def make_app(ctx: Context, queue: str, schedule: dict[str, Any], **settings: Any) -> Celery:
    """A celery app publishing to the benchmark broker's ``queue``, with ``beat_schedule``."""
    app = Celery("bench", broker=ctx.broker_url, set_as_current=True)
    app.conf.update(
        task_default_queue=queue,
        timezone="UTC",
        enable_utc=True,
        # No result backend and no expiry: no scheduler adds its housekeeping entry.
        result_expires=None,
        broker_connection_retry_on_startup=True,
        beat_schedule=schedule,
        **settings,
    )
    return app


def intervals(n: int, every: float, prefix: str = "job") -> dict[str, Any]:
    """``n`` entries firing every ``every`` seconds (plain numbers, as celery reads them)."""
    return {f"{prefix}{i:07d}": {"task": TASK, "schedule": every, "args": [i]} for i in range(n)}


def mixed(n: int) -> dict[str, Any]:
    """``n`` typical entries: three in four intervals of 1-100 minutes, one in four crontabs."""
    schedule: dict[str, Any] = {}
    for i in range(n):
        if i % 4 == 3:
            every: Any = crontab(minute=str(i % 60), hour=str(i % 24))
        else:
            every = 60.0 * (1 + i % 100)
        schedule[f"job{i:07d}"] = {"task": TASK, "schedule": every, "args": [i]}
    return schedule
