"""A celery app whose ``beat_schedule`` ``stembeat import --from celery`` reads."""

from __future__ import annotations

from datetime import timedelta

from celery import Celery
from celery.schedules import crontab, schedule, solar

app = Celery("stembeat-migrate-test", set_as_current=False)
app.conf.timezone = "Europe/Paris"
app.conf.beat_schedule = {
    "first-monday": {
        "task": "proj.report",
        "schedule": crontab(minute=0, hour=9, day_of_month="1-7", day_of_week="mon"),
        "kwargs": {"to": "ops@example.com"},
        "options": {"queue": "reports", "priority": 3},
    },
    "heartbeat": {"task": "proj.heartbeat", "schedule": timedelta(seconds=30)},
    "relative": {"task": "proj.tick", "schedule": schedule(60), "relative": True},
    "dawn": {"task": "proj.lights", "schedule": solar("dawn_civil", 48.85, 2.35), "args": ["on"]},
    "seconds": {"task": "proj.fast", "schedule": "*/10 * * * * *"},
    "broken": {"task": "proj.broken", "schedule": "0 25 * * *"},
}
