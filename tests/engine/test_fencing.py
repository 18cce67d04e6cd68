"""Fencing: a beat paused while it holds claims never sends one that another beat took over."""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import replace
from datetime import timedelta

import pytest

from celery_stembeat.engine import Engine, EngineSettings
from celery_stembeat.specs import IntervalSpec
from celery_stembeat.stores import Store
from tests.contract.helpers import at
from tests.engine.conftest import FakeClock, RecordingPublisher
from tests.engine.test_engine import add, stored

LEASE = timedelta(seconds=10)
LOOKAHEAD = timedelta(milliseconds=500)
ENTRIES = [f"job{i}" for i in range(5)]


def settings(owner: str) -> EngineSettings:
    return EngineSettings(owner=owner, lease=LEASE, lookahead=LOOKAHEAD, grace=timedelta(0))


def count_renewals(store: Store) -> list[int]:
    """The sizes of the store's renew_claims calls from now on, as they are made."""
    renewals: list[int] = []
    renew = store.renew_claims

    def counted(claims, now, lease):  # type: ignore[no-untyped-def]
        renewals.append(len(claims))
        return renew(claims, now, lease)

    store.renew_claims = counted  # type: ignore[method-assign]
    return renewals


def paused_beat(
    store: Store, pause: float, meanwhile: list[Engine]
) -> tuple[Engine, RecordingPublisher]:
    """Beat "a", which claims its batch 0.3 s ahead and is frozen for ``pause`` seconds while
    it waits to send it; each engine in ``meanwhile`` ticks during the freeze."""
    clock = FakeClock(at(1) - timedelta(seconds=0.3))
    publisher = RecordingPublisher(clock)

    def frozen(seconds: float) -> None:
        clock.advance(seconds + pause)
        for other in meanwhile:
            other.clock.now = clock.now  # type: ignore[attr-defined]
            other.tick()

    return Engine(store, publisher, settings("a"), clock=clock, sleep=frozen), publisher


@pytest.mark.parametrize("catch_up", ["fire_one", "fire_all"])
def test_a_paused_beat_sends_nothing_another_beat_took_over(
    store: Store, catch_up: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Beat "a" freezes for 30 s holding the claims of one second; beat "b" recovers them after
    the lease and sends them (with the backlog, for fire_all). When "a" wakes, it confirms its
    claims, finds them lost and sends none: every occurrence went out exactly once."""
    for entry_id in ENTRIES:
        add(store, entry_id, IntervalSpec(1), catch_up=catch_up)
    clock_b = FakeClock(at(0))
    sent_b = RecordingPublisher(clock_b)
    beat_b = Engine(store, sent_b, settings("b"), clock=clock_b, sleep=clock_b.sleep)
    beat_a, sent_a = paused_beat(store, 30, [beat_b])

    with caplog.at_level(logging.WARNING, logger="celery_stembeat"):
        report = beat_a.tick()

    assert report.claimed == len(ENTRIES)
    assert report.taken_over == len(ENTRIES)
    # Held since the claim's horizon: claimed at 0.7 s for occurrences up to 0.7 s + lookahead.
    assert (
        "stembeat: 5 claim(s) held 29.8 s, past their lease, were taken over by another beat; "
        "not sent here (first: job0)"
    ) in [r.getMessage() for r in caplog.records if r.name == "celery_stembeat.engine"]
    assert report.published == 0
    assert sent_a.sent == []
    counts = Counter((sent.entry_id, sent.scheduled_for) for sent in sent_b.sent)
    assert set(counts.values()) == {1}
    for entry_id in ENTRIES:
        times = sorted(when for sent_id, when in counts if sent_id == entry_id)
        # b recovered the claim at about 11 s: fire_all sends every occurrence since 1 s.
        expected = [at(s) for s in range(1, len(times) + 1)] if catch_up == "fire_all" else []
        assert times[-1] >= at(11)
        if expected:
            assert times == expected
        assert stored(store, entry_id).state.total_run_count == len(times)
    beat_a.close()
    beat_b.close()


def test_a_paused_beat_whose_claims_nobody_took_sends_them(store: Store) -> None:
    """Frozen past its lease with no other beat about, "a" renews its claims and sends them:
    fencing gives up only what is really lost."""
    for entry_id in ENTRIES:
        add(store, entry_id, IntervalSpec(1), catch_up="fire_one")
    beat_a, sent_a = paused_beat(store, 30, [])

    report = beat_a.tick()

    assert (report.claimed, report.taken_over, report.published) == (5, 0, 5)
    assert {sent.entry_id for sent in sent_a.sent} == set(ENTRIES)
    assert all(sent.sent_at >= sent.scheduled_for for sent in sent_a.sent)
    beat_a.close()


def test_a_short_pause_keeps_the_claims_without_asking_the_store(store: Store) -> None:
    """A claim younger than half its lease is sent as it is: the lease still covers it."""
    for entry_id in ENTRIES:
        add(store, entry_id, IntervalSpec(1))
    beat_a, sent_a = paused_beat(store, 4, [])
    renewals = count_renewals(store)
    report = beat_a.tick()
    assert report.published == len(ENTRIES)
    assert renewals == []
    sent_a.clock.advance(1)  # the next second's batch: claimed and sent at once
    assert beat_a.tick().published == len(ENTRIES)
    assert renewals == []
    beat_a.close()


def test_a_claim_exactly_half_its_lease_old_is_confirmed(store: Store) -> None:
    """Claimed for occurrences up to 1.2 s with a 10 s lease (until 11.2 s): at 6.2 s it is
    confirmed before it is sent."""
    for entry_id in ENTRIES:
        add(store, entry_id, IntervalSpec(1))
    beat_a, _ = paused_beat(store, 5.2, [])
    renewals = count_renewals(store)
    assert beat_a.tick().published == len(ENTRIES)
    assert renewals == [len(ENTRIES)]
    beat_a.close()


def test_every_claim_lost_in_one_pass_is_counted(store: Store) -> None:
    """Beat "a" claims one entry per batch and freezes before sending each; meanwhile another
    beat takes the claim over. Both losses are counted, and neither is sent by "a"."""
    add(store, "x", IntervalSpec(60), first=at(1))
    add(store, "y", IntervalSpec(60), first=at(31.3))
    clock = FakeClock(at(1) - timedelta(seconds=0.3))
    publisher = RecordingPublisher(clock)
    freezes = [30.0, 30.0]

    def frozen(seconds: float) -> None:
        clock.advance(seconds + (freezes.pop(0) if freezes else 0))
        store.recover_expired_claims(clock.now)
        store.claim_due(clock.now, 1, "b", LEASE)

    beat_a = Engine(
        store, publisher, replace(settings("a"), batch_size=1), clock=clock, sleep=frozen
    )
    report = beat_a.tick()
    beat_a.close()
    assert report.taken_over == 2
    assert publisher.times("x") == []
