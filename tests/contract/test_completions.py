"""Batch completion across several script calls (Redis sends ~100 completions per call)."""

from __future__ import annotations

from dataclasses import replace

from celery_stembeat.stores import Store
from tests.contract.faults import private_redis_store
from tests.contract.helpers import LEASE, T0, make_entry, published


def test_complete_many_keeps_the_order_across_many_completions(store: Store) -> None:
    """250 completions, one stale and one repeated: a result each, in the order given."""
    store.upsert_many(make_entry(f"job{index:03d}") for index in range(250))
    claims = store.claim_due(T0, 250, "beat-1", LEASE)
    assert len(claims) == 250
    stale = replace(claims[120], token="stale")
    pairs = [(stale if index == 120 else c, published(c)) for index, c in enumerate(claims)]
    pairs.append((claims[7], published(claims[7])))
    results = store.complete_many(pairs)
    assert results == [index != 120 for index in range(250)] + [False]
    counts = {entry.id: entry.state.total_run_count for entry in store.list_entries()}
    assert counts == {f"job{index:03d}": 0 if index == 120 else 1 for index in range(250)}
    assert [len(store.history(f"job{index:03d}")) for index in (0, 7, 120, 249)] == [1, 1, 0, 1]
    assert store.complete_many([]) == []


def test_complete_many_after_the_server_lost_its_scripts() -> None:
    """Completions sent while the script cache is empty all run once it is loaded again."""
    with private_redis_store() as (store, flushing):
        store.upsert_many(make_entry(f"job{index:03d}") for index in range(250))
        claims = store.claim_due(T0, 250, "beat-1", LEASE)
        flushing.script_flush()
        assert store.complete_many((c, published(c)) for c in claims) == [True] * 250
        assert all(entry.state.total_run_count == 1 for entry in store.list_entries())
        assert store.claim_due(T0, 10, "beat-1", LEASE) == []
