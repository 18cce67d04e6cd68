"""A real ``celery beat`` on a Redis Sentinel store through a failover: the primary SIGKILLed,
the replica promoted by the sentinels, beat firing on.

Counted at the broker (the usual test Redis; no worker reads the queue), by task id, which is
deterministic per occurrence. The bounds, and why (docs/stores.md, "Redis Sentinel"):

- lost: 0. The store moves an entry past an occurrence only after it was published, and
  ``catch_up=fire_all`` sends what fell due during the outage late rather than dropping it; a
  write the new primary never got makes the entry go back, never forward.
- duplicates: at most one per occurrence sent while the new primary lagged. Replication is
  asynchronous: the claims and completions acknowledged in the last moments before the kill
  may be missing on the new primary, so those occurrences are claimed and sent again, with the
  same task id, which lets workers drop them. With the usual lag (well under the 1 s period
  here) that is at most one per entry; the second test cuts the replica off for a whole
  burst to make the loss happen, and counts it.
- time without fires: the sentinels' ``down-after-milliseconds`` (1 s here) plus their vote
  and the promotion, plus beat's pause between retries (``stembeat_max_backoff`` 1 s).
"""

from __future__ import annotations

import itertools
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import redis

from celery_stembeat.specs import parse_instant
from tests.contract.helpers import with_option
from tests.contract.sentinels import DOWN_AFTER_MS, sentinel_group
from tests.e2e.conftest import at_broker, running, wait_for

pytestmark = pytest.mark.services

ENTRIES = 100
SCHEDULE = {
    f"s-{index:03d}": {"task": "e2e.record", "schedule": "1s", "catch_up": "fire_all"}
    for index in range(ENTRIES)
}
#: What the test accepts (see the module's docstring).
MAX_LOST = 0
MAX_DUPLICATES = ENTRIES
MAX_SILENCE = 20.0


class Arrivals:
    """The queue's length, polled every 20 ms on a thread: when messages last arrived."""

    def __init__(self, url: str, queue: str) -> None:
        self._client = redis.Redis.from_url(url)
        self._queue = queue
        self._stop = threading.Event()
        self.times: list[float] = []
        self.length = 0
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._thread.start()

    def _poll(self) -> None:
        while not self._stop.wait(0.02):
            length = int(self._client.llen(self._queue))
            if length > self.length:
                self.times.append(time.monotonic())
                self.length = length

    def longest_silence(self) -> float:
        """The longest time between two arrivals."""
        return max((b - a for a, b in itertools.pairwise(self.times)), default=0.0)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        self._client.close()


@dataclass
class Failover:
    """What the broker saw of one failover."""

    messages: int
    silence: float
    lost: int
    duplicates: int
    duplicated_entries: int
    #: Messages that reached the broker from cutting the replica off until the promotion.
    sent_while_cut: int


def _failover(redis_url: str, tmp_path: Path, *, cut_replica: bool) -> Failover:
    """Beat firing :data:`SCHEDULE` on a fresh group; the primary SIGKILLed (with
    ``cut_replica``, once it acknowledged a whole second's burst the replica, cut off, never
    got); beat firing on after the promotion. Checks every entry fired on, and counts."""
    with sentinel_group() as group:
        store_url = with_option(group.url, "prefix", "failover_")
        with running(store_url, redis_url, redis_url, tmp_path) as harness:
            harness.beat_schedule = SCHEDULE
            harness.settings = {"stembeat_lease": 2, "stembeat_max_backoff": 1}
            arrivals = Arrivals(redis_url, harness.queue)
            try:
                beat = harness.beat()
                wait_for(lambda: arrivals.length >= 4 * ENTRIES, 60, "firing\n" + harness.logs())
                cut_off, at_cut = None, 0
                if cut_replica:
                    cut_off = group.cut_replica()
                    at_cut = arrivals.length
                    wait_for(lambda: arrivals.length >= at_cut + ENTRIES, 30, "a burst")
                killed_at = datetime.now(timezone.utc)
                old = group.kill_primary()
                if cut_off is not None:
                    group.mend(cut_off)
                group.wait_for_promotion(old)
                promoted = time.monotonic()
                at_promotion = arrivals.length
                sent_while_cut = at_promotion - at_cut if cut_off is not None else 0
                wait_for(
                    lambda: (
                        arrivals.length >= at_promotion + 6 * ENTRIES
                        and time.monotonic() > promoted + 6
                    ),
                    60,
                    "firing after the failover\n" + harness.logs() + group.logs(),
                )
                assert beat.stop() == 0
            finally:
                arrivals.close()
            messages = at_broker(redis_url, harness.queue)

    ids = Counter(message["id"] for message in messages)
    slots: dict[str, set[datetime]] = defaultdict(set)
    for message in messages:
        slots[message["entry"]].add(parse_instant(message["scheduled_for"], "scheduled_for"))
    lost = 0
    for times in slots.values():
        span = (max(times) - min(times)) / timedelta(seconds=1)
        lost += round(span) + 1 - len(times)
    assert set(slots) == set(SCHEDULE)
    assert all(max(times) > killed_at + timedelta(seconds=3) for times in slots.values())
    return Failover(
        messages=len(messages),
        silence=arrivals.longest_silence(),
        lost=lost,
        duplicates=sum(count - 1 for count in ids.values()),
        duplicated_entries=len({m["entry"] for m in messages if ids[m["id"]] > 1}),
        sent_while_cut=sent_while_cut,
    )


def _report(title: str, seen: Failover) -> None:
    print(
        f"\n{title} ({ENTRIES} entries every 1 s, down-after {DOWN_AFTER_MS} ms): "
        f"{seen.messages} messages, time without fires {seen.silence:.2f} s, "
        f"lost {seen.lost}, duplicates {seen.duplicates} (of {seen.duplicated_entries} entries)"
        + (
            f", sent while the replica was cut off {seen.sent_while_cut}"
            if seen.sent_while_cut
            else ""
        )
    )
    assert seen.lost <= MAX_LOST
    assert seen.silence < MAX_SILENCE


def test_beat_fires_on_through_a_sentinel_failover(redis_url: str, tmp_path: Path) -> None:
    seen = _failover(redis_url, tmp_path, cut_replica=False)
    _report("Sentinel failover", seen)
    assert seen.duplicates <= MAX_DUPLICATES
    assert seen.duplicated_entries == seen.duplicates  # at most one duplicate per entry


def test_writes_the_promoted_replica_never_got_are_sent_again_once(
    redis_url: str, tmp_path: Path
) -> None:
    """The replica cut off for a whole burst, then the primary killed: the claims and
    completions of that burst are lost with it, so beat sends those occurrences again, once
    each, with the same task ids; none is lost."""
    seen = _failover(redis_url, tmp_path, cut_replica=True)
    _report("Sentinel failover, the replica a burst behind", seen)
    assert seen.duplicates > 0  # the lost writes were exercised
    assert seen.duplicates <= seen.sent_while_cut
