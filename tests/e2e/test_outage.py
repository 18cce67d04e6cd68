"""Beat through a real store restart and a real broker restart, on private servers."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.contract.faults import PrivatePostgres, PrivateRedis, private_server
from tests.e2e.conftest import Harness, running, wait_for

pytestmark = pytest.mark.services


@pytest.fixture
def private_postgres() -> Iterator[PrivatePostgres | PrivateRedis]:
    with private_server("postgres") as server:
        yield server


@pytest.fixture
def private_broker() -> Iterator[PrivatePostgres | PrivateRedis]:
    with private_server("redis") as server:
        yield server


def runs_after(harness: Harness, count: int) -> bool:
    return len(harness.runs_of("pulse")) >= count


def test_beat_survives_store_and_broker_restarts(
    private_postgres: PrivatePostgres, private_broker: PrivateRedis, redis_url: str, tmp_path: Path
) -> None:
    """PostgreSQL stops and comes back, then the broker does: beat never exits, logs each
    outage (the broker's once, not per message), records failed publishes, and goes on firing
    with no occurrence sent twice."""
    with running(private_postgres.url, private_broker.url, redis_url, tmp_path) as harness:
        harness.beat_schedule = {"pulse": {"task": "e2e.record", "schedule": "500ms"}}
        harness.settings = {"stembeat_max_backoff": 1, "result_expires": None}
        harness.worker()
        beat = harness.beat()
        wait_for(lambda: runs_after(harness, 3), 30, "first runs\n" + harness.logs())

        private_postgres.stop()
        wait_for(lambda: "store or broker unavailable" in beat.output(), 30, "outage logged")
        private_postgres.start()
        wait_for(lambda: "store reachable again" in beat.output(), 30, "store back")
        seen = len(harness.runs_of("pulse"))
        wait_for(lambda: runs_after(harness, seen + 3), 30, "runs after the store restart")

        private_broker.stop()
        wait_for(lambda: "could not send pulse" in beat.output(), 30, "failed publish logged")
        private_broker.start()
        harness.worker()  # the old worker gave up on its broker; a new one reads the new server
        seen = len(harness.runs_of("pulse"))
        wait_for(lambda: runs_after(harness, seen + 3), 60, "runs after the broker restart")
        wait_for(lambda: "broker reachable again" in beat.output(), 30, "broker back logged")
        failures = [line for line in beat.output().splitlines() if "could not send" in line]
        assert sum("ERROR" in line for line in failures) == 1  # later ones at debug level

        assert beat.process is not None
        assert beat.process.poll() is None, "beat exited"
        assert beat.stop() == 0
        ids = Counter(row["id"] for row in harness.runs_of("pulse"))
        assert max(ids.values()) == 1
        with harness.open_store() as store:
            entry = store.get("pulse")
            assert entry is not None
            assert entry.state.failure_count >= 1
            assert entry.state.total_run_count >= len(ids)
            assert entry.state.consecutive_failures == 0
