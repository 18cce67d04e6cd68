"""Health states: each rule at its threshold, and the order in which they apply."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest

from celery_stembeat.entry import Entry, RunState
from celery_stembeat.health import (
    DISABLED,
    FAILING,
    LATE,
    MISSED,
    OK,
    STUCK,
    Health,
    HealthRules,
    assess,
    live_beats,
    needs_newest_run,
)
from celery_stembeat.specs import IntervalSpec
from celery_stembeat.stores import BeatInfo, Pause, RunRecord

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)
RULES = HealthRules()
LAST = NOW - timedelta(minutes=10)


def entry(**state: object) -> Entry:
    """An enabled hourly entry whose newest occurrence was sent ten minutes ago, next due in
    fifty, with a success reported for the occurrence before."""
    base = RunState(
        next_run_at=NOW + timedelta(minutes=50),
        last_scheduled_for=LAST,
        last_run_at=LAST,
        total_run_count=5,
        last_outcome="success",
        last_outcome_for=LAST - timedelta(hours=1),
        success_count=4,
    )
    return Entry(id="job", task="t", spec=IntervalSpec(3600), state=replace(base, **state))


def run(outcome: str, **fields: object) -> RunRecord:
    return RunRecord("job", LAST, outcome, **{"published_at": LAST, **fields})  # type: ignore[arg-type]


def test_a_healthy_entry_is_ok() -> None:
    assert assess(
        entry(), run("published"), NOW, replace(RULES, start_within=timedelta(hours=1))
    ) == Health(OK)


def test_disabled_comes_first() -> None:
    disabled = replace(entry(consecutive_task_failures=9), enabled=False)
    assert assess(disabled, None, NOW, RULES) == Health(DISABLED)


@pytest.mark.parametrize(("late", "state"), [(30, OK), (30.001, MISSED)])
def test_missed_is_a_due_occurrence_not_sent_within_missed_after(late: float, state: str) -> None:
    due = entry(next_run_at=NOW - timedelta(seconds=late), last_outcome_for=LAST)
    assert assess(due, None, NOW, RULES).state == state


@pytest.mark.parametrize(
    ("pause", "state"),
    [
        (Pause(NOW - timedelta(hours=1), None), OK),  # open-ended: holds
        (Pause(NOW - timedelta(hours=1), NOW + timedelta(seconds=1)), OK),  # holds still
        (Pause(NOW - timedelta(hours=1), NOW - timedelta(seconds=30)), OK),  # within the grace
        (Pause(NOW - timedelta(hours=1), NOW - timedelta(seconds=31)), MISSED),
        (Pause(NOW - timedelta(hours=2), NOW - timedelta(hours=1)), MISSED),  # long over
    ],
)
def test_nothing_is_missed_while_paused_nor_within_the_grace_after_its_until(
    pause: Pause, state: str
) -> None:
    due = entry(next_run_at=NOW - timedelta(minutes=5), last_outcome_for=LAST)
    assert assess(due, None, NOW, RULES, pause).state == state


def test_a_pause_hides_no_other_state() -> None:
    failing = entry(next_run_at=NOW - timedelta(minutes=5), consecutive_task_failures=3)
    pause = Pause(NOW - timedelta(hours=1), None)
    assert assess(failing, None, NOW, RULES, pause).state == FAILING
    assert assess(replace(failing, enabled=False), None, NOW, RULES, pause).state == DISABLED


def test_missed_says_how_long_and_comes_before_failing() -> None:
    due = entry(next_run_at=NOW - timedelta(minutes=5), consecutive_task_failures=3)
    assert assess(due, None, NOW, RULES) == Health(MISSED, "due 5m ago, not sent")


@pytest.mark.parametrize(("streak", "state"), [(2, OK), (3, FAILING)])
def test_failing_is_a_streak_of_task_failures(streak: int, state: str) -> None:
    failing = entry(
        consecutive_task_failures=streak, last_task_error="ValueError: x", last_outcome_for=LAST
    )
    assert assess(failing, None, NOW, RULES).state == state


def test_failing_without_a_recorded_error_says_so() -> None:
    tasks = entry(consecutive_task_failures=3)
    assert assess(tasks, None, NOW, RULES) == Health(FAILING, "3 failures in a row: ?")
    sends = entry(consecutive_failures=3)
    assert assess(sends, None, NOW, RULES) == Health(FAILING, "3 sends failed in a row: ?")


def test_a_finished_newest_run_is_never_stuck() -> None:
    """Only a run that started and has not ended can be stuck, however long ago it started."""
    done = run("success", started_at=NOW - timedelta(hours=5))
    assert assess(entry(), done, NOW, RULES) == Health(OK)


def test_failing_names_the_streak_and_the_error() -> None:
    tasks = entry(consecutive_task_failures=4, last_task_error="ValueError: x")
    assert assess(tasks, None, NOW, RULES) == Health(FAILING, "4 failures in a row: ValueError: x")
    sends = entry(consecutive_failures=3, last_error="OperationalError: broker down")
    assert assess(sends, None, NOW, RULES) == Health(
        FAILING, "3 sends failed in a row: OperationalError: broker down"
    )


@pytest.mark.parametrize(("running", "state"), [(3600, OK), (3601, STUCK)])
def test_stuck_is_a_start_without_an_end_past_finish_within(running: int, state: str) -> None:
    started = run("started", started_at=NOW - timedelta(seconds=running))
    assert assess(entry(), started, NOW, RULES).state == state


def test_a_retrying_run_can_be_stuck_too() -> None:
    retrying = run("retry", started_at=NOW - timedelta(hours=2))
    assert assess(entry(), retrying, NOW, RULES) == Health(STUCK, "running for 2h")


@pytest.mark.parametrize(("waiting", "state"), [(300, OK), (301, LATE)])
def test_late_is_a_send_without_a_start_past_start_within(waiting: int, state: str) -> None:
    sent = RunRecord("job", LAST, "published", published_at=NOW - timedelta(seconds=waiting))
    assert assess(entry(), sent, NOW, RULES).state == state


def test_late_and_stuck_need_reports_and_an_open_occurrence() -> None:
    """Without any report (no track_outcomes) nothing is late; once the newest occurrence
    has its final outcome, its record is not looked at."""
    untracked = entry(last_outcome=None, last_outcome_for=None)
    closed = entry(last_outcome_for=LAST)
    assert not needs_newest_run(untracked)
    assert not needs_newest_run(closed)
    assert needs_newest_run(entry())
    old = run("published", published_at=NOW - timedelta(days=1))
    assert assess(untracked, old, NOW, RULES) == Health(OK)
    assert assess(closed, old, NOW, RULES) == Health(OK)
    assert assess(entry(), old, NOW, RULES) == Health(LATE, "sent 1d ago, not started")


def test_a_beat_is_live_while_heard_from_within_beat_silence() -> None:
    def beat(owner: str, silent: float) -> BeatInfo:
        return BeatInfo(owner, "h", 1, "0", NOW, NOW - timedelta(seconds=silent))

    beats = [beat("a", 60), beat("b", 60.001), beat("c", 0)]
    assert [b.owner for b in live_beats(beats, NOW, RULES)] == ["a", "c"]
