"""The tag index (``Store.ids_tagged``), the same on every store: kept by every write."""

from __future__ import annotations

from dataclasses import replace

import pytest

from celery_stembeat.stores import Store, open_store
from tests.contract.helpers import LEASE, at, drop_store, make_entry, published


def test_tags_are_stored_normalised_and_select_their_entries(store: Store) -> None:
    store.upsert(make_entry("a", tags=["nightly", "team:x", "nightly"]))
    store.upsert(make_entry("b", tags=["team:x"]))
    store.upsert(make_entry("c"))
    stored = store.get("a")
    assert stored is not None
    assert stored.tags == ("nightly", "team:x")
    assert store.ids_tagged(["team:x"]) == ["a", "b"]
    assert store.ids_tagged({"nightly"}) == ["a"]


def test_several_tags_select_the_entries_holding_all_of_them(store: Store) -> None:
    store.upsert(make_entry("both", tags=["x", "y"]))
    store.upsert(make_entry("only-x", tags=["x"]))
    store.upsert(make_entry("only-y", tags=["y", "z"]))
    assert store.ids_tagged(["x", "y"]) == ["both"]
    assert store.ids_tagged(["y", "x", "y"]) == ["both"]
    assert store.ids_tagged(["x", "z"]) == []


def test_a_tag_nobody_has_selects_nothing(store: Store) -> None:
    store.upsert(make_entry("a", tags=["x"]))
    assert store.ids_tagged(["nobody"]) == []
    assert store.ids_tagged(["x", "nobody"]) == []


def test_changing_removing_and_deleting_move_the_entry_in_the_index(store: Store) -> None:
    entry = store.upsert(make_entry("a", tags=["old", "kept"]))
    store.upsert(replace(entry, tags=("kept", "new")))
    assert store.ids_tagged(["old"]) == []
    assert store.ids_tagged(["kept", "new"]) == ["a"]
    store.upsert(replace(entry, tags=()))
    assert (store.ids_tagged(["kept"]), store.ids_tagged(["new"])) == ([], [])
    stored = store.get("a")
    assert stored is not None
    assert stored.tags == ()
    store.upsert(replace(entry, tags=("back",)))
    assert store.delete("a")
    assert store.ids_tagged(["back"]) == []
    store.upsert(make_entry("a"))
    assert store.ids_tagged(["back"]) == []


def test_claims_completions_and_enabling_keep_the_tags(store: Store) -> None:
    store.upsert(make_entry("a", tags=["x"]))
    claim = store.claim_due(at(0), 10, "beat-1", LEASE)[0]
    assert claim.entry.tags == ("x",)
    store.complete(claim, published(claim))
    store.set_enabled("a", False, at(1))
    entry = store.get("a")
    assert entry is not None
    assert entry.tags == ("x",)
    assert store.ids_tagged(["x"]) == ["a"]


@pytest.mark.parametrize("write", ["upsert_many", "write_many"])
def test_bulk_writes_keep_the_index(store: Store, write: str) -> None:
    store.upsert(make_entry("was-tagged", tags=["gone", "stays"]))
    getattr(store, write)(
        [
            make_entry("new", tags=["fresh", "stays"]),
            make_entry("was-tagged", tags=["stays"]),
            make_entry("plain"),
            make_entry("twice", tags=["first"]),
            make_entry("twice", tags=["second"]),
        ]
    )
    assert store.ids_tagged(["stays"]) == ["new", "was-tagged"]
    assert store.ids_tagged(["gone"]) == []
    assert store.ids_tagged(["fresh"]) == ["new"]
    assert (store.ids_tagged(["first"]), store.ids_tagged(["second"])) == ([], ["twice"])
    assert [e.tags for e in store.get_many(["new", "plain", "twice"])] == [
        ("fresh", "stays"),
        (),
        ("second",),
    ]


def test_bulk_writes_into_an_index_that_is_empty(store: Store) -> None:
    """With no tags stored yet, a bulk write of tagged entries still indexes them."""
    store.write_many([make_entry(f"e{i}", tags=["batch"] if i % 2 else []) for i in range(6)])
    assert store.ids_tagged(["batch"]) == ["e1", "e3", "e5"]


@pytest.mark.parametrize("tags", [[], "x", ["-bad"], ["a b"], ["x" * 65]])
def test_a_selection_that_is_not_tags_is_a_value_error(store: Store, tags: object) -> None:
    with pytest.raises(ValueError, match="tag"):
        store.ids_tagged(tags)  # type: ignore[arg-type]


def test_drop_empties_the_index(store_url: str, backend: str) -> None:
    first = open_store(store_url)
    try:
        first.upsert(make_entry("a", tags=["x"]))
        first.drop()
    finally:
        first.close()
    second = open_store(store_url)
    try:
        assert second.ids_tagged(["x"]) == []
    finally:
        drop_store(second, backend)
