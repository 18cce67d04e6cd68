"""A real ``celery beat`` on a private six-node Redis Cluster whose primary serving the store's
prefix is SIGKILLed and replaced by its replica (the cluster's own failover): beat goes on
firing; the time without fires, and the occurrences lost and duplicated, counted at the broker
by task id, are printed (docs/stores.md quotes them)."""

from __future__ import annotations

import itertools
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import redis

from celery_stembeat.specs import parse_instant
from celery_stembeat.stores import ANY_CHANGE, open_store
from tests.contract.cluster import PrivateCluster, private_cluster
from tests.contract.faults import PrivateRedis
from tests.contract.faults import wait_for as wait_for_feed
from tests.contract.helpers import make_entry
from tests.e2e.conftest import at_broker, running, wait_for

pytestmark = pytest.mark.services

ENTRIES = 50
EVERY = 1.0
#: Every missed occurrence published late rather than skipped: what is missing is lost.
SCHEDULE = {
    f"pulse-{index:02d}": {"task": "e2e.record", "schedule": "1s", "catch_up": "fire_all"}
    for index in range(ENTRIES)
}
#: Seconds of fires wanted on each side of the failover.
STEADY = 4


class QueueSampler:
    """The broker queue's length every 20 ms, on a thread: when fires stopped and resumed."""

    def __init__(self, url: str, queue: str) -> None:
        self._client = redis.Redis.from_url(url)
        self._queue = queue
        self.samples: list[tuple[float, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.02):
            self.samples.append((time.monotonic(), int(self._client.llen(self._queue))))

    def __enter__(self) -> QueueSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        self._client.close()

    def length(self) -> int:
        return self.samples[-1][1] if self.samples else 0

    def longest_silence(self, since: float) -> float:
        """The longest time after ``since`` in which the queue did not grow (s)."""
        grew = [since] + [
            at for (_, before), (at, after) in itertools.pairwise(self.samples)
            if at > since and after > before
        ]  # fmt: skip
        return max((b - a for a, b in itertools.pairwise(grew)), default=0.0)


@pytest.fixture
def cluster() -> Iterator[PrivateCluster]:
    with private_cluster() as started:
        yield started


def test_beat_keeps_firing_through_a_cluster_failover(
    cluster: PrivateCluster, broker: PrivateRedis, unique_prefix: str, tmp_path: Path
) -> None:
    """50 entries firing every second; the primary of the store's slot is SIGKILLed and its
    replica promoted: beat keeps running and firing, each entry's occurrences continue with at
    most a few lost, and duplicates (an acknowledged claim or completion the replica had not
    received) stay within one per entry. A change feed opened before the failover reports
    ANY_CHANGE after it, then the changes made on the new primary."""
    store_url = f"{cluster.url}?prefix={unique_prefix}"
    with (
        running(store_url, broker.url, broker.url, tmp_path) as harness,
        open_store(store_url) as store,
    ):
        feed = store.watch()
        harness.beat_schedule = SCHEDULE
        harness.settings = {"stembeat_max_backoff": 1, "stembeat_lease": 3}
        beat = harness.beat()
        with QueueSampler(broker.url, harness.queue) as sampler:
            wait_for(lambda: sampler.length() >= STEADY * ENTRIES, 60, "fires\n" + harness.logs())
            home = cluster.primary_of("{" + unique_prefix + "}:due")
            cluster.kill(home)
            killed_at = time.monotonic()
            new_home = cluster.wait_failed_over("{" + unique_prefix + "}:due", home)
            promoted_after = time.monotonic() - killed_at
            at_failover = sampler.length()
            wait_for(
                lambda: sampler.length() >= at_failover + STEADY * ENTRIES,
                60,
                "fires after the failover\n" + harness.logs(),
            )
            silence = sampler.longest_silence(killed_at)
        wait_for_feed(feed, lambda seen: ANY_CHANGE in seen, timeout=30)
        store.upsert(make_entry("edited-after", next_run_at=None))
        wait_for_feed(feed, lambda seen: "edited-after" in seen, timeout=30)
        feed.close()
        assert beat.process is not None
        assert beat.process.poll() is None, "beat exited\n" + harness.logs()
        assert beat.stop() == 0
        messages = at_broker(broker.url, harness.queue)  # the queue goes with the harness

    ids = Counter(message["id"] for message in messages)
    duplicates = sum(count - 1 for count in ids.values())
    by_entry: dict[str, set[datetime]] = defaultdict(set)
    for message in messages:
        by_entry[message["entry"]].add(parse_instant(message["scheduled_for"], "scheduled_for"))
    lost = 0
    for times in by_entry.values():
        first, last = min(times), max(times)
        expected = round((last - first).total_seconds() / EVERY) + 1
        lost += expected - len(times)
        assert {b - a for a, b in itertools.pairwise(sorted(times))} <= {
            timedelta(seconds=EVERY * n) for n in range(1, 4)
        }, "an entry lost more than two occurrences in a row"
    print(
        f"\nRedis Cluster failover (node timeout {cluster.node_timeout_ms} ms, {ENTRIES} "
        f"entries every {EVERY:g} s): replica promoted {promoted_after:.1f} s after the "
        f"SIGKILL (node {home} -> {new_home}); longest time without fires {silence:.1f} s; "
        f"{len(ids)} occurrences published, {lost} lost, {duplicates} duplicated"
    )
    assert set(by_entry) == set(SCHEDULE)
    assert duplicates <= ENTRIES
    assert lost <= 2 * ENTRIES
