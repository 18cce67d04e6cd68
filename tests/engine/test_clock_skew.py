"""Beats whose clocks disagree still publish each occurrence once: claims compare against the
stored next-run time, not against any host's clock."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

from celery_stembeat.engine import Engine, EngineSettings
from celery_stembeat.entry import Entry
from celery_stembeat.specs import CronSpec, IntervalSpec
from celery_stembeat.stores import Store
from tests.contract.helpers import T0, at
from tests.engine.conftest import FakeClock, RecordingPublisher


def test_skewed_beats_never_send_an_occurrence_twice(store: Store) -> None:
    """Beat B runs 7 s ahead of beat A; both tick through ten minutes of schedule."""
    for entry in (
        Entry(id="fast", task="t.fast", spec=IntervalSpec(3)),
        Entry(id="cron", task="t.cron", spec=CronSpec("*/20 * * * * *")),
    ):
        store.upsert(entry.with_state(next_run_at=entry.first_run_after(T0)))
    clock_a, clock_b = FakeClock(T0), FakeClock(T0 + timedelta(seconds=7))
    sent_a, sent_b = RecordingPublisher(clock_a), RecordingPublisher(clock_b)
    beats = [
        Engine(store, sent_a, EngineSettings(owner="a"), clock=clock_a, sleep=clock_a.sleep),
        Engine(store, sent_b, EngineSettings(owner="b"), clock=clock_b, sleep=clock_b.sleep),
    ]
    for _ in range(600):
        for beat in beats:
            beat.tick()
        clock_a.advance(1)
        clock_b.advance(1)
    sent = sent_a.sent + sent_b.sent
    counts = Counter((item.entry_id, item.scheduled_for) for item in sent)
    assert max(counts.values()) == 1
    fast = sorted(when for entry_id, when in counts if entry_id == "fast")
    assert fast == [at(3 * k) for k in range(1, len(fast) + 1)]  # none skipped
    assert fast[-1] >= at(600)
    # The beat whose clock runs ahead claims each occurrence first; the other finds it taken.
    assert len(sent_b.sent) == len(sent)
