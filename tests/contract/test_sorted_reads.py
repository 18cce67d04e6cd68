"""The sorted reads (``Store.soonest`` and ``Store.ranked``), the same on every store: the
order of :data:`celery_stembeat.ordering.SORTS`, paged."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta

import pytest

from celery_stembeat.entry import Entry
from celery_stembeat.ordering import RANKINGS, SORTS, next_key
from celery_stembeat.specs import IntervalSpec
from celery_stembeat.stores import Claim, Store
from tests.contract.helpers import LEASE, T0, at, make_entry, published


def ids(entries: Iterable[Entry | Claim]) -> list[str]:
    return [item.entry.id if isinstance(item, Claim) else item.id for item in entries]


def test_soonest_reads_the_due_index_by_next_run_then_id(store: Store) -> None:
    store.upsert(make_entry("late", next_run_at=at(30)))
    store.upsert(make_entry("b", next_run_at=at(10)))
    store.upsert(make_entry("a", next_run_at=at(10)))
    store.upsert(make_entry("off", next_run_at=at(1), enabled=False))
    store.upsert(make_entry("nothing-left", next_run_at=None))
    store.upsert(make_entry("claimed", next_run_at=at(-5)))
    assert ids(store.claim_due(at(0), 10, "beat-1", LEASE)) == ["claimed"]
    assert ids(store.soonest(10)) == ["a", "b", "late"]
    assert ids(store.soonest(2)) == ["a", "b"]


def test_soonest_pages_by_key_through_ties_in_code_point_order(store: Store) -> None:
    tied = ["Zeta", "a", "a-1", "a.1", "b", "é", "日本"]
    store.upsert_many(make_entry(entry_id, next_run_at=at(5)) for entry_id in tied)
    store.upsert_many(make_entry(f"x{n}", next_run_at=at(n)) for n in range(4))
    everything = store.soonest(100)
    assert ids(everything) == ["x0", "x1", "x2", "x3", *sorted(tied)]
    paged: list[str] = []
    after = None
    while page := store.soonest(2, after=after):
        paged += ids(page)
        after = next_key(page[-1])
    assert paged == ids(everything)


def test_soonest_reads_on_after_a_key_whose_entry_moved_or_went(store: Store) -> None:
    store.upsert_many(make_entry(entry_id, next_run_at=at(5)) for entry_id in "abcd")
    first = store.soonest(2)
    assert ids(first) == ["a", "b"]
    assert store.delete("b")
    store.upsert(make_entry("a", next_run_at=at(60), spec=IntervalSpec(120)))  # rescheduled
    assert ids(store.soonest(10, after=next_key(first[-1]))) == ["c", "d", "a"]


def test_soonest_after_an_instant_between_stored_ones_starts_at_the_next(store: Store) -> None:
    store.upsert(make_entry("b", next_run_at=at(5)))
    store.upsert(make_entry("c", next_run_at=at(6)))
    between = at(5) + timedelta(microseconds=500)
    assert ids(store.soonest(10, after=(between, "a"))) == ["c"]
    assert ids(store.soonest(10, after=(at(5), ""))) == ["b", "c"]


@pytest.mark.parametrize(
    ("limit", "after"),
    [(0, None), (True, None), ("3", None), (3, (T0.replace(tzinfo=None), "a")), (3, T0)],
)
def test_soonest_refuses_bad_arguments(store: Store, limit: object, after: object) -> None:
    with pytest.raises(ValueError, match=r"^(limit|after): "):
        store.soonest(limit, after=after)  # type: ignore[arg-type]


def run_times(store: Store, entry_id: str, count: int, drift: float) -> None:
    """Claim and publish ``entry_id`` ``count`` times, each ``drift`` late."""
    for _ in range(count):
        entry = store.get(entry_id)
        assert entry is not None
        assert entry.state.next_run_at is not None
        claims = store.claim_due(entry.state.next_run_at, 1, "beat-1", LEASE)
        assert ids(claims) == [entry_id]
        assert store.complete(claims[0], published(claims[0], drift=drift))


def test_ranked_pages_follow_the_sort_keys(store: Store) -> None:
    store.upsert(make_entry("never", next_run_at=None))
    for entry_id, start, count, drift in [
        ("once", 1000, 1, 0.5),
        ("twice", 0, 2, 2.0),
        ("thrice", -1000, 3, 0.25),
        ("tie", -2000, 3, 0.25),
    ]:
        store.upsert(make_entry(entry_id, next_run_at=at(start)))
        run_times(store, entry_id, count, drift)
    everything = store.list_entries()
    for by in RANKINGS:
        expected = ids(sorted(everything, key=SORTS[by]))
        assert ids(store.ranked(by, 100)) == expected, by
        assert ids(store.ranked(by, 2, offset=1)) == expected[1:3], by
        assert ids(store.ranked(by, 3, offset=4)) == expected[4:], by
    assert ids(store.ranked("runs", 2)) == ["thrice", "tie"]
    assert ids(store.ranked("last", 5))[-1] == "never"


@pytest.mark.parametrize(
    ("by", "limit", "offset"), [("next", 1, 0), ("id", 1, 0), ("runs", 0, 0), ("runs", 1, -1)]
)
def test_ranked_refuses_bad_arguments(store: Store, by: str, limit: int, offset: int) -> None:
    with pytest.raises(ValueError, match=r"^(by|limit|offset): "):
        store.ranked(by, limit, offset=offset)


def ranked_scenario(store: Store) -> None:
    """Entries for every case of the ranked orders: ties in runs, drift and last run (ids in
    code-point order, ``é`` and ``日本`` too), negative and zero drift, run state written with a
    new entry (an import), runs without a drift, disabled entries, and entries never run."""
    store.upsert_many(
        make_entry(entry_id, next_run_at=at(9000 + n))
        for n, entry_id in enumerate(["a", "é", "日本"])
    )
    store.upsert(make_entry("off", next_run_at=None, enabled=False))
    store.upsert_many(
        [
            make_entry("imported", next_run_at=None).with_state(
                last_run_at=at(-10), total_run_count=3, drift_mean=0.25
            ),
            make_entry("Zeta", enabled=False, next_run_at=None).with_state(
                last_run_at=at(-10), total_run_count=2, drift_mean=-0.5
            ),
            make_entry("no-drift", next_run_at=None).with_state(
                last_run_at=at(-20), total_run_count=1
            ),
            make_entry("last-only", next_run_at=None).with_state(last_run_at=at(-20)),
        ]
    )
    for entry_id, start, count, drift in [
        ("b", 1000, 1, 0.5),
        ("c", 0, 2, 0.0),
        ("日", -1000, 3, 0.25),
        ("d", -2000, 3, 0.25),
    ]:
        store.upsert(make_entry(entry_id, next_run_at=at(start)))
        run_times(store, entry_id, count, drift)


def test_ranked_pages_are_those_of_reading_every_entry(store: Store) -> None:
    """Every page, of every size, across the end of the entries with a value: what the
    contract's default (every entry read, sorted by the order's key) gives on the same data."""
    ranked_scenario(store)
    total = len(store.list_entries())
    for by in RANKINGS:
        everything = Store.ranked(store, by, total)
        assert store.ranked(by, total) == everything, by
        expected = ids(everything)
        for limit in (1, 2, 3, 7):
            for offset in range(total + 2):
                page = ids(store.ranked(by, limit, offset=offset))
                assert page == expected[offset : offset + limit], (by, limit, offset)


def test_ranked_by_runs_holds_past_what_a_double_holds(store: Store) -> None:
    """Counts of 2**53 and more (an import can write them) stay in their exact order."""
    store.upsert_many(
        make_entry(entry_id).with_state(total_run_count=count)
        for entry_id, count in [("a", 2**53), ("b", 2**53 + 1), ("c", 2**63 - 1), ("d", 5)]
    )
    store.upsert(make_entry("never"))
    assert ids(store.ranked("runs", 10)) == ["c", "b", "a", "d", "never"]
    assert ids(store.ranked("runs", 2, offset=1)) == ["b", "a"]
    assert ids(store.ranked("runs", 2, offset=3)) == ["d", "never"]
