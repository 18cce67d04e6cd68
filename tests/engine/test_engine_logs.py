"""What the engine logs through outages and catch-up: a few lines however many messages or
entries are involved, with the detail at debug level and in the run history."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace

import pytest

from celery_stembeat.engine import BROKER_REPORT_INTERVAL, Engine, EngineSettings
from celery_stembeat.publisher import Message
from celery_stembeat.specs import IntervalSpec
from celery_stembeat.stores import FAILED, PUBLISHED, Store
from tests.contract.helpers import LEASE, at
from tests.engine.conftest import FakeClock, RecordingPublisher
from tests.engine.test_engine import add, flaky_engine, stored

LOGGER = "celery_stembeat"


def lines(caplog: pytest.LogCaptureFixture, level: int) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == level]


def test_broker_outage_is_logged_once_with_a_running_count(
    store: Store,
    engine: Engine,
    clock: FakeClock,
    publisher: RecordingPublisher,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A broker down for 150 s while an entry fires every second: one ERROR with the error,
    a count every minute, one line when it is back; the newest runs are in the history."""
    assert BROKER_REPORT_INTERVAL == 60
    add(store, "pulse", IntervalSpec(1))
    publisher.failing = ConnectionRefusedError("broker down")
    with caplog.at_level(logging.DEBUG, logger=LOGGER):
        for second in range(1, 151):
            clock.now = at(second)
            assert engine.tick().failed == 1
        publisher.failing = None
        clock.now = at(151)
        assert engine.tick().published == 1

    (error,) = lines(caplog, logging.ERROR)
    assert error == (
        "stembeat: could not send pulse (tasks.pulse), counting further failures until a "
        "message goes through: ConnectionRefusedError: broker down"
    )
    warnings = lines(caplog, logging.WARNING)
    assert warnings == [
        "stembeat: broker still unreachable after 60.0 s; 61 message(s) not sent so far",
        "stembeat: broker still unreachable after 120.0 s; 121 message(s) not sent so far",
        "stembeat: broker reachable again after 150.0 s; 150 message(s) could not be sent",
    ]
    failures = [m for m in lines(caplog, logging.DEBUG) if m.startswith("stembeat: could not")]
    assert len(failures) == 149
    assert failures[0] == (
        "stembeat: could not send pulse (tasks.pulse): ConnectionRefusedError: broker down"
    )
    history = store.history("pulse", limit=1000)
    # History holds the newest history_limit runs (fewer than the 151 recorded).
    assert [r.outcome for r in history] == [PUBLISHED] + [FAILED] * (store.history_limit - 1)
    entry = stored(store, "pulse")
    assert entry.state.failure_count == 150
    assert entry.state.consecutive_failures == 0


def test_a_second_broker_outage_is_logged_again(
    store: Store,
    engine: Engine,
    clock: FakeClock,
    publisher: RecordingPublisher,
    caplog: pytest.LogCaptureFixture,
) -> None:
    add(store, "pulse", IntervalSpec(1))
    with caplog.at_level(logging.INFO, logger=LOGGER):
        for second, down in enumerate([True, True, False, True, False], start=1):
            publisher.failing = ConnectionRefusedError("broker down") if down else None
            clock.now = at(second)
            engine.tick()
    assert len(lines(caplog, logging.ERROR)) == 2
    assert lines(caplog, logging.WARNING) == [
        "stembeat: broker reachable again after 2.0 s; 2 message(s) could not be sent",
        "stembeat: broker reachable again after 1.0 s; 1 message(s) could not be sent",
    ]


def test_a_broker_still_down_at_stop_is_summed_up(
    store: Store,
    engine: Engine,
    clock: FakeClock,
    publisher: RecordingPublisher,
    caplog: pytest.LogCaptureFixture,
) -> None:
    add(store, "pulse", IntervalSpec(1))
    publisher.failing = ConnectionRefusedError("broker down")
    with caplog.at_level(logging.INFO, logger=LOGGER):
        for second in (1, 2, 3):
            clock.now = at(second)
            engine.tick()
        engine.close()
    assert lines(caplog, logging.WARNING) == [
        "stembeat: broker still unreachable at stop after 2.0 s; 3 message(s) could not be sent"
    ]


class PickyPublisher(RecordingPublisher):
    """A broker that is up but refuses the messages of one entry."""

    def publish_many(self, messages: Sequence[Message]) -> list[Exception | None]:
        good = [m for m in messages if m.entry.id != "bad"]
        sent = iter(super().publish_many(good))
        refused = ValueError("cannot encode")
        return [next(sent) if m.entry.id != "bad" else refused for m in messages]


def test_a_message_refused_by_a_broker_that_is_up_is_an_error_each_time(
    store: Store,
    clock: FakeClock,
    settings: EngineSettings,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Others went out in the same batch: not an outage, so each failure is an ERROR."""
    beat = Engine(store, PickyPublisher(clock), settings, clock=clock, sleep=clock.sleep)
    add(store, "bad", IntervalSpec(1))
    add(store, "good", IntervalSpec(1))
    with caplog.at_level(logging.INFO, logger=LOGGER):
        for second in (1, 2, 3):
            clock.now = at(second)
            assert beat.tick().failed == 1
        beat.close()
    assert (
        lines(caplog, logging.ERROR)
        == ["stembeat: could not send bad (tasks.bad): ValueError: cannot encode"] * 3
    )
    assert lines(caplog, logging.WARNING) == []


def test_many_entries_missing_occurrences_give_one_summary_line(
    store: Store,
    engine: Engine,
    clock: FakeClock,
    publisher: RecordingPublisher,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Back after 300 s down with 30 entries every 10 s: one WARNING for the pass (counts by
    catch_up policy), one debug line per entry, and the tick report counts every miss."""
    policies = ["fire_one"] * 20 + ["skip"] * 7 + ["fire_all"] * 3
    for number, policy in enumerate(policies):
        add(store, f"job{number:02}", IntervalSpec(10), first=at(10), catch_up=policy)
    clock.now = at(300)
    with caplog.at_level(logging.DEBUG, logger=LOGGER):
        report = engine.tick()
    # 30 occurrences each (10 … 300); within the 30 s grace: 270 … 300 (4 on time).
    missed = {"fire_one": 29, "skip": 26, "fire_all": 0}
    total = sum(missed[policy] for policy in policies)
    assert report.missed == total
    assert report.published == 20 * 1 + 7 * 4 + 3 * 30
    warnings = lines(caplog, logging.WARNING)
    assert warnings == [
        f"stembeat: 27 entries missed {total:,} occurrence(s) late by more than the 30 s grace "
        "(fire_one: 20, skip: 7)"
    ]
    detail = [m for m in lines(caplog, logging.DEBUG) if " missed " in m]
    assert len(detail) == 27
    assert "stembeat: job00 missed 29 occurrence(s) (catch_up=fire_one)" in detail
    assert sum(store.get(f"job{n:02}").state.total_run_count for n in range(30)) == (  # type: ignore[union-attr]
        report.published
    )


def test_one_entry_missing_occurrences_is_named(
    store: Store,
    engine: Engine,
    clock: FakeClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    add(store, "job", IntervalSpec(10), first=at(10), catch_up="skip")
    clock.now = at(300)
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        assert engine.tick().missed == 26
    assert lines(caplog, logging.WARNING) == [
        "stembeat: job missed 26 occurrence(s) late by more than the 30 s grace (catch_up=skip)"
    ]


def test_a_store_outage_is_one_error_then_one_line_when_it_is_back(
    store: Store,
    clock: FakeClock,
    publisher: RecordingPublisher,
    settings: EngineSettings,
    caplog: pytest.LogCaptureFixture,
) -> None:
    flaky, beat = flaky_engine(store, publisher, settings, clock)
    flaky.down = True
    with caplog.at_level(logging.DEBUG, logger=LOGGER):
        for _ in range(3):
            clock.advance(beat.tick().delay)
        flaky.down = False
        beat.tick()
        beat.tick()
        beat.close()
    assert lines(caplog, logging.ERROR) == [
        "stembeat: store or broker unavailable, retrying: connection refused"
    ]
    assert [m for m in lines(caplog, logging.DEBUG) if "unavailable" in m] == [
        "stembeat: still unavailable: connection refused"
    ] * 2
    assert lines(caplog, logging.WARNING) == ["stembeat: store reachable again after 3.5 s"]


def test_each_sent_message_is_one_debug_line(
    store: Store,
    engine: Engine,
    clock: FakeClock,
    publisher: RecordingPublisher,
    caplog: pytest.LogCaptureFixture,
) -> None:
    publisher.latency = 0.0125
    add(store, "ping", IntervalSpec(10))
    clock.now = at(10)
    with caplog.at_level(logging.DEBUG, logger=LOGGER):
        engine.tick()
    (sent,) = publisher.sent
    assert [m for m in lines(caplog, logging.DEBUG) if m.startswith("stembeat: sent")] == [
        f"stembeat: sent ping (tasks.ping) for {at(10).isoformat()}, drift 0.013 s, "
        f"id {sent.task_id}"
    ]


def test_runs_left_unrecorded_at_stop_are_counted(
    store: Store,
    clock: FakeClock,
    publisher: RecordingPublisher,
    settings: EngineSettings,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The store went away between sending and recording, and is still away at stop."""
    flaky, beat = flaky_engine(store, publisher, settings, clock)
    add(store, "a", IntervalSpec(10))
    add(store, "b", IntervalSpec(10))
    clock.now = at(10)
    flaky.fail_next = "complete_many"
    beat.tick()
    flaky.down = True
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        beat.close()
    assert lines(caplog, logging.WARNING) == [
        "stembeat: 2 run(s) left unrecorded: connection refused"
    ]


def test_a_lease_lost_before_recording_and_a_recovery_are_one_line_each(
    store: Store,
    clock: FakeClock,
    publisher: RecordingPublisher,
    settings: EngineSettings,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Beat "a" sends, cannot record before its lease runs out, and beat "b" recovers the
    claim: "a" says its record came too late; "b" names what it recovered."""
    flaky, beat_a = flaky_engine(store, publisher, settings, clock)
    beat_b = Engine(
        store,
        RecordingPublisher(clock),
        replace(settings, owner="b"),
        clock=clock,
        sleep=clock.sleep,
    )
    add(store, "job", IntervalSpec(3600))
    clock.now = at(3600)
    flaky.fail_next = "complete_many"
    beat_a.tick()
    clock.advance(settings.lease.total_seconds() + 1)
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        beat_b.tick()
        beat_a.tick()
    assert lines(caplog, logging.WARNING) == [
        "stembeat: recovered expired claims of job",
        "stembeat: 1 lease(s) ran out before their runs were recorded (first: job for "
        f"{at(3600).isoformat()}); another beat may send them again, with the same task ids",
        "stembeat: store reachable again after 61.0 s",
    ]
    beat_a.close()
    beat_b.close()


def test_recovered_claims_are_named_in_one_line(
    store: Store,
    clock: FakeClock,
    publisher: RecordingPublisher,
    settings: EngineSettings,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A beat died holding two claims; the one that recovers them names both."""
    add(store, "a", IntervalSpec(60))
    add(store, "b", IntervalSpec(60))
    store.claim_due(at(60), 10, "dead", LEASE)
    clock.now = at(60) + LEASE + LEASE
    beat = Engine(store, publisher, settings, clock=clock, sleep=clock.sleep)
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        beat.tick()
    beat.close()
    assert "stembeat: recovered expired claims of a, b" in lines(caplog, logging.WARNING)
