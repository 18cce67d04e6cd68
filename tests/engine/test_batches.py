"""The engine publishes what one claim took as one batch, and records it as one batch."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import pytest

from celery_stembeat.engine import Engine
from celery_stembeat.publisher import Message, occurrence_task_id
from celery_stembeat.specs import IntervalSpec
from celery_stembeat.stores import FAILED, PUBLISHED, Store
from tests.contract.helpers import at
from tests.engine.conftest import FakeClock, RecordingPublisher
from tests.engine.test_engine import add, stored


def test_each_claimed_batch_is_one_publish_call(
    store: Store, engine: Engine, clock: FakeClock, publisher: RecordingPublisher
) -> None:
    engine.settings = replace(engine.settings, batch_size=3)
    for i in range(7):
        add(store, f"job{i}", IntervalSpec(10))
    clock.now = at(10)
    report = engine.tick()
    assert (report.claimed, report.published) == (7, 7)
    assert publisher.batches == [3, 3, 1]
    assert sorted(sent.task_id for sent in publisher.sent) == sorted(
        occurrence_task_id(f"job{i}", at(10)) for i in range(7)
    )
    assert all(stored(store, f"job{i}").state.next_run_at == at(20) for i in range(7))


def test_a_batch_shares_its_publish_time(
    store: Store, engine: Engine, clock: FakeClock, publisher: RecordingPublisher
) -> None:
    """Messages reach the broker when the batch is flushed: every run's drift is measured
    from then."""
    publisher.latency = 0.002
    add(store, "early", IntervalSpec(10), first=at(9))
    add(store, "late", IntervalSpec(10), first=at(10))
    clock.now = at(10)
    engine.tick()
    assert publisher.batches == [2]
    early, late = store.history("early")[0], store.history("late")[0]
    assert early.published_at == late.published_at == at(10.004)
    assert (early.drift, late.drift) == (1.004, 0.004)


class BrokenBatch:
    """A publisher whose batches fail after the first message, as a lost connection would."""

    def __init__(self) -> None:
        self.calls = 0

    def publish_many(self, messages: Sequence[Message]) -> list[Exception | None]:
        self.calls += 1
        error = ConnectionError("connection lost while flushing")
        return [None if i == 0 else error for i in range(len(messages))]


def test_failed_messages_of_a_batch_are_recorded_as_failed(
    store: Store, clock: FakeClock, engine: Engine
) -> None:
    engine.publisher = BrokenBatch()
    add(store, "a", IntervalSpec(10))
    add(store, "b", IntervalSpec(10))
    clock.now = at(10)
    report = engine.tick()
    assert (report.published, report.failed) == (1, 1)
    outcomes = sorted(run.outcome for name in "ab" for run in store.history(name))
    assert outcomes == [FAILED, PUBLISHED]
    # Either way each entry moves on: a failed occurrence is not sent again.
    assert stored(store, "a").state.next_run_at == stored(store, "b").state.next_run_at == at(20)


def test_delay_counts_the_entries_this_pass_put_back(
    store: Store, engine: Engine, clock: FakeClock
) -> None:
    """The index head is read during the claim; an entry recorded afterwards may be due
    sooner than that head, and the engine must wake for it."""
    add(store, "fast", IntervalSpec(2), first=at(2))
    add(store, "slow", IntervalSpec(3600), first=at(50))
    clock.now = at(2)
    assert engine.tick().delay == pytest.approx(2.0 - engine.settings.lookahead.total_seconds())
    assert stored(store, "fast").state.next_run_at == at(4)


def test_nothing_to_publish_means_no_publish_call(
    store: Store, engine: Engine, clock: FakeClock, publisher: RecordingPublisher
) -> None:
    add(store, "later", IntervalSpec(60), first=at(60))
    engine.tick()
    assert publisher.batches == []
