"""``stembeat pause`` and ``resume`` against two real beats and a real worker on one store.

Entries fire every second. Once both beats have logged the pause, no task reaches the worker
for a window of several seconds; after ``resume`` the beats send again, the occurrences passed
during the pause (within the grace) late, each once: counted at the worker, by task id.
"""

from __future__ import annotations

import itertools
import subprocess
import sys
import time
from collections import Counter, defaultdict
from datetime import datetime, timezone
from pathlib import Path

import pytest

from celery_stembeat.publisher import occurrence_task_id
from celery_stembeat.specs import parse_instant
from tests.e2e.conftest import Harness, wait_for

pytestmark = pytest.mark.services

ENTRIES = 5
SCHEDULE = {
    f"pulse-{index}": {"task": "e2e.record", "schedule": "1s", "catch_up": "fire_all"}
    for index in range(ENTRIES)
}
#: Seconds the worker must stay idle while the store is paused.
QUIET_WINDOW = 4.0
STEMBEAT = str(Path(sys.executable).with_name("stembeat"))


def stembeat(harness: Harness, *args: str) -> str:
    """Run the ``stembeat`` CLI on the harness's store; its output, stdout then stderr (piped,
    a table's title and the pause banner go to stderr)."""
    done = subprocess.run(
        [STEMBEAT, "--url", harness.store_url, *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout + done.stderr


def published(harness: Harness) -> int:
    with harness.open_store() as store:
        entries = store.get_many(SCHEDULE)
    return sum(entry.state.total_run_count for entry in entries)


def drained(harness: Harness) -> bool:
    """The worker has run everything the store says was published."""
    return len(harness.runs()) >= published(harness)


def occurrences(harness: Harness) -> dict[str, list[datetime]]:
    found: dict[str, list[datetime]] = defaultdict(list)
    for row in harness.runs():
        found[row["entry"]].append(parse_instant(row["scheduled_for"], "scheduled_for"))
    return {entry_id: sorted(times) for entry_id, times in found.items()}


@pytest.mark.parametrize("e2e_store_url", ["postgres", "redis"], indirect=True)
def test_two_beats_send_nothing_while_paused_and_resume_without_duplicates(
    harness: Harness,
) -> None:
    harness.beat_schedule = SCHEDULE
    harness.settings = {"stembeat_lease": 3, "stembeat_grace": 60, "result_expires": None}
    harness.worker()
    beats = [harness.beat(f"beat-{n}") for n in range(2)]
    wait_for(lambda: len(harness.runs()) >= 3 * ENTRIES, 60, "runs\n" + harness.logs())

    assert "paused since" in stembeat(harness, "pause", "--reason", "e2e window")
    for beat in beats:
        wait_for(lambda b=beat: "stembeat: store paused since" in b.output(), 30, "the pause")
    # Both beats have published all they had claimed: wait for the worker to run it.
    wait_for(lambda: drained(harness), 30, "the worker to drain")
    before_window = len(harness.runs())
    sent_before = published(harness)
    deadline = time.monotonic() + QUIET_WINDOW
    while time.monotonic() < deadline:
        assert len(harness.runs()) == before_window, "a task reached the worker while paused"
        time.sleep(0.1)
    assert published(harness) == sent_before
    assert "PAUSED since" in stembeat(harness, "observe")

    resumed_at = datetime.now(timezone.utc)
    assert "resumed: cleared the pause" in stembeat(harness, "resume")
    for beat in beats:
        wait_for(lambda b=beat: "stembeat: store pause ended" in b.output(), 30, "the resume")
    # The window's occurrences (late, within the grace) and fresh ones after it.
    wait_for(
        lambda: len(harness.runs()) >= before_window + (QUIET_WINDOW + 3) * ENTRIES,
        60,
        "runs after the resume\n" + harness.logs(),
    )
    for beat in beats:
        assert beat.stop() == 0
    wait_for(lambda: drained(harness), 60, "the worker to drain")

    rows = harness.runs()
    ids = Counter(row["id"] for row in rows)
    assert ids.most_common(1)[0][1] == 1, f"sent twice: {ids.most_common(3)}"
    for entry_id, times in occurrences(harness).items():
        gaps = {round((b - a).total_seconds(), 3) for a, b in itertools.pairwise(times)}
        assert gaps == {1.0}, f"{entry_id}: occurrences missing across the pause: {gaps}"
        for when in times:
            assert occurrence_task_id(entry_id, when) in ids
    # The window's occurrences arrived after the resume, late: the pause held them back.
    for entry_id in SCHEDULE:
        held = [
            row
            for row in rows[before_window:]
            if row["entry"] == entry_id
            and parse_instant(row["scheduled_for"], "scheduled_for") < resumed_at
        ]
        assert len(held) >= QUIET_WINDOW, entry_id
