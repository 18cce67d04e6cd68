"""A real beat whose host clock is an hour off (libfaketime), beside a healthy beat.

Messages are watched at the broker (a private Redis that no worker reads): the moment each one
first appears there is compared with its scheduled time.
"""

from __future__ import annotations

import itertools
import time
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from celery_stembeat.specs import parse_instant
from celery_stembeat.stores import open_store
from tests.conftest import REQUIRE_SERVICES
from tests.contract.faults import PrivateRedis
from tests.e2e.conftest import at_broker, running, wait_for

pytestmark = pytest.mark.services

LIBFAKETIME = Path("/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1")
ENTRIES = 20
SCHEDULE = {f"tick-{i:02d}": {"task": "e2e.record", "schedule": "1s"} for i in range(ENTRIES)}
#: How much earlier than its time a message may be seen: the polling interval, with room.
EARLY = timedelta(seconds=0.5)


@pytest.fixture
def libfaketime() -> Path:
    if not LIBFAKETIME.exists():
        message = f"libfaketime is not installed ({LIBFAKETIME}): apt-get install faketime"
        if REQUIRE_SERVICES:
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    return LIBFAKETIME


@pytest.mark.parametrize("offset", ["+1h", "-1h"])
def test_a_beat_an_hour_off_sends_nothing_early_and_moves_no_next_run(
    broker_store_url: str, broker: PrivateRedis, libfaketime: Path, offset: str, tmp_path: Path
) -> None:
    """The skewed beat says so once and keeps the store's time: nothing reaches the broker
    before its time, no occurrence is missed or sent twice, and when it
    stops the healthy beat goes on firing every entry each second."""
    first_seen: dict[str, datetime] = {}
    scheduled: dict[str, tuple[str, datetime]] = {}

    def watch() -> None:
        messages = at_broker(broker.url, harness.queue)
        # Taken after the read, which takes a while once the queue is long: a message counts
        # as seen no earlier than it was there.
        now = datetime.now(timezone.utc)
        for message in messages:
            if message["id"] not in first_seen:
                first_seen[message["id"]] = now
                when = parse_instant(message["scheduled_for"], "scheduled_for")
                scheduled[message["id"]] = (message["entry"], when)

    def watch_until(condition: object, seconds: float, what: str) -> None:
        def check() -> bool:
            watch()
            return bool(condition() if callable(condition) else condition)

        wait_for(check, seconds, what)

    with running(broker_store_url, broker.url, broker.url, tmp_path) as harness:
        harness.beat_schedule = SCHEDULE
        harness.settings = {"stembeat_lease": 3, "result_expires": None}
        healthy = harness.beat("healthy")
        watch_until(lambda: "stembeat: sent" in healthy.output(), 60, "the healthy beat sending")
        skewed = harness.beat(
            "skewed",
            env={
                "LD_PRELOAD": str(libfaketime),
                "FAKETIME": offset,
                "FAKETIME_DONT_RESET": "1",
            },
        )
        watch_until(lambda: "the store's" in skewed.output(), 60, "the skewed beat's clock check")
        started = time.monotonic()
        watch_until(lambda: time.monotonic() - started > 8, 30, "both beats running a while")
        assert skewed.stop() == 0
        stopped = datetime.now(timezone.utc)
        watch_until(
            lambda: (
                sum(when > stopped + timedelta(seconds=2) for _, when in scheduled.values())
                >= 2 * ENTRIES
            ),
            30,
            "the healthy beat firing on alone",
        )
        assert healthy.stop() == 0
        watch()
        ids = Counter(message["id"] for message in at_broker(broker.url, harness.queue))
        skewed_log = skewed.output()
        with open_store(broker_store_url) as store:
            next_runs = {entry.id: entry.state.next_run_at for entry in store.list_entries()}

    direction = "ahead of" if offset.startswith("+") else "behind"
    assert skewed_log.count(f"s {direction} the store's") == 1, skewed_log[-3000:]
    early = {
        task_id: (when - first_seen[task_id]).total_seconds()
        for task_id, (_, when) in scheduled.items()
        if first_seen[task_id] < when - EARLY
    }
    assert early == {}, f"{len(early)} sent early, e.g. {list(early.items())[:3]}"
    assert max(ids.values()) == 1
    for entry_id in SCHEDULE:
        times = sorted(when for entry, when in scheduled.values() if entry == entry_id)
        gaps = {(b - a).total_seconds() for a, b in itertools.pairwise(times)}
        assert gaps == {1.0}, f"{entry_id} missed occurrences: gaps {sorted(gaps)}"
    limit = datetime.now(timezone.utc) + timedelta(seconds=5)
    assert all(when is not None and when < limit for when in next_runs.values()), next_runs
    print(f"the skewed beat sent {skewed_log.count('stembeat: sent')} of {len(ids)}")
