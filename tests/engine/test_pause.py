"""The engine under a store-wide pause: nothing is sent while it holds, one line as it starts
and one as it ends, a wake-up at its end, and each entry's catch-up policy afterwards."""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import timedelta

import pytest

from celery_stembeat.engine import Engine
from celery_stembeat.specs import IntervalSpec
from celery_stembeat.stores import Pause, Store
from tests.contract.helpers import at
from tests.engine.conftest import FakeClock, RecordingPublisher
from tests.engine.test_engine import add, run_until, stored
from tests.engine.test_engine_logs import LOGGER, lines


def test_nothing_is_sent_while_paused_and_sending_resumes(
    store: Store,
    engine: Engine,
    clock: FakeClock,
    publisher: RecordingPublisher,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Paused from 18 s to 60 s: nothing goes out meanwhile; at resume the runs passed within
    the 30 s grace go out late, older ones are skipped (catch_up=skip). The pause is one
    WARNING as the beat first sees it, its end one INFO."""
    add(store, "pulse", IntervalSpec(5), first=at(5), catch_up="skip")
    with caplog.at_level(logging.INFO, logger=LOGGER):
        run_until(engine, clock, at(18))
        store.pause(Pause(at(18), None, "deploy of the billing service", "ops@host-1"))
        run_until(engine, clock, at(60))
        assert publisher.times("pulse") == [at(s) for s in (5, 10, 15)]
        store.resume()
        run_until(engine, clock, at(75))
    assert publisher.times("pulse") == [at(s) for s in (5, 10, 15, *range(30, 80, 5))]
    assert lines(caplog, logging.WARNING) == [
        "stembeat: store paused since 2026-03-01T12:00:18Z by ops@host-1 until resumed: "
        "deploy of the billing service",
        "stembeat: pulse missed 2 occurrence(s) late by more than the 30 s grace (catch_up=skip)",
    ]
    assert "stembeat: store pause ended, sending again" in lines(caplog, logging.INFO)


def test_a_beat_never_paused_says_nothing_of_pauses(
    store: Store, engine: Engine, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    add(store, "pulse", IntervalSpec(5), first=at(5))
    with caplog.at_level(logging.INFO, logger=LOGGER):
        run_until(engine, clock, at(12))
    assert not [line for line in lines(caplog, logging.INFO) if "pause" in line]


def test_a_paused_tick_sleeps_until_the_pause_ends(
    store: Store, engine: Engine, clock: FakeClock, publisher: RecordingPublisher
) -> None:
    """While paused, a tick asks to wake at ``until`` (not the lookahead earlier: the claim
    then made would still see the pause); open-ended, after the longest interval."""
    engine.settings = replace(engine.settings, lease=timedelta(hours=1), max_interval=300.0)
    add(store, "pulse", IntervalSpec(5), first=at(5))
    store.pause(Pause(at(0), at(42), "", "ops@host-1"))
    clock.now = at(10)
    report = engine.tick()
    assert report.paused == store.paused()
    assert report.delay == pytest.approx(32)
    clock.advance(report.delay)
    assert engine.tick().published == 1
    assert publisher.times("pulse") == [at(40)]  # fire_one: the newest of the backlog
    store.pause(Pause(at(45), None, "", "ops@host-1"))
    report = engine.tick()
    assert report.paused is not None
    assert report.delay == 300.0


@pytest.mark.parametrize(
    ("policy", "expected"),
    [
        ("skip", [70, 75, 80, 85, 90, 95, 100]),  # within the grace at resume, then on time
        ("fire_one", [100]),  # one run for the whole backlog: the newest due
        ("fire_all", [40, 45, 50, 55, 60, 65, 70, 75, 80, 85, 90, 95, 100]),
    ],
)
def test_each_entry_catches_up_after_a_pause_by_its_policy(
    store: Store,
    engine: Engine,
    clock: FakeClock,
    publisher: RecordingPublisher,
    policy: str,
    expected: list[int],
) -> None:
    """Paused from 1 s to 100 s, a beat running throughout: at resume the occurrences passed
    meanwhile are handled as after downtime (catchup.py), by each entry's policy."""
    add(store, "job", IntervalSpec(5), first=at(5), catch_up=policy)
    engine.settings = replace(engine.settings, catch_up_limit=13)
    store.pause(Pause(at(1), None, "", "ops@host-1"))
    run_until(engine, clock, at(100))
    assert publisher.sent == []
    store.resume()
    engine.tick()
    assert publisher.times("job") == [at(s) for s in expected]
    assert stored(store, "job").state.next_run_at == at(105)


def test_a_replaced_pause_is_logged_again(
    store: Store, engine: Engine, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    add(store, "pulse", IntervalSpec(5), first=at(5))
    clock.now = at(10)
    with caplog.at_level(logging.INFO, logger=LOGGER):
        store.pause(Pause(at(0), at(600), "first", "a@h"))
        engine.tick()
        engine.tick()
        store.pause(Pause(at(0), at(600), "second", "b@h"))
        engine.tick()
    warnings = lines(caplog, logging.WARNING)
    assert [line.rsplit(": ", 1)[-1] for line in warnings] == ["first", "second"]
    assert "until 2026-03-01T12:10:00Z" in warnings[0]


def test_an_expired_pause_lets_the_engine_send_without_a_resume(
    store: Store, engine: Engine, clock: FakeClock, publisher: RecordingPublisher
) -> None:
    add(store, "pulse", IntervalSpec(5), first=at(5))
    store.pause(Pause(at(0), at(7), "", "a@h"))
    clock.now = at(5)
    assert engine.tick().published == 0
    clock.now = at(7) + timedelta(milliseconds=1)
    assert engine.tick().published == 1
