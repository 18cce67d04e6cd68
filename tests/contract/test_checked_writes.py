"""What ``apply`` writes through, identical on every store: fingerprints of named entries
(version, source and digest, without reading the entries) and the bulk write that checks each
entry's version, with its digests and one announcement for a large batch."""

from __future__ import annotations

from dataclasses import replace

from celery_stembeat.specs import IntervalSpec
from celery_stembeat.stores import ANY_CHANGE, Fingerprint, Store
from celery_stembeat.stores.base import ANNOUNCED_IDS
from tests.contract.faults import wait_for
from tests.contract.helpers import LEASE, T0, at, make_entry, published


def test_fingerprints_of_names_version_source_and_digest(store: Store) -> None:
    store.upsert_many(
        [make_entry("kept"), make_entry("from-config", source="config")],
        {"kept": "dk", "from-config": "dc"},
    )
    store.upsert(make_entry("edited", description="one"))
    store.upsert(make_entry("edited", description="two"))
    store.set_enabled("kept", False, T0)
    found = store.fingerprints_of(["missing", "edited", "kept", "from-config"])
    assert found == {
        "edited": Fingerprint(enabled=True, digest="", version=2, source="store"),
        # Disabling moved the version on: the digest no longer describes the definition.
        "kept": Fingerprint(enabled=False, digest="", version=2, source="store"),
        "from-config": Fingerprint(enabled=True, digest="dc", version=1, source="config"),
    }
    assert store.fingerprints_of([]) == {}


def test_set_digests_attaches_to_entries_of_the_store_too(store: Store) -> None:
    (stored,) = store.upsert_many([make_entry("job")])
    store.set_digests({"job": (stored.version, "d1")})
    assert store.fingerprints_of(["job"])["job"].digest == "d1"
    # An entry of the store stays one: it does not join beat_schedule's fingerprints.
    assert store.fingerprints() == {}
    store.set_digests({"job": (stored.version + 1, "stale")})
    assert store.fingerprints_of(["job"])["job"].digest == "d1"


def test_write_checked_writes_what_its_versions_allow_and_refuses_the_rest(store: Store) -> None:
    store.upsert_many([make_entry("current"), make_entry("moved"), make_entry("taken")])
    store.upsert(make_entry("moved", description="changed meanwhile"))
    (claim,) = store.claim_due(at(0), 1, "beat-1", LEASE)
    assert store.complete(claim, published(claim))
    refused = store.write_checked(
        [
            make_entry("new", description="fresh"),
            make_entry("current", description="edited", spec=IntervalSpec(30), next_run_at=at(30)),
            make_entry("moved", description="lost update"),
            make_entry("taken", description="created elsewhere"),
        ],
        {"new": 0, "current": 1, "moved": 1, "taken": 0},
        {"new": "dn", "current": "dc", "moved": "dm", "taken": "dt"},
    )
    assert refused == ["moved", "taken"]
    by_id = {entry.id: entry for entry in store.get_many(["new", "current", "moved", "taken"])}
    assert (by_id["new"].version, by_id["new"].description) == (1, "fresh")
    current = by_id["current"]
    assert (current.version, current.description, current.spec) == (2, "edited", IntervalSpec(30))
    # The run state stays; the schedule changed, so the next run is the one written.
    assert (current.state.total_run_count, current.state.next_run_at) == (1, at(30))
    assert by_id["moved"].description == "changed meanwhile"
    assert by_id["taken"].description == ""
    marks = store.fingerprints_of(["new", "current", "moved", "taken"])
    assert {key: mark.digest for key, mark in marks.items()} == {
        "new": "dn",
        "current": "dc",
        "moved": "",
        "taken": "",
    }
    assert store.write_checked([], {}) == []


def test_write_checked_announces_a_few_ids_each_and_many_once(store: Store) -> None:
    feed = store.watch()
    try:
        few = [make_entry(f"few{index}") for index in range(3)]
        assert store.write_checked(few, {entry.id: 0 for entry in few}) == []
        wait_for(feed, lambda seen: {"few0", "few1", "few2"} <= seen)
        many = [make_entry(f"many{index:04d}") for index in range(ANNOUNCED_IDS + 1)]
        many = [*many[:-1], replace(many[-1], description="last")]
        assert store.write_checked(many, {entry.id: 0 for entry in many}) == []
        seen = wait_for(feed, lambda seen: ANY_CHANGE in seen)
        assert not any(entry_id.startswith("many") for entry_id in seen)
    finally:
        feed.close()
    assert len(store.get_many(entry.id for entry in many)) == ANNOUNCED_IDS + 1


def test_iter_entries_streams_what_list_entries_returns(store: Store) -> None:
    """Several batches of ids in code-point order (which is not a collation's order), with the
    filters, and an iterator closed early releases what it holds."""
    ids = [f"job{index:04d}" for index in range(1203)] + ["Zed", "apple", "Äpfel", "éclair", "z"]
    store.write_many(make_entry(entry_id, enabled=not entry_id.endswith("7")) for entry_id in ids)
    streamed = [entry.id for entry in store.iter_entries()]
    assert streamed == sorted(ids) == [entry.id for entry in store.list_entries()]
    assert [e.id for e in store.iter_entries(enabled=False)] == sorted(
        entry_id for entry_id in ids if entry_id.endswith("7")
    )
    assert [e.id for e in store.iter_entries(prefix="job120")] == [
        f"job120{digit}" for digit in range(3)
    ]
    assert [e.id for e in store.iter_entries(prefix="JOB")] == []
    early = store.iter_entries()
    assert next(early).id == "Zed"
    early.close()
    store.upsert(make_entry("after-close"))
    assert store.get("after-close") is not None
