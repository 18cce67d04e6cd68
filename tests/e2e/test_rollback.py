"""``stembeat rollback`` under a running beat: an entry sent every 2 s, made hourly by
``apply``, rolled back: the worker receives it every 2 s again, from the rollback on."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from celery_stembeat.entry import Entry
from celery_stembeat.specs import IntervalSpec, parse_instant
from tests.e2e.conftest import ROOT, Harness, wait_for

pytestmark = pytest.mark.services

STEMBEAT = str(Path(sys.executable).with_name("stembeat"))


def stembeat(harness: Harness, *args: str) -> str:
    """``stembeat --url STORE ARGS…``; its output (it must succeed)."""
    done = subprocess.run(
        [STEMBEAT, "--url", harness.store_url, *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def apply(harness: Harness, spec: str) -> None:
    path = harness.tmp / f"tick-{spec}.json"
    path.write_text(json.dumps([{"id": "tick", "task": "e2e.record", "spec": spec}]))
    stembeat(harness, "apply", str(path))


def stored(harness: Harness) -> Entry:
    with harness.open_store() as store:
        entry = store.get("tick")
    assert entry is not None
    return entry


def sent_after(harness: Harness, instant: datetime) -> list[datetime]:
    """The scheduled times of the runs the worker received for occurrences after
    ``instant``, in order."""
    times = (parse_instant(row["scheduled_for"], "at") for row in harness.runs_of("tick"))
    return sorted(at for at in times if at > instant)


def test_beat_sends_on_the_restored_schedule_at_once(harness: Harness) -> None:
    harness.worker()
    harness.beat()
    apply(harness, "2s")
    wait_for(lambda: len(harness.runs_of("tick")) >= 2, 60, "runs every 2 s\n" + harness.logs())
    apply(harness, "1h")
    changed = datetime.now(timezone.utc)
    # Once a claim taken before the change is completed, the next run is the hourly one.
    hourly = changed + timedelta(minutes=59)
    wait_for(
        lambda: (stored(harness).state.next_run_at or changed) > hourly,
        30,
        "the hourly next run\n" + harness.logs(),
    )
    with harness.open_store() as store:
        created, hourly_change = (change.seq for change in store.changes("tick"))
    assert stembeat(harness, "rollback", "tick").splitlines()[0] == (
        f"rolled back tick: its definition before change {hourly_change}"
    )
    rolled = datetime.now(timezone.utc)
    assert sent_after(harness, changed + timedelta(seconds=2)) == []
    restored = stored(harness)
    assert restored.spec == IntervalSpec(2)
    assert restored.state.next_run_at is not None
    assert restored.state.next_run_at <= rolled + timedelta(seconds=2)
    wait_for(
        lambda: len(sent_after(harness, rolled)) >= 3,
        60,
        "runs every 2 s after the rollback\n" + harness.logs(),
    )
    times = sent_after(harness, rolled)
    assert {(b - a).total_seconds() for a, b in itertools.pairwise(times)} == {2.0}
    log = [line.split("\t") for line in stembeat(harness, "log", "tick").splitlines()[1:]]
    assert [(int(row[0]), row[3], row[5]) for row in log] == [
        (hourly_change + 1, "rollback", "spec"),
        (hourly_change, "apply", "spec"),
        (created, "apply", "created"),
    ]
    assert stembeat(harness, "log", "--verify").startswith("audit log intact: ")
