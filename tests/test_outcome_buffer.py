"""The worker's outcome buffer against real stores: batches, retries, bounds and outages."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from celery_stembeat.outcome_buffer import OutcomeBuffer
from celery_stembeat.stores import Store, TaskReport, open_store
from tests.contract.faults import PrivateRedis, private_server
from tests.contract.helpers import LEASE, at, make_entry, published
from tests.e2e.conftest import wait_for

#: The buffer's thread sleeps through a test unless the test says otherwise.
ASLEEP = 3600.0


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def record_runs(store: Store, entry_id: str = "job", count: int = 1) -> None:
    """Write ``count`` published runs of ``entry_id`` (occurrences at 0, 60, … s)."""
    store.upsert(make_entry(entry_id))
    for _ in range(count):
        (claim,) = store.claim_due(at(86_400), 10, "beat-1", LEASE)
        assert store.complete(claim, published(claim))


def success(seconds: float, entry_id: str = "job") -> TaskReport:
    return TaskReport(entry_id, at(seconds), "success", at(seconds + 1), runtime=1.0)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    opened = open_store(f"sqlite:///{tmp_path / 'stembeat.db'}")
    yield opened
    opened.close()


def test_the_thread_sends_what_is_added(store: Store) -> None:
    """A report added is in the store shortly after, sent by the buffer's own thread."""
    record_runs(store)
    buffer = OutcomeBuffer(lambda: store, interval=0.01)
    buffer.add(success(0))
    wait_for(lambda: store.history("job")[0].outcome == "success", 10, "the report to land")
    assert buffer.counts.recorded == 1
    assert buffer.pending() == 0


def test_a_full_batch_is_sent_without_waiting_for_the_interval(store: Store) -> None:
    record_runs(store, count=3)
    buffer = OutcomeBuffer(lambda: store, interval=ASLEEP, batch_size=3)
    for seconds in (0, 60, 120):
        buffer.add(success(seconds))
    wait_for(lambda: buffer.counts.recorded == 3, 10, "the full batch to be sent")
    assert store.get("job").state.success_count == 3  # type: ignore[union-attr]


def test_a_report_ahead_of_its_record_waits_for_it(store: Store) -> None:
    """The store has no record yet: the report is tried again each interval, and lands once
    the beat writes the record; one that never finds it is dropped after unmatched_for."""
    clock = FakeClock()
    buffer = OutcomeBuffer(lambda: store, interval=ASLEEP, unmatched_for=7200, clock=clock)
    buffer.add(success(0))
    buffer.add(success(0, entry_id="never"))
    buffer.send_ready()
    assert (buffer.counts.recorded, buffer.pending()) == (0, 2)
    record_runs(store)
    buffer.send_ready()  # not due again yet
    assert buffer.counts.recorded == 0
    clock.now += ASLEEP
    buffer.send_ready()
    assert (buffer.counts.recorded, buffer.pending()) == (1, 1)
    assert store.history("job")[0].outcome == "success"
    clock.now += ASLEEP
    buffer.send_ready()
    assert (buffer.counts.unmatched, buffer.pending()) == (1, 0)


def test_beyond_capacity_the_oldest_reports_are_dropped_with_one_line(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    record_runs(store, count=5)
    buffer = OutcomeBuffer(lambda: store, interval=ASLEEP, capacity=3)
    with caplog.at_level(logging.WARNING, "celery_stembeat.outcome_buffer"):
        for seconds in (0, 60, 120, 180, 240):
            buffer.add(success(seconds))
    assert buffer.counts.dropped == 2
    assert [r.getMessage() for r in caplog.records] == [
        "stembeat: outcome buffer full (3 reports); dropping the oldest"
    ]
    assert buffer.flush(timeout=5)
    outcomes = [run.outcome for run in store.history("job")]
    assert outcomes == ["success", "success", "success", "published", "published"]


def test_an_outage_is_said_once_and_the_reports_wait_for_the_store(
    caplog: pytest.LogCaptureFixture, unique_prefix: str
) -> None:
    """The store's server stops: sends fail, reports stay queued (one warning for the
    outage, backing off); when it is back they land, and that is said once."""
    clock = FakeClock()
    with private_server("redis") as server:
        assert isinstance(server, PrivateRedis)
        url = f"{server.url}?prefix={unique_prefix}"
        store = open_store(url)
        buffer = OutcomeBuffer(lambda: store, interval=ASLEEP, clock=clock, max_backoff=ASLEEP)
        try:
            server.stop()
            with caplog.at_level(logging.WARNING, "celery_stembeat.outcome_buffer"):
                buffer.add(success(0))
                buffer.send_ready()
                clock.now += ASLEEP
                buffer.send_ready()
                assert buffer.counts.failed_sends == 2
                assert buffer.pending() == 1
                server.start()
                record_runs(store)
                clock.now += ASLEEP
                buffer.send_ready()
            messages = [r.getMessage() for r in caplog.records]
            assert len(messages) == 2, messages
            assert messages[0].startswith("stembeat: cannot record task outcomes (StoreError: ")
            assert messages[0].endswith("; keeping up to 10000 reports")
            assert messages[1] == "stembeat: recording task outcomes again (0 dropped so far)"
            assert store.history("job")[0].outcome == "success"
        finally:
            buffer.close(timeout=0)
            store.drop()
            store.close()


def test_close_sends_what_is_left(store: Store, tmp_path: Path) -> None:
    """A worker shutting down sends its last reports (through a store of its own)."""
    record_runs(store)
    url = f"sqlite:///{tmp_path / 'stembeat.db'}"
    buffer = OutcomeBuffer(lambda: open_store(url), interval=ASLEEP)
    buffer.add(success(0))
    buffer.close()
    assert store.history("job")[0].outcome == "success"
    assert buffer.pending() == 0


def test_a_store_that_cannot_be_opened_is_an_outage(caplog: pytest.LogCaptureFixture) -> None:
    """A bad URL does not reach the worker: the reports wait and the reason is logged."""
    clock = FakeClock()
    buffer = OutcomeBuffer(
        lambda: open_store("nosuch://x"), interval=ASLEEP, clock=clock, capacity=2
    )
    with caplog.at_level(logging.WARNING, "celery_stembeat.outcome_buffer"):
        for seconds in (0, 60, 120):
            buffer.add(success(seconds))
        buffer.send_ready()
    assert (buffer.pending(), buffer.counts.dropped, buffer.counts.failed_sends) == (2, 1, 1)
    assert any(
        "cannot record task outcomes (StoreURLError" in r.getMessage() for r in caplog.records
    )
