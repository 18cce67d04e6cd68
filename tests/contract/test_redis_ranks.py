"""The Redis store's rank sets (``{P}:rank:lr``, ``:tc``, ``:dm``): what they hold, that
``ranked`` reads them and not every entry, and the one-off indexing of a prefix written before
they existed."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import redis

from celery_stembeat.entry import Entry
from celery_stembeat.ordering import RANKINGS
from celery_stembeat.stores import Store, open_store
from celery_stembeat.stores.redis import RedisStore, ranks
from celery_stembeat.stores.redis.codec import to_ms
from tests.contract.helpers import at, make_entry, race, redis_store_at
from tests.contract.test_sorted_reads import ids, ranked_scenario, run_times


@pytest.fixture
def url(redis_url: str, unique_prefix: str) -> str:
    return f"{redis_url}?prefix={unique_prefix}"


@pytest.fixture
def store(url: str) -> Iterator[RedisStore]:
    """A Redis store on a private prefix, dropped afterwards."""
    yield from redis_store_at(url)


def rank_sets(client: redis.Redis, store: RedisStore) -> dict[str, list[tuple[str, float]]]:
    """Each rank set's members with their scores, by ranking."""
    return {
        by: [(m.decode(), s) for m, s in client.zrange(key, 0, -1, withscores=True)]
        for by, key in store._keys.ranks.items()
    }


def expected_sets(entries: list[Entry]) -> dict[str, list[tuple[str, float]]]:
    """The rank sets the entries' run state calls for, in the sets' order."""
    values: dict[str, list[tuple[str, float]]] = {
        "last": [(e.id, -to_ms(e.state.last_run_at)) for e in entries if e.state.last_run_at],
        "runs": [(e.id, -e.state.total_run_count) for e in entries if e.state.total_run_count],
        "drift": [(e.id, -e.state.drift_mean) for e in entries if e.state.drift_mean is not None],
    }
    return {
        by: sorted(members, key=lambda m: (m[1], m[0].encode())) for by, members in values.items()
    }


def reads_no_entry_list(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    def refused(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("ranked read every entry")

    monkeypatch.setattr(store, "iter_entries", refused)


def test_only_entries_with_a_value_are_members(
    store: RedisStore, redis_client: redis.Redis
) -> None:
    """Idle entries are in no set; runs, imports and deletes move the entries with values."""
    store.upsert_many(make_entry(f"idle-{n}", next_run_at=at(9000 + n)) for n in range(5))
    assert redis_client.exists(*store._keys.rank_keys) == 0
    assert redis_client.get(store._keys.layout) == b"2"  # a new prefix: sets and count kept
    ranked_scenario(store)
    entries = store.list_entries()
    assert rank_sets(redis_client, store) == expected_sets(entries)
    assert store.delete("d")
    assert store.delete("imported")
    assert rank_sets(redis_client, store) == expected_sets(store.list_entries())
    store.drop()
    assert redis_client.exists(*store._keys.rank_keys, store._keys.layout) == 0


def test_ranked_reads_the_sets_not_every_entry(
    store: RedisStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Pages within a set, across its end and past it (the walk along the ids taking several
    calls): the same as the default, without reading every entry."""
    ranked_scenario(store)
    total = len(store.list_entries())
    expected = {by: ids(Store.ranked(store, by, total)) for by in RANKINGS}
    reads_no_entry_list(store, monkeypatch)
    monkeypatch.setattr(ranks, "WALK", 2)
    for by in RANKINGS:
        for limit in (1, 4, total):
            for offset in range(total + 1):
                page = ids(store.ranked(by, limit, offset=offset))
                assert page == expected[by][offset : offset + limit], (by, limit, offset)


def test_a_prefix_written_before_the_sets_is_indexed_on_the_first_ranked_read(
    store: RedisStore, url: str, redis_client: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    ranked_scenario(store)
    wanted = rank_sets(redis_client, store)
    redis_client.delete(*store._keys.rank_keys, store._keys.layout)  # the old layout
    store.upsert(make_entry("new", next_run_at=None))  # a prefix in use is not marked anew
    assert redis_client.get(store._keys.layout) is None
    total = len(store.list_entries())
    expected = {by: ids(Store.ranked(store, by, total)) for by in RANKINGS}
    monkeypatch.setattr(ranks, "INDEX_BATCH", 3)
    reads_no_entry_list(store, monkeypatch)
    for by in RANKINGS:
        assert ids(store.ranked(by, total)) == expected[by], by
    assert rank_sets(redis_client, store) == wanted
    assert redis_client.get(store._keys.layout) == b"1"
    other = open_store(url)
    try:
        assert ids(other.ranked("runs", 3)) == expected["runs"][:3]
    finally:
        other.close()


def test_indexing_at_once_in_several_processes_while_entries_run_and_go(
    store: RedisStore, url: str, redis_client: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two readers index the same old prefix while a beat completes runs and an entry is
    deleted: the sets end as the hashes say."""
    ranked_scenario(store)
    store.upsert_many(make_entry(f"more-{n:02}", next_run_at=at(-3000 + n)) for n in range(20))
    redis_client.delete(*store._keys.rank_keys, store._keys.layout)
    monkeypatch.setattr(ranks, "INDEX_BATCH", 2)
    readers = [open_store(url) for _ in range(2)]
    beat = open_store(url)

    def index(reader: Store) -> str:
        return ",".join(ids(reader.ranked("last", 5)))

    def work() -> str:
        for n in range(10):
            run_times(beat, f"more-{n:02}", 1, 0.125 * n)
        beat.delete("more-15")
        return "done"

    try:
        outcomes = race([lambda: index(readers[0]), lambda: index(readers[1]), work])
    finally:
        for opened in (*readers, beat):
            opened.close()
    assert "done" in outcomes
    assert len(outcomes) == 3
    assert rank_sets(redis_client, store) == expected_sets(store.list_entries())
