"""Workers' reports folded into run records and run state, identically on every store."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

import pytest

from celery_stembeat.entry import RunState
from celery_stembeat.stores import FAILED, Outcome, RunRecord, Store, TaskReport
from tests.contract.helpers import LEASE, T0, at, make_entry, published


def fire(store: Store, entry_id: str = "job", count: int = 1) -> list[datetime]:
    """Claim and complete the entry's next ``count`` occurrences; their scheduled times."""
    times = []
    for _ in range(count):
        (claim,) = store.claim_due(at(86_400), 10, "beat-1", LEASE)
        assert claim.entry_id == entry_id
        assert store.complete(claim, published(claim))
        times.append(claim.scheduled_for)
    return times


def report(
    scheduled_for: datetime,
    outcome: str,
    *,
    after: float = 1.0,
    runtime: float | None = None,
    error: str | None = None,
    entry_id: str = "job",
) -> TaskReport:
    """A report from worker ``w1`` on the occurrence at ``scheduled_for``."""
    return TaskReport(
        entry_id=entry_id,
        scheduled_for=scheduled_for,
        outcome=outcome,
        at=scheduled_for + timedelta(seconds=after),
        started_at=scheduled_for + timedelta(seconds=0.25) if outcome != "started" else None,
        runtime=runtime,
        error=error,
        worker="celery@w1",
    )


def state_of(store: Store, entry_id: str = "job") -> RunState:
    entry = store.get(entry_id)
    assert entry is not None
    return entry.state


def test_a_started_then_successful_run_is_one_record_with_its_times(store: Store) -> None:
    """started, then success: the record the beat wrote gains the start, end, runtime and
    worker; the entry counts one success and its runtime."""
    store.upsert(make_entry("job"))
    (first,) = fire(store)
    assert store.record_outcomes([report(first, "started", after=0.5)]) == [True]
    (run,) = store.history("job")
    assert (run.outcome, run.started_at, run.finished_at) == ("started", at(0.5), None)
    assert run.worker == "celery@w1"
    assert store.record_outcomes([report(first, "success", after=2.5, runtime=2.0)]) == [True]
    (run,) = store.history("job")
    assert run.outcome == "success"
    assert (run.started_at, run.finished_at, run.runtime) == (at(0.5), at(2.5), 2.0)
    assert (run.published_at, run.owner, run.error) == (first, "beat-1", None)
    state = state_of(store)
    assert (state.last_outcome, state.last_outcome_for) == ("success", first)
    assert (state.success_count, state.task_failure_count) == (1, 0)
    assert (state.runtime_mean, state.runtime_max) == (2.0, 2.0)
    assert state.total_run_count == 1


def test_failures_in_a_row_are_counted_until_a_success(store: Store) -> None:
    """failure and timeout raise the streak and keep the error; a success ends the streak;
    revoked counts as neither."""
    store.upsert(make_entry("job"))
    times = fire(store, count=4)
    store.record_outcomes(
        [
            report(times[0], "failure", error="ValueError: bad input"),
            report(times[1], "timeout", error="TimeLimitExceeded: 30"),
        ]
    )
    state = state_of(store)
    assert (state.last_outcome, state.consecutive_task_failures) == ("timeout", 2)
    assert (state.task_failure_count, state.last_task_error) == (2, "TimeLimitExceeded: 30")
    assert (state.failure_count, state.consecutive_failures) == (0, 0)  # sending went fine
    store.record_outcomes([report(times[2], "revoked")])
    state = state_of(store)
    assert (state.last_outcome, state.consecutive_task_failures) == ("revoked", 2)
    assert (state.success_count, state.task_failure_count) == (0, 2)
    store.record_outcomes([report(times[3], "success", runtime=0.5)])
    state = state_of(store)
    assert (state.last_outcome, state.consecutive_task_failures) == ("success", 0)
    assert state.last_task_error == "TimeLimitExceeded: 30"
    outcomes = [run.outcome for run in store.history("job")]
    assert outcomes == ["success", "revoked", "timeout", "failure"]
    assert store.history("job")[3].error == "ValueError: bad input"


def test_retries_update_the_same_record(store: Store) -> None:
    """retry, retry, success: one record, ending in success, its start the first one's."""
    store.upsert(make_entry("job"))
    (first,) = fire(store)
    store.record_outcomes(
        [
            report(first, "started", after=0.1),
            report(first, "retry", after=0.2, error="ConnectionError: refused"),
            report(first, "started", after=5.0),
        ]
    )
    (run,) = store.history("job")
    assert (run.outcome, run.started_at, run.error) == (
        "started",
        at(0.1),
        "ConnectionError: refused",
    )
    store.record_outcomes([report(first, "success", after=6.0, runtime=1.0)])
    (run,) = store.history("job")
    assert (run.outcome, run.started_at, run.finished_at, run.error) == (
        "success",
        at(0.1),
        at(6.0),
        None,
    )
    assert state_of(store).success_count == 1


def test_a_retry_keeps_the_start_and_says_why(store: Store) -> None:
    """A retry on its own: the record says retry, keeps the first start, names the worker
    and the reason; the entry's counts wait for the final outcome."""
    store.upsert(make_entry("job"))
    (first,) = fire(store)
    store.record_outcomes(
        [
            report(first, "started", after=0.1),
            replace(report(first, "retry", error="ConnectionError: refused"), worker="celery@w2"),
        ]
    )
    (run,) = store.history("job")
    assert (run.outcome, run.started_at, run.finished_at) == ("retry", at(0.1), None)
    assert (run.error, run.worker) == ("ConnectionError: refused", "celery@w2")
    assert (state_of(store).success_count, state_of(store).last_outcome) == (0, None)


def test_a_lone_retry_takes_its_start_from_the_report(store: Store) -> None:
    """No start was reported (it was dropped): the retry's own start stands."""
    store.upsert(make_entry("job"))
    (first,) = fire(store)
    store.record_outcomes([report(first, "retry", error="E: again")])
    assert store.history("job")[0].started_at == at(0.25)


def test_news_after_no_news_in_one_batch_still_counts(store: Store) -> None:
    """A batch resent with new reports behind the old ones: the old change nothing, the new
    ones count."""
    store.upsert(make_entry("job"))
    older, newer = fire(store, count=2)
    old = report(older, "success", runtime=1.0)
    store.record_outcomes([old])
    assert store.record_outcomes([old, report(newer, "failure", error="E: x")]) == [True, True]
    state = state_of(store)
    assert (state.success_count, state.task_failure_count) == (1, 1)


def test_a_report_sent_again_changes_nothing(store: Store) -> None:
    """A batch delivered twice counts once; a report after the final one is no news."""
    store.upsert(make_entry("job"))
    (first,) = fire(store)
    batch = [report(first, "failure", error="KeyError: 'x'")]
    assert store.record_outcomes(batch) == [True]
    before = (store.history("job"), store.get("job"))
    assert store.record_outcomes(batch) == [True]
    assert store.record_outcomes([report(first, "started")]) == [True]
    assert store.record_outcomes([report(first, "success", runtime=1.0)]) == [True]
    assert (store.history("job"), store.get("job")) == before


def test_a_late_report_counts_but_leaves_the_newest_outcome(store: Store) -> None:
    """A report on an older occurrence arriving after a newer one's adds to the counts, not
    to last_outcome or the streak."""
    store.upsert(make_entry("job"))
    older, newer = fire(store, count=2)
    store.record_outcomes([report(newer, "success", runtime=3.0)])
    store.record_outcomes([report(older, "failure", error="OSError: disk")])
    state = state_of(store)
    assert (state.last_outcome, state.last_outcome_for) == ("success", newer)
    assert state.consecutive_task_failures == 0
    assert (state.success_count, state.task_failure_count) == (1, 1)
    assert state.last_task_error == "OSError: disk"


def test_runtime_mean_and_max_are_over_successes(store: Store) -> None:
    store.upsert(make_entry("job"))
    times = fire(store, count=3)
    store.record_outcomes(
        [
            report(times[0], "success", runtime=4.0),
            report(times[1], "failure", runtime=9.0, error="E: x"),
            report(times[2], "success", runtime=1.0),
        ]
    )
    state = state_of(store)
    assert state.runtime_mean == pytest.approx(2.5)
    assert state.runtime_max == 4.0


def test_reports_without_a_record_change_nothing(store: Store) -> None:
    """No entry, no such occurrence, or a run that was never sent: found is False (or True,
    unchanged, for the unsent run), and nothing is written."""
    store.upsert(make_entry("job"))
    (first,) = fire(store)
    (claim,) = store.claim_due(at(86_400), 10, "beat-1", LEASE)
    failed = RunRecord("job", claim.scheduled_for, FAILED, error="broker down", owner="beat-1")
    assert store.complete(claim, Outcome(claim.scheduled_for + timedelta(seconds=60), (failed,)))
    before = (store.history("job"), store.get("job"))
    found = store.record_outcomes(
        [
            report(first, "success", runtime=1.0, entry_id="nobody"),
            report(first + timedelta(seconds=1), "success", runtime=1.0),
            report(claim.scheduled_for, "success", runtime=1.0),
        ]
    )
    assert found == [False, False, True]
    assert (store.history("job"), store.get("job")) == before
    assert store.record_outcomes([]) == []
    missing = report(first, "success", runtime=1.0, entry_id="nobody")
    assert store.record_outcomes([missing, report(first, "success", runtime=1.0)]) == [
        False,
        True,
    ]
    assert store.history("job")[1].outcome == "success"


def test_completions_and_edits_keep_what_workers_reported(store: Store) -> None:
    """A claim taken before a report, completed after it, keeps the report's counts; so do
    an edit of the definition and disabling."""
    store.upsert(make_entry("job"))
    (first,) = fire(store)
    (claim,) = store.claim_due(at(86_400), 10, "beat-1", LEASE)
    store.record_outcomes([report(first, "failure", error="ValueError: v")])
    assert store.complete(claim, published(claim))
    state = state_of(store)
    assert (state.last_outcome, state.task_failure_count, state.total_run_count) == (
        "failure",
        1,
        2,
    )
    entry = store.get("job")
    assert entry is not None
    store.upsert(replace(entry, description="edited"))
    store.set_enabled("job", False, at(86_400))
    state = state_of(store)
    assert (state.last_outcome, state.consecutive_task_failures) == ("failure", 1)
    assert state.last_task_error == "ValueError: v"


def test_reports_round_trip_exactly(store: Store) -> None:
    """Milliseconds, long runtimes, any text and hostnames come back as reported."""
    store.upsert(make_entry("tâche:東京"))
    (claim,) = store.claim_due(at(86_400), 10, "beat-1", LEASE)
    assert store.complete(claim, published(claim))
    message = "UnicodeError: ✗ «bad» \U0001f4c5 " + "x" * 900
    given = TaskReport(
        entry_id="tâche:東京",
        scheduled_for=T0,
        outcome="failure",
        at=T0 + timedelta(days=2, milliseconds=7),
        started_at=T0 + timedelta(milliseconds=123),
        runtime=172_799.884,
        error=message,
        worker="celery@host-ü.example",
    )
    store.record_outcomes([given])
    (run,) = store.history("tâche:東京")
    assert (run.started_at, run.finished_at) == (given.started_at, given.at)
    assert (run.runtime, run.error, run.worker) == (172_799.884, message, given.worker)
    assert state_of(store, "tâche:東京").last_task_error == message


def test_a_report_finds_its_run_to_the_millisecond(store: Store) -> None:
    """An interval started at an instant with microseconds keeps them in its occurrences; a
    message's header, and so the report, carries milliseconds: the report still finds its
    run, and the run state names the run's own instant."""
    store.upsert(make_entry("job", next_run_at=T0 + timedelta(microseconds=123_456)))
    (first,) = fire(store)
    header = T0 + timedelta(milliseconds=123)
    assert store.record_outcomes([report(header, "success", runtime=1.0)]) == [True]
    (run,) = store.history("job")
    assert run.outcome == "success"
    assert state_of(store).last_outcome_for == run.scheduled_for == first
    assert store.record_outcomes([report(header + timedelta(milliseconds=1), "failure")]) == [False]
