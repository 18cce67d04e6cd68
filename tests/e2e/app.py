"""The celery app the end-to-end tests run beat and a worker with; configured by environment.

``E2E_BROKER`` (broker URL), ``E2E_QUEUE`` (the only queue, so parallel runs never meet),
``E2E_RECORD`` (a Redis list every run appends to), ``E2E_RECORD_URL`` (that Redis),
``E2E_BEAT_SCHEDULE`` (``beat_schedule`` as JSON: spec strings or dicts) and
``E2E_SETTINGS`` (more celery settings as JSON, e.g. ``stembeat_url``). With
``E2E_TRACK_OUTCOMES`` set, the workers report outcomes (``track_outcomes``).
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

import redis
from celery import Celery

app = Celery("e2e", broker=os.environ.get("E2E_BROKER", "redis://127.0.0.1:6379/0"))
QUEUE = os.environ.get("E2E_QUEUE", "e2e")
app.conf.update(
    task_default_queue=QUEUE,
    broker_connection_retry_on_startup=True,
    worker_hijack_root_logger=False,
    beat_schedule=json.loads(os.environ.get("E2E_BEAT_SCHEDULE", "{}")),
    **json.loads(os.environ.get("E2E_SETTINGS", "{}")),
)
if os.environ.get("E2E_TRACK_OUTCOMES"):
    from celery_stembeat import track_outcomes

    track_outcomes(app, interval=0.1)
_record = redis.Redis.from_url(os.environ.get("E2E_RECORD_URL", "redis://127.0.0.1:6379/0"))


@app.task(bind=True, name="e2e.record")
def record(self: Any, *args: Any, **kwargs: Any) -> None:
    """Append this run (task id, entry, scheduled time, arguments) to the record list."""
    headers = self.request.headers or {}
    row = {
        "id": self.request.id,
        "entry": headers.get("stembeat_entry") or getattr(self.request, "stembeat_entry", None),
        "scheduled_for": headers.get("stembeat_scheduled_for")
        or getattr(self.request, "stembeat_scheduled_for", None),
        "args": list(args),
        "kwargs": kwargs,
        "queue": (self.request.delivery_info or {}).get("routing_key"),
        "priority": (self.request.delivery_info or {}).get("priority"),
        "header": headers.get("x-team") or getattr(self.request, "x-team", None),
        "expires": self.request.expires,
        "eta": self.request.eta,
        "timelimit": self.request.timelimit,
        "shadow": self.request.shadow,
        "ignore_result": self.request.ignore_result,
    }
    _record.rpush(os.environ["E2E_RECORD"], json.dumps(row))


@app.task(name="e2e.fail")
def fail(*args: Any, **kwargs: Any) -> None:
    """Always fails, with a ValueError naming its arguments."""
    raise ValueError(f"failing on purpose: {args!r}")


@app.task(name="e2e.sleep")
def sleep(seconds: float) -> None:
    """Takes ``seconds`` to run."""
    time.sleep(seconds)


@app.task(bind=True, name="e2e.timed")
def timed(self: Any, seconds: float) -> None:
    """Takes ``seconds`` to run and appends its entry, start and end to the record list."""
    started = time.time()
    time.sleep(seconds)
    headers = self.request.headers or {}
    row = {
        "entry": headers.get("stembeat_entry") or getattr(self.request, "stembeat_entry", None),
        "start": started,
        "end": time.time(),
    }
    _record.rpush(os.environ["E2E_RECORD"], json.dumps(row))


@app.task(name="e2e.fail_first")
def fail_first(times: int) -> None:
    """Fails on its first ``times`` runs (counted per test), then succeeds."""
    if _record.incr(f"{os.environ['E2E_RECORD']}:fail_first") <= times:
        raise ValueError("failing on purpose")


@app.task(bind=True, name="e2e.retry_once", max_retries=3, default_retry_delay=0)
def retry_once(self: Any) -> None:
    """Asks for a retry on its first attempt, then succeeds."""
    if _record.incr(f"{os.environ['E2E_RECORD']}:attempts:{self.request.id}") == 1:
        raise self.retry(exc=ConnectionError("first attempt"), countdown=0)
