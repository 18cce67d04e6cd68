"""The store contract, run identically on memory, SQLite, PostgreSQL and Redis (and on a Redis
Cluster: see test_cluster_contract.py)."""

from __future__ import annotations

import functools
import multiprocessing
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from celery_stembeat.entry import Entry, EntryError, RunState
from celery_stembeat.options import OPTION_KEYS
from celery_stembeat.specs import CronSpec, IntervalSpec
from celery_stembeat.stores import (
    ANY_CHANGE,
    FAILED,
    EntryNotFound,
    Outcome,
    RunRecord,
    Store,
    StoreError,
    VersionConflict,
    open_store,
)
from tests.contract.faults import kill_redis_clients, terminate_postgres_backends, wait_for
from tests.contract.helpers import (
    LEASE,
    T0,
    at,
    drain,
    drain_in_process,
    drop_store,
    make_entry,
    one_off,
    published,
    race,
    redis_server_url,
)
from tests.test_options import EVERY_OPTION

# -- definitions ---------------------------------------------------------------------------------


def test_upsert_creates_version_one_and_round_trips(store: Store) -> None:
    """A new entry is stored whole, at version 1, and reads back equal."""
    entry = make_entry(
        "report",
        args=(1, "two", [3]),
        kwargs={"nested": {"list": [1, 2], "none": None}},
        options={"queue": "reports", "priority": 5, "headers": {"x": "y"}, "expires": 30},
        expire_at=at(86400),
        catch_up="fire_all",
        jitter=2.5,
        description="daily report",
        overlap="skip",
        overlap_timeout=120.0,
        tags=["team:billing", "nightly"],
    )
    stored = store.upsert(entry)
    assert stored.version == 1
    assert stored.tags == ("nightly", "team:billing")
    assert store.get("report") == replace(entry, version=1)


@pytest.mark.parametrize("write", ["upsert_many", "write_many"])
def test_the_overlap_policy_reaches_the_claim(store: Store, write: str) -> None:
    """The beat decides ``overlap: skip`` from the claimed entry: bulk writes keep it too."""
    getattr(store, write)(
        [
            make_entry("skips", overlap="skip", overlap_timeout=45.5),
            make_entry("timeout-default", overlap="skip"),
            make_entry("allows"),
        ]
    )
    claims = store.claim_due(at(0), 10, "beat-1", LEASE)
    assert {c.entry_id: (c.entry.overlap, c.entry.overlap_timeout) for c in claims} == {
        "skips": ("skip", 45.5),
        "timeout-default": ("skip", None),
        "allows": ("allow", None),
    }


def test_drop_leaves_nothing_for_the_next_store(store_url: str, backend: str) -> None:
    """drop() removes entries, run state and history: a store opened afterwards is empty."""
    first = open_store(store_url)
    first.upsert(make_entry("job"))
    (claim,) = first.claim_due(at(60), 10, "beat-1", LEASE)
    assert first.complete(claim, published(claim))
    first.drop()
    first.close()
    again = open_store(store_url)
    try:
        assert again.get("job") is None
        assert again.list_entries() == []
        assert again.history("job") == []
        assert again.next_due_at() is None
    finally:
        drop_store(again, backend)


@pytest.mark.parametrize("limit", [-1, 2.5, True, "10"])
def test_history_limit_must_be_a_count(store_url: str, limit: object) -> None:
    with pytest.raises(StoreError, match=r"store: history_limit .* is not a count >= 0$"):
        open_store(store_url, history_limit=limit)


def test_every_message_option_round_trips(store: Store) -> None:
    """Options as JSON, read back equal by get, get_many, list and a claim; written by upsert
    and by start-up sync's bulk write."""
    every = make_entry("every", options=EVERY_OPTION)
    instants = make_entry(
        "instants",
        options={"eta": "2030-01-01T10:00:00+02:00", "expires": "2030-01-02T00:00:00.250Z"},
    )
    nulls = make_entry("nulls", next_run_at=at(60), options=dict.fromkeys(OPTION_KEYS))
    store.upsert(every)
    store.write_many([instants, nulls])
    assert instants.options == {
        "eta": "2030-01-01T08:00:00Z",
        "expires": "2030-01-02T00:00:00.250Z",
    }
    expected = {e.id: e.options for e in (every, instants, nulls)}
    assert {e.id: e.options for e in store.get_many(expected)} == expected
    assert {e.id: e.options for e in store.list_entries()} == expected
    claims = store.claim_due(at(60), 10, "beat-1", LEASE)
    assert {c.entry_id: c.entry.options for c in claims} == expected


def test_get_unknown_is_none_and_delete_reports_absence(store: Store) -> None:
    """Unknown ids read as None; deleting twice says whether anything was there."""
    assert store.get("nope") is None
    store.upsert(make_entry("gone"))
    assert store.delete("gone") is True
    assert store.delete("gone") is False
    assert store.get("gone") is None
    assert store.list_entries() == []


def test_list_filters_and_sorts(store: Store) -> None:
    """list() sorts by id and filters by enabled and by a literal prefix."""
    for entry_id in ("b.two", "a.one", "a_x", "a%y", "c"):
        store.upsert(make_entry(entry_id))
    store.set_enabled("c", False, now=T0)
    assert [e.id for e in store.list_entries()] == ["a%y", "a.one", "a_x", "b.two", "c"]
    assert [e.id for e in store.list_entries(enabled=False)] == ["c"]
    assert [e.id for e in store.list_entries(enabled=True, prefix="a")] == ["a%y", "a.one", "a_x"]
    assert [e.id for e in store.list_entries(prefix="a_")] == ["a_x"]
    assert [e.id for e in store.list_entries(prefix="a%")] == ["a%y"]


def _sync_batch(group: str, count: int) -> list[Entry]:
    """Edits of ``group``/000… of every kind: a new spec, other fields, disabling."""
    edits = []
    for index in range(count):
        entry_id = f"{group}/{index:03d}"
        if index % 3 == 0:
            edit = make_entry(entry_id, next_run_at=at(1000 + index), spec=IntervalSpec(30))
        elif index % 3 == 1:
            edit = make_entry(entry_id, next_run_at=at(2000), description=f"edit {index}")
        else:
            edit = make_entry(entry_id, next_run_at=at(3000), enabled=False)
        edits.append(edit.with_state(updated_at=at(500)))
    return edits


def _without_id(entries: list[Entry]) -> list[dict[str, object]]:
    return [{**entry.to_dict(), "id": None} for entry in entries]


def test_upsert_many_matches_one_upsert_per_entry(store: Store) -> None:
    """upsert_many stores, returns and announces what single upserts do, claims out or not."""
    for group in ("single", "batch"):
        for index in range(200):
            store.upsert(make_entry(f"{group}/{index:03d}", next_run_at=at(index)))
    claims = store.claim_due(at(49), 100, "beat-1", LEASE)
    assert len(claims) == 100
    assert store.complete_many((claim, published(claim)) for claim in claims[:50])
    feed = store.watch()
    try:
        single = [store.upsert(entry) for entry in _sync_batch("single", 300)]
        batch = store.upsert_many(_sync_batch("batch", 300))
        assert [entry.id for entry in batch] == [f"batch/{index:03d}" for index in range(300)]
        assert _without_id(batch) == _without_id(single)
        # More ids than ANNOUNCED_IDS: announced once, as "anything may have changed".
        wait_for(feed, lambda seen: ANY_CHANGE in seen)
    finally:
        feed.close()
    kept = store.get("batch/001")
    assert kept is not None
    assert (kept.version, kept.state.total_run_count) == (2, 1)
    assert (kept.description, kept.state.next_run_at) == ("edit 1", at(61))
    moved = store.get("batch/003")
    assert moved is not None
    assert (moved.state.total_run_count, moved.state.next_run_at) == (1, at(1003))
    assert store.complete_many((claim, published(claim)) for claim in claims[50:])
    assert _without_id(store.list_entries(prefix="batch/")) == _without_id(
        store.list_entries(prefix="single/")
    )


def test_upsert_many_applies_a_repeated_id_in_order(store: Store) -> None:
    """An id given twice is upserted twice; an empty batch writes nothing."""
    first, second = store.upsert_many(
        [make_entry("twice", description="one"), make_entry("twice", description="two")]
    )
    assert (first.version, first.description) == (1, "one")
    assert (second.version, second.description) == (2, "two")
    assert store.get("twice") == second
    assert store.upsert_many([]) == []


def test_upsert_many_of_ten_thousand_entries(
    store: Store, backend: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """A start-up sync of 10,000 entries, new then existing; the times are printed."""
    entries = [make_entry(f"sync/{index:05d}", next_run_at=at(index)) for index in range(10_000)]
    started = time.perf_counter()
    created = store.upsert_many(entries)
    middle = time.perf_counter()
    updated = store.upsert_many(entries)
    finished = time.perf_counter()
    assert [entry.version for entry in created] == [1] * len(entries)
    assert [entry.version for entry in updated] == [2] * len(entries)
    assert len(store.list_entries(prefix="sync/")) == len(entries)
    with capsys.disabled():
        print(
            f"\n{backend}: upsert_many of 10,000 entries: {middle - started:.2f} s new, "
            f"{finished - middle:.2f} s existing"
        )


def test_versions_guard_against_lost_updates(store: Store) -> None:
    """expected_version 0 means new; a stale version conflicts and writes nothing."""
    store.upsert(make_entry("job"), expected_version=0)
    with pytest.raises(VersionConflict) as conflict:
        store.upsert(make_entry("job", description="again"), expected_version=0)
    assert conflict.value.actual == 1
    second = store.upsert(make_entry("job", description="v2"), expected_version=1)
    assert second.version == 2
    with pytest.raises(VersionConflict):
        store.upsert(make_entry("job", description="stale"), expected_version=1)
    assert store.get("job") == second
    with pytest.raises(VersionConflict):
        store.upsert(make_entry("new"), expected_version=3)
    assert store.get("new") is None
    assert store.upsert(make_entry("job", description="forced")).version == 3


def test_a_delete_naming_a_version_removes_only_that_version(store: Store) -> None:
    """expected_version on delete is upsert's: a stale version, or 0 for an entry that exists,
    conflicts and removes nothing (history and log kept); an entry gone conflicts too, and 0
    for one gone is nothing to remove."""
    store.upsert(make_entry("job"))
    (claim,) = store.claim_due(T0, 10, "beat-1", LEASE)
    assert store.complete(claim, published(claim))
    store.upsert(make_entry("job", description="v2"))
    head = store.audit_head()
    for stale in (1, 0, 3):
        with pytest.raises(VersionConflict) as conflict:
            store.delete("job", expected_version=stale)
        assert (conflict.value.expected, conflict.value.actual) == (stale, 2)
    kept = store.get("job")
    assert kept is not None
    assert (kept.version, kept.description) == (2, "v2")
    assert len(store.history("job")) == 1
    assert store.audit_head() == head
    assert store.delete("job", expected_version=2) is True
    assert (store.get("job"), store.history("job")) == (None, [])
    with pytest.raises(VersionConflict) as conflict:
        store.delete("job", expected_version=2)
    assert (conflict.value.expected, conflict.value.actual) == (2, None)
    assert store.delete("job", expected_version=0) is False
    assert [c.verb for c in store.changes("job")] == ["write", "write", "remove"]


def test_concurrent_writes_with_one_version_have_one_winner_deletes_included(
    store: Store, open_more: Callable[..., Store]
) -> None:
    """Of writers holding version 1, upserting or deleting, exactly one succeeds."""
    store.upsert(make_entry("contested"))
    writers = [open_more() for _ in range(4)]

    def delete(writer: Store) -> str:
        assert writer.delete("contested", expected_version=1)
        return "deleted"

    def write(index: int, writer: Store) -> str:
        writer.upsert(make_entry("contested", description=f"w{index}"), expected_version=1)
        return "written"

    outcomes = race(
        [
            functools.partial(delete, writer)
            if index % 2
            else functools.partial(write, index, writer)
            for index, writer in enumerate(writers)
        ]
    )
    assert len(outcomes) == len(writers)
    (winner,) = [outcome for outcome in outcomes if outcome != "lost"]
    stored = store.get("contested")
    assert (None if stored is None else stored.version) == (None if winner == "deleted" else 2)
    assert len(list(store.changes("contested"))) == 2


def test_concurrent_upserts_with_one_version_have_one_winner(
    store: Store, open_more: Callable[..., Store]
) -> None:
    """Of several writers holding version 1, exactly one succeeds."""
    store.upsert(make_entry("contested"))
    writers = [open_more() for _ in range(4)]

    def write(index: int, writer: Store) -> str:
        writer.upsert(make_entry("contested", description=f"w{index}"), expected_version=1)
        return "won"

    outcomes = race([functools.partial(write, *pair) for pair in enumerate(writers)])
    assert sorted(outcomes) == ["lost", "lost", "lost", "won"]
    stored = store.get("contested")
    assert stored is not None
    assert stored.version == 2


def test_upsert_keeps_run_state_and_reschedules_only_on_spec_change(store: Store) -> None:
    """Editing a definition keeps counters; next_run_at follows only a new spec."""
    store.upsert(make_entry("job"))
    (claim,) = store.claim_due(T0, 10, "beat-1", LEASE)
    assert store.complete(claim, published(claim, drift=0.5))
    ran = store.get("job")
    assert ran is not None
    assert ran.state.total_run_count == 1

    edited = make_entry("job", next_run_at=at(5), description="edited")
    kept = store.upsert(edited)
    assert kept.description == "edited"
    assert kept.state.total_run_count == 1
    assert kept.state.last_drift == 0.5
    assert kept.state.next_run_at == at(60)

    moved = store.upsert(make_entry("job", next_run_at=at(5), spec=IntervalSpec(5)))
    assert moved.state.next_run_at == at(5)
    assert moved.state.total_run_count == 1
    assert store.next_due_at() == at(5)


def test_set_enabled_disables_and_restarts_from_now(store: Store) -> None:
    """A disabled entry is never claimed; re-enabling fires from now, not the backlog."""
    store.upsert(make_entry("job", next_run_at=at(0)))
    disabled = store.set_enabled("job", False, now=at(1))
    assert disabled.enabled is False
    assert disabled.version == 2
    assert store.claim_due(at(600), 10, "beat-1", LEASE) == []
    assert store.next_due_at() is None
    enabled = store.set_enabled("job", True, now=at(1000))
    assert enabled.enabled is True
    assert enabled.version == 3
    assert enabled.state.next_run_at == at(1060)
    assert store.set_enabled("job", True, now=at(2000)).version == 3
    with pytest.raises(EntryNotFound):
        store.set_enabled("missing", True, now=T0)


def test_set_enabled_naming_a_version_writes_only_that_version(store: Store) -> None:
    """expected_version on set_enabled is delete's: a stale version, or an entry gone,
    conflicts and writes nothing (not even a flag already as asked); the version read wins."""
    store.upsert(make_entry("job"))
    store.upsert(make_entry("job", description="v2"))
    head = store.audit_head()
    for stale in (1, 0, 3):
        with pytest.raises(VersionConflict) as conflict:
            store.set_enabled("job", False, at(1), expected_version=stale)
        assert (conflict.value.expected, conflict.value.actual) == (stale, 2)
        with pytest.raises(VersionConflict):
            store.set_enabled("job", True, at(1), expected_version=stale)
    kept = store.get("job")
    assert kept is not None
    assert (kept.version, kept.enabled) == (2, True)
    assert store.audit_head() == head
    assert store.set_enabled("job", True, at(1), expected_version=2).version == 2
    disabled = store.set_enabled("job", False, at(1), expected_version=2)
    assert (disabled.version, disabled.enabled) == (3, False)
    enabled = store.set_enabled("job", True, at(1000), expected_version=3)
    assert (enabled.version, enabled.state.next_run_at) == (4, at(1060))
    store.delete("job")
    with pytest.raises(VersionConflict) as conflict:
        store.set_enabled("job", False, at(2000), expected_version=4)
    assert (conflict.value.expected, conflict.value.actual) == (4, None)
    with pytest.raises(EntryNotFound):
        store.set_enabled("job", False, at(2000))
    assert [c.verb for c in store.changes("job")] == [
        "write",
        "write",
        "disable",
        "enable",
        "remove",
    ]


def test_concurrent_set_enabled_with_one_version_have_one_winner(
    store: Store, open_more: Callable[..., Store]
) -> None:
    """Of writers holding version 1, three disabling and one upserting, exactly one writes;
    the others conflict."""
    store.upsert(make_entry("contested"))
    writers = [open_more() for _ in range(4)]

    def write(index: int, writer: Store) -> str:
        if index == 0:
            writer.upsert(make_entry("contested", description="w0"), expected_version=1)
        else:
            writer.set_enabled("contested", False, at(1), expected_version=1)
        return "won"

    outcomes = race([functools.partial(write, *pair) for pair in enumerate(writers)])
    assert sorted(outcomes) == ["lost", "lost", "lost", "won"]
    stored = store.get("contested")
    assert stored is not None
    assert stored.version == 2
    assert len(list(store.changes("contested"))) == 2


# -- claims --------------------------------------------------------------------------------------


def test_claim_due_takes_only_due_entries_earliest_first(store: Store) -> None:
    """Claims honour now, the limit and the order; claimed entries leave the index."""
    for index, entry_id in enumerate(["c", "a", "b", "later"]):
        when = at(100) if entry_id == "later" else at(index)
        store.upsert(make_entry(entry_id, next_run_at=when))
    store.upsert(make_entry("off", next_run_at=at(0), enabled=False))
    first = store.claim_due(at(50), 2, "beat-1", LEASE)
    assert [(c.entry_id, c.scheduled_for) for c in first] == [("c", at(0)), ("a", at(1))]
    assert all(c.owner == "beat-1" and c.lease_until == at(50) + LEASE for c in first)
    assert first[0].entry.id == "c"
    assert store.next_due_at() == at(2)
    second = store.claim_due(at(50), 10, "beat-2", LEASE)
    assert [c.entry_id for c in second] == ["b"]
    assert store.claim_due(at(50), 10, "beat-2", LEASE) == []
    assert store.next_due_at() == at(100)


def test_complete_records_run_and_advances(store: Store) -> None:
    """complete() writes history, counters, drift summary and the next slot."""
    store.upsert(make_entry("job"))
    for drift in (0.2, 0.6, 0.1):
        (claim,) = store.claim_due(at(3600), 10, "beat-1", LEASE)
        assert store.complete(claim, published(claim, drift=drift))
    entry = store.get("job")
    assert entry is not None
    state = entry.state
    assert state.total_run_count == 3
    assert state.failure_count == 0
    assert state.next_run_at == at(180)
    assert state.last_scheduled_for == at(120)
    assert state.last_run_at == at(120.1)
    assert state.last_drift == pytest.approx(0.1)
    assert state.drift_mean == pytest.approx(0.3)
    assert state.drift_max == pytest.approx(0.6)
    assert entry.version == 1
    runs = store.history("job")
    assert [r.scheduled_for for r in runs] == [at(120), at(60), at(0)]
    assert runs[0].drift == pytest.approx(0.1)
    assert runs[0].owner == "beat-1"
    assert runs[0].task_id == f"job@{at(120).isoformat()}"
    assert store.history("job", limit=1) == runs[:1]


def test_failed_runs_count_separately(store: Store) -> None:
    """Failures raise failure counters and last_error; a success resets the streak."""
    store.upsert(make_entry("job"))

    def fail(error: str) -> None:
        (claim,) = store.claim_due(at(3600), 10, "beat-1", LEASE)
        run = RunRecord("job", claim.scheduled_for, FAILED, error=error, owner="beat-1")
        outcome = Outcome(claim.scheduled_for + timedelta(seconds=60), (run,))
        assert store.complete(claim, outcome)

    fail("broker down")
    fail("still down")
    entry = store.get("job")
    assert entry is not None
    assert (entry.state.failure_count, entry.state.consecutive_failures) == (2, 2)
    assert entry.state.last_error == "still down"
    assert entry.state.total_run_count == 0
    (claim,) = store.claim_due(at(3600), 10, "beat-1", LEASE)
    store.complete(claim, published(claim))
    entry = store.get("job")
    assert entry is not None
    assert (entry.state.failure_count, entry.state.consecutive_failures) == (2, 0)
    assert [r.outcome for r in store.history("job")] == ["published", "failed", "failed"]
    assert store.history("job")[1].error == "still down"


def test_complete_with_a_lost_claim_changes_nothing(store: Store) -> None:
    """A completion whose token no longer holds the lease is refused."""
    store.upsert(make_entry("job"))
    (claim,) = store.claim_due(T0, 10, "beat-1", LEASE)
    forged = replace(claim, token="someone-else")
    assert store.complete(forged, published(forged)) is False
    assert store.history("job") == []
    assert store.complete(claim, published(claim)) is True
    assert store.complete(claim, published(claim)) is False
    entry = store.get("job")
    assert entry is not None
    assert entry.state.total_run_count == 1


def test_run_once_entries_are_disabled_after_their_run(store: Store) -> None:
    """A clocked entry fires once, then is disabled with no next run."""
    store.upsert(one_off("once", at(10)))
    (claim,) = store.claim_due(at(10), 10, "beat-1", LEASE)
    assert claim.entry.run_once is True
    store.complete(claim, published(claim))
    entry = store.get("once")
    assert entry is not None
    assert entry.enabled is False
    assert entry.state.next_run_at is None
    assert entry.state.total_run_count == 1
    assert store.claim_due(at(10**6), 10, "beat-1", LEASE) == []


def test_entries_past_expire_at_are_disabled(store: Store) -> None:
    """When the next occurrence lies past expire_at, the entry stops."""
    store.upsert(make_entry("job", expire_at=at(90)))
    (claim,) = store.claim_due(T0, 10, "beat-1", LEASE)
    store.complete(claim, published(claim))
    entry = store.get("job")
    assert entry is not None
    assert entry.enabled is True
    (claim,) = store.claim_due(at(60), 10, "beat-1", LEASE)
    store.complete(claim, published(claim))
    entry = store.get("job")
    assert entry is not None
    assert entry.enabled is False
    assert store.next_due_at() is None


def test_edit_during_claim_keeps_the_edits_next_run(store: Store) -> None:
    """A definition change while a claim is out wins over the claim's next slot."""
    store.upsert(make_entry("job"))
    (claim,) = store.claim_due(T0, 10, "beat-1", LEASE)
    store.upsert(make_entry("job", next_run_at=at(7), spec=IntervalSpec(7)))
    assert store.complete(claim, published(claim))
    entry = store.get("job")
    assert entry is not None
    assert entry.spec == IntervalSpec(7)
    assert entry.state.next_run_at == at(7)
    assert entry.state.total_run_count == 1
    assert store.next_due_at() == at(7)


def test_edit_leaving_the_schedule_alone_does_not_repeat_the_claimed_occurrence(
    store: Store,
) -> None:
    """An edit of other fields during a claim stays, but the next run is the outcome's."""
    store.upsert(make_entry("job"))
    (claim,) = store.claim_due(T0, 10, "beat-1", LEASE)
    edit = make_entry("job", args=(1,), options={"queue": "q"}, description="edited")
    store.upsert(edit.with_state(created_at=at(1), updated_at=at(5)))
    assert store.complete(claim, published(claim))
    entry = store.get("job")
    assert entry is not None
    assert (entry.description, entry.args, entry.options) == ("edited", (1,), {"queue": "q"})
    assert entry.version == 2
    assert entry.state.next_run_at == at(60)
    assert (entry.state.created_at, entry.state.updated_at) == (T0, at(5))
    assert entry.state.total_run_count == 1
    assert store.claim_due(T0, 10, "beat-2", LEASE) == []
    assert store.next_due_at() == at(60)
    (following,) = store.claim_due(at(60), 10, "beat-2", LEASE)
    assert following.scheduled_for == at(60)


def test_reenabling_during_claim_keeps_the_fresh_start(store: Store) -> None:
    """Disabling and enabling again while a claim is out restarts from the enable time."""
    store.upsert(make_entry("job"))
    (claim,) = store.claim_due(T0, 10, "beat-1", LEASE)
    store.set_enabled("job", False, now=at(1))
    store.set_enabled("job", True, now=at(1000))
    assert store.complete(claim, published(claim))
    entry = store.get("job")
    assert entry is not None
    assert (entry.enabled, entry.version) == (True, 3)
    assert entry.state.next_run_at == at(1060)
    assert entry.state.updated_at == at(1000)
    assert entry.state.total_run_count == 1
    assert store.next_due_at() == at(1060)


def test_disable_during_claim_stays_disabled(store: Store) -> None:
    """Completing a claim does not re-enable an entry disabled meanwhile."""
    store.upsert(make_entry("job"))
    (claim,) = store.claim_due(T0, 10, "beat-1", LEASE)
    store.set_enabled("job", False, now=T0)
    assert store.complete(claim, published(claim))
    entry = store.get("job")
    assert entry is not None
    assert entry.enabled is False
    assert store.claim_due(at(10**5), 10, "beat-1", LEASE) == []


def test_expired_leases_are_recovered_with_the_same_occurrence(store: Store) -> None:
    """A claim never completed comes back after its lease, for the same scheduled time."""
    store.upsert(make_entry("job"))
    (claim,) = store.claim_due(T0, 10, "beat-dead", LEASE)
    assert store.recover_expired_claims(T0 + LEASE - timedelta(seconds=1)) == []
    assert store.claim_due(at(10), 10, "beat-2", LEASE) == []
    assert store.recover_expired_claims(T0 + LEASE) == ["job"]
    assert store.next_due_at() == T0
    (again,) = store.claim_due(T0 + LEASE, 10, "beat-2", LEASE)
    assert again.scheduled_for == T0
    assert again.token != claim.token
    assert store.complete(claim, published(claim)) is False
    assert store.complete(again, published(again, owner="beat-2")) is True
    assert [r.owner for r in store.history("job")] == ["beat-2"]


def test_a_renewed_claim_outlives_its_first_lease(store: Store) -> None:
    """Renewal moves the lease on: recovery at the old deadline leaves the claim alone."""
    store.upsert(make_entry("job"))
    store.upsert(make_entry("other"))
    claims = store.claim_due(T0, 10, "beat-1", LEASE)
    renewed = store.renew_claims(claims, at(20), LEASE)
    assert [claim.lease_until if claim else None for claim in renewed] == [at(20) + LEASE] * 2
    assert store.recover_expired_claims(T0 + LEASE) == []
    assert store.claim_due(T0 + LEASE, 10, "beat-2", LEASE) == []
    assert store.recover_expired_claims(at(20) + LEASE) == ["job", "other"]
    first = renewed[0]
    assert first is not None
    assert first.token == claims[0].token
    assert first.scheduled_for == T0


def test_a_lost_claim_is_never_renewed(store: Store) -> None:
    """Recovered, taken by another beat, completed or forged: renewal answers None for each,
    and the claim that does hold the entry keeps its lease."""
    for entry_id in ("recovered", "completed", "held"):
        store.upsert(make_entry(entry_id))
    completed, held, recovered = store.claim_due(T0, 10, "beat-1", LEASE)  # earliest id first
    assert store.complete(completed, published(completed)) is True
    assert store.recover_expired_claims(T0 + LEASE) == ["held", "recovered"]
    taken = store.claim_due(T0 + LEASE, 1, "beat-2", LEASE)
    assert [claim.entry_id for claim in taken] == ["held"]
    forged = replace(recovered, token="someone-else")
    assert store.renew_claims([recovered, completed, held, forged], at(40), LEASE) == [None] * 4
    (kept,) = store.renew_claims(taken, at(40), LEASE)
    assert kept is not None
    assert kept.lease_until == at(40) + LEASE
    assert store.complete(held, published(held)) is False
    assert store.complete(kept, published(kept, owner="beat-2")) is True


def test_renewing_nothing_is_a_no_op(store: Store) -> None:
    assert store.renew_claims([], T0, LEASE) == []


def test_store_time_is_the_servers_clock(store: Store, backend: str) -> None:
    """Redis and PostgreSQL answer with their own clock; memory and SQLite share the host's."""
    before = time.time()
    now = store.time()
    after = time.time()
    if backend in ("memory", "sqlite"):
        assert now is None
        return
    assert now is not None
    assert now.tzinfo == timezone.utc
    # Same host in this suite: the server's clock reads between the two local readings.
    assert before - 0.01 <= now.timestamp() <= after + 0.01


def test_history_is_trimmed_per_entry(open_more: Callable[..., Store], store: Store) -> None:
    """Only the newest history_limit runs are kept, per entry."""
    small = open_more(history_limit=5)
    small.upsert(make_entry("busy"))
    small.upsert(make_entry("quiet"))
    for _ in range(8):
        for claim in small.claim_due(at(10**6), 10, "beat-1", LEASE):
            small.complete(claim, published(claim))
    runs = small.history("busy", limit=100)
    assert [r.scheduled_for for r in runs] == [at(60 * k) for k in range(7, 2, -1)]
    assert len(small.history("quiet", limit=100)) == 5
    entry = small.get("busy")
    assert entry is not None
    assert entry.state.total_run_count == 8


def test_complete_many_matches_complete(store: Store) -> None:
    """Batch completion records every claim, and refuses only the stale one."""
    for index in range(5):
        store.upsert(make_entry(f"job{index}"))
    claims = store.claim_due(T0, 10, "beat-1", LEASE)
    stale = replace(claims[0], token="stale")
    results = store.complete_many(
        [(stale, published(stale))] + [(c, published(c)) for c in claims[1:]]
    )
    assert results == [False, True, True, True, True]
    counts = {e.id: e.state.total_run_count for e in store.list_entries()}
    assert counts == {"job0": 0, "job1": 1, "job2": 1, "job3": 1, "job4": 1}


def test_contention_claims_each_occurrence_exactly_once(
    store: Store, store_url: str, backend: str, open_more: Callable[..., Store]
) -> None:
    """Several beats claiming at once: every occurrence is claimed once, none lost."""
    entries, slots, workers = 60, 11, 4
    for index in range(entries):
        store.upsert(make_entry(f"e{index:03d}", spec=IntervalSpec(1)))
    now = at(slots - 1)
    if backend == "memory":
        gate = threading.Barrier(workers)
        collected: list[list[tuple[str, str]]] = []
        threads = [
            threading.Thread(
                target=lambda n=n: collected.append(drain(open_more(), f"beat-{n}", now, gate))
            )
            for n in range(workers)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
    else:
        context = multiprocessing.get_context("spawn")
        start = context.Barrier(workers)
        results = context.Queue()
        processes = [
            context.Process(
                target=drain_in_process, args=(store_url, f"beat-{n}", now, start, results)
            )
            for n in range(workers)
        ]
        for process in processes:
            process.start()
        collected = [results.get(timeout=120) for _ in processes]
        for process in processes:
            process.join(timeout=30)
            assert process.exitcode == 0
    claimed = Counter(item for part in collected for item in part)
    expected = {
        (f"e{index:03d}", at(slot).isoformat()) for index in range(entries) for slot in range(slots)
    }
    assert set(claimed) == expected
    assert max(claimed.values()) == 1
    assert sum(1 for part in collected if part) >= 2, "contention needs several claimers"
    assert all(e.state.total_run_count == slots for e in store.list_entries())


# -- change feed ---------------------------------------------------------------------------------


def test_changes_reach_a_feed_opened_elsewhere(
    store: Store, open_more: Callable[..., Store]
) -> None:
    """Upsert, enable/disable and delete made through another store are announced."""
    feed = store.watch()
    try:
        other = open_more()
        other.upsert(make_entry("job"))
        other.set_enabled("job", False, now=T0)
        other.delete("job")
        seen: set[str] = set()
        deadline = time.monotonic() + 10
        while "job" not in seen and time.monotonic() < deadline:
            seen.update(feed.wait(0.5))
        assert "job" in seen
        assert feed.wait(0.05) in ([], ["job"])
    finally:
        feed.close()
        feed.close()


def test_feed_reports_any_change_after_losing_its_connection(
    store: Store,
    backend: str,
    open_more: Callable[..., Store],
    request: pytest.FixtureRequest,
    unique_prefix: str,
) -> None:
    """A feed whose connection is dropped reconnects, says ANY_CHANGE, then announces ids."""
    name = f"stembeat-test-{uuid.uuid4().hex[:12]}"
    watched = open_more(client_name=name) if backend in ("redis", "cluster") else store
    feed = watched.watch()
    try:
        writer = open_more()
        writer.upsert(make_entry("before"))
        assert ANY_CHANGE not in wait_for(feed, lambda seen: "before" in seen)
        if backend in ("memory", "sqlite"):
            pytest.skip(f"a {backend} feed holds no server connection to lose")
        if backend in ("redis", "cluster"):
            url = redis_server_url(request, backend, unique_prefix)
            killed = kill_redis_clients(url, name, "pubsub")
        else:
            listen = f'LISTEN "{unique_prefix}changes"'
            url = request.getfixturevalue("postgres_url")
            killed = terminate_postgres_backends(url, "query", listen)
        assert killed == 1
        wait_for(feed, lambda seen: ANY_CHANGE in seen)
        writer.upsert(make_entry("after"))
        wait_for(feed, lambda seen: "after" in seen)
    finally:
        feed.close()


# -- failures ------------------------------------------------------------------------------------


def test_operations_survive_dropped_connections(
    store: Store, backend: str, open_more: Callable[..., Store], request: pytest.FixtureRequest
) -> None:
    """After the server drops every connection, an operation may fail (with StoreError only)
    and the one after it works."""
    name = f"stembeat-test-{uuid.uuid4().hex[:12]}"
    if backend in ("redis", "cluster"):
        url = redis_server_url(request, backend, request.getfixturevalue("unique_prefix"))
        subject = open_more(client_name=name)

        def drop_connections() -> int:
            return kill_redis_clients(url, name, "normal")

    elif backend == "postgres":
        url = request.getfixturevalue("postgres_url")
        subject = open_more(connect_args={"application_name": name})

        def drop_connections() -> int:
            return terminate_postgres_backends(url, "application_name", name)

    else:
        pytest.skip(f"{backend} has no server connections to drop")

    def survives(operation: Callable[[], Any]) -> Any:
        assert drop_connections() >= 1
        try:
            return operation()
        except StoreError:
            return operation()

    subject.upsert(make_entry("job"))
    assert survives(lambda: subject.get("job")) is not None
    assert [entry.id for entry in survives(subject.list_entries)] == ["job"]
    edited = survives(lambda: subject.upsert(make_entry("job", description="again")))
    assert edited.description == "again"
    assert survives(subject.next_due_at) == T0
    (claim,) = survives(lambda: subject.claim_due(T0, 10, "beat-1", LEASE))
    assert survives(lambda: subject.complete(claim, published(claim))) is True
    assert len(survives(lambda: subject.history("job"))) == 1
    assert survives(lambda: subject.recover_expired_claims(T0)) == []
    assert survives(lambda: subject.set_enabled("job", False, now=T0)).enabled is False
    assert survives(lambda: subject.delete("job")) is True
    # Batches of several script calls or statements: sent again on a new connection.
    bulk = [make_entry(f"bulk{index:04d}") for index in range(1500)]
    assert len(survives(lambda: subject.upsert_many(bulk))) == 1500
    found = survives(lambda: subject.get_many(entry.id for entry in bulk))
    assert [entry.id for entry in found] == [entry.id for entry in bulk]


def test_unreachable_server_raises_store_error_without_the_password(
    backend: str, tmp_path: Path
) -> None:
    """Connection failures surface as StoreError, and never show the password."""
    secret = "s3cret-pa55"
    urls = {
        "sqlite": f"sqlite:///{tmp_path / 'missing' / 'dir' / 'stembeat.db'}",
        "postgres": f"postgresql+psycopg://postgres:{secret}@127.0.0.1:1/test",
        "redis": f"redis://:{secret}@127.0.0.1:1/0",
        "cluster": f"redis+cluster://:{secret}@127.0.0.1:1,127.0.0.1:2",
    }
    if backend not in urls:
        pytest.skip("a memory store has no server to miss")
    with pytest.raises(StoreError) as failure, open_store(urls[backend]) as unreachable:
        unreachable.get("job")
    assert secret not in str(failure.value)
    assert secret not in repr(failure.value)


# -- data fidelity -------------------------------------------------------------------------------


def test_instants_round_trip_as_aware_utc(store: Store) -> None:
    """Instants given in any zone come back as the same instants, in UTC."""
    london = ZoneInfo("Europe/London")
    state = RunState(
        next_run_at=T0.astimezone(ZoneInfo("Asia/Kolkata")),
        last_run_at=at(-60).astimezone(london),
        created_at=T0,
        updated_at=T0,
    )
    entry = Entry(
        id="zoned",
        task="tasks.ping",
        spec=CronSpec("0 9 * * 1-5", "Europe/London"),
        expire_at=at(3600).astimezone(london),
        state=state,
    )
    stored = store.get(store.upsert(entry).id)
    assert stored is not None
    assert stored.state.next_run_at == T0
    assert stored.state.next_run_at.tzinfo == timezone.utc
    assert stored.expire_at == at(3600)
    assert stored.spec == CronSpec("0 9 * * 1-5", "Europe/London")


def test_unicode_ids_and_large_kwargs(store: Store) -> None:
    """Non-ASCII ids and kwargs of nearly the 64 KiB bound survive unchanged."""
    big = {"blob": "x" * 65_000, "text": "naïve — 東京 📅"}
    entry = make_entry("tâche:東京/📅 1", kwargs=big)
    store.upsert(entry)
    assert store.get("tâche:東京/📅 1") == replace(entry, version=1)
    (claim,) = store.claim_due(T0, 10, "beat-1", LEASE)
    assert claim.entry.kwargs == big
    store.complete(claim, published(claim))
    assert store.history("tâche:東京/📅 1")[0].entry_id == "tâche:東京/📅 1"


def test_bad_input_is_rejected_before_anything_is_written(store: Store) -> None:
    """Invalid entries never reach the store; a conflicting write leaves it untouched."""
    with pytest.raises(EntryError, match="'spec'"):
        Entry.from_dict({"id": "bad", "task": "t", "spec": "0 25 * * *"})
    with pytest.raises(EntryError, match="'kwargs'"):
        make_entry("bad", kwargs={"when": object()})
    stored = store.upsert(make_entry("good"))
    with pytest.raises(VersionConflict):
        store.upsert(make_entry("good", description="other"), expected_version=7)
    assert store.get("good") == stored
    assert [e.id for e in store.list_entries()] == ["good"]
