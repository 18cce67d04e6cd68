"""Alert watches on one store: each health change is sent once, by one of them, and resolved
once; silent beats, no live beat and an unreachable store alert too. On every store, with the
injected clock; the alerts are what the watches hand to their senders (delivery over HTTP is
tested in tests/test_webhooks.py and tests/e2e)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import pytest

from celery_stembeat.alerts import AlertWatch
from celery_stembeat.engine import Engine
from celery_stembeat.health import HealthRules
from celery_stembeat.specs import IntervalSpec
from celery_stembeat.stores import BeatInfo, Pause, Store, TaskReport
from celery_stembeat.webhooks import Alert
from tests.contract.helpers import at
from tests.e2e.conftest import wait_for
from tests.engine.conftest import FakeClock
from tests.engine.test_engine import FlakyStore, add, run_until

RULES = HealthRules(failures=2)


@dataclass
class Outbox:
    """Where a watch's alerts go instead of a webhook."""

    sent: list[Alert] = field(default_factory=list)

    def send(self, alert: Alert) -> None:
        self.sent.append(alert)

    def flush(self, timeout: float) -> bool:
        return True

    def close(self) -> None:
        pass


def brief(alerts: list[Alert]) -> list[tuple[str, str | None, str, str]]:
    return [(a.event, a.entry, a.state, a.message) for a in alerts]


def live(store: Store, owner: str, when: float) -> None:
    store.record_beat(BeatInfo(owner, "host-1", 1, "0", at(0), at(when), 0.001, None))


@pytest.fixture
def watch(store: Store, clock: FakeClock) -> Callable[[str], AlertWatch]:
    def make(owner: str, on: Store = store) -> AlertWatch:
        return AlertWatch(on, Outbox(), RULES, owner, clock=clock)  # type: ignore[arg-type]

    return make


def fail(store: Store, entry_id: str, seconds: float, outcome: str = "failure") -> None:
    report = TaskReport(entry_id, at(seconds), outcome, at(seconds + 1), error="E: boom")
    assert store.record_outcomes([report]) == [True]


def test_a_failing_entry_alerts_once_across_beats_and_resolves_once(
    store: Store,
    open_more: Callable[..., Store],
    engine: Engine,
    clock: FakeClock,
    watch: Callable[..., AlertWatch],
) -> None:
    first, second = watch("beat-a"), watch("beat-b", open_more())
    add(store, "job", IntervalSpec(10))
    run_until(engine, clock, at(20))
    live(store, "beat-a", 20)
    fail(store, "job", 10)
    assert first.check() == second.check() == []
    fail(store, "job", 20)
    fired = first.check() + second.check()
    assert brief(fired) == [
        ("entry_failing", "job", "firing", "2 failures in a row: E: boom"),
    ]
    assert (fired[0].health, fired[0].beat) == ("failing", "beat-a")
    assert first.check() == second.check() == []
    run_until(engine, clock, at(30))
    live(store, "beat-a", 30)
    fail(store, "job", 30, "success")
    resolved = second.check() + first.check()
    assert brief(resolved) == [("entry_failing", "job", "resolved", "entry job is ok again")]
    assert resolved[0].beat == "beat-b"
    assert first.check() == second.check() == []
    assert store.incidents() == []


def test_a_missed_entry_alerts_and_resolves_when_removed(
    store: Store, clock: FakeClock, watch: Callable[..., AlertWatch]
) -> None:
    only = watch("beat-a")
    add(store, "nightly", IntervalSpec(3600), first=at(0))
    clock.now = at(45)
    live(store, "beat-a", 45)
    assert brief(only.check()) == [
        ("entry_missed", "nightly", "firing", "due 45s ago, not sent"),
    ]
    store.delete("nightly")
    assert brief(only.check()) == [
        ("entry_missed", "nightly", "resolved", "entry nightly is ok again"),
    ]


def test_a_silent_beat_alerts_until_heard_again_and_no_live_beat_alerts_too(
    store: Store, clock: FakeClock, watch: Callable[..., AlertWatch]
) -> None:
    observer = watch("beat-a")
    clock.now = at(0)
    assert brief(observer.check()) == [("no_live_beat", None, "firing", "no beat is live")]
    live(store, "beat-b", 0)
    assert brief(observer.check()) == [
        ("no_live_beat", None, "resolved", "1 beat(s) live again"),
    ]
    clock.now = at(125)
    live(store, "beat-a", 125)
    assert brief(observer.check()) == [
        ("beat_silent", None, "firing", "beat beat-b on host-1 not heard from for 2m5s"),
    ]
    live(store, "beat-b", 125)
    assert brief(observer.check()) == [
        ("beat_silent", None, "resolved", "beat beat-b is live again"),
    ]
    assert store.incidents() == []


def test_an_unreachable_store_alerts_from_each_watch_after_a_minute(
    store: Store, clock: FakeClock
) -> None:
    flaky = FlakyStore(store)
    elapsed = [0.0]
    outbox = Outbox()
    watch = AlertWatch(
        flaky,  # type: ignore[arg-type]
        outbox,  # type: ignore[arg-type]
        RULES,
        "beat-a",
        clock=clock,
        elapsed=lambda: elapsed[0],
    )
    live(store, "beat-a", 0)
    assert watch.check() == []
    flaky.down = True
    assert watch.check() == []
    elapsed[0] = 59.0
    assert watch.check() == []
    elapsed[0] = 60.0
    (down,) = watch.check()
    assert (down.event, down.state) == ("store_unreachable", "firing")
    assert down.message == "the store has failed for 1m: connection refused"
    elapsed[0] = 90.0
    assert watch.check() == []
    flaky.down = False
    elapsed[0] = 95.0
    clock.now = at(1)
    live(store, "beat-a", 1)
    assert brief(watch.check()) == [
        ("store_unreachable", None, "resolved", "the store answers again after 1m35s"),
    ]
    assert [alert.state for alert in outbox.sent] == ["firing", "resolved"]


def test_a_watch_on_a_thread_checks_until_closed(store: Store, clock: FakeClock) -> None:
    outbox = Outbox()
    watch = AlertWatch(store, outbox, RULES, "beat-a", clock=clock, interval=0.01)  # type: ignore[arg-type]
    watch.start()
    wait_for(lambda: outbox.sent, 10, "the watch's first alert")
    watch.close()
    assert brief(outbox.sent) == [("no_live_beat", None, "firing", "no beat is live")]


def test_no_missed_alerts_while_paused_nor_in_the_grace_after_resume(
    store: Store, clock: FakeClock, watch: Callable[..., AlertWatch]
) -> None:
    """Entries held back by a pause are not missed; after ``resume`` (which clears the pause)
    the watch that saw it counts the grace from when it saw it end, so beats can take the
    backlog without an alert storm; one still unsent after that is missed."""
    first = watch("beat-a")
    add(store, "job", IntervalSpec(10), first=at(5))
    store.pause(Pause(at(0), None, "deploy", "ops@host-1"))

    def missed() -> list[tuple[str, str | None, str, str]]:
        live(store, "beat-a", (clock.now - at(0)).total_seconds())
        return [b for b in brief(first.check()) if b[0] == "entry_missed"]

    clock.now = at(100)
    assert missed() == []
    store.resume()
    clock.now = at(101)
    assert missed() == []
    clock.now = at(131)
    assert missed() == []
    clock.now = at(131.5)
    assert missed() == [("entry_missed", "job", "firing", "due 2m6s ago, not sent")]
