"""The app the real ``celery beat`` processes of the propagation and scale-out scenarios run.

Configured by the environment variable ``BENCH_BEAT``: JSON with ``broker``, ``queue`` and
``settings`` (celery settings, e.g. ``stembeat_url``).
"""

from __future__ import annotations

import json
import os

from celery import Celery

_config = json.loads(os.environ.get("BENCH_BEAT", "{}"))
app = Celery("bench", broker=_config.get("broker"))
app.conf.update(
    task_default_queue=_config.get("queue", "bench"),
    timezone="UTC",
    result_expires=None,
    broker_connection_retry_on_startup=True,
    beat_schedule={},
    **_config.get("settings", {}),
)
