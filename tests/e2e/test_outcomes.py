"""Workers that track outcomes: what became of each occurrence reaches the store."""

from __future__ import annotations

import itertools
import re
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from celery import Celery

from celery_stembeat.entry import Entry, RunState
from celery_stembeat.publisher import occurrence_task_id
from celery_stembeat.specs import IntervalSpec, format_instant
from celery_stembeat.stores import PUBLISHED, Outcome, RunRecord, Store, open_store
from tests.contract.faults import PrivatePostgres, PrivateRedis, private_server
from tests.e2e.conftest import Harness, running, wait_for

pytestmark = pytest.mark.services

TRACK = {"E2E_TRACK_OUTCOMES": "1"}
STEMBEAT = str(Path(sys.executable).with_name("stembeat"))
PREFORK = ("-P", "prefork", "-c", "2")
FINAL = {"success", "failure", "timeout", "revoked", "rejected"}


def state_of(harness: Harness, entry_id: str) -> RunState:
    """The entry's run state (a fresh one until beat has written the entry)."""
    with harness.open_store() as store:
        entry = store.get(entry_id)
    return RunState() if entry is None else entry.state


def test_workers_report_success_and_failure(harness: Harness) -> None:
    """A succeeding and a failing entry every second, run by a prefork worker: each run
    record ends in its outcome with times, runtime and worker; the entries count them."""
    harness.beat_schedule = {
        "works": {"task": "e2e.record", "schedule": "1s"},
        "breaks": {"task": "e2e.fail", "schedule": "1s", "args": [7]},
    }
    harness.worker(PREFORK, TRACK)
    beat = harness.beat()
    wait_for(
        lambda: (
            state_of(harness, "works").success_count >= 3
            and state_of(harness, "breaks").task_failure_count >= 3
        ),
        60,
        "three outcomes of each entry\n" + harness.logs(),
    )
    check = subprocess.run(
        [STEMBEAT, "--url", harness.store_url, "observe", "--check", "--failures", "3"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert check.returncode == 1, check.stdout + check.stderr
    (problem,) = check.stdout.splitlines()
    assert re.fullmatch(
        r"failing breaks: \d+ failures in a row: ValueError: failing on purpose: \(7,\)", problem
    )
    with harness.open_store() as store:
        (live,) = store.beats()
        assert live.pid == beat.process.pid  # type: ignore[union-attr]
        assert datetime.now(timezone.utc) - live.last_pass_at < timedelta(seconds=30)
    assert beat.stop() == 0
    with harness.open_store() as store:
        assert store.beats() == []
        wait_for(
            lambda: all(
                run.outcome not in (PUBLISHED, "started")
                for entry_id in ("works", "breaks")
                for run in store.history(entry_id)
            ),
            30,
            "every run's outcome\n" + harness.logs(),
        )
        works, breaks = store.history("works"), store.history("breaks")
    assert {run.outcome for run in works} == {"success"}
    assert {run.outcome for run in breaks} == {"failure"}
    for run in works + breaks:
        assert run.published_at is not None
        assert run.started_at is not None
        assert run.finished_at is not None
        assert run.published_at - timedelta(seconds=1) <= run.started_at <= run.finished_at
        assert run.runtime is not None
        assert 0 <= run.runtime < 5
        assert run.worker is not None
        assert run.worker.startswith(f"{harness.queue}-")
    assert all(run.error is None for run in works)
    assert all(run.error == "ValueError: failing on purpose: (7,)" for run in breaks)
    good, bad = state_of(harness, "works"), state_of(harness, "breaks")
    assert (good.last_outcome, good.success_count, good.task_failure_count) == (
        "success",
        len(works),
        0,
    )
    assert good.runtime_max is not None
    assert good.runtime_max < 5
    assert bad.last_outcome == "failure"
    assert bad.task_failure_count == bad.consecutive_task_failures == len(breaks)
    assert bad.last_task_error == "ValueError: failing on purpose: (7,)"
    assert (bad.failure_count, bad.consecutive_failures) == (0, 0)


@pytest.fixture
def private_postgres() -> Iterator[PrivatePostgres | PrivateRedis]:
    with private_server("postgres") as server:
        yield server


def _published_occurrences(store: Store, count: int) -> list[datetime]:
    """``count`` occurrences of the entry ``job`` recorded as published, as a beat would."""
    start = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(seconds=count)
    store.upsert(
        Entry(id="job", task="e2e.record", spec=IntervalSpec(1), state=RunState(next_run_at=start))
    )
    times = []
    for _ in range(count):
        (claim,) = store.claim_due(
            start + timedelta(seconds=count), 1, "test", timedelta(seconds=60)
        )
        run = RunRecord("job", claim.scheduled_for, PUBLISHED, published_at=claim.scheduled_for)
        next_run = claim.scheduled_for + timedelta(seconds=1)
        assert store.complete(claim, Outcome(next_run, (run,)))
        times.append(claim.scheduled_for)
    return times


def test_a_worker_runs_on_while_the_store_is_down(
    private_postgres: PrivatePostgres, redis_url: str, unique_prefix: str, tmp_path: Path
) -> None:
    """With the store stopped, every message still runs (the worker never waits for the
    store); the outage is said once; once the store is back, the buffered reports land."""
    store_url = f"{private_postgres.url}?prefix={unique_prefix}"
    count = 40
    with open_store(store_url) as store:
        times = _published_occurrences(store, count)
    with running(store_url, redis_url, redis_url, tmp_path) as harness:
        worker = harness.worker(env=TRACK)
        private_postgres.stop()
        client = Celery(broker=redis_url)
        for when in times:
            client.send_task(
                "e2e.record",
                task_id=occurrence_task_id("job", when),
                queue=harness.queue,
                headers={"stembeat_entry": "job", "stembeat_scheduled_for": format_instant(when)},
            )
        client.close()
        wait_for(lambda: len(harness.runs_of("job")) == count, 60, "every run\n" + harness.logs())
        wait_for(
            lambda: "cannot record task outcomes" in worker.output(),
            30,
            "the outage to be logged\n" + harness.logs(),
        )
        private_postgres.start()
        with open_store(store_url) as store:
            wait_for(
                lambda: store.get("job").state.success_count == count,  # type: ignore[union-attr]
                60,
                "the buffered reports\n" + harness.logs(),
            )
            assert {run.outcome for run in store.history("job")} == {"success"}
        log = worker.output()
        assert len(re.findall("cannot record task outcomes", log)) == 1, log[-3000:]
        assert "recording task outcomes again (0 dropped so far)" in log


def _send(harness: Harness, task: str, when: datetime, *args: object, **options: object) -> None:
    """Send ``task`` as the message of the occurrence of ``job`` at ``when``."""
    client = Celery(broker=harness.broker)
    try:
        client.send_task(
            task,
            args=args,
            task_id=occurrence_task_id("job", when),
            queue=harness.queue,
            headers={"stembeat_entry": "job", "stembeat_scheduled_for": format_instant(when)},
            **options,
        )
    finally:
        client.close()


def test_retries_time_limits_and_expired_messages(harness: Harness) -> None:
    """A retry then a success stay one record; a soft and a hard time limit are timeouts;
    an expired message is revoked."""
    with harness.open_store() as store:
        retried, soft, hard, expired = _published_occurrences(store, 4)
    harness.worker(PREFORK, TRACK)
    _send(harness, "e2e.retry_once", retried)
    _send(harness, "e2e.sleep", soft, 5, soft_time_limit=0.3)
    _send(harness, "e2e.sleep", hard, 5, time_limit=0.3)
    _send(harness, "e2e.record", expired, expires=datetime.now(timezone.utc) - timedelta(1))
    with harness.open_store() as store:
        wait_for(
            lambda: (
                {run.outcome for run in store.history("job")} <= {"success", "timeout", "revoked"}
            ),
            60,
            "four outcomes\n" + harness.logs(),
        )
        runs = {run.scheduled_for: run for run in store.history("job")}
        state = store.get("job").state  # type: ignore[union-attr]
    assert runs[retried].outcome == "success"
    assert runs[retried].error is None
    assert runs[soft].outcome == "timeout"
    assert runs[soft].error is not None
    assert runs[soft].error.startswith("SoftTimeLimitExceeded")
    assert runs[hard].outcome == "timeout"
    assert runs[hard].error is not None
    assert runs[hard].error.startswith("TimeLimitExceeded")
    assert (runs[expired].outcome, runs[expired].error) == ("revoked", "expired")
    assert (state.success_count, state.task_failure_count) == (1, 2)


def overlapping(runs: list[dict[str, float]]) -> int:
    """How many runs started before the one before them ended."""
    ordered = sorted(runs, key=lambda run: run["start"])
    return sum(later["start"] < earlier["end"] for earlier, later in itertools.pairwise(ordered))


def test_overlap_skip_never_runs_an_entry_twice_at_once(harness: Harness) -> None:
    """A task that takes 2.5 s, due every second, on a worker with room for several at once:
    with ``overlap: skip`` each run starts after the one before it ended, and the
    occurrences in between are recorded as skipped; the same task without it overlaps."""
    harness.beat_schedule = {
        "serial": {"task": "e2e.timed", "schedule": "1s", "args": [2.5], "overlap": "skip"},
        "parallel": {"task": "e2e.timed", "schedule": "1s", "args": [2.5]},
    }
    harness.worker(("-P", "prefork", "-c", "5"), TRACK)
    harness.beat()
    wait_for(
        lambda: len(harness.runs_of("serial")) >= 3 and len(harness.runs_of("parallel")) >= 3,
        90,
        "three runs of each entry\n" + harness.logs(),
    )
    assert overlapping(harness.runs_of("serial")) == 0, harness.runs_of("serial")
    assert overlapping(harness.runs_of("parallel")) >= 2
    with harness.open_store() as store:
        history = store.history("serial")
    skipped = [run for run in history if run.outcome == "skipped"]
    assert len(skipped) >= 3
    reason = r"previous run \(\S+Z\) has not finished(; no outcome reported for this entry yet .*)?"
    assert all(re.fullmatch(reason, run.error or "") for run in skipped), [r.error for r in skipped]
    assert any(run.error and run.error.endswith("has not finished") for run in skipped)
    assert all(run.published_at is None and run.task_id is None for run in skipped)
