"""``overlap: skip``: an occurrence due while the entry's previous run has not finished is not
sent, and history says why. On every store, with the injected clock; workers' reports go
through the store as ``track_outcomes`` sends them."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest

from celery_stembeat.engine import Engine
from celery_stembeat.health import STUCK, HealthRules
from celery_stembeat.specs import IntervalSpec
from celery_stembeat.stores import PUBLISHED, SKIPPED, RunRecord, Store, TaskReport
from celery_stembeat.stores.base import SUCCESS
from celery_stembeat.survey import healths
from tests.contract.helpers import at
from tests.engine.conftest import FakeClock, RecordingPublisher
from tests.engine.test_engine import add, run_until, stored


def outcomes(store: Store, entry_id: str) -> list[tuple[float, str]]:
    """(seconds after T0, outcome) of each run, oldest first."""
    runs = reversed(store.history(entry_id))
    return [((run.scheduled_for - at(0)).total_seconds(), run.outcome) for run in runs]


def test_an_occurrence_due_while_the_previous_run_is_running_is_skipped(
    store: Store,
    engine: Engine,
    clock: FakeClock,
    publisher: RecordingPublisher,
    caplog: pytest.LogCaptureFixture,
) -> None:
    add(store, "report", IntervalSpec(10), overlap="skip")
    run_until(engine, clock, at(10))
    store.record_outcomes([TaskReport("report", at(10), "started", at(10.5))])
    with caplog.at_level(logging.INFO, logger="celery_stembeat.engine"):
        clock.now = at(20)
        assert engine.tick().skipped == 1
    assert caplog.messages == [
        "stembeat: skipped report for 2026-03-01T12:00:20Z: previous run "
        "(2026-03-01T12:00:10Z) has not finished; no outcome reported for this entry yet "
        "(do the workers call track_outcomes(app)?)"
    ]
    run_until(engine, clock, at(30))
    store.record_outcomes(
        [TaskReport("report", at(10), SUCCESS, at(32), at(10.5), runtime=21.5, worker="w1")]
    )
    run_until(engine, clock, at(40))
    store.record_outcomes([TaskReport("report", at(40), SUCCESS, at(45), runtime=4.5)])
    run_until(engine, clock, at(50))
    assert publisher.times("report") == [at(10), at(40), at(50)]
    assert outcomes(store, "report") == [
        (10, SUCCESS),
        (20, SKIPPED),
        (30, SKIPPED),
        (40, SUCCESS),
        (50, PUBLISHED),
    ]
    skipped = store.history("report")[3]
    assert (skipped.error, skipped.owner, skipped.published_at, skipped.task_id) == (
        "previous run (2026-03-01T12:00:10Z) has not finished; no outcome reported for this entry "
        "yet (do the workers call track_outcomes(app)?)",
        "beat-test",
        None,
        None,
    )
    state = stored(store, "report").state
    assert (state.total_run_count, state.last_scheduled_for, state.next_run_at) == (
        3,
        at(50),
        at(60),
    )


def test_once_outcomes_arrive_the_reason_names_only_the_unfinished_run(
    store: Store, engine: Engine, clock: FakeClock, publisher: RecordingPublisher
) -> None:
    add(store, "sync", IntervalSpec(10), overlap="skip")
    run_until(engine, clock, at(10))
    store.record_outcomes([TaskReport("sync", at(10), SUCCESS, at(11), runtime=1.0)])
    run_until(engine, clock, at(20))
    run_until(engine, clock, at(30))
    assert publisher.times("sync") == [at(10), at(20)]
    assert store.history("sync")[0].error == "previous run (2026-03-01T12:00:20Z) has not finished"


def test_overlaps_are_sent_by_default(
    store: Store, engine: Engine, clock: FakeClock, publisher: RecordingPublisher
) -> None:
    add(store, "ping", IntervalSpec(10))
    run_until(engine, clock, at(10))
    store.record_outcomes([TaskReport("ping", at(10), "started", at(10.5))])
    run_until(engine, clock, at(30))
    assert publisher.times("ping") == [at(10), at(20), at(30)]


def test_a_run_with_no_final_outcome_holds_back_only_for_the_overlap_timeout(
    store: Store, engine: Engine, clock: FakeClock, publisher: RecordingPublisher
) -> None:
    """Counted from when the run was sent: at 25 s after it, the next occurrence goes out."""
    add(store, "lost", IntervalSpec(10), overlap="skip", overlap_timeout=25)
    publisher.latency = 0.001
    run_until(engine, clock, at(50))
    assert publisher.times("lost") == [at(10), at(40)]
    assert [outcome for _, outcome in outcomes(store, "lost")] == [
        PUBLISHED,
        SKIPPED,
        SKIPPED,
        PUBLISHED,
        SKIPPED,
    ]


def test_an_occurrence_that_could_not_be_sent_holds_nothing_back(
    store: Store, engine: Engine, clock: FakeClock, publisher: RecordingPublisher
) -> None:
    add(store, "job", IntervalSpec(10), overlap="skip")
    publisher.failing = ConnectionRefusedError("broker down")
    run_until(engine, clock, at(10))
    publisher.failing = None
    run_until(engine, clock, at(20))
    assert publisher.times("job") == [at(20)]


def test_a_backlog_sends_its_newest_occurrence_only(
    store: Store, engine: Engine, clock: FakeClock, publisher: RecordingPublisher
) -> None:
    """``fire_all`` would send every late occurrence at once, all running together."""
    add(store, "batch", IntervalSpec(10), overlap="skip", catch_up="fire_all")
    clock.now = at(35)
    report = engine.tick()
    assert (report.published, report.skipped) == (1, 2)
    assert publisher.times("batch") == [at(30)]
    assert outcomes(store, "batch") == [(10, SKIPPED), (20, SKIPPED), (30, PUBLISHED)]
    assert store.history("batch")[1].error == (
        "the later occurrence 2026-03-01T12:00:30Z was sent instead"
    )
    state = stored(store, "batch").state
    assert (state.total_run_count, state.last_scheduled_for) == (1, at(30))


def test_a_tick_of_several_batches_counts_every_skip(
    store: Store, clock: FakeClock, pairs_engine: Engine
) -> None:
    engine = pairs_engine
    for entry_id in ("a", "b", "c"):
        add(store, entry_id, IntervalSpec(10), overlap="skip")
    run_until(engine, clock, at(10))
    assert engine.tick().skipped == 0
    clock.now = at(20)
    report = engine.tick()
    assert (report.skipped, report.batches) == (3, [2, 1])


def test_health_looks_past_skipped_occurrences_to_the_run_still_going(
    store: Store, engine: Engine, clock: FakeClock
) -> None:
    """A run that never ends makes its entry ``stuck``, however many occurrences it skipped."""
    add(store, "etl", IntervalSpec(10), overlap="skip")
    run_until(engine, clock, at(10))
    store.record_outcomes([TaskReport("etl", at(10), SUCCESS, at(11), runtime=1.0)])
    run_until(engine, clock, at(20))
    store.record_outcomes([TaskReport("etl", at(20), "started", at(21))])
    run_until(engine, clock, at(80))
    assert [outcome for _, outcome in outcomes(store, "etl")][-2:] == [SKIPPED, SKIPPED]
    rules = HealthRules(finish_within=timedelta(seconds=30))
    (health,) = healths(store, [stored(store, "etl")], at(80), rules, None)
    assert (health.state, health.reason) == (STUCK, "running for 59s")


def test_health_looks_past_manual_runs_to_the_scheduled_run(
    store: Store, engine: Engine, clock: FakeClock
) -> None:
    """A manual run that succeeded after the schedule's run started and never ended: the
    entry is ``stuck`` all the same (health is about the schedule)."""
    add(store, "etl", IntervalSpec(10))
    run_until(engine, clock, at(10))
    store.record_outcomes([TaskReport("etl", at(10), SUCCESS, at(11), runtime=1.0)])
    run_until(engine, clock, at(20))
    store.record_outcomes([TaskReport("etl", at(20), "started", at(21))])
    by_hand = RunRecord("etl", at(22), PUBLISHED, at(22), owner="ops@host", manual=True)
    assert store.record_manual_run(by_hand)
    done = TaskReport("etl", at(22), SUCCESS, at(23), runtime=1.0, manual=True)
    assert store.record_outcomes([done]) == [True]
    assert store.history("etl")[0].outcome == SUCCESS
    rules = HealthRules(finish_within=timedelta(seconds=5))
    (health,) = healths(store, [stored(store, "etl")], at(28), rules, None)
    assert (health.state, health.reason) == (STUCK, "running for 7s")
