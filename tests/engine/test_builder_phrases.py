"""Entries written with ``every()`` phrases run on every store; two beats taking turns agree
on each random gap, so the random interval's occurrences are the ones its spec gives."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import timedelta

from celery_stembeat import every
from celery_stembeat.engine import Engine, EngineSettings
from celery_stembeat.entry import Entry
from celery_stembeat.specs import CronSpec, IntervalSpec
from celery_stembeat.stores import Store
from tests.contract.helpers import T0, at
from tests.engine.conftest import FakeClock, RecordingPublisher


def test_two_beats_agree_on_a_random_interval(
    store: Store, open_more: Callable[..., Store]
) -> None:
    """Beats A and B (each with its own store handle) take turns over five minutes: each
    occurrence is sent once, and the random interval's are exactly its spec's, 5-10 s apart."""
    poll = Entry(id="poll", task="t.poll", spec=every(5).to(10).seconds)
    quarter = Entry(id="quarter", task="t.quarter", spec=every().minute.at(":15"))
    for entry in (poll, quarter):
        store.upsert(entry.with_state(next_run_at=entry.first_run_after(T0)))
    stored = store.get("poll")
    assert stored is not None
    assert stored.spec == IntervalSpec(5, up_to=10)
    assert stored.to_dict()["spec"]["up_to"] == 10.0
    clock = FakeClock(T0)
    sent_a, sent_b = RecordingPublisher(clock), RecordingPublisher(clock)
    beats = [
        Engine(store, sent_a, EngineSettings(owner="a"), clock=clock, sleep=clock.sleep),
        Engine(open_more(), sent_b, EngineSettings(owner="b"), clock=clock, sleep=clock.sleep),
    ]
    try:
        for second in range(300):
            for beat in beats if second % 2 else beats[::-1]:
                beat.tick()
            clock.advance(1)
    finally:
        for beat in beats:
            beat.close()
    sent = sent_a.sent + sent_b.sent
    counts = Counter((item.entry_id, item.scheduled_for) for item in sent)
    assert max(counts.values()) == 1
    times = sorted(when for entry_id, when in counts if entry_id == "poll")
    assert times == list(IntervalSpec(5, up_to=10).occurrences(T0, len(times)))
    gaps = [later - earlier for earlier, later in zip([T0, *times], times, strict=False)]
    assert all(timedelta(seconds=5) <= gap <= timedelta(seconds=10) for gap in gaps)
    assert len(set(gaps)) > 10
    assert times[-1] > at(290)
    assert {item.entry_id for item in sent_a.sent} >= {"poll"}
    assert {item.entry_id for item in sent_b.sent} >= {"poll"}
    quarters = sorted(when for entry_id, when in counts if entry_id == "quarter")
    assert quarters == list(CronSpec("15 * * * * *").occurrences(T0, 5))
