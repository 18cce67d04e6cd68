"""A real ``celery beat`` started while its store is down: it waits for the store, then fires."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.contract.faults import free_port, private_server
from tests.e2e.conftest import running, wait_for

pytestmark = pytest.mark.services


@pytest.mark.parametrize("kind", ["redis", "postgres"])
def test_beat_waits_for_a_store_that_comes_up_after_it(
    kind: str, redis_url: str, tmp_path: Path
) -> None:
    """The store is stopped before beat starts: beat logs it once, keeps running, and fires
    within seconds of the store coming up."""
    with private_server(kind) as server, running(server.url, redis_url, redis_url, tmp_path) as h:
        server.stop()
        h.beat_schedule = {"pulse": {"task": "e2e.record", "schedule": "500ms"}}
        h.settings = {"stembeat_max_backoff": 1, "result_expires": None}
        h.worker()
        beat = h.beat()
        wait_for(lambda: "unreachable at start" in beat.output(), 60, "outage logged\n" + h.logs())
        # A few retries (logged at debug level), and beat is still there, silent at ERROR.
        wait_for(lambda: beat.output().count("store still unreachable") >= 3, 30, "retries")
        assert beat.process is not None
        assert beat.process.poll() is None, "beat exited\n" + h.logs()
        assert beat.output().count("unreachable at start") == 1
        assert h.runs_of("pulse") == []

        server.start()
        up = time.monotonic()
        wait_for(lambda: len(h.runs_of("pulse")) >= 2, 30, "runs once the store is up\n" + h.logs())
        assert time.monotonic() - up < 10
        assert "reachable after" in beat.output()
        assert "beat_schedule: 1 added" in beat.output()
        assert beat.stop() == 0


def test_a_bad_item_stops_beat_with_its_store_down(redis_url: str, tmp_path: Path) -> None:
    """A bad beat_schedule item is not mistaken for the outage: beat stops at start, saying why."""
    store_url = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    with running(store_url, redis_url, redis_url, tmp_path) as h:
        h.beat_schedule = {"pulse": {"task": "e2e.record", "schedule": "500ms", "colour": "red"}}
        beat = h.beat()
        assert beat.process is not None
        code = beat.process.wait(60)
        assert code != 0
        assert "beat_schedule['pulse']: unknown key 'colour'" in beat.output()
        assert "unreachable" not in beat.output()
