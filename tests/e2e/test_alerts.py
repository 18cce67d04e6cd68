"""Alerts from real beats: a failing entry posts one firing and one resolved webhook to a real
HTTP server, however many beats watch the store."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from tests.e2e.conftest import Harness, wait_for

pytestmark = pytest.mark.services


class Receiver(ThreadingHTTPServer):
    """A webhook endpoint that keeps every JSON body posted to it."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        #: When each body arrived.
        self.arrived: list[datetime] = []
        super().__init__(("127.0.0.1", 0), _Handler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/hooks/T000/secret-token"


class _Handler(BaseHTTPRequestHandler):
    server: Receiver

    def do_POST(self) -> None:
        length = int(self.headers["Content-Length"])
        self.server.bodies.append(json.loads(self.rfile.read(length)))
        self.server.arrived.append(datetime.now(timezone.utc))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_two_beats_post_one_firing_and_one_resolved_alert(
    harness: Harness, receiver: Receiver
) -> None:
    """``flaky`` fails its first six runs (a streak that outlasts two surveys), then
    succeeds; ``steady`` always succeeds."""
    harness.beat_schedule = {
        "flaky": {"task": "e2e.fail_first", "schedule": "1s", "args": [6]},
        "steady": {"task": "e2e.record", "schedule": "1s"},
    }
    harness.settings = {"stembeat_alert_webhooks": [receiver.url], "stembeat_alert_failures": 2}
    harness.worker(("-P", "solo"), {"E2E_TRACK_OUTCOMES": "1"})
    first, second = harness.beat("beat-1"), harness.beat("beat-2")
    wait_for(
        lambda: (
            [body["state"] for body in receiver.bodies if body["entry"] == "flaky"]
            == ["firing", "resolved"]
        ),
        90,
        f"a firing and a resolved alert for flaky: {receiver.bodies}\n{harness.logs()}",
    )
    assert first.stop() == 0
    assert second.stop() == 0
    flaky = [body for body in receiver.bodies if body["entry"] == "flaky"]
    assert [(body["event"], body["health"]) for body in flaky] == [
        ("entry_failing", "failing"),
        ("entry_failing", "ok"),
    ]
    fired, resolved = flaky
    # Two failures make it failing; more may come before a watch looks.
    streak = re.fullmatch(
        r"([2-6]) failures in a row: ValueError: failing on purpose", fired["message"]
    )
    assert streak, fired
    assert fired["text"] == (
        f":red_circle: stembeat: entry flaky failing — {streak[1]} failures in a row: "
        "ValueError: failing on purpose"
    )
    assert resolved["text"].startswith(":large_green_circle: stembeat: entry flaky resolved")
    assert fired["beat"].endswith(tuple("0123456789"))  # host:pid of the beat that sent it
    assert receiver.bodies == flaky  # nothing about steady, the beats or the store
    # Each alert arrives within 5 s of the outcome that caused it.
    with harness.open_store() as store:
        runs = sorted(store.history("flaky"), key=lambda run: run.scheduled_for)
    finished = [run.finished_at for run in runs if run.finished_at is not None]
    failures = [run.finished_at for run in runs if run.outcome == "failure"]
    second_failure = failures[1]
    first_success = finished[len(failures)]
    assert second_failure is not None
    assert first_success is not None
    fired_at, resolved_at = receiver.arrived
    assert timedelta(0) < fired_at - second_failure < timedelta(seconds=5)
    assert timedelta(0) < resolved_at - first_success < timedelta(seconds=5)
    logs = harness.logs()
    assert "secret-token" not in logs
    assert "stembeat: alerts to http://127.0.0.1:" in logs
