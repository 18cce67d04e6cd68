"""One clock: beats keep the store server's time, whatever their host's clock says."""

from __future__ import annotations

import logging
import re
from datetime import datetime, timedelta, timezone

import pytest

from celery_stembeat.engine import Engine, EngineSettings
from celery_stembeat.entry import Entry
from celery_stembeat.specs import IntervalSpec
from celery_stembeat.storeclock import RESYNC_INTERVAL, StoreClock
from celery_stembeat.stores import Store, open_store
from tests.engine.conftest import RecordingPublisher

HOUR = timedelta(hours=1)


class Elapsed:
    """A monotonic clock the test moves; ``per_call`` seconds pass at every reading."""

    def __init__(self, per_call: float = 0.0) -> None:
        self.now = 1000.0
        self.per_call = per_call

    def __call__(self) -> float:
        self.now += self.per_call
        return self.now


def real_now() -> datetime:
    return datetime.now(timezone.utc)


@pytest.mark.parametrize("offset", [HOUR, -HOUR])
def test_a_host_an_hour_off_keeps_the_stores_time(
    store: Store, backend: str, offset: timedelta, caplog: pytest.LogCaptureFixture
) -> None:
    elapsed = Elapsed()
    clock = StoreClock(store, max_skew=1.0, local=lambda: real_now() + offset, elapsed=elapsed)
    with caplog.at_level(logging.WARNING, "celery_stembeat.storeclock"):
        now = clock()
        elapsed.now += 5
        later = clock()
    if backend in ("memory", "sqlite"):
        # No clock of its own: the host's clock is the store's, and nothing is measured.
        assert abs((now - real_now() - offset).total_seconds()) < 1
        assert clock.offset == 0.0
        assert caplog.records == []
        return
    assert abs((now - real_now()).total_seconds()) < 0.5
    assert later - now == timedelta(seconds=5)  # carried forward by the monotonic clock
    assert clock.offset == pytest.approx(-offset.total_seconds(), abs=0.5)
    (warning,) = caplog.records  # once, not at every reading
    direction = "ahead of" if offset > timedelta(0) else "behind"
    assert re.match(
        rf"stembeat: this host's clock is 3\d\d\d\.\d+ s {direction} the store's",
        warning.getMessage(),
    )


def test_the_stores_time_is_read_again_and_the_skew_reported_back(
    redis_url: str, unique_prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    store = open_store(f"{redis_url}?prefix={unique_prefix}")
    elapsed = Elapsed()
    offset = [HOUR]
    clock = StoreClock(store, max_skew=1.0, local=lambda: real_now() + offset[0], elapsed=elapsed)
    with caplog.at_level(logging.WARNING, "celery_stembeat.storeclock"):
        clock()
        offset[0] = timedelta(0)  # the host's clock is put right
        elapsed.now += RESYNC_INTERVAL - 1
        clock()
        assert clock.offset == pytest.approx(-3600, abs=0.5)
        elapsed.now += 1
        clock()
    assert clock.offset == pytest.approx(0, abs=0.5)
    ahead, back = (record.getMessage() for record in caplog.records)
    assert re.match(r"stembeat: this host's clock is 3\d\d\d\.\d+ s ahead of the store's", ahead)
    assert back.startswith("stembeat: this host's clock is within 1 s of the store's again")
    store.close()


def test_an_unreachable_store_leaves_the_host_clock_until_it_answers(redis_url: str) -> None:
    store = open_store("redis://127.0.0.1:1/0?prefix=unreachable_")
    elapsed = Elapsed()
    local = datetime(2030, 1, 1, tzinfo=timezone.utc)
    clock = StoreClock(store, max_skew=1.0, local=lambda: local, elapsed=elapsed)
    assert clock() == local  # never raises
    assert clock.offset is None
    store.close()


def test_a_slow_reading_is_not_used(redis_url: str, unique_prefix: str) -> None:
    """A round trip of 3 s could be off by 1.5 s: more than max_skew allows."""
    store = open_store(f"{redis_url}?prefix={unique_prefix}")
    local = datetime(2030, 1, 1, tzinfo=timezone.utc)
    clock = StoreClock(store, max_skew=1.0, local=lambda: local, elapsed=Elapsed(per_call=3))
    assert clock() == local
    assert clock.offset is None
    store.close()


@pytest.mark.parametrize("backend", ["postgres", "redis"], indirect=True)
@pytest.mark.parametrize("offset", [HOUR, -HOUR])
def test_a_beat_an_hour_off_claims_nothing_early_and_moves_no_next_run(
    store: Store, offset: timedelta
) -> None:
    """An entry due in a minute by the store's clock: a beat whose host is an hour ahead (or
    behind) finds nothing due and leaves its next run where it is."""
    due = real_now().replace(microsecond=0) + timedelta(minutes=1)
    entry = Entry(id="job", task="tasks.job", spec=IntervalSpec(60))
    store.upsert(entry.with_state(next_run_at=due))
    clock = StoreClock(store, max_skew=1.0, local=lambda: real_now() + offset)
    publisher = RecordingPublisher(clock)  # type: ignore[arg-type]
    engine = Engine(store, publisher, EngineSettings(owner="off"), clock=clock)
    report = engine.tick()
    assert (report.claimed, report.published) == (0, 0)
    assert 0 < report.delay <= 60
    stored = store.get("job")
    assert stored is not None
    assert stored.state.next_run_at == due
    engine.close()


@pytest.mark.parametrize("backend", ["postgres", "redis"], indirect=True)
def test_the_clock_is_never_ahead_of_the_stores(store: Store) -> None:
    """The store's answer is taken as its time at the end of the round trip, so the clock may
    lag the store by up to a trip but never runs ahead of it: nothing is sent early."""
    clock = StoreClock(store, max_skew=1.0, resync=0.0)  # a new reading at every call
    for _ in range(50):
        now = clock()
        later = store.time()
        assert later is not None
        assert now <= later


class ServerAt:
    """Only the store's clock, answering ``at`` (the arithmetic of a reading, on its own)."""

    def __init__(self, at: datetime) -> None:
        self.at = at

    def time(self) -> datetime:
        return self.at


def test_a_host_clock_that_agrees_is_kept_and_one_that_does_not_is_replaced() -> None:
    """The store answered between the host's two readings: the host's later reading stands (it
    is the finer clock). Outside them, the store's answer stands, as of the trip's end."""
    t = datetime(2030, 1, 1, tzinfo=timezone.utc)
    readings = iter([t, t + timedelta(milliseconds=2)] * 3)
    agreeing = StoreClock(
        ServerAt(t + timedelta(milliseconds=1)),  # type: ignore[arg-type]
        max_skew=1.0,
        local=lambda: next(readings),
        elapsed=Elapsed(),
    )
    assert agreeing() == t + timedelta(milliseconds=2)
    ahead = StoreClock(
        ServerAt(t - HOUR),  # type: ignore[arg-type]
        max_skew=1.0,
        local=lambda: t,
        elapsed=Elapsed(),
    )
    assert ahead() == t - HOUR
