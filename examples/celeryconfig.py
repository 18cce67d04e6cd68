"""An example celery configuration with one schedule of every kind stembeat understands."""

import os

from celery.schedules import crontab, solar

broker_url = os.environ.get("CELERY_BROKER_URL", "redis://127.0.0.1:6379/0")
timezone = "UTC"

beat_schedule = {
    # interval: a duration string, a number of seconds, a timedelta or a spec dict
    "heartbeat": {"task": "examples.tasks.heartbeat", "schedule": "30s"},
    "anchored-interval": {
        "task": "examples.tasks.heartbeat",
        "schedule": {"type": "interval", "every": 300, "start_at": "2026-01-01T00:00:00Z"},
    },
    # cron: five fields, or six with leading seconds, with a per-entry time zone
    "weekday-report": {
        "task": "examples.tasks.report",
        "schedule": {"type": "cron", "expression": "0 9 * * 1-5", "timezone": "Europe/London"},
    },
    "every-ten-seconds": {"task": "examples.tasks.heartbeat", "schedule": "*/10 * * * * *"},
    # celery's own schedule classes carry over unchanged
    "celery-crontab": {"task": "examples.tasks.report", "schedule": crontab(minute=0, hour="*/3")},
    "celery-solar": {
        "task": "examples.tasks.lights",
        "schedule": solar("sunset", 51.5074, -0.1278),
    },
    # solar: celery's event names, with an optional offset in seconds
    "before-sunrise": {
        "task": "examples.tasks.lights",
        "schedule": {
            "type": "solar",
            "event": "sunrise",
            "latitude": 40.71,
            "longitude": -74.01,
            "offset": -900,
        },
    },
    # clocked: one instant, fired once
    "new-year": {
        "task": "examples.tasks.report",
        "schedule": {"type": "clocked", "at": "2030-01-01T00:00:00Z"},
    },
    # calendar: filters combined with AND (here: the first Monday of each month)
    "first-monday": {
        "task": "examples.tasks.report",
        "schedule": {
            "type": "calendar",
            "weekdays": ["mon"],
            "monthdays": ["1-7"],
            "hours": [9],
            "minutes": [0],
            "timezone": "America/New_York",
        },
    },
}
