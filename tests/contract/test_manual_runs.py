"""Manual runs (``stembeat run``): recorded in history only, identically on every store."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import pytest

from celery_stembeat.stores import FAILED, PUBLISHED, Outcome, RunRecord, Store
from tests.contract.helpers import LEASE, T0, at, make_entry
from tests.contract.test_outcomes import fire, report, state_of


def manual(when: datetime, entry_id: str = "job", **fields: Any) -> RunRecord:
    """A manual run of ``entry_id`` asked for at ``when``, published at once (``fields``
    change that)."""
    values: dict[str, Any] = {
        "outcome": PUBLISHED,
        "published_at": when,
        "drift": 0.0,
        "owner": "ops@host",
        "task_id": f"manual-{when.isoformat()}",
        **fields,
    }
    return RunRecord(entry_id=entry_id, scheduled_for=when, manual=True, **values)


def test_a_manual_run_is_history_only(store: Store) -> None:
    """The run is in history, marked manual; the entry (definition, version, next run,
    counters) is as it was, and nothing is announced."""
    store.upsert(make_entry("job"))
    (first,) = fire(store)
    before = store.get("job")
    feed = store.watch()
    try:
        assert store.record_manual_run(manual(at(30)))
        assert feed.wait(0.2) == []
    finally:
        feed.close()
    assert store.get("job") == before
    newest, older = store.history("job")
    assert newest == manual(at(30))
    assert (older.scheduled_for, older.manual) == (first, False)
    assert store.next_due_at() == at(60)


def test_an_unknown_entry_gets_no_manual_run(store: Store) -> None:
    """``False`` and nothing written when the entry does not exist."""
    assert store.record_manual_run(manual(T0, "ghost")) is False
    assert store.history("ghost") == []
    assert store.get("ghost") is None


def test_only_manual_runs_are_taken(store: Store) -> None:
    """A record not marked manual is refused: completions record scheduled runs."""
    store.upsert(make_entry("job"))
    with pytest.raises(ValueError, match=r"^run of 'job': not a manual run"):
        store.record_manual_run(replace(manual(T0), manual=False))
    assert store.history("job") == []


def test_a_failed_send_is_recorded_as_such(store: Store) -> None:
    """A manual run the broker refused keeps its outcome and error."""
    store.upsert(make_entry("job"))
    refused = manual(T0, outcome=FAILED, error="OperationalError: refused", published_at=None)
    assert store.record_manual_run(refused)
    assert store.history("job") == [refused]


def test_a_manual_run_leaves_a_claim_alone(store: Store) -> None:
    """Recorded while a beat holds the entry's claim: the claim still completes, and both
    runs are in history."""
    store.upsert(make_entry("job"))
    (claim,) = store.claim_due(T0, 10, "beat-1", LEASE)
    assert store.record_manual_run(manual(at(1)))
    run = RunRecord("job", T0, PUBLISHED, published_at=at(2), owner="beat-1")
    assert store.complete(claim, Outcome(at(60), (run,)))
    assert [r.manual for r in store.history("job")] == [False, True]
    state = state_of(store)
    assert (state.total_run_count, state.next_run_at) == (1, at(60))


def test_manual_runs_are_trimmed_with_the_history(
    open_more: Callable[..., Store], store: Store
) -> None:
    """History keeps the newest ``history_limit`` runs, manual ones included."""
    small = open_more(history_limit=3)
    small.upsert(make_entry("job"))
    fire(small, count=2)
    for second in (100, 200, 300):
        assert small.record_manual_run(manual(at(second)))
    runs = small.history("job", limit=10)
    assert [run.scheduled_for for run in runs] == [at(300), at(200), at(100)]
    assert all(run.manual for run in runs)


def test_a_workers_report_closes_the_manual_run_only(store: Store) -> None:
    """started then failure on a manual run: its record gains them; the entry's task-outcome
    state (last outcome, counts, streak) stays the schedule's."""
    store.upsert(make_entry("job"))
    (first,) = fire(store)
    assert store.record_outcomes([report(first, "success", runtime=1.0)]) == [True]
    before = state_of(store)
    asked = at(30)
    assert store.record_manual_run(manual(asked))
    reports = [
        replace(report(asked, "started", after=0.5), manual=True),
        replace(report(asked, "failure", after=2.0, error="ValueError: no"), manual=True),
    ]
    assert store.record_outcomes(reports) == [True, True]
    newest, scheduled = store.history("job")
    assert (newest.manual, newest.outcome, newest.error) == (True, "failure", "ValueError: no")
    assert (newest.started_at, newest.finished_at, newest.worker) == (
        at(30.5),
        at(32),
        "celery@w1",
    )
    assert (scheduled.outcome, scheduled.manual) == ("success", False)
    assert state_of(store) == before


def test_reports_match_manual_and_scheduled_runs_apart(store: Store) -> None:
    """A manual run asked for at the very instant of a scheduled occurrence: each report
    closes its own record, and only the scheduled one counts in the run state."""
    store.upsert(make_entry("job"))
    (first,) = fire(store)
    assert store.record_manual_run(manual(first))
    reports = [
        replace(report(first, "failure", error="ValueError: manual"), manual=True),
        report(first, "success", runtime=0.5),
    ]
    assert store.record_outcomes(reports) == [True, True]
    by_kind = {run.manual: run for run in store.history("job")}
    assert (by_kind[True].outcome, by_kind[True].error) == ("failure", "ValueError: manual")
    assert (by_kind[False].outcome, by_kind[False].error) == ("success", None)
    state = state_of(store)
    assert (state.last_outcome, state.success_count, state.task_failure_count) == ("success", 1, 0)


def test_a_report_on_a_manual_run_not_recorded_yet_is_not_found(store: Store) -> None:
    """The worker may report before the CLI records the run: not found, so the worker's
    buffer sends it again; a scheduled run at that instant does not take it."""
    store.upsert(make_entry("job"))
    (first,) = fire(store)
    early = replace(report(first, "success", runtime=0.1), manual=True)
    assert store.record_outcomes([early]) == [False]
    assert store.history("job")[0].outcome == PUBLISHED
    assert store.record_manual_run(manual(first))
    assert store.record_outcomes([early]) == [True]
    assert [(r.manual, r.outcome) for r in store.history("job")] == [
        (True, "success"),
        (False, PUBLISHED),
    ]
    assert state_of(store).success_count == 0


def test_a_manual_run_of_a_disabled_entry_is_recorded(store: Store) -> None:
    """Disabled entries can be run by hand; they stay disabled."""
    store.upsert(make_entry("off", enabled=False))
    assert store.record_manual_run(manual(T0 + timedelta(hours=1), "off"))
    entry = store.get("off")
    assert entry is not None
    assert (entry.enabled, entry.version) == (False, 1)
    assert [run.manual for run in store.history("off")] == [True]
