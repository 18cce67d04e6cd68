"""Two real beats on one store; one is frozen (SIGSTOP) while it holds claims, then resumed.

Messages are counted at the broker: every message left in the queue of a private Redis broker
(no worker consumes them), by task id, entry and scheduled time.
"""

from __future__ import annotations

import itertools
import signal
import socket
import time
from collections import Counter, defaultdict
from datetime import datetime, timezone
from pathlib import Path

import pytest
import redis
import sqlalchemy as sa

from celery_stembeat.publisher import occurrence_task_id
from celery_stembeat.specs import parse_instant
from tests.contract.faults import PrivateRedis
from tests.e2e.conftest import CeleryProcess, at_broker, running, wait_for

pytestmark = pytest.mark.services

ENTRIES = 40
LEASE = 3.0
SETTINGS = {
    "stembeat_lease": LEASE,
    # Claims are taken up to a second ahead, so a beat holds unsent claims most of the time.
    "stembeat_lookahead": 1.0,
    "stembeat_grace": 0.5,
    "result_expires": None,
}
SCHEDULE = {
    f"pulse-{i:02d}": {"task": "e2e.record", "schedule": "1s", "catch_up": "fire_all"}
    for i in range(ENTRIES)
}


def owner(beat: CeleryProcess) -> str:
    assert beat.process is not None
    return f"{socket.gethostname()}:{beat.process.pid}"


def held_by(store_url: str, prefix: str, who: str) -> set[str]:
    """Task ids of the occurrences whose claims ``who`` holds now."""
    held: set[tuple[str, datetime]] = set()
    if store_url.startswith("redis"):
        client = redis.Redis.from_url(store_url.split("?")[0])
        try:
            for key in client.scan_iter(match=f"{{{prefix}}}:entry:*", count=1000):
                claimer, when = client.hmget(key, "co", "cs")
                if claimer is not None and claimer.decode() == who and when is not None:
                    entry_id = key.decode().split(":entry:", 1)[1]
                    held.add((entry_id, datetime.fromtimestamp(int(when) / 1000, timezone.utc)))
        finally:
            client.close()
    else:
        engine = sa.create_engine(store_url.split("?")[0])
        query = f"select id, claimed_for from {prefix}entries where claim_owner = :who"
        try:
            with engine.connect() as conn:
                rows = conn.execute(sa.text(query), {"who": who}).all()
        finally:
            engine.dispose()
        held = {(row.id, row.claimed_for) for row in rows}
    return {occurrence_task_id(entry_id, when) for entry_id, when in held}


def test_a_paused_beat_sends_nothing_another_beat_took_over(
    broker_store_url: str, broker: PrivateRedis, unique_prefix: str, tmp_path: Path
) -> None:
    """A beat is frozen for four leases while it holds claims; the other takes them over
    within the lease and sends them with their backlog (fire_all). When the frozen beat
    resumes, it sends none of them: no occurrence is missed, and none is sent twice except a
    message the frozen beat had already handed to the broker before it froze."""
    with running(broker_store_url, broker.url, broker.url, tmp_path) as harness:
        harness.beat_schedule = SCHEDULE
        harness.settings = SETTINGS
        beats = [harness.beat("beat-1"), harness.beat("beat-2")]

        def holder() -> tuple[CeleryProcess, set[str]] | None:
            for beat in beats:
                held = held_by(broker_store_url, unique_prefix, owner(beat))
                if held:
                    return beat, held
            return None

        frozen, held = wait_for(holder, 60, "a beat holding claims")
        healthy = beats[1 - beats.index(frozen)]
        assert frozen.process is not None
        frozen.process.send_signal(signal.SIGSTOP)
        frozen_at = time.monotonic()
        held |= held_by(broker_store_url, unique_prefix, owner(frozen))
        time.sleep(0.2)  # writes already in the frozen beat's socket reach the broker meanwhile
        before_freeze = {m["id"] for m in at_broker(broker.url, harness.queue)}

        def taken_over() -> bool:
            return held <= {m["id"] for m in at_broker(broker.url, harness.queue)}

        wait_for(taken_over, 30, "the healthy beat sending the frozen beat's claims")
        takeover = time.monotonic() - frozen_at
        wait_for(lambda: time.monotonic() - frozen_at > 4 * LEASE, 30, "a pause of four leases")
        frozen.process.send_signal(signal.SIGCONT)
        wait_for(
            lambda: "taken over by another beat" in frozen.output(),
            30,
            "the resumed beat giving up its claims",
        )
        resumed = len(at_broker(broker.url, harness.queue))
        wait_for(
            lambda: len(at_broker(broker.url, harness.queue)) > resumed + 3 * ENTRIES,
            30,
            "both beats running again",
        )
        assert frozen.stop() == 0, harness.logs()
        assert healthy.stop() == 0, harness.logs()
        messages = at_broker(broker.url, harness.queue)

    ids = Counter(m["id"] for m in messages)
    duplicated = {task_id for task_id, count in ids.items() if count > 1}
    assert duplicated <= before_freeze, f"sent twice: {sorted(duplicated - before_freeze)[:5]}"
    occurrences: dict[str, set[datetime]] = defaultdict(set)
    for m in messages:
        occurrences[m["entry"]].add(parse_instant(m["scheduled_for"], "scheduled_for"))
    assert set(occurrences) == set(SCHEDULE)
    for entry_id, times in occurrences.items():
        gaps = {(b - a).total_seconds() for a, b in itertools.pairwise(sorted(times))}
        assert gaps == {1.0}, f"{entry_id} missed occurrences: gaps {sorted(gaps)}"
    # Recovery runs every quarter lease: the claims came back within about a lease and a half.
    assert takeover < 2 * LEASE + 2, takeover
    print(f"held {len(held)}, taken over after {takeover:.1f} s, duplicated {len(duplicated)}")
