"""Which messages ``track_outcomes`` reports on: the occurrence a message's headers name."""

from __future__ import annotations

import re
from datetime import datetime, timezone
from types import SimpleNamespace

import pytest

from celery_stembeat.limits import MAX_ERROR_LENGTH, MAX_ID_LENGTH
from celery_stembeat.outcomes import Occurrence, occurrence
from celery_stembeat.stores import TaskReport
from celery_stembeat.stores.base import MAX_WORKER_LENGTH

WHEN = "2026-03-01T12:00:00.250Z"
AT = datetime(2026, 3, 1, 12, 0, 0, 250_000, tzinfo=timezone.utc)


def test_a_stembeat_message_names_its_occurrence() -> None:
    headers = {"stembeat_entry": "report", "stembeat_scheduled_for": WHEN, "x": 1}
    assert occurrence(headers) == Occurrence("report", AT, manual=False)


def test_a_manual_run_s_message_says_so() -> None:
    """``stembeat run`` adds ``stembeat_manual: true``; any other value is not a manual run."""
    headers = {"stembeat_entry": "report", "stembeat_scheduled_for": WHEN}
    assert occurrence({**headers, "stembeat_manual": True}) == Occurrence("report", AT, True)
    request = SimpleNamespace(**headers, stembeat_manual=True)
    assert occurrence(None, request) == Occurrence("report", AT, True)
    for other in (False, None, 1, "true", [True]):
        assert occurrence({**headers, "stembeat_manual": other}) == ("report", AT, False)


def test_celery_s_task_context_carries_them_as_attributes() -> None:
    """Older celery puts custom headers on the request context, not in ``headers``."""
    request = SimpleNamespace(stembeat_entry="report", stembeat_scheduled_for=WHEN)
    assert occurrence(None, request) == ("report", AT, False)
    assert occurrence({}, request) == ("report", AT, False)


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


REPORT = {"entry_id": "report", "scheduled_for": AT, "outcome": "success", "at": AT}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"outcome": "exploded"}, "outcome: 'exploded' is not one of started, retry, success"),
        ({"at": AT.replace(tzinfo=None)}, "at: datetime.datetime(2026, 3, 1, 12, 0, 0, 250000)"),
        ({"scheduled_for": "2026-03-01"}, "scheduled_for: '2026-03-01' is not an aware datetime"),
        ({"runtime": -1.0}, "runtime: -1.0 is not a number of seconds >= 0"),
        ({"runtime": float("nan")}, "runtime: nan is not a number of seconds >= 0"),
        ({"runtime": float("inf")}, "runtime: inf is not a number of seconds >= 0"),
    ],
)
def test_a_report_refuses_what_no_store_can_keep(change: dict[str, object], message: str) -> None:
    """A report is checked where it is made: one line naming the field."""
    with pytest.raises(ValueError, match="^" + re.escape(message)):
        TaskReport(**{**REPORT, **change})  # type: ignore[arg-type]


def test_a_report_cuts_long_texts_instead_of_failing() -> None:
    """An exception message of a megabyte, or a long hostname, is cut to its bound."""
    report = TaskReport(**REPORT, error="E: " + "x" * 1_000_000, worker="w" * 10_000)  # type: ignore[arg-type]
    assert report.error is not None
    assert len(report.error) == MAX_ERROR_LENGTH
    assert report.worker == "w" * MAX_WORKER_LENGTH
