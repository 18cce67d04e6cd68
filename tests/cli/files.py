"""Entry files for the ``apply`` tests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

#: One entry of each kind, with arguments, options, metadata and every optional field.
ENTRIES: list[dict[str, Any]] = [
    {
        "id": "report",
        "task": "tasks.report",
        "spec": {"type": "cron", "expression": "0 9 * * 1-5", "timezone": "Europe/London"},
        "args": ["daily", {"pages": [1, 2], "format": "pdf"}],
        "kwargs": {"to": "ops@example.com", "cc": None, "retry": {"max": 3, "backoff": 1.5}},
        "options": {
            "queue": "reports",
            "routing_key": "reports.daily",
            "priority": 7,
            "headers": {"team": "ops", "cost": 2},
            "expires": 3600,
        },
        "description": "Weekday report — für alle",
        "catch_up": "fire_all",
        "jitter": 2.5,
        "expire_at": "2027-01-01T00:00:00Z",
    },
    {"id": "heartbeat", "task": "tasks.heartbeat", "spec": "30s"},
    {
        "id": "lights",
        "task": "tasks.lights",
        "spec": {"type": "solar", "event": "sunset", "latitude": 40.71, "longitude": -74.01},
        "enabled": False,
    },
    {
        "id": "launch",
        "task": "tasks.launch",
        "spec": {"type": "clocked", "at": "2026-03-01T12:00:00Z"},
    },
    {
        "id": "first-monday",
        "task": "tasks.board",
        "spec": {
            "type": "calendar",
            "weekdays": ["mon"],
            "monthdays": ["1-7"],
            "hours": [9],
            "minutes": [0],
            "timezone": "America/New_York",
        },
        "run_once": True,
    },
]


def write(path: Path, document: Any) -> Path:
    """``document`` as JSON in ``path``."""
    path.write_text(json.dumps(document, indent=2, ensure_ascii=False), encoding="utf-8")
    return path
