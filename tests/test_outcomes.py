"""Which messages ``track_outcomes`` reports on: the occurrence a message's headers name."""

from __future__ import annotations

from datetime import datetime, timezone
from types import SimpleNamespace

import pytest

from celery_stembeat.limits import MAX_ID_LENGTH
from celery_stembeat.outcomes import occurrence

WHEN = "2026-03-01T12:00:00.250Z"
AT = datetime(2026, 3, 1, 12, 0, 0, 250_000, tzinfo=timezone.utc)


def test_a_stembeat_message_names_its_occurrence() -> None:
    headers = {"stembeat_entry": "report", "stembeat_scheduled_for": WHEN, "x": 1}
    assert occurrence(headers) == ("report", AT)


def test_celery_s_task_context_carries_them_as_attributes() -> None:
    """Older celery puts custom headers on the request context, not in ``headers``."""
    request = SimpleNamespace(stembeat_entry="report", stembeat_scheduled_for=WHEN)
    assert occurrence(None, request) == ("report", AT)
    assert occurrence({}, request) == ("report", AT)


@pytest.mark.parametrize(
    "headers",
    [
        None,
        {},
        {"stembeat_entry": "report"},
        {"stembeat_scheduled_for": WHEN},
        {"stembeat_entry": 7, "stembeat_scheduled_for": WHEN},
        {"stembeat_entry": "report", "stembeat_scheduled_for": 1772366400},
        {"stembeat_entry": "report", "stembeat_scheduled_for": "yesterday"},
        {"stembeat_entry": "report", "stembeat_scheduled_for": "2026-03-01T12:00:00"},
        {"stembeat_entry": "report", "stembeat_scheduled_for": "\ud800"},
        {"stembeat_entry": "x" * (MAX_ID_LENGTH + 1), "stembeat_scheduled_for": WHEN},
        {"stembeat_entry": "x" * 1_000_000, "stembeat_scheduled_for": WHEN},
    ],
    ids=lambda value: repr(value)[:40],
)
def test_other_and_hostile_messages_are_not_reported(headers: dict[str, object] | None) -> None:
    """Other tasks' messages, and headers no beat wrote (wrong types, a naive or unreadable
    time, a lone surrogate, an id past the bound), are left alone without an error."""
    assert occurrence(headers) is None
