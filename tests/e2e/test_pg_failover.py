"""A running beat through a PostgreSQL failover: a private primary and its streaming-replication
standby, the store URL naming both (libpq's host list); the primary SIGKILLed, the standby
promoted. Counted at the broker, by task id (one per occurrence)."""

from __future__ import annotations

import itertools
import json
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import psycopg
import pytest
import redis

from celery_stembeat.specs import parse_instant
from celery_stembeat.stores import ANY_CHANGE, StoreError, open_store
from tests.contract.faults import (
    PrivatePostgres,
    PrivateRedis,
    private_primary_and_standby,
    wait_for,
)
from tests.contract.helpers import make_entry
from tests.e2e.conftest import at_broker, running
from tests.e2e.conftest import wait_for as wait_until

pytestmark = pytest.mark.services

ENTRIES = 50
SCHEDULE = {f"fo-{index:02d}": {"task": "e2e.record", "schedule": "1s"} for index in range(ENTRIES)}


@pytest.fixture
def cluster() -> Iterator[tuple[PrivatePostgres, PrivatePostgres]]:
    with private_primary_and_standby() as servers:
        yield servers


class BrokerWatch:
    """The broker queue, sampled by the test: when it grew, and how late its new messages were
    (seen - scheduled, so at most a sampling interval more than the beat's lateness)."""

    def __init__(self, url: str, queue: str) -> None:
        self._client = redis.Redis.from_url(url)
        self._queue = queue
        self.count = 0
        #: Monotonic times of the samples that found the queue longer than the one before.
        self.grew: list[float] = []
        #: (monotonic time, seconds the most late of the new messages was), per growth.
        self.lateness: list[tuple[float, float]] = []

    def sample(self) -> int:
        count = int(self._client.llen(self._queue))
        if count > self.count:
            seen = time.monotonic()
            now = datetime.now(timezone.utc)
            # kombu pushes messages on the left: the newest come first.
            raw = self._client.lrange(self._queue, 0, count - self.count - 1)
            new = [json.loads(item)["headers"] for item in raw]
            scheduled = min(
                parse_instant(headers["stembeat_scheduled_for"], "scheduled_for") for headers in new
            )
            self.grew.append(seen)
            self.lateness.append((seen, (now - scheduled).total_seconds()))
        self.count = count
        return count

    def reaches(self, count: int, timeout: float, what: str) -> None:
        wait_until(lambda: self.sample() >= count, timeout, what)

    def close(self) -> None:
        self._client.close()


def listeners(server: PrivatePostgres, channel: str) -> int:
    """Connections to ``server`` whose last statement was LISTEN on ``channel``."""
    with psycopg.connect(f"host=127.0.0.1 port={server.port} user=postgres", autocommit=True) as c:
        row = c.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE query = %s", (f'LISTEN "{channel}"',)
        ).fetchone()
    return int(row[0]) if row else 0


def lost_and_duplicated(messages: list[dict[str, str]]) -> tuple[int, int]:
    """Occurrences of the schedule missing between each entry's first and last one at the
    broker, and messages beyond the first for one task id."""
    ids = Counter(message["id"] for message in messages)
    duplicates = sum(count - 1 for count in ids.values())
    times: dict[str, set[datetime]] = defaultdict(set)
    for message in messages:
        if message["entry"] in SCHEDULE:
            times[message["entry"]].add(parse_instant(message["scheduled_for"], "scheduled_for"))
    lost = 0
    for found in times.values():
        for earlier, later in itertools.pairwise(sorted(found)):
            lost += round((later - earlier) / timedelta(seconds=1)) - 1
    return lost, duplicates


@pytest.mark.parametrize("lag", [0, 2], ids=["standby-caught-up", "standby-2s-behind"])
def test_beat_follows_the_multi_host_url_to_the_promoted_standby(
    cluster: tuple[PrivatePostgres, PrivatePostgres],
    broker: PrivateRedis,
    unique_prefix: str,
    tmp_path: Path,
    lag: int,
) -> None:
    """Beat keeps firing on the new primary and loses nothing; what the standby had not
    received (``lag`` seconds of claims and completions, cut off before the kill) is sent
    again, with the task ids it had. The beat's and a store's LISTEN resume there."""
    primary, standby = cluster
    url = (
        f"postgresql://postgres@{primary.host},{standby.host}/postgres"
        f"?target_session_attrs=read-write&prefix={unique_prefix}"
    )
    channel = f"{unique_prefix}changes"
    store = open_store(url)
    feed = store.watch()
    with running(url, broker.url, broker.url, tmp_path) as harness:
        watch = BrokerWatch(broker.url, harness.queue)
        try:
            harness.beat_schedule = SCHEDULE
            beat = harness.beat()
            watch.reaches(3 * ENTRIES, 60, "fires before the failover\n" + harness.logs())
            wait_until(lambda: listeners(primary, channel) >= 2, 30, "the beat's LISTEN")
            at_detach = watch.sample()
            if lag:
                standby.detach()
                watch.reaches(at_detach + lag * ENTRIES, 30, "fires the standby never gets")

            primary.kill()
            killed = time.monotonic()
            last_before = watch.grew[-1]
            at_kill = watch.sample()
            standby.promote()
            promoted = time.monotonic()
            watch.reaches(at_kill + 3 * ENTRIES, 90, "fires after the failover\n" + harness.logs())
            first_after = next(at for at in watch.grew if at > killed)
            latest = max(late for at, late in watch.lateness if at > killed)

            # The store's feed says it lost track, then announces writes to the new primary.
            wait_for(feed, lambda seen: ANY_CHANGE in seen, timeout=30)
            try:
                store.upsert(make_entry("after-failover"))
            except StoreError:  # the connection the pool held to the old primary
                store.upsert(make_entry("after-failover"))
            wait_for(feed, lambda seen: "after-failover" in seen)
            wait_until(lambda: listeners(standby, channel) >= 2, 30, "the beat's LISTEN again")
            assert "store reachable again" in beat.output()
            assert beat.process is not None
            assert beat.process.poll() is None, "beat exited"
            assert beat.stop() == 0
            messages = at_broker(broker.url, harness.queue)
        finally:
            watch.close()
            feed.close()
            store.close()
    lost, duplicates = lost_and_duplicated(messages)
    print(
        f"\nPostgreSQL failover, {ENTRIES} entries every 1 s, standby {lag} s behind: "
        f"{first_after - last_before:.2f} s without fires (kill to promote "
        f"{promoted - killed:.2f} s, promote to first fire {first_after - promoted:.2f} s), "
        f"latest fire {latest:.2f} s late; {len(messages)} messages, {lost} occurrences lost, "
        f"{duplicates} duplicated ({at_kill - at_detach} sent while the standby was cut off)"
    )
    assert lost == 0
    assert any(message["entry"] == "after-failover" for message in messages)
    # What the new primary never received is claimed and sent again: at most what was sent
    # since the standby's last WAL, plus the one pass in flight at the kill.
    assert duplicates <= at_kill - at_detach + ENTRIES
    if lag:
        assert duplicates >= lag * ENTRIES
