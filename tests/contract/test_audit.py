"""The audit log on every store: each writing method records its change, in order, with its
note; bulk writes record one change per entry; the log is bounded and its chain verifies; the
records read back exactly through another store."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import timedelta

import pytest

from celery_stembeat.audit import (
    GENESIS,
    AuditHead,
    Change,
    ChangeNote,
    local_actor,
    verify,
)
from celery_stembeat.stores import Pause, RunRecord, Store
from celery_stembeat.stores.base import PUBLISHED
from tests.contract.helpers import LEASE, T0, at, make_entry

NOTE = ChangeNote("ops@host-1", "apply", at(5))


def trail(store: Store, entry_id: str | None = None) -> list[tuple[str, str, bool, bool]]:
    """(entry, verb, had a before, has an after) of each record, oldest first."""
    return [
        (c.entry_id, c.verb, c.before is not None, c.after is not None)
        for c in store.changes(entry_id)
    ]


def test_an_empty_log_has_the_genesis_head_and_verifies(store: Store) -> None:
    assert store.audit_head() == AuditHead(0, GENESIS, 1)
    assert list(store.changes()) == []
    assert store.change(1) is None
    assert verify(store.audit_head(), store.changes()).intact


def test_every_writing_method_records_its_change_with_its_note(store: Store) -> None:
    entry = make_entry("a", next_run_at=at(10))
    store.upsert(entry, note=NOTE)
    store.upsert(dataclasses.replace(entry, description="edited"), note=NOTE)
    store.set_enabled("a", False, at(20), note=ChangeNote("ops@host-1", "disable"))
    store.set_enabled("a", False, at(21))  # no change: not recorded
    store.set_enabled("a", True, at(22))
    record = RunRecord(
        "a", at(30), PUBLISHED, at(30), 0.0, owner="ops@host-1", task_id="t-1", manual=True
    )
    assert store.record_manual_run(record, note=ChangeNote("ops@host-1", "run"))
    store.pause(Pause(at(40), None, "maintenance", "ops@host-1"))
    store.resume()
    assert store.resume() is None  # nothing to clear: not recorded
    store.delete("a", note=ChangeNote("ops@host-1", "remove"))
    assert not store.delete("a")  # nothing removed: not recorded
    assert trail(store) == [
        ("a", "apply", False, True),
        ("a", "apply", True, True),
        ("a", "disable", True, True),
        ("a", "enable", True, True),
        ("a", "run", False, False),
        ("", "pause", False, True),
        ("", "resume", True, False),
        ("a", "remove", True, False),
    ]
    changes = list(store.changes())
    assert [c.seq for c in changes] == list(range(1, 9))
    assert changes[0].actor == "ops@host-1"
    assert changes[0].at == at(5)
    assert changes[3].actor == local_actor()
    assert changes[0].after == entry.definition()
    assert changes[1].fields_changed() == ["description"]
    assert changes[2].fields_changed() == ["enabled"]
    assert changes[5].after == {
        "since": "2026-03-01T12:00:40Z",
        "until": None,
        "reason": "maintenance",
        "actor": "ops@host-1",
    }
    assert store.audit_head() == AuditHead(8, changes[-1].hash, 1)
    assert verify(store.audit_head(), store.changes()).intact


def test_a_write_that_changes_nothing_and_a_refused_write_record_nothing(store: Store) -> None:
    entry = make_entry("a", next_run_at=at(10))
    store.upsert(entry)
    store.upsert(entry)
    store.upsert_many([entry])
    assert store.write_checked([entry], {"a": 7}) == ["a"]
    assert trail(store) == [("a", "write", False, True)]


def test_bulk_writes_record_one_change_per_entry_changed(store: Store) -> None:
    entries = [make_entry(f"e{i:03d}", next_run_at=at(i)) for i in range(250)]
    sync = ChangeNote("beat host-1:42", "sync", at(1))
    store.write_many(entries[:150], note=sync)
    store.upsert_many(entries[100:200], note=sync)
    edited = [dataclasses.replace(e, description="x") for e in entries[:3]]
    refused = store.write_checked(
        [*edited, *entries[200:]],
        {**{e.id: 1 for e in edited}, **{e.id: 0 for e in entries[200:]}, "e000": 5},
        note=NOTE,
    )
    assert refused == ["e000"]
    changes = list(store.changes())
    assert len(changes) == 150 + 50 + 2 + 50
    assert [c.entry_id for c in changes[:200]] == [e.id for e in entries[:200]]
    assert {c.verb for c in changes[:200]} == {"sync"}
    assert [c.entry_id for c in changes[200:202]] == ["e001", "e002"]
    assert all(c.before is None for c in changes[202:])
    assert verify(store.audit_head(), store.changes()).intact


def test_changes_read_back_exactly_through_another_store(
    store: Store, open_more: Callable[..., Store]
) -> None:
    entry = make_entry("ünïcode ✓", next_run_at=at(10))
    store.upsert(entry, note=ChangeNote("öps@høst", "apply", at(5) + timedelta(microseconds=1234)))
    store.delete(entry.id)
    other = open_more()
    assert list(other.changes()) == list(store.changes())
    first = other.change(1)
    assert isinstance(first, Change)
    assert first.at == at(5) + timedelta(milliseconds=1)
    assert first.after == entry.definition()
    assert other.change(3) is None
    assert other.change(0) is None


def test_changes_select_by_entry_and_instant(store: Store) -> None:
    for i, entry_id in enumerate(["a", "b", "a", "b"]):
        store.upsert(
            make_entry(entry_id, next_run_at=at(10), description=str(i)),
            note=ChangeNote("ops@host-1", "apply", at(100 * i)),
        )
    assert [c.seq for c in store.changes("a")] == [1, 3]
    assert [c.seq for c in store.changes("b", since=at(200))] == [4]
    assert [c.seq for c in store.changes(since=at(150))] == [3, 4]
    assert list(store.changes("nobody")) == []


def dated(store: Store) -> None:
    """Six records of entries ``a`` and ``b`` and the pause, two dated (by hand, as a clock
    that disagrees would) before the record ahead of them: 1 a@60 s, 2 b@180, 3 a@120, 4 b@240,
    5 pause@210, 6 a@300."""
    for number, (entry_id, seconds) in enumerate([("a", 60), ("b", 180), ("a", 120), ("b", 240)]):
        store.upsert(
            make_entry(entry_id, next_run_at=at(10), description=str(number)),
            note=ChangeNote("ops@host-1", "apply", at(seconds)),
        )
    store.pause(Pause(at(200), None, "", "ops@host-1"), note=ChangeNote("ops", "pause", at(210)))
    store.upsert(make_entry("a", next_run_at=at(10)), note=ChangeNote("ops", "apply", at(300)))


#: The selections of the log :func:`dated` leaves, and the records of each, newest first.
SELECTED = [
    ((None, None), [6, 5, 4, 3, 2, 1]),
    (("a", None), [6, 3, 1]),
    (("", None), [5]),
    (("nobody", None), []),
    # Read from the newest, up to the newest record made before since.
    ((None, at(150)), [6, 5, 4]),
    (("a", at(150)), [6]),
    (("b", at(150)), [4, 2]),
    (("", at(150)), [5]),
    ((None, at(220)), [6]),
    (("b", at(220)), [4]),
    ((None, at(1000)), []),
]


def assert_selections(store: Store) -> None:
    """Every selection of :data:`SELECTED`, read from either end, whole or cut at a limit, and
    counted, on a store :func:`dated` wrote."""
    for (entry_id, since), newest in SELECTED:
        chosen = {"entry_id": entry_id, "since": since}
        assert [c.seq for c in store.changes(**chosen, newest_first=True)] == newest, chosen
        assert [c.seq for c in store.changes(**chosen)] == newest[::-1], chosen
        assert store.count_changes(**chosen) == len(newest), chosen
        for limit in (1, 2, 5):
            cut = store.changes(**chosen, newest_first=True, limit=limit)
            assert [c.seq for c in cut] == newest[:limit], (chosen, limit)
            cut = store.changes(**chosen, limit=limit)
            assert [c.seq for c in cut] == newest[::-1][:limit], (chosen, limit)


def test_changes_read_from_either_end_and_count(store: Store) -> None:
    dated(store)
    assert_selections(store)
    newest = next(store.changes(newest_first=True))
    assert newest == store.change(6)
    assert newest.after == make_entry("a", next_run_at=at(10)).definition()


def test_a_long_log_reads_from_either_end(store: Store) -> None:
    entries = [make_entry(f"e{i:04d}", next_run_at=at(10)) for i in range(1200)]
    store.write_many(entries[:700], note=ChangeNote("ops", "apply", at(100)))
    store.write_many(entries[700:], note=ChangeNote("ops", "apply", at(200)))
    oldest = [c.seq for c in store.changes()]
    assert oldest == list(range(1, 1201))
    assert [c.seq for c in store.changes(newest_first=True)] == oldest[::-1]
    assert [c.seq for c in store.changes(newest_first=True, limit=1100)] == oldest[:99:-1]
    assert [c.seq for c in store.changes(since=at(150))] == oldest[700:]
    assert [c.seq for c in store.changes(since=at(150), newest_first=True)] == oldest[:699:-1]
    assert store.count_changes(since=at(150)) == 500
    assert store.count_changes() == 1200
    assert store.count_changes("e0001") == 1


@pytest.mark.parametrize("limit", [0, -1, True, 2.0, "5"])
def test_a_bad_limit_is_refused(store: Store, limit: object) -> None:
    store.upsert(make_entry("a", next_run_at=at(10)))
    for newest_first in (False, True):
        with pytest.raises(ValueError, match="limit"):
            next(store.changes(newest_first=newest_first, limit=limit))  # type: ignore[arg-type]


def test_the_log_keeps_the_newest_audit_limit_records(
    store: Store, open_more: Callable[..., Store]
) -> None:
    small = open_more(audit_limit=5)
    for i in range(8):
        small.upsert(make_entry("a", next_run_at=at(10), description=str(i)))
    head = small.audit_head()
    assert (head.seq, head.floor, head.count) == (8, 4, 5)
    assert [c.seq for c in small.changes()] == [4, 5, 6, 7, 8]
    assert [c.seq for c in small.changes("a")] == [4, 5, 6, 7, 8]
    assert [c.seq for c in small.changes("a", newest_first=True, limit=2)] == [8, 7]
    assert (small.count_changes(), small.count_changes("a")) == (5, 5)
    assert small.change(3) is None
    assert verify(head, small.changes()).intact
    small.write_many([make_entry(f"b{i}", next_run_at=at(10)) for i in range(12)])
    assert [c.seq for c in small.changes()] == [16, 17, 18, 19, 20]
    assert (small.count_changes(), small.count_changes("a")) == (5, 0)
    assert list(small.changes("a", newest_first=True)) == []
    assert verify(small.audit_head(), small.changes()).intact


@pytest.mark.parametrize("limit", [0, -1, True, "5"])
def test_a_bad_audit_limit_is_refused(open_more: Callable[..., Store], limit: object) -> None:
    with pytest.raises(ValueError, match="audit_limit"):
        open_more(audit_limit=limit)


def test_verify_finds_an_edited_a_removed_and_a_reordered_record(store: Store) -> None:
    for i in range(4):
        store.upsert(make_entry("a", next_run_at=at(10), description=str(i)))
    head = store.audit_head()
    changes = list(store.changes())
    edited = [*changes[:2], dataclasses.replace(changes[2], actor="someone else"), changes[3]]
    assert verify(head, edited).problem == (
        "change 3 was edited: its hash does not match its content"
    )
    rehashed = dataclasses.replace(changes[2], actor="x")
    rehashed = dataclasses.replace(rehashed, hash=rehashed.computed_hash())
    assert verify(head, [*changes[:2], rehashed, changes[3]]).problem == (
        "change 4 does not follow change 3's hash"
    )
    assert verify(head, [changes[0], *changes[2:]]).problem == "change 2 is missing"
    assert verify(head, changes[1:]).problem == "change 1 is missing"
    assert verify(head, changes[:3]).problem == "change 4 is missing"
    assert verify(head, changes[:1]).problem == "changes 2-4 are missing"
    assert verify(head, [changes[1], changes[0]]).problem == "change 1 is missing"
    forged = AuditHead(4, GENESIS, 1)
    assert verify(forged, changes).problem == "change 4 is not the one the log's head names"


def test_claims_and_completions_record_nothing(store: Store) -> None:
    store.upsert(make_entry("a", next_run_at=T0))
    (claim,) = store.claim_due(at(1), 10, "beat-1", LEASE)
    assert claim.entry_id == "a"
    assert [c.verb for c in store.changes()] == ["write"]


def test_a_bad_note_is_refused_and_nothing_is_written(store: Store) -> None:
    with pytest.raises(ValueError, match="actor"):
        ChangeNote("", "apply")
    with pytest.raises(ValueError, match="verb"):
        ChangeNote("ops", "x" * 41)
    with pytest.raises(ValueError, match="note"):
        store.upsert(make_entry("a", next_run_at=T0), note="ops")  # type: ignore[arg-type]
    assert store.get("a") is None
    assert list(store.changes()) == []
