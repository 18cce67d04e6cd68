"""A beat's heartbeat in a real store: how often, what it records, and a store that is down."""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from celery_stembeat import __version__
from celery_stembeat.heartbeat import Heartbeat
from celery_stembeat.stores import Store, open_store
from tests.contract.faults import free_port

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)


class Clocks:
    """The wall clock a beat asks and the monotonic one the heartbeat paces itself by."""

    def __init__(self) -> None:
        self.elapsed = 100.0

    def now(self) -> datetime:
        return NOW + timedelta(seconds=self.elapsed - 100.0)

    def monotonic(self) -> float:
        return self.elapsed


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    opened = open_store(f"sqlite:///{tmp_path / 'stembeat.db'}")
    yield opened
    opened.close()


def test_a_heartbeat_records_the_beat_every_interval(store: Store) -> None:
    clocks = Clocks()
    heartbeat = Heartbeat(
        store, "web-1:42", clocks.now, offset=lambda: -0.25, interval=10, elapsed=clocks.monotonic
    )
    assert heartbeat.beat()
    (first,) = store.beats()
    assert (first.owner, first.host, first.pid) == ("web-1:42", socket.gethostname(), os.getpid())
    assert (first.version, first.started_at, first.last_pass_at) == (__version__, NOW, NOW)
    assert (first.store_latency, first.clock_offset) == (None, -0.25)
    clocks.elapsed += 9.5
    assert heartbeat.remaining() == pytest.approx(0.5)
    assert not heartbeat.beat()
    clocks.elapsed += 0.5
    assert heartbeat.beat()
    (second,) = store.beats()
    assert second.last_pass_at == NOW + timedelta(seconds=10)
    assert second.started_at == NOW
    assert second.store_latency == 0.0  # the fake monotonic clock did not move during it
    heartbeat.stop()
    assert store.beats() == []


def test_a_store_that_is_down_is_logged_once_and_never_raised(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clocks = Clocks()
    down = open_store(f"redis://127.0.0.1:{free_port()}/0?socket_connect_timeout=1")
    heartbeat = Heartbeat(down, "web-1:42", clocks.now, interval=10, elapsed=clocks.monotonic)
    with caplog.at_level(logging.WARNING, "celery_stembeat.heartbeat"):
        assert not heartbeat.beat()
        clocks.elapsed += 10
        assert not heartbeat.beat()
        heartbeat.stop()
    messages = [record.getMessage() for record in caplog.records]
    assert len(messages) == 2, messages
    assert messages[0].startswith("stembeat: cannot record this beat's heartbeat: ")
    assert messages[1].startswith("stembeat: cannot remove this beat's heartbeat: ")
    down.close()
