"""A running beat follows its store's holiday calendars: a date added while it runs is skipped,
one removed runs again, on every store."""

from __future__ import annotations

from datetime import date, datetime, timezone

import pytest

from celery_stembeat.audit import ChangeNote
from celery_stembeat.calendars import bind, rebind
from celery_stembeat.config_entries import entries_from_config, sync_config
from celery_stembeat.engine import Engine
from celery_stembeat.entry import Entry
from celery_stembeat.specs import parse_spec
from celery_stembeat.stores import Store
from tests.contract.helpers import T0
from tests.engine.conftest import FakeClock, RecordingPublisher
from tests.engine.test_engine import stored

UTC = timezone.utc
NOTE = ChangeNote("ops@host-1", "calendar", T0)


def day(number: int, hour: int = 9) -> datetime:
    """``hour`` o'clock UTC on ``number`` March 2026 (T0 is 1 March, 12:00)."""
    return datetime(2026, 3, number, hour, tzinfo=UTC)


def run_until(engine: Engine, store: Store, clock: FakeClock, end: datetime) -> None:
    """Tick at each due time up to ``end``, the clock jumping there as a beat's sleep would
    (days pass in a few ticks), then once at ``end``."""
    while (due := store.next_due_at()) is not None and due <= end:
        clock.now = max(clock.now, due)
        engine.tick()
    clock.now = end
    engine.tick()


def change(
    store: Store, clock: FakeClock, *, add: date | None = None, drop: date | None = None
) -> list[str]:
    """What ``stembeat calendar add/remove holidays`` does, at the clock's time."""
    if add is not None:
        store.add_calendar_dates("holidays", [add])
    if drop is not None:
        store.remove_calendar_dates("holidays", [drop])
    return rebind(store, ["holidays"], clock.now, NOTE)


def test_a_running_beat_skips_a_newly_added_holiday(
    store: Store, engine: Engine, clock: FakeClock, publisher: RecordingPublisher
) -> None:
    store.add_calendar_dates("holidays", [date(2026, 3, 20)])
    spec = parse_spec(
        {"type": "cron", "expression": "0 9 * * *", "except": [{"calendar": "holidays"}]}
    )
    entry = bind(Entry(id="report", task="tasks.report", spec=spec), store.calendars())
    store.upsert(entry.with_state(next_run_at=entry.first_run_after(T0), created_at=T0))

    run_until(engine, store, clock, day(2, 10))
    assert change(store, clock, add=date(2026, 3, 3)) == ["report"]
    assert stored(store, "report").state.next_run_at == day(4)
    run_until(engine, store, clock, day(5, 10))
    # Added while the next run was the 5th: the run after it skips the 6th.
    assert change(store, clock, add=date(2026, 3, 6)) == ["report"]
    assert stored(store, "report").state.next_run_at == day(7)
    run_until(engine, store, clock, day(6, 12))
    assert publisher.times("report") == [day(2), day(4), day(5)]
    # Removed again after its time: the occurrence it allows again is caught up, as after
    # downtime (the entry's catch_up policy: one late run).
    assert change(store, clock, drop=date(2026, 3, 6)) == ["report"]
    assert stored(store, "report").state.next_run_at == day(6)
    run_until(engine, store, clock, day(8, 10))
    sent = publisher.times("report")
    assert sent == [day(2), day(4), day(5), day(6), day(7), day(8)]
    assert sorted(run.scheduled_for for run in store.history("report")) == sent


def test_beat_schedule_entries_are_bound_at_start_up_sync(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    """A beat_schedule item naming a calendar gets its dates when the beat syncs; one naming
    a calendar the store lacks is logged, and the beat starts anyway."""
    store.add_calendar_dates("holidays", [date(2026, 3, 2)])
    schedule = {
        "report": {
            "task": "tasks.report",
            "schedule": {
                "type": "cron",
                "expression": "0 9 * * *",
                "except": [{"calendar": "holidays"}],
            },
        },
        "other": {
            "task": "tasks.other",
            "schedule": {
                "type": "cron",
                "expression": "0 9 * * *",
                "except": [{"calendar": "nope"}],
            },
        },
    }
    sync_config(store, entries_from_config(schedule, "UTC"), T0)
    assert stored(store, "report").state.next_run_at == day(3)
    assert stored(store, "other").state.next_run_at == day(2)
    assert "names unknown calendars nope" in caplog.text
    change(store, FakeClock(day(2, 10)), add=date(2026, 3, 3))
    assert stored(store, "report").state.next_run_at == day(4)
