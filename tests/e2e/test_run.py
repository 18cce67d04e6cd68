"""``celery -A proj stembeat run``: a real worker runs the entry's task once, now; history
records the manual run with the worker's outcome; the schedule is untouched."""

from __future__ import annotations

import subprocess

import pytest

from celery_stembeat.audit import local_actor
from celery_stembeat.entry import Entry
from celery_stembeat.publisher import occurrence_task_id
from tests.e2e.conftest import CELERY, ROOT, Harness, wait_for
from tests.e2e.test_outcomes import TRACK

pytestmark = pytest.mark.services


def stored(harness: Harness, entry_id: str) -> Entry | None:
    with harness.open_store() as store:
        return store.get(entry_id)


def test_run_sends_once_and_the_worker_reports_on_the_manual_run(harness: Harness) -> None:
    """Two hourly entries beat will not fire during the test, run by hand: the worker runs
    each once with its args; their manual runs end in the worker's outcome; next run, run
    count and the task-outcome state are the schedule's, as before."""
    harness.beat_schedule = {
        "job": {"task": "e2e.record", "schedule": "1h", "args": [3, "x"], "kwargs": {"k": 1}},
        "breaks": {"task": "e2e.fail", "schedule": "1h", "args": [9]},
    }
    harness.worker(env=TRACK)
    harness.beat()
    wait_for(
        lambda: stored(harness, "job") and stored(harness, "breaks"),
        60,
        "beat to sync its schedule\n" + harness.logs(),
    )
    before = {entry_id: stored(harness, entry_id) for entry_id in ("job", "breaks")}
    done = subprocess.run(
        [CELERY, "-A", "tests.e2e.app", "stembeat", "run", "job", "breaks"],
        cwd=ROOT,
        env=harness.env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert [line.split()[:2] for line in done.stdout.splitlines()] == [
        ["sent", "job:"],
        ["sent", "breaks:"],
    ]
    (ran,) = wait_for(lambda: harness.runs_of("job"), 60, "the run\n" + harness.logs())
    assert (ran["args"], ran["kwargs"]) == ([3, "x"], {"k": 1})
    with harness.open_store() as store:
        wait_for(
            lambda: all(
                store.history(entry_id)[0].outcome in ("success", "failure")
                for entry_id in ("job", "breaks")
            ),
            60,
            "the worker's outcomes\n" + harness.logs(),
        )
        (job_run,) = store.history("job")
        (breaks_run,) = store.history("breaks")
    assert (job_run.manual, job_run.outcome, job_run.owner) == (True, "success", local_actor())
    assert job_run.task_id == ran["id"]
    assert ran["id"] != occurrence_task_id("job", job_run.scheduled_for)
    assert job_run.worker is not None
    assert job_run.worker.startswith(f"{harness.queue}-")
    assert job_run.runtime is not None
    assert (breaks_run.manual, breaks_run.outcome) == (True, "failure")
    assert breaks_run.error == "ValueError: failing on purpose: (9,)"
    for entry_id, entry in before.items():
        assert entry is not None
        after = stored(harness, entry_id)
        assert after is not None
        assert after.state.next_run_at == entry.state.next_run_at
        assert after.state.total_run_count == entry.state.total_run_count == 0
        assert (after.state.last_outcome, after.state.success_count) == (None, 0)
        assert (after.state.task_failure_count, after.state.consecutive_task_failures) == (0, 0)
    assert len(harness.runs_of("job")) == 1
