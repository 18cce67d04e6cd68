"""The celery app a real worker runs in the publisher tests; configured by environment.

``PUBLISH_BROKER`` (broker URL), ``PUBLISH_QUEUES`` (comma-separated queues it consumes),
``PUBLISH_RECORD`` (a Redis list every run appends to) and ``PUBLISH_RECORD_URL`` (that Redis).
"""

from __future__ import annotations

import json
import os
from typing import Any

import redis
from celery import Celery
from kombu import Queue

app = Celery("publish-test", broker=os.environ.get("PUBLISH_BROKER", "memory://"))
app.conf.update(
    task_queues=[Queue(name) for name in os.environ.get("PUBLISH_QUEUES", "celery").split(",")],
    broker_connection_retry_on_startup=True,
    worker_hijack_root_logger=False,
)
_record = redis.Redis.from_url(os.environ.get("PUBLISH_RECORD_URL", "redis://127.0.0.1:6379/0"))


@app.task(bind=True, name="publish_test.record")
def record(self: Any, *args: Any, **kwargs: Any) -> None:
    """Append what this run received (id, arguments, headers, delivery) to the record list."""
    request = self.request
    headers = request.headers or {}
    delivery = request.delivery_info or {}
    row = {
        "id": request.id,
        "args": list(args),
        "kwargs": kwargs,
        "entry": headers.get("stembeat_entry") or getattr(request, "stembeat_entry", None),
        "scheduled_for": headers.get("stembeat_scheduled_for")
        or getattr(request, "stembeat_scheduled_for", None),
        "beat": headers.get("celery_beat_task") or getattr(request, "celery_beat_task", None),
        "custom": headers.get("custom") or getattr(request, "custom", None),
        "routing_key": delivery.get("routing_key"),
        "priority": delivery.get("priority"),
        "eta": request.eta,
    }
    _record.rpush(os.environ["PUBLISH_RECORD"], json.dumps(row))
