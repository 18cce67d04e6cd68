"""Every store keeps an entry at every input bound, and never sees one past a bound."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from celery_stembeat.entry import EntryError
from celery_stembeat.limits import MAX_DEPTH, MAX_INT, MAX_VALUE_BYTES, MIN_INT
from celery_stembeat.stores import Store
from tests.contract.helpers import make_entry
from tests.test_limits import nested


def test_an_entry_at_every_bound_is_stored_as_given(store: Store) -> None:
    entry = replace(
        make_entry("é" * 200),
        task="t" * 200,
        description="ü" * 1000,
        args=(nested(MAX_DEPTH - 1), MAX_INT, MIN_INT, 1e308, "\u2028"),
        kwargs={"k": "x" * (MAX_VALUE_BYTES - 8)},
        options={"queue": "q" * 200, "headers": {"h": nested(MAX_DEPTH - 2)}},
        jitter=86_400,
    )
    store.upsert(entry)
    stored = store.get(entry.id)
    assert stored is not None
    assert stored.definition() == entry.definition()


@pytest.mark.parametrize(
    "changes",
    [
        {"id": "bad\udc80"},
        {"kwargs": {"k": "\udc80"}},
        {"kwargs": {"k": "x" * (MAX_VALUE_BYTES + 1)}},
        {"args": (nested(MAX_DEPTH + 1),)},
        {"args": (10**5000,)},
        {"jitter": 1e400},
        {"description": "d" * 1001},
    ],
    ids=["surrogate", "size", "size-exact", "depth", "huge-int", "jitter", "description"],
)
def test_an_entry_past_a_bound_is_refused_before_anything_is_written(
    store: Store, changes: dict[str, Any]
) -> None:
    kept = make_entry("kept")
    store.upsert(kept)
    before = [entry.to_dict() for entry in store.list_entries()]
    with pytest.raises(EntryError):
        store.upsert_many([make_entry("first"), replace(kept, **{"id": "second", **changes})])
    with pytest.raises(EntryError):
        store.upsert(replace(kept, **changes))
    assert [entry.to_dict() for entry in store.list_entries()] == before
