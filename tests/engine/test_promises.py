"""The engine's promises, each stated as a test: no run lost, none sent early, none sent twice.

Every test here was written against a mutation that broke the promise and no other test saw
(``make mutate`` runs them again). They drive the engine with the injected clock, on every store.
"""

from __future__ import annotations

import logging
import random
from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest

from celery_stembeat.engine import Engine, EngineSettings
from celery_stembeat.publisher import occurrence_task_id
from celery_stembeat.specs import IntervalSpec
from celery_stembeat.stores import ANY_CHANGE, ChangeFeed, Store, StoreError, open_store
from tests.contract.helpers import at
from tests.engine.conftest import FakeClock, RecordingPublisher
from tests.engine.test_engine import FlakyStore, add, flaky_engine, run_until, stored

# -- no run lost -------------------------------------------------------------------------------


def test_a_run_once_entry_whose_publish_fails_fires_at_its_next_occurrence(
    store: Store, engine: Engine, clock: FakeClock, publisher: RecordingPublisher
) -> None:
    """A failed publish is not a run: the run-once entry stays enabled and fires next time."""
    add(store, "boot", IntervalSpec(10), run_once=True)
    publisher.failing = ConnectionRefusedError("broker down")
    clock.now = at(10)
    assert engine.tick().failed == 1
    assert stored(store, "boot").enabled is True
    publisher.failing = None
    run_until(engine, clock, at(60))
    assert publisher.times("boot") == [at(20)]
    entry = stored(store, "boot")
    assert (entry.enabled, entry.state.total_run_count) == (False, 1)


def test_a_run_once_entry_put_back_unrun_fires_later(
    store: Store, publisher: RecordingPublisher
) -> None:
    """A claim put back without a run (the clock was set back) leaves a run-once entry armed."""
    frozen = FakeClock(at(10))
    engine = Engine(
        store, publisher, EngineSettings(owner="b"), clock=frozen, sleep=lambda seconds: None
    )
    add(store, "boot", IntervalSpec(60), first=at(10.015), run_once=True)
    assert engine.tick().published == 0
    assert stored(store, "boot").enabled is True
    assert publisher.batches == []  # a pass with nothing to send does not call the broker
    frozen.now = at(11)
    engine.tick()
    engine.close()
    assert publisher.times("boot") == [at(10.015)]


def test_an_occurrence_exactly_at_expire_at_fires(
    store: Store, engine: Engine, clock: FakeClock, publisher: RecordingPublisher
) -> None:
    """``expire_at`` is the last instant that may fire: the entry is disabled only after it."""
    add(store, "promo", IntervalSpec(10), expire_at=at(20))
    clock.now = at(10)
    engine.tick()
    assert stored(store, "promo").enabled is True
    run_until(engine, clock, at(60))
    assert publisher.times("promo") == [at(10), at(20)]
    assert stored(store, "promo").enabled is False


def test_pending_completions_are_recorded_at_close(
    store: Store, clock: FakeClock, publisher: RecordingPublisher, settings: EngineSettings
) -> None:
    """Sent, then the store failed to take the completion: closing the beat records it, so
    the occurrence is not sent again once the lease runs out."""
    flaky, engine = flaky_engine(store, publisher, settings, clock)
    add(store, "job", IntervalSpec(3600))
    clock.now = at(3600)
    flaky.fail_next = "complete_many"
    engine.tick()
    assert stored(store, "job").state.total_run_count == 0
    engine.close()
    entry = stored(store, "job")
    assert (entry.state.total_run_count, entry.state.next_run_at) == (1, at(7200))
    other = RecordingPublisher(clock)
    clock.advance(settings.lease.total_seconds() * 2)
    successor = Engine(store, other, settings, clock=clock, sleep=clock.sleep)
    successor.tick()
    successor.close()
    assert other.sent == []


def test_an_occurrence_exactly_grace_late_is_on_time(
    store: Store, engine: Engine, clock: FakeClock, publisher: RecordingPublisher
) -> None:
    """``grace`` is the latest an occurrence may be and still run under catch_up=skip."""
    add(store, "job", IntervalSpec(60), catch_up="skip")
    clock.now = at(60) + engine.settings.grace
    report = engine.tick()
    assert (publisher.times("job"), report.missed) == ([at(60)], 0)


def test_fire_one_runs_every_on_time_occurrence_when_none_was_missed(
    store: Store, engine: Engine, clock: FakeClock, publisher: RecordingPublisher
) -> None:
    """fire_one folds a *missed* backlog into one run; occurrences on time all run."""
    add(store, "fast", IntervalSpec(0.25), first=at(10), catch_up="fire_one")
    clock.now = at(10.5)
    report = engine.tick()
    assert publisher.times("fast") == [at(10), at(10.25), at(10.5)]
    assert report.missed == 0


def test_skip_runs_at_most_the_limit_of_the_newest_on_time_occurrences(
    store: Store, engine: Engine, clock: FakeClock, publisher: RecordingPublisher
) -> None:
    engine.settings = replace(engine.settings, catch_up_limit=3)
    add(store, "fast", IntervalSpec(0.5), first=at(10), catch_up="skip")
    clock.now = at(13)
    report = engine.tick()
    assert publisher.times("fast") == [at(12), at(12.5), at(13)]
    assert report.missed == 4
    entry = stored(store, "fast")
    assert (entry.state.last_scheduled_for, entry.state.next_run_at) == (at(13), at(13.5))


def test_an_occurrence_due_right_where_a_capped_scan_stops_still_runs(
    store: Store,
    engine: Engine,
    clock: FakeClock,
    publisher: RecordingPublisher,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The scan stops after 50 occurrences; the 51st is due now and on time: it runs, and
    the count of missed ones is exact."""
    monkeypatch.setattr("celery_stembeat.catchup.MAX_BACKLOG_SCAN", 50)
    add(store, "busy", IntervalSpec(1, start_at=at(0)), first=at(1), catch_up="skip")
    clock.now = at(51)
    with caplog.at_level(logging.WARNING, logger="celery_stembeat"):
        report = engine.tick()
    engine.tick()
    assert publisher.times("busy") == [at(s) for s in range(21, 52)]
    assert report.missed == 20
    assert "busy missed 20 occurrence(s)" in caplog.text


def test_an_occurrence_due_right_now_after_a_long_backlog_still_runs(
    store: Store,
    engine: Engine,
    clock: FakeClock,
    publisher: RecordingPublisher,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Past the scan cap the entry resumes from now, and an occurrence at now is due."""
    monkeypatch.setattr("celery_stembeat.catchup.MAX_BACKLOG_SCAN", 50)
    add(store, "busy", IntervalSpec(1, start_at=at(0)), first=at(1), catch_up="skip")
    clock.now = at(100)
    engine.tick()
    engine.tick()
    assert publisher.times("busy") == [at(100)]
    assert stored(store, "busy").state.next_run_at == at(101)


def test_the_next_wake_up_counts_every_group_of_the_pass(
    store: Store, engine: Engine, clock: FakeClock, publisher: RecordingPublisher
) -> None:
    """Two groups claimed together: the earlier group's entry is due again first, and the
    engine wakes for it, not for the later group's next run."""
    add(store, "fast", IntervalSpec(0.1), first=at(10.005))
    add(store, "slow", IntervalSpec(60), first=at(10.015))
    clock.now = at(10)
    report = engine.tick()
    assert publisher.batches == [1, 1]
    lookahead = engine.settings.lookahead.total_seconds()
    assert report.delay == pytest.approx(10.105 - 10.015 - lookahead)


def test_a_failed_publish_records_the_task_id_and_jitter_it_was_sent_with(
    store: Store, clock: FakeClock, publisher: RecordingPublisher, settings: EngineSettings
) -> None:
    """A worker log or a later retry can be matched to the failed run by its task id."""
    engine = Engine(
        store, publisher, settings, clock=clock, sleep=clock.sleep, rng=random.Random(5)
    )
    add(store, "job", IntervalSpec(10), jitter=4)
    publisher.failing = ConnectionRefusedError("broker down")
    clock.now = at(10)
    engine.tick()
    (run,) = store.history("job")
    assert run.task_id == occurrence_task_id("job", at(10))
    assert run.jitter == round(random.Random(5).uniform(0, 4), 3)
    assert run.owner == settings.owner


def test_a_long_publish_error_is_kept_to_a_thousand_characters(
    store: Store, engine: Engine, clock: FakeClock, publisher: RecordingPublisher
) -> None:
    add(store, "job", IntervalSpec(10))
    publisher.failing = ConnectionRefusedError("x" * 5000)
    clock.now = at(10)
    engine.tick()
    (run,) = store.history("job")
    assert run.error == ("ConnectionRefusedError: " + "x" * 5000)[:1000]


def test_an_idle_beat_looks_for_lapsed_leases_every_quarter_lease(
    store: Store, clock: FakeClock, publisher: RecordingPublisher
) -> None:
    looks: list[object] = []
    recover = store.recover_expired_claims

    def counted(now):  # type: ignore[no-untyped-def]
        looks.append(now)
        return recover(now)

    store.recover_expired_claims = counted  # type: ignore[method-assign]
    engine = Engine(
        store, publisher, EngineSettings(owner="b", lease=timedelta(seconds=8)), clock=clock
    )
    assert engine.tick().delay == 2.0
    clock.advance(1.999)
    assert engine.tick().delay == pytest.approx(0.001)
    clock.advance(0.001)
    engine.tick()
    engine.close()
    assert looks == [at(0), at(2)]


def test_a_backlog_running_past_expire_at_stops_at_it(
    store: Store, engine: Engine, clock: FakeClock, publisher: RecordingPublisher
) -> None:
    """Back from downtime past ``expire_at``: fire_all sends the backlog up to it, no further."""
    add(store, "promo", IntervalSpec(10), expire_at=at(50), catch_up="fire_all")
    clock.now = at(100)
    engine.tick()
    assert publisher.times("promo") == [at(s) for s in (10, 20, 30, 40, 50)]
    assert stored(store, "promo").enabled is False


def test_every_entry_of_a_group_records_its_own_runs(
    store: Store, engine: Engine, clock: FakeClock, publisher: RecordingPublisher
) -> None:
    """Three entries sent in one batch, one with three runs: each history holds its own."""
    add(store, "a", IntervalSpec(60), first=at(10))
    add(store, "b", IntervalSpec(60), first=at(10))
    add(store, "c", IntervalSpec(1), first=at(8), catch_up="fire_all")
    clock.now = at(10)
    engine.tick()
    assert publisher.batches == [5]
    for entry_id, times in (("a", [10]), ("b", [10]), ("c", [10, 9, 8])):
        assert [run.scheduled_for for run in store.history(entry_id)] == [at(s) for s in times]
        assert stored(store, entry_id).state.last_scheduled_for == at(times[0])


def test_failures_of_every_group_of_a_pass_are_counted(
    store: Store, engine: Engine, clock: FakeClock, publisher: RecordingPublisher
) -> None:
    add(store, "first", IntervalSpec(60), first=at(10.005))
    add(store, "second", IntervalSpec(60), first=at(10.015))
    publisher.failing = ConnectionRefusedError("broker down")
    clock.now = at(10)
    assert engine.tick().failed == 2


def test_a_beat_claims_under_its_own_name(
    store: Store, clock: FakeClock, publisher: RecordingPublisher, settings: EngineSettings
) -> None:
    owners: list[str] = []
    claim_batch = store.claim_batch

    def named(now, limit, owner, lease):  # type: ignore[no-untyped-def]
        owners.append(owner)
        return claim_batch(now, limit, owner, lease)

    store.claim_batch = named  # type: ignore[method-assign]
    engine = Engine(store, publisher, settings, clock=clock, sleep=clock.sleep)
    engine.tick()
    engine.close()
    assert owners == [settings.owner]


# -- nothing sent early ------------------------------------------------------------------------


def test_a_claim_not_yet_due_is_not_sent_with_the_group_before_it(
    store: Store, engine: Engine, clock: FakeClock, publisher: RecordingPublisher
) -> None:
    """Three occurrences 5 ms apart, all claimed ahead: each leaves at its own time."""
    add(store, "first", IntervalSpec(60), first=at(10.005))
    add(store, "second", IntervalSpec(60), first=at(10.01))
    add(store, "third", IntervalSpec(60), first=at(10.015))
    clock.now = at(10)
    engine.tick()
    assert [(sent.entry_id, sent.sent_at) for sent in publisher.sent] == [
        ("first", at(10.005)),
        ("second", at(10.01)),
        ("third", at(10.015)),
    ]
    assert publisher.batches == [1, 1, 1]


def test_an_entry_without_jitter_is_sent_with_no_countdown(
    store: Store, engine: Engine, clock: FakeClock, publisher: RecordingPublisher
) -> None:
    add(store, "exact", IntervalSpec(10))
    run_until(engine, clock, at(30))
    assert [sent.countdown for sent in publisher.sent] == [0.0, 0.0, 0.0]


def test_jitter_spans_zero_to_its_bound(
    store: Store, clock: FakeClock, publisher: RecordingPublisher, settings: EngineSettings
) -> None:
    """Countdowns are drawn from [0, jitter], with the engine's random source, to the ms."""
    engine = Engine(
        store, publisher, settings, clock=clock, sleep=clock.sleep, rng=random.Random(3)
    )
    add(store, "calm", IntervalSpec(1))  # sent with "spread", and draws nothing
    add(store, "spread", IntervalSpec(1), jitter=2)
    run_until(engine, clock, at(300))
    countdowns = [sent.countdown for sent in publisher.sent if sent.entry_id == "spread"]
    assert len(countdowns) == 300
    assert min(countdowns) < 0.1
    assert max(countdowns) > 1.9
    assert all(0 <= c <= 2 and round(c, 3) == c for c in countdowns)
    expected = random.Random(3)
    assert countdowns[:5] == [round(expected.uniform(0, 2), 3) for _ in range(5)]


# -- waiting and the change feed ---------------------------------------------------------------


class WatchedStore(FlakyStore):
    """A real store that can go down, whose change feeds are counted and can be made to fail."""

    def __init__(self, inner: Store) -> None:
        super().__init__(inner)
        self.feeds: list[CountingFeed] = []
        self.broken = False

    def watch(self) -> ChangeFeed:
        feed = CountingFeed(self.inner.watch(), broken=self.broken)
        self.feeds.append(feed)
        return feed


class CountingFeed(ChangeFeed):
    """A real change feed that counts its waits and closes, or fails every wait."""

    def __init__(self, inner: ChangeFeed, *, broken: bool) -> None:
        self.inner = inner
        self.broken = broken
        self.waits: list[float] = []
        self.closed = 0
        self.close_fails = False

    def wait(self, timeout: float) -> list[str]:
        self.waits.append(timeout)
        if self.broken:
            raise StoreError("feed connection lost")
        return self.inner.wait(timeout)

    def close(self) -> None:
        self.closed += 1
        self.inner.close()
        if self.close_fails:
            raise StoreError("socket already gone")


@pytest.fixture
def watched(store: Store) -> WatchedStore:
    return WatchedStore(store)


def engine_on(watched: WatchedStore, clock: FakeClock, settings: EngineSettings) -> Engine:
    return Engine(
        watched,  # type: ignore[arg-type]
        RecordingPublisher(clock),
        settings,
        clock=clock,
        sleep=clock.sleep,
    )


def test_a_failing_change_feed_waits_the_full_time_and_reports_any_change(
    watched: WatchedStore, clock: FakeClock, settings: EngineSettings
) -> None:
    """A feed that cannot wait makes the engine sleep the whole wait (no busy loop), report
    that anything may have changed, and drop the feed for a new one on the next wait."""
    engine = engine_on(watched, clock, settings)
    watched.broken = True
    start = clock.now
    assert engine.wait(2.5) == [ANY_CHANGE]
    assert clock.now - start == timedelta(seconds=2.5)
    assert [feed.closed for feed in watched.feeds] == [1]
    watched.broken = False
    engine.wait(0.001)
    assert len(watched.feeds) == 2
    engine.close()
    assert [feed.closed for feed in watched.feeds] == [1, 1]


def test_a_short_wait_listens_and_a_closed_engine_does_not(
    watched: WatchedStore, clock: FakeClock, settings: EngineSettings
) -> None:
    """Sub-second waits are real waits on the feed; after close, wait returns at once."""
    engine = engine_on(watched, clock, settings)
    assert engine.wait(0) == []
    assert watched.feeds == []
    engine.wait(0.02)
    (feed,) = watched.feeds
    assert feed.waits == [0.02]
    engine.close()
    assert feed.closed == 1
    assert engine.wait(0.02) == []
    assert engine.wait(0) == []
    assert (len(watched.feeds), feed.waits) == (1, [0.02])


def test_a_store_outage_drops_the_change_feed(
    watched: WatchedStore, clock: FakeClock, settings: EngineSettings
) -> None:
    """The feed's connection went with the store: the next wait opens a new one."""
    engine = engine_on(watched, clock, settings)
    engine.wait(0.001)
    watched.down = True
    engine.tick()
    assert [feed.closed for feed in watched.feeds] == [1]
    watched.down = False
    engine.tick()
    engine.wait(0.001)
    assert len(watched.feeds) == 2
    engine.close()


# -- retrying a store that is down -------------------------------------------------------------


def test_outage_backoff_doubles_to_the_cap_and_starts_over_after_recovery(
    store: Store, clock: FakeClock, publisher: RecordingPublisher, settings: EngineSettings
) -> None:
    flaky, engine = flaky_engine(store, publisher, replace(settings, max_backoff=5.0), clock)

    def outage(ticks: int) -> list[float]:
        flaky.down = True
        delays = [engine.tick().delay for _ in range(ticks)]
        flaky.down = False
        return delays

    assert outage(6) == [0.5, 1.0, 2.0, 4.0, 5.0, 5.0]
    engine.tick()
    assert outage(3) == [0.5, 1.0, 2.0]
    engine.close()


def test_engine_defaults_are_the_documented_ones() -> None:
    """docs/beat.md gives these defaults for the ``stembeat_*`` settings."""
    with open_store("memory://") as store:
        defaults = Engine(store, RecordingPublisher(FakeClock())).settings
    assert defaults == EngineSettings(owner=defaults.owner)
    assert defaults.lease == timedelta(seconds=10)
    assert defaults.grace == timedelta(seconds=30)
    assert defaults.catch_up_limit == 100
    assert defaults.batch_size == 500
    assert defaults.lookahead == timedelta(milliseconds=20)
    assert defaults.max_interval == 300.0
    assert defaults.max_backoff == 30.0


def test_a_backlog_longer_than_the_scan_is_counted_as_at_least(
    store: Store,
    engine: Engine,
    clock: FakeClock,
    publisher: RecordingPublisher,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Past the scan cap the engine stops counting, says so, and resumes from now."""
    monkeypatch.setattr("celery_stembeat.catchup.MAX_BACKLOG_SCAN", 50)
    add(store, "busy", IntervalSpec(1), first=at(1), catch_up="fire_one")
    add(store, "calm", IntervalSpec(100), first=at(100), catch_up="skip")
    clock.now = at(1000.5)
    with caplog.at_level(logging.DEBUG, logger="celery_stembeat"):
        report = engine.tick()
    assert publisher.times("busy") == [at(50)]
    assert report.missed == 49 + 9
    messages = [r.getMessage() for r in caplog.records if " missed " in r.getMessage()]
    assert messages == [
        "stembeat: busy missed at least 49 occurrence(s) (catch_up=fire_one)",
        "stembeat: calm missed 9 occurrence(s) (catch_up=skip)",
        "stembeat: 2 entries missed at least 58 occurrence(s) late by more than the 30 s grace "
        "(fire_one: 1, skip: 1)",
    ]
    assert stored(store, "busy").state.next_run_at == at(1001.499)  # a period after now - 1 ms


def test_feed_troubles_are_debug_lines_and_never_stop_the_beat(
    watched: WatchedStore,
    clock: FakeClock,
    settings: EngineSettings,
    caplog: pytest.LogCaptureFixture,
) -> None:
    engine = engine_on(watched, clock, settings)
    watched.broken = True
    with caplog.at_level(logging.DEBUG, logger="celery_stembeat"):
        engine.wait(1)
        watched.broken = False
        engine.wait(0.001)
        watched.feeds[-1].close_fails = True
        engine.close()
    assert [r.getMessage() for r in caplog.records if "feed" in r.getMessage()] == [
        "stembeat: change feed unavailable: feed connection lost",
        "stembeat: closing the change feed failed: socket already gone",
    ]
    assert {r.levelno for r in caplog.records} == {logging.DEBUG}


def test_the_default_clock_is_aware_utc_and_the_owner_names_host_and_process() -> None:
    import os
    import socket

    from celery_stembeat.engine import default_owner, utc_now

    now = utc_now()
    assert now.tzinfo is timezone.utc
    assert abs((now - datetime.now(timezone.utc)).total_seconds()) < 60
    assert default_owner() == f"{socket.gethostname()}:{os.getpid()}"
