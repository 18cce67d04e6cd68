"""What the entries are doing, from indexes and the per-minute run counter (``activity``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest

from celery_stembeat.stores import (
    FAILED,
    PUBLISHED,
    SKIPPED,
    Activity,
    Claim,
    Outcome,
    RunRecord,
    Store,
    TaskReport,
)
from tests.contract.helpers import LEASE, T0, at, make_entry

HOUR = timedelta(hours=1)


def activity(store: Store, now: datetime, grace: float = 30, window: timedelta = HOUR) -> Activity:
    return store.activity(now, now - timedelta(seconds=grace), now - window)


def claim(store: Store, now: datetime, owner: str = "beat-1") -> list[Claim]:
    return store.claim_due(now, 100, owner, LEASE)


def run(claim: Claim, outcome: str, published_at: datetime | None) -> RunRecord:
    return RunRecord(
        claim.entry_id,
        claim.scheduled_for,
        outcome,
        published_at=published_at,
        owner=claim.owner,
        error="OSError: down" if outcome == FAILED else None,
    )


def complete(store: Store, claims: list[Claim], *runs_of: Callable[[Claim], RunRecord]) -> None:
    """Complete each claim with the runs ``runs_of`` make of it, moving a minute on."""
    pairs = [
        (c, Outcome(c.scheduled_for + timedelta(minutes=1), tuple(f(c) for f in runs_of)))
        for c in claims
    ]
    assert store.complete_many(pairs) == [True] * len(pairs)


def sent_at(when: datetime) -> Callable[[Claim], RunRecord]:
    return lambda c: run(c, PUBLISHED, when)


def test_an_empty_store_is_idle(store: Store) -> None:
    assert activity(store, T0) == Activity(enabled=0, due=0, overdue=0, failing=0, runs=0)


def test_scheduled_due_and_overdue_entries_are_counted(store: Store) -> None:
    """Due: the next run at or before now, claimed ones included; overdue: unclaimed and due
    more than the grace before now. Disabled entries and those without a next run count in
    none of them."""
    store.upsert_many(
        [
            make_entry("now", next_run_at=at(0)),
            make_entry("late", next_run_at=at(-31)),
            make_entry("grace", next_run_at=at(-30)),
            make_entry("soon", next_run_at=at(1)),
            make_entry("off", next_run_at=at(-600), enabled=False),
            make_entry("ended", next_run_at=None),
        ]
    )
    assert activity(store, at(0)) == Activity(enabled=4, due=3, overdue=1, failing=0, runs=0)
    assert activity(store, at(0), grace=0) == Activity(4, 3, 2, 0, 0)
    (taken,) = store.claim_due(at(-31), 10, "beat-1", LEASE)
    assert taken.entry_id == "late"
    # Claimed, it is being handled: due, not overdue, even at an earlier instant.
    assert activity(store, at(-40)) == Activity(enabled=4, due=1, overdue=0, failing=0, runs=0)
    store.set_enabled("late", False, at(0))
    assert activity(store, at(0)) == Activity(enabled=3, due=2, overdue=0, failing=0, runs=0)


def test_failing_counts_enabled_entries_whose_sends_fail(store: Store) -> None:
    """A task failing on the worker is not a send failing; a disabled entry is not counted."""
    store.upsert_many(make_entry(entry_id) for entry_id in ("a", "b", "c", "d"))
    claims = claim(store, at(0))
    by_id = {c.entry_id: c for c in claims}
    failed = [by_id["a"], by_id["b"]]
    complete(store, failed, lambda c: run(c, FAILED, None))
    complete(store, [by_id["c"], by_id["d"]], sent_at(at(1)))
    report = TaskReport("c", T0, "failure", at(2))
    assert store.record_outcomes([report]) == [True]
    assert activity(store, at(2)).failing == 2
    store.set_enabled("b", False, at(3))
    assert activity(store, at(3)).failing == 1
    (again,) = [c for c in claim(store, at(60)) if c.entry_id == "a"]
    store.complete_many([(again, Outcome(at(120), (run(again, PUBLISHED, at(61)),)))])
    assert activity(store, at(61)).failing == 0


def test_runs_are_counted_per_minute_across_beats(
    store: Store, open_more: Callable[..., Store]
) -> None:
    """Several beats' completions in the same minute add up; a failed run counts in its
    scheduled minute, a skipped one not at all; a run counts in its whole minute."""
    other = open_more()
    store.upsert_many(make_entry(f"job{number}") for number in range(6))
    claims = claim(store, at(0))
    first, second = claims[:3], claims[3:]
    assert {c.entry_id for c in second} == {"job3", "job4", "job5"}
    complete(store, first, sent_at(at(10)))
    complete(other, second, sent_at(at(50)), lambda c: run(c, SKIPPED, None))
    assert activity(store, at(59)).runs == 6
    assert activity(other, at(59), window=timedelta(seconds=1)).runs == 6  # the whole minute
    claims = claim(other, at(60), "beat-2")
    complete(other, claims[:2], lambda c: run(c, FAILED, None))
    complete(other, claims[2:], sent_at(at(150)))
    assert activity(store, at(179)).runs == 12
    # The minute of at(120) onwards: the four sent at at(150); failed runs counted at their
    # scheduled minute (at(60)).
    assert activity(store, at(179), window=timedelta(seconds=59)).runs == 4
    assert activity(store, at(119), window=timedelta(seconds=59)).runs == 2


def test_minutes_outside_the_window_are_not_counted(store: Store) -> None:
    """Runs before the window's first minute, or after ``now``'s minute, are left out; runs
    stay counted when history no longer holds them."""
    store.upsert_many(make_entry(f"job{number}") for number in range(3))
    claims = claim(store, at(0))
    complete(store, claims[:1], sent_at(at(0)))
    complete(store, claims[1:2], sent_at(at(5400)))
    complete(store, claims[2:], sent_at(at(7200)))
    assert activity(store, at(7200)).runs == 2
    assert activity(store, at(7199)).runs == 1
    assert activity(store, at(5399)).runs == 0
    assert activity(store, at(7200), window=3 * HOUR).runs == 3
    assert store.delete("job0")
    assert activity(store, at(7200), window=3 * HOUR).runs == 3


def test_a_naive_instant_is_refused(store: Store) -> None:
    naive = T0.replace(tzinfo=None)
    for name, args in (
        ("now", (naive, T0, T0)),
        ("overdue_before", (T0, naive, T0)),
        ("since", (T0, T0, "2026")),
    ):
        with pytest.raises(ValueError, match=f"^{name}: "):
            store.activity(*args)  # type: ignore[arg-type]


def test_instants_in_any_zone_count_as_in_utc(store: Store) -> None:
    store.upsert(make_entry("job", next_run_at=at(-60)))
    plus_two = timezone(timedelta(hours=2))
    now = at(0).astimezone(plus_two)
    assert activity(store, now) == activity(store, at(0)) == Activity(1, 1, 1, 0, 0)


def test_a_manual_run_counts_in_its_minute(store: Store) -> None:
    """``stembeat run`` records runs too; one for an entry that is gone records nothing."""
    store.upsert(make_entry("job"))
    manual = RunRecord("job", at(30), PUBLISHED, at(31), owner="ops@host", manual=True)
    assert store.record_manual_run(manual)
    assert store.record_manual_run(replace(manual, entry_id="ghost")) is False
    assert activity(store, at(59)).runs == 1
    assert activity(store, at(120), window=timedelta(seconds=60)).runs == 0
