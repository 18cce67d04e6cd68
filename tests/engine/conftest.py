"""The engine runs on every store, with a clock and a publisher the tests drive."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import pytest

from celery_stembeat.engine import Engine, EngineSettings
from celery_stembeat.entry import Entry
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

    def publish(
        self, entry: Entry, scheduled_for: datetime, task_id: str, countdown: float
    ) -> None:
        self.clock.advance(self.latency)
        if self.failing is not None:
            raise self.failing
        self.sent.append(
            Sent(entry.id, entry.task, scheduled_for, task_id, countdown, self.clock.now)
        )

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
    return EngineSettings(owner="beat-test")


@pytest.fixture
def engine(
    store: Store, publisher: RecordingPublisher, clock: FakeClock, settings: EngineSettings
) -> Iterator[Engine]:
    built = Engine(store, publisher, settings, clock=clock, sleep=clock.sleep)
    yield built
    built.close()
