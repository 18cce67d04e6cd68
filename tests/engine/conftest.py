"""The engine runs on every store, with a clock and a publisher the tests drive."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

import pytest

from celery_stembeat.engine import Engine, EngineSettings
from celery_stembeat.publisher import Message
from celery_stembeat.stores import Store
from tests.contract import conftest as contract
from tests.contract.helpers import T0

# The store fixtures of the contract suite: the engine runs on every backend too.
backend = contract.backend
store_url = contract.store_url
store = contract.store
open_more = contract.open_more


class FakeClock:
    """A clock that moves only when told to."""

    def __init__(self, now: datetime = T0) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> datetime:
        self.now += timedelta(seconds=seconds)
        return self.now

    def sleep(self, seconds: float) -> None:
        self.advance(seconds)


@dataclass
class Sent:
    """One message the publisher was asked to send."""

    entry_id: str
    task: str
    scheduled_for: datetime
    task_id: str
    countdown: float
    sent_at: datetime


@dataclass
class RecordingPublisher:
    """Records every message; ``failing`` makes the next sends raise, like a broker that is down."""

    clock: FakeClock
    sent: list[Sent] = field(default_factory=list)
    failing: Exception | None = None
    #: Seconds each send takes on the fake clock.
    latency: float = 0.0
    #: How many messages each publish_many call carried.
    batches: list[int] = field(default_factory=list)

    def publish_many(self, messages: Sequence[Message]) -> list[Exception | None]:
        self.batches.append(len(messages))
        errors: list[Exception | None] = []
        for message in messages:
            self.clock.advance(self.latency)
            if self.failing is not None:
                errors.append(self.failing)
                continue
            self.sent.append(
                Sent(
                    message.entry.id,
                    message.entry.task,
                    message.scheduled_for,
                    message.task_id,
                    message.countdown,
                    self.clock.now,
                )
            )
            errors.append(None)
        return errors

    def times(self, entry_id: str) -> list[datetime]:
        return [item.scheduled_for for item in self.sent if item.entry_id == entry_id]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def publisher(clock: FakeClock) -> RecordingPublisher:
    return RecordingPublisher(clock)


@pytest.fixture
def settings() -> EngineSettings:
    # A lease long enough that its recovery pass (every quarter lease) never sets the delay.
    return EngineSettings(owner="beat-test", lease=timedelta(seconds=60))


@pytest.fixture
def engine(
    store: Store, publisher: RecordingPublisher, clock: FakeClock, settings: EngineSettings
) -> Iterator[Engine]:
    built = Engine(store, publisher, settings, clock=clock, sleep=clock.sleep)
    yield built
    built.close()


@pytest.fixture
def pairs_engine(
    store: Store, publisher: RecordingPublisher, clock: FakeClock, settings: EngineSettings
) -> Iterator[Engine]:
    """An engine that claims two entries per batch: a tick of three due takes two batches."""
    built = Engine(
        store, publisher, replace(settings, batch_size=2), clock=clock, sleep=clock.sleep
    )
    yield built
    built.close()
