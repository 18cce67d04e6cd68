"""Specs with blackout windows, stored and claimed alike on every store."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timezone

from celery_stembeat.specs import WindowedSpec, parse_spec
from celery_stembeat.stores import Store
from tests.contract.helpers import LEASE, make_entry, published

UTC = timezone.utc
#: Sunday 1 March 2026 12:00 UTC is T0; the weekend and 2 March are excluded.
WINDOWED = parse_spec(
    {
        "type": "cron",
        "expression": "0 9 * * *",
        "timezone": "Europe/Berlin",
        "except": ["2026-03-02", {"weekdays": ["sat-sun"]}, {"between": ["22:00", "06:00"]}],
        "only": [{"months": ["1-11"], "timezone": "UTC"}],
    }
)


def test_a_windowed_spec_round_trips_and_its_next_run_skips(store: Store) -> None:
    assert isinstance(WINDOWED, WindowedSpec)
    first = datetime(2026, 3, 3, 8, tzinfo=UTC)  # Tuesday 09:00 in Berlin
    entry = make_entry("weekday-report", spec=WINDOWED, next_run_at=first)
    assert store.upsert(entry) == replace(entry, version=1)
    stored = store.get("weekday-report")
    assert stored is not None
    assert stored.spec == WINDOWED
    assert stored.spec.to_dict() == WINDOWED.to_dict()
    (claim,) = store.claim_due(first, 10, "beat-1", LEASE)
    assert claim.entry.spec == WINDOWED
    assert store.complete(claim, published(claim))
    after = store.get("weekday-report")
    assert after is not None
    assert after.state.next_run_at == datetime(2026, 3, 4, 8, tzinfo=UTC)


def test_editing_only_the_windows_is_a_spec_change(store: Store) -> None:
    """Stores tell a changed schedule by its text: new rules move the next run."""
    plain = parse_spec({"type": "cron", "expression": "0 9 * * *", "timezone": "Europe/Berlin"})
    store.upsert(make_entry("report", spec=plain, next_run_at=datetime(2026, 3, 2, 8, tzinfo=UTC)))
    moved = store.upsert(
        make_entry("report", spec=WINDOWED, next_run_at=datetime(2026, 3, 3, 8, tzinfo=UTC))
    )
    assert moved.spec == WINDOWED
    assert moved.state.next_run_at == datetime(2026, 3, 3, 8, tzinfo=UTC)
    assert store.next_due_at() == datetime(2026, 3, 3, 8, tzinfo=UTC)
