"""The store-wide pause: set, replaced, cleared and read alike on every store; while it holds,
claims take nothing, atomically, and the change feed announces each change."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone

import pytest

from celery_stembeat.stores import ANY_CHANGE, ClaimBatch, Pause, Store
from celery_stembeat.stores.base import MAX_PAUSE_ACTOR_LENGTH, MAX_PAUSE_REASON_LENGTH
from tests.contract.faults import wait_for
from tests.contract.helpers import LEASE, T0, at, make_entry

MAINTENANCE = Pause(at(0), at(600), "database maintenance — café ✓", "ops@host-1")
OPEN_ENDED = Pause(at(30), None, "incident 42", "oncall@host-2")


def claimed(store: Store, now: datetime, limit: int = 10) -> list[str]:
    return [claim.entry_id for claim in store.claim_due(now, limit, "beat-1", LEASE)]


def test_a_pause_is_set_replaced_read_and_cleared(store: Store) -> None:
    assert store.paused() is None
    assert store.resume() is None
    assert store.pause(MAINTENANCE) is None
    assert store.paused() == MAINTENANCE
    assert store.pause(OPEN_ENDED) == MAINTENANCE
    assert store.paused() == OPEN_ENDED
    assert store.resume() == OPEN_ENDED
    assert store.paused() is None
    assert store.resume() is None


def test_a_pause_is_read_back_exactly_through_another_store(
    store: Store, open_more: Callable[..., Store]
) -> None:
    """Instants to the millisecond, text as given, in UTC whatever offset it was set with."""
    offset = timezone(timedelta(hours=5, minutes=30))
    pause = Pause(
        datetime(2026, 3, 1, 17, 30, 0, 123456, tzinfo=offset),
        datetime(2026, 3, 1, 18, 0, 0, 654321, tzinfo=offset),
        "x" * MAX_PAUSE_REASON_LENGTH,
        "y" * MAX_PAUSE_ACTOR_LENGTH,
    )
    store.pause(pause)
    read = open_more().paused()
    assert read == pause
    assert read is not None
    assert read.since == datetime(2026, 3, 1, 12, 0, 0, 123000, timezone.utc)
    assert read.since.tzinfo == timezone.utc


def test_claims_take_nothing_while_paused_and_resume_after(store: Store) -> None:
    store.upsert(make_entry("a", next_run_at=at(10)))
    store.upsert(make_entry("b", next_run_at=at(20)))
    store.pause(MAINTENANCE)
    assert store.claim_batch(at(100), 10, "beat-1", LEASE) == ClaimBatch([], at(600), MAINTENANCE)
    assert claimed(store, at(599)) == []
    store.resume()
    batch = store.claim_batch(at(100), 10, "beat-1", LEASE)
    assert [claim.entry_id for claim in batch.claims] == ["a", "b"]
    assert batch.paused is None


def test_claims_resume_once_until_has_passed(store: Store) -> None:
    """``until`` ends the pause by itself; the stored pause stays readable."""
    store.upsert(make_entry("a", next_run_at=at(10)))
    store.pause(MAINTENANCE)
    assert claimed(store, at(599)) == []
    batch = store.claim_batch(at(600), 10, "beat-1", LEASE)
    assert ([claim.entry_id for claim in batch.claims], batch.paused) == (["a"], None)
    assert store.paused() == MAINTENANCE


def test_an_open_ended_pause_holds_until_resumed(store: Store) -> None:
    store.upsert(make_entry("a", next_run_at=at(10)))
    store.pause(OPEN_ENDED)
    far = at(365 * 86_400)
    assert store.claim_batch(far, 10, "beat-1", LEASE) == ClaimBatch([], None, OPEN_ENDED)
    store.resume()
    assert claimed(store, far) == ["a"]


def test_a_pause_holds_claims_while_something_is_left_due(
    store: Store, open_more: Callable[..., Store]
) -> None:
    """A claim that left entries due (its batch was full) is followed by one that finds the
    pause another process set meanwhile."""
    for name in ("a", "b", "c"):
        store.upsert(make_entry(name, next_run_at=at(10)))
    batch = store.claim_batch(at(100), 1, "beat-1", LEASE)
    assert ([c.entry_id for c in batch.claims], batch.next_due_at) == (["a"], at(10))
    open_more().pause(MAINTENANCE)
    assert store.claim_batch(at(100), 1, "beat-1", LEASE) == ClaimBatch.held(MAINTENANCE)
    store.resume()
    assert claimed(store, at(100)) == ["b", "c"]


def test_a_paused_batch_of_no_size_still_says_paused(store: Store) -> None:
    store.pause(MAINTENANCE)
    assert store.claim_batch(at(100), 0, "beat-1", LEASE).paused == MAINTENANCE


def test_pause_and_resume_are_announced(store: Store, open_more: Callable[..., Store]) -> None:
    feed = store.watch()
    try:
        other = open_more()
        other.pause(MAINTENANCE)
        wait_for(feed, lambda seen: ANY_CHANGE in seen)
        other.resume()
        wait_for(feed, lambda seen: ANY_CHANGE in seen)
    finally:
        feed.close()


@pytest.mark.parametrize(
    ("fields", "named"),
    [
        ({"since": datetime(2026, 3, 1, 12)}, "since"),
        ({"until": datetime(2026, 3, 1, 13)}, "until"),
        ({"since": "2026-03-01T12:00:00Z"}, "since"),
        ({"until": T0}, "until"),
        ({"until": at(-1)}, "until"),
        ({"reason": "line one\nline two"}, "reason"),
        ({"reason": "bell\x07"}, "reason"),
        ({"reason": "r" * (MAX_PAUSE_REASON_LENGTH + 1)}, "reason"),
        ({"reason": None}, "reason"),
        ({"actor": "a\x00b"}, "actor"),
        ({"actor": "a" * (MAX_PAUSE_ACTOR_LENGTH + 1)}, "actor"),
    ],
)
def test_hostile_pauses_are_refused_naming_the_field(
    store: Store, fields: dict[str, object], named: str
) -> None:
    values: dict[str, object] = {"since": T0, "until": at(60), "reason": "", "actor": "me@h"}
    with pytest.raises(ValueError, match=rf"^{named}: "):
        Pause(**{**values, **fields})  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"^pause: "):
        store.pause(fields)  # type: ignore[arg-type]
    assert store.paused() is None


def test_a_pause_round_trips_through_json() -> None:
    for pause in (MAINTENANCE, OPEN_ENDED):
        assert Pause.from_dict(pause.to_dict()) == pause
    assert OPEN_ENDED.to_dict() == {
        "since": "2026-03-01T12:00:30Z",
        "until": None,
        "reason": "incident 42",
        "actor": "oncall@host-2",
    }


def test_concurrent_pauses_all_succeed_and_one_holds(
    store: Store, open_more: Callable[..., Store]
) -> None:
    """Several processes pausing a store that holds no pause at once: none fails, and the
    pause stored is one of theirs."""
    stores = [open_more() for _ in range(4)]
    pauses = [Pause(at(index), None, f"pause {index}", f"ops@host-{index}") for index in range(4)]
    barrier = threading.Barrier(len(stores))

    def pause(index: int) -> Pause | None:
        barrier.wait()
        return stores[index].pause(pauses[index])

    with ThreadPoolExecutor(len(stores)) as pool:
        replaced = list(pool.map(pause, range(len(stores))))
    assert store.paused() in pauses
    assert replaced.count(None) >= 1
