"""The engine on every store, driven by a fake clock: firing, catch-up, one-offs, failures."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, timedelta

import pytest

from celery_stembeat.engine import Engine, EngineSettings
from celery_stembeat.entry import Entry
from celery_stembeat.publisher import Message, occurrence_task_id
from celery_stembeat.specs import ClockedSpec, CronSpec, IntervalSpec, Spec
from celery_stembeat.stores import FAILED, PUBLISHED, Store, StoreError
from tests.contract.helpers import LEASE, T0, at
from tests.engine.conftest import FakeClock, RecordingPublisher


def add(
    store: Store, entry_id: str, spec: Spec, *, first: datetime | None = None, **fields: object
) -> Entry:
    """Store an entry whose first occurrence is ``first`` (the spec's first after T0)."""
    entry = Entry(id=entry_id, task=f"tasks.{entry_id}", spec=spec, **fields)  # type: ignore[arg-type]
    start = first if first is not None else entry.first_run_after(T0)
    return store.upsert(entry.with_state(next_run_at=start, created_at=T0, updated_at=T0))


def run_until(engine: Engine, clock: FakeClock, end: datetime) -> None:
    """Tick like beat does, jumping the clock to each wake-up, until ``end``."""
    while clock.now < end:
        report = engine.tick()
        clock.now = min(end, clock.now + timedelta(seconds=max(report.delay, 0.001)))
    engine.tick()


def stored(store: Store, entry_id: str) -> Entry:
    entry = store.get(entry_id)
    assert entry is not None
    return entry


def test_interval_fires_on_time_with_drift_and_occurrence_ids(
    store: Store, engine: Engine, clock: FakeClock, publisher: RecordingPublisher
) -> None:
    """Each occurrence is sent once, at its time, with the id derived from the occurrence."""
    publisher.latency = 0.004
    add(store, "ping", IntervalSpec(10))
    run_until(engine, clock, at(35))
    assert publisher.times("ping") == [at(10), at(20), at(30)]
    assert [s.task_id for s in publisher.sent] == [
        occurrence_task_id("ping", at(s)) for s in (10, 20, 30)
    ]
    entry = stored(store, "ping")
    assert entry.state.total_run_count == 3
    assert entry.state.next_run_at == at(40)
    assert entry.state.last_drift == pytest.approx(0.004)
    runs = store.history("ping")
    assert [r.outcome for r in runs] == [PUBLISHED] * 3
    assert runs[0].owner == "beat-test"
    assert runs[0].task_id == occurrence_task_id("ping", at(30))


def test_delay_is_the_time_to_the_next_due_entry(
    store: Store, engine: Engine, clock: FakeClock
) -> None:
    """The engine sleeps until the lookahead before the earliest next run, waking meanwhile
    only to recover the claims of beats that died (every quarter lease)."""
    ahead = engine.settings.lookahead.total_seconds()
    assert engine.tick().delay == engine.settings.lease.total_seconds() / 4
    add(store, "soon", IntervalSpec(7))
    add(store, "later", IntervalSpec(3600))
    report = engine.tick()
    assert report.delay == pytest.approx(7 - ahead)
    clock.advance(report.delay)
    report = engine.tick()
    assert report.published == 1
    assert clock.now == at(7)
    assert report.delay == pytest.approx(7 - ahead)


def test_a_tick_claims_ahead_and_sends_each_occurrence_at_its_time(
    store: Store, engine: Engine, clock: FakeClock, publisher: RecordingPublisher
) -> None:
    """Occurrences due within the lookahead are claimed in the same round trip and each is
    published when its time comes, not before; later ones wait for a later tick."""
    add(store, "a", IntervalSpec(60), first=at(10.005))
    add(store, "b", IntervalSpec(60), first=at(10.005))
    add(store, "c", IntervalSpec(60), first=at(10.015))
    add(store, "late", IntervalSpec(60), first=at(10.04))
    clock.now = at(10)
    report = engine.tick()
    assert (report.claimed, report.published) == (3, 3)
    assert [(sent.entry_id, sent.sent_at) for sent in publisher.sent] == [
        ("a", at(10.005)),
        ("b", at(10.005)),
        ("c", at(10.015)),
    ]
    assert publisher.batches == [2, 1]
    assert report.delay == pytest.approx(0.025 - engine.settings.lookahead.total_seconds())
    assert stored(store, "c").state.next_run_at == at(70.015)


def test_a_group_sent_before_a_later_group_fails_is_recorded_once(
    store: Store, clock: FakeClock
) -> None:
    """Groups of one claim go out one by one: when a later group cannot be sent at all (the
    publisher raises), what went out before is recorded, and never sent again."""
    calls: list[int] = []
    sent = RecordingPublisher(clock)

    class SecondCallFails:
        def publish_many(self, messages: Sequence[Message]) -> list[Exception | None]:
            calls.append(len(messages))
            if len(calls) == 2:
                raise ConnectionResetError("broker gone between groups")
            return sent.publish_many(messages)

    engine = Engine(
        store, SecondCallFails(), EngineSettings(owner="b"), clock=clock, sleep=clock.sleep
    )
    add(store, "first", IntervalSpec(3600), first=at(10.005))
    add(store, "second", IntervalSpec(3600), first=at(10.015))
    clock.now = at(10)
    engine.tick()  # the broker error is an outage: logged, not raised
    assert [item.entry_id for item in sent.sent] == ["first"]
    engine.tick()
    assert stored(store, "first").state.total_run_count == 1
    assert stored(store, "first").state.next_run_at == at(3610.005)
    # The second claim's lease runs out and another pass takes it over; the first is done.
    clock.advance(engine.settings.lease.total_seconds() + 1)
    engine.tick()
    engine.close()
    assert [item.entry_id for item in sent.sent] == ["first", "second"]


def test_no_lookahead_claims_only_what_is_due(
    store: Store, clock: FakeClock, publisher: RecordingPublisher
) -> None:
    engine = Engine(
        store,
        publisher,
        EngineSettings(owner="b", lookahead=timedelta(0)),
        clock=clock,
        sleep=clock.sleep,
    )
    add(store, "now", IntervalSpec(60), first=at(10))
    add(store, "soon", IntervalSpec(60), first=at(10.005))
    clock.now = at(10)
    report = engine.tick()
    assert (report.claimed, publisher.batches) == (1, [1])
    assert report.delay == pytest.approx(0.005)
    assert clock.now == at(10)


def test_a_clock_set_back_during_the_wait_sends_nothing_early(
    store: Store, publisher: RecordingPublisher
) -> None:
    """The wait for a claimed-ahead occurrence is bounded by the lookahead: if the clock has
    not reached it by then, the claim goes back untouched and nothing is sent."""
    frozen = FakeClock(at(10))
    pauses: list[float] = []
    engine = Engine(store, publisher, EngineSettings(owner="b"), clock=frozen, sleep=pauses.append)
    add(store, "soon", IntervalSpec(60), first=at(10.015))
    report = engine.tick()
    assert (report.claimed, report.published, publisher.sent) == (1, 0, [])
    assert sum(pauses) == pytest.approx(engine.settings.lookahead.total_seconds())
    entry = stored(store, "soon")
    assert entry.state.next_run_at == at(10.015)
    assert entry.state.total_run_count == 0
    assert [claim.entry_id for claim in store.claim_due(at(11), 10, "x", LEASE)] == ["soon"]


def test_task_ids_are_the_same_on_every_beat() -> None:
    """Two beats publishing the same occurrence use the same id; other occurrences differ."""
    first = occurrence_task_id("report", at(60))
    assert first == occurrence_task_id("report", at(60))
    assert first != occurrence_task_id("report", at(120))
    assert first != occurrence_task_id("other", at(60))


def test_more_due_entries_than_a_batch_all_fire_in_one_tick(
    store: Store, clock: FakeClock, publisher: RecordingPublisher
) -> None:
    """Claims come in batches; one tick drains every batch that is due."""
    for index in range(25):
        add(store, f"job{index:02d}", IntervalSpec(60))
    engine = Engine(
        store, publisher, EngineSettings(batch_size=10, owner="b"), clock=clock, sleep=clock.sleep
    )
    clock.now = at(60)
    report = engine.tick()
    assert report.claimed == report.published == 25
    assert sorted({s.entry_id for s in publisher.sent}) == [f"job{i:02d}" for i in range(25)]


@pytest.mark.parametrize(
    ("policy", "expected"),
    [
        ("skip", [70, 75, 80, 85, 90, 95, 100]),  # only the on-time ones
        ("fire_one", [100]),  # one run for the whole backlog: the newest due
        ("fire_all", [40, 45, 50, 55, 60, 65, 70, 75, 80, 85, 90, 95, 100]),
    ],
)
def test_catch_up_policies_after_downtime(
    store: Store,
    engine: Engine,
    clock: FakeClock,
    publisher: RecordingPublisher,
    policy: str,
    expected: list[int],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Back after 95 s down: on-time (≤ 30 s late) runs fire; older ones follow the policy."""
    add(store, "job", IntervalSpec(5), first=at(5), catch_up=policy)
    engine.settings = replace(engine.settings, catch_up_limit=13)
    clock.now = at(100)
    with caplog.at_level(logging.WARNING):
        report = engine.tick()
    assert publisher.times("job") == [at(s) for s in expected]
    assert report.missed == 20 - len(expected)
    assert f"job missed {20 - len(expected)} occurrence(s)" in caplog.text
    entry = stored(store, "job")
    assert entry.state.next_run_at == at(105)  # past the whole backlog in one write
    assert entry.state.total_run_count == len(expected)


def test_late_within_grace_is_on_time(
    store: Store, engine: Engine, clock: FakeClock, publisher: RecordingPublisher
) -> None:
    """A run 29 s late is simply late: it fires, with its drift, under any policy."""
    add(store, "job", IntervalSpec(60), catch_up="skip")
    clock.now = at(60 + 29)
    engine.tick()
    assert publisher.times("job") == [at(60)]
    assert stored(store, "job").state.last_drift == pytest.approx(29)


def test_clocked_entry_fires_once_however_late_and_is_disabled(
    store: Store, engine: Engine, clock: FakeClock, publisher: RecordingPublisher
) -> None:
    """A one-off fires exactly once, even days late and with catch_up=skip."""
    add(store, "once", ClockedSpec(at(60)), catch_up="skip")
    clock.now = at(3 * 86400)
    engine.tick()
    clock.advance(3600)
    engine.tick()
    assert publisher.times("once") == [at(60)]
    entry = stored(store, "once")
    assert entry.enabled is False
    assert entry.state.total_run_count == 1


def test_run_once_interval_runs_once(
    store: Store, engine: Engine, clock: FakeClock, publisher: RecordingPublisher
) -> None:
    add(store, "boot", IntervalSpec(10), run_once=True)
    run_until(engine, clock, at(100))
    assert publisher.times("boot") == [at(10)]
    assert stored(store, "boot").enabled is False


def test_nothing_fires_after_expire_at(
    store: Store, engine: Engine, clock: FakeClock, publisher: RecordingPublisher
) -> None:
    """Occurrences after expire_at never fire, and the entry is disabled."""
    add(store, "promo", IntervalSpec(10), expire_at=at(25))
    run_until(engine, clock, at(60))
    assert publisher.times("promo") == [at(10), at(20)]
    assert stored(store, "promo").enabled is False
    clock.now = at(10**4)
    assert engine.tick().claimed == 0


def test_jitter_delays_the_task_not_the_publish(
    store: Store, clock: FakeClock, publisher: RecordingPublisher, settings: EngineSettings
) -> None:
    """Jitter becomes the message countdown and is recorded apart from drift."""
    import random

    engine = Engine(
        store, publisher, settings, clock=clock, sleep=clock.sleep, rng=random.Random(7)
    )
    add(store, "spread", IntervalSpec(60), jitter=20)
    run_until(engine, clock, at(250))
    countdowns = [s.countdown for s in publisher.sent]
    assert len(countdowns) == 4
    assert all(0 <= c <= 20 for c in countdowns)
    assert len(set(countdowns)) > 1
    runs = store.history("spread")
    assert sorted(r.jitter for r in runs) == sorted(countdowns)
    assert all(r.drift == 0 for r in runs)


def test_publish_failure_is_recorded_and_beat_goes_on(
    store: Store, engine: Engine, clock: FakeClock, publisher: RecordingPublisher
) -> None:
    """A broker error becomes the run's error; the entry advances and fires again later."""
    add(store, "job", IntervalSpec(10))
    publisher.failing = ConnectionRefusedError("broker down")
    clock.now = at(10)
    report = engine.tick()
    assert (report.published, report.failed) == (0, 1)
    entry = stored(store, "job")
    assert entry.state.failure_count == entry.state.consecutive_failures == 1
    assert entry.state.last_error == "ConnectionRefusedError: broker down"
    assert entry.state.next_run_at == at(20)
    (run,) = store.history("job")
    assert (run.outcome, run.error) == (FAILED, "ConnectionRefusedError: broker down")
    publisher.failing = None
    clock.now = at(20)
    engine.tick()
    entry = stored(store, "job")
    assert (entry.state.total_run_count, entry.state.consecutive_failures) == (1, 0)
    assert entry.state.last_error == "ConnectionRefusedError: broker down"  # the last one seen
    publisher.failing = ConnectionRefusedError("broker down again")
    clock.now = at(30)
    engine.tick()
    entry = stored(store, "job")
    assert entry.state.last_run_at == at(20)  # the last run that went out
    assert entry.state.last_error == "ConnectionRefusedError: broker down again"


def test_cron_across_a_dst_day(
    store: Store, engine: Engine, clock: FakeClock, publisher: RecordingPublisher
) -> None:
    """New York, spring forward: 02:30 does not exist, so it fires once at 03:00 EDT."""
    engine.settings = replace(engine.settings, lease=timedelta(days=1))  # wake only to fire
    start = datetime.fromisoformat("2026-03-06T12:00:00+00:00")
    clock.now = start
    spec = CronSpec("30 2 * * *", "America/New_York")
    add(store, "night", spec, first=spec.next_after(start))
    run_until(engine, clock, datetime.fromisoformat("2026-03-10T12:00:00+00:00"))
    assert publisher.times("night") == [
        datetime.fromisoformat("2026-03-07T07:30:00+00:00"),  # 02:30 EST
        datetime.fromisoformat("2026-03-08T07:00:00+00:00"),  # in the gap: 03:00 EDT
        datetime.fromisoformat("2026-03-09T06:30:00+00:00"),  # 02:30 EDT
        datetime.fromisoformat("2026-03-10T06:30:00+00:00"),
    ]


class FlakyStore:
    """A real store behind a switch that makes every call fail, like a server that went away."""

    def __init__(self, inner: Store) -> None:
        self.inner = inner
        self.down = False
        #: The name of one method whose next call fails, as a connection reset mid-call.
        self.fail_next: str | None = None

    def __getattr__(self, name: str) -> object:
        if self.down:
            raise StoreError("connection refused")
        if name == self.fail_next:
            self.fail_next = None

            def reset(*args: object, **kwargs: object) -> object:
                raise StoreError("connection reset")

            return reset
        return getattr(self.inner, name)


def flaky_engine(
    store: Store, publisher: RecordingPublisher, settings: EngineSettings, clock: FakeClock
) -> tuple[FlakyStore, Engine]:
    """An engine on ``store`` behind a :class:`FlakyStore` switch, with the test's clock."""
    flaky = FlakyStore(store)
    engine = Engine(flaky, publisher, settings, clock=clock, sleep=clock.sleep)  # type: ignore[arg-type]
    return flaky, engine


def test_store_outage_never_escapes_tick_and_is_logged_once(
    store: Store,
    clock: FakeClock,
    publisher: RecordingPublisher,
    settings: EngineSettings,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Ticks during an outage back off; after it, the backlog follows the catch-up policy."""
    flaky, engine = flaky_engine(store, publisher, settings, clock)
    add(store, "job", IntervalSpec(10), catch_up="fire_one")
    flaky.down = True
    delays = []
    with caplog.at_level(logging.DEBUG, logger="celery_stembeat"):
        for _ in range(8):
            delays.append(engine.tick().delay)
            clock.advance(delays[-1])
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1
    assert delays == sorted(delays)
    assert delays[0] == 0.5
    assert max(delays) <= settings.max_backoff
    flaky.down = False
    with caplog.at_level(logging.WARNING):
        engine.tick()
    assert "store reachable again" in caplog.text
    assert len(publisher.sent) == 1  # fire_one: one run for the whole outage
    assert publisher.sent[0].scheduled_for > clock.now - timedelta(seconds=10)


def test_completion_lost_in_an_outage_is_recorded_on_the_next_tick(
    store: Store, clock: FakeClock, publisher: RecordingPublisher, settings: EngineSettings
) -> None:
    """Published, then the store went away before complete: the run is recorded later, once."""
    flaky, engine = flaky_engine(store, publisher, settings, clock)
    add(store, "job", IntervalSpec(10))
    clock.now = at(10)

    real_complete_many = store.complete_many

    def failing_complete_many(pairs: object) -> object:
        flaky.down = True
        raise StoreError("connection reset")

    store.complete_many = failing_complete_many  # type: ignore[method-assign]
    engine.tick()
    store.complete_many = real_complete_many  # type: ignore[method-assign]
    flaky.down = False
    clock.advance(1)
    engine.tick()
    assert publisher.times("job") == [at(10)]
    entry = stored(store, "job")
    assert entry.state.total_run_count == 1
    assert entry.state.next_run_at == at(20)


def test_dead_beats_claims_are_recovered_by_another(
    store: Store, clock: FakeClock, settings: EngineSettings
) -> None:
    """Beat A claims and dies before publishing; beat B sends the occurrence after the lease."""
    lease = timedelta(seconds=20)
    add(store, "job", IntervalSpec(10), catch_up="fire_all")
    clock.now = at(10)
    (claim,) = store.claim_due(clock.now, 10, "beat-dead", lease)
    assert claim.scheduled_for == at(10)
    survivor = RecordingPublisher(clock)
    engine = Engine(
        store,
        survivor,
        replace(settings, lease=lease, owner="beat-b"),
        clock=clock,
        sleep=clock.sleep,
    )
    run_until(engine, clock, at(45))
    assert survivor.times("job") == [at(10), at(20), at(30), at(40)]
    assert {r.owner for r in store.history("job")} == {"beat-b"}


def test_wait_wakes_up_on_a_change_from_another_process(
    store: Store, engine: Engine, open_more: object
) -> None:
    """A change made through another store handle ends the wait early."""
    import threading
    import time

    other = open_more()  # type: ignore[operator]
    engine.wait(0.01)  # subscribes
    timer = threading.Timer(0.2, lambda: add(other, "new", IntervalSpec(5)))
    timer.start()
    started = time.monotonic()
    changed = engine.wait(20)
    while "new" not in changed and time.monotonic() - started < 20:
        changed += engine.wait(20 - (time.monotonic() - started))
    elapsed = time.monotonic() - started
    timer.join()
    assert "new" in changed
    assert elapsed < 10


def test_close_is_safe_twice(engine: Engine) -> None:
    engine.close()
    engine.close()
    assert engine.wait(1) == []


def test_a_tick_reports_each_sends_lateness_and_its_claim_batches(
    store: Store, engine: Engine, clock: FakeClock, publisher: RecordingPublisher
) -> None:
    """What beat's metrics count: one lateness per occurrence sent, one size per batch."""
    publisher.latency = 0.004
    for entry_id in ("a", "b", "c"):
        add(store, entry_id, IntervalSpec(10))
    clock.now = at(10)
    report = engine.tick()
    assert report.published == 3
    assert report.drifts == [store.history(entry_id)[0].drift for entry_id in ("a", "b", "c")]
    assert all(drift > 0 for drift in report.drifts)
    assert report.batches == [3]
    clock.now = at(15)
    quiet = engine.tick()
    assert (quiet.drifts, quiet.batches) == ([], [])


def test_a_tick_of_several_batches_reports_every_send(
    store: Store, clock: FakeClock, pairs_engine: Engine
) -> None:
    engine = pairs_engine
    for entry_id in ("a", "b", "c"):
        add(store, entry_id, IntervalSpec(10))
    clock.now = at(10)
    report = engine.tick()
    assert (report.published, report.batches) == (3, [2, 1])
    assert len(report.drifts) == 3


def test_only_the_first_tick_of_an_outage_reports_its_start(
    store: Store, clock: FakeClock, publisher: RecordingPublisher, settings: EngineSettings
) -> None:
    flaky, engine = flaky_engine(store, publisher, settings, clock)
    add(store, "job", IntervalSpec(10))
    flaky.down = True
    starts = []
    for _ in range(3):
        report = engine.tick()
        starts.append(report.outage_started)
        clock.advance(report.delay)
    flaky.down = False
    starts.append(engine.tick().outage_started)
    assert starts == [True, False, False, False]
