"""The Redis store's count of runs held (``{P}:history``): kept from a new prefix's first entry,
and made exact on a prefix written before it by a scan that beats may race."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import datetime
from typing import cast

import pytest
import redis

from celery_stembeat.stores import PUBLISHED, RunRecord, Store, open_store
from celery_stembeat.stores.redis import RedisStore, history_count, ranks, scripts
from tests.contract.helpers import (
    LEASE,
    at,
    make_entry,
    published,
    race,
    redis_store_at,
    with_option,
)
from tests.contract.test_redis_scripts import lua

#: Ids whose byte order is not the order of a locale (upper case first, a prefix of another,
#: UTF-8 after ASCII).
IDS = ["A", "B", "a", "a-1", "b", "é", "日本"]


@pytest.fixture
def url(redis_url: str, unique_prefix: str) -> str:
    return with_option(f"{redis_url}?prefix={unique_prefix}", "history_limit", 4)


@pytest.fixture
def store(url: str) -> Iterator[RedisStore]:
    """A Redis store on a private prefix keeping 4 runs per entry, dropped afterwards."""
    yield from redis_store_at(url)


def fire(store: Store, now: datetime, owner: str = "beat-1") -> None:
    """Claim what is due at ``now`` (20 at a time) and publish it."""
    while claims := store.claim_due(now, 20, owner, LEASE):
        store.complete_many((claim, published(claim, owner=owner)) for claim in claims)


def manual_run(store: Store, entry_id: str, seconds: float) -> None:
    store.record_manual_run(
        RunRecord(entry_id, at(seconds), PUBLISHED, published_at=at(seconds), manual=True)
    )


def held(client: redis.Redis, store: RedisStore, upto: bytes | None = None) -> int:
    """The runs the streams of the ids up to ``upto`` hold (every id's by default)."""
    ids = cast(list[bytes], client.zrangebylex(store._keys.ids, "-", b"[" + upto if upto else "+"))
    return sum(cast(int, client.xlen(store._keys.runs(entry_id.decode()))) for entry_id in ids)


def streams(client: redis.Redis, store: RedisStore) -> int:
    """The runs every stream of the prefix holds."""
    return sum(client.xlen(key) for key in client.scan_iter(store._keys.runs_prefix + "*"))


def count(client: redis.Redis, store: RedisStore) -> int:
    return int(client.get(store._keys.history) or 0)


def make_old(client: redis.Redis, store: RedisStore, layout: str | None) -> None:
    """The prefix as a version before the count left it: a count of only some runs, and no
    layout marker (``None``: before the rank sets too) or ``layout``."""
    client.delete(*store._keys.rank_keys, store._keys.layout)
    if layout is not None:
        client.set(store._keys.layout, layout)
    client.set(store._keys.history, -5)


def test_the_scripts_compare_ids_in_the_byte_order_of_the_ids_index(
    redis_client: redis.Redis,
) -> None:
    """Not in Lua's string order, which follows the server's locale."""
    parts = "".join(lua(part) for part in scripts.ENTRY_PARTS)
    compare = redis_client.register_script(parts + "return after_in_bytes(ARGV[1], ARGV[2])")
    for a in [*IDS, ""]:
        for b in [*IDS, ""]:
            assert bool(compare(args=[a, b])) == (a.encode() > b.encode()), (a, b)


def test_a_new_prefix_counts_from_its_first_entry(
    store: RedisStore, redis_client: redis.Redis
) -> None:
    """The first entry marks the prefix counted, with a count of 0 whatever a prefix emptied
    before it left; an empty prefix answers 0 without writing."""
    assert store.history_size().runs == 0
    assert redis_client.exists(*store._keys.history_keys) == 0
    redis_client.set(store._keys.history, -5)  # left by an emptied prefix of an older version
    redis_client.set(store._keys.history_scan, "m")
    store.upsert_many(make_entry(entry_id, next_run_at=at(0)) for entry_id in IDS)
    assert redis_client.get(store._keys.layout) == b"2"
    assert redis_client.exists(store._keys.history_scan) == 0
    fire(store, at(0))
    manual_run(store, "a", 30)
    assert store.history_size().runs == held(redis_client, store) == len(IDS) + 1
    assert redis_client.get(store._keys.layout) == b"2"


@pytest.mark.parametrize("layout", [None, "1"], ids=["before-the-rank-sets", "ranked"])
def test_a_prefix_written_before_the_count_is_counted_by_history_size(
    store: RedisStore,
    redis_client: redis.Redis,
    monkeypatch: pytest.MonkeyPatch,
    layout: str | None,
) -> None:
    store.upsert_many(
        make_entry(entry_id, next_run_at=at(60 * n)) for n, entry_id in enumerate(IDS)
    )
    for minute in range(6):
        fire(store, at(60 * minute))  # the first entries trimmed to 4 runs, the last with 1
    make_old(redis_client, store, layout)
    fire(store, at(360))  # uncounted, as the scan has not started
    assert store.delete("b")
    monkeypatch.setattr(history_count, "COUNT_BATCH", 2)
    monkeypatch.setattr(ranks, "INDEX_BATCH", 2)
    assert store.history_size().runs == held(redis_client, store) == 4 * 4 + 2 + 1
    assert redis_client.get(store._keys.layout) == b"2"
    assert redis_client.exists(store._keys.history_scan) == 0
    assert [entry.id for entry in store.ranked("runs", 2)] == ["A", "B"]
    fire(store, at(420))
    assert store.delete("a")
    assert store.history_size().runs == held(redis_client, store) == 3 * 4 + 3 + 2


def test_the_scripts_count_only_the_entries_the_scan_has_passed(
    store: RedisStore, redis_client: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After every step of the scan and every write between them, the count holds exactly
    the runs of the ids up to the scan's last one: completions (trimming some), manual runs,
    deletes and new entries on either side of it."""
    store.upsert_many(make_entry(entry_id, next_run_at=at(0)) for entry_id in IDS)
    for minute in range(3):
        fire(store, at(60 * minute))
    make_old(redis_client, store, "1")
    monkeypatch.setattr(history_count, "COUNT_BATCH", 3)
    counter = history_count.HistoryCount(store._client, store._ranks)

    def scanned() -> int:
        upto = cast(bytes | None, redis_client.get(store._keys.history_scan))
        assert upto is not None
        return held(redis_client, store, upto)

    assert counter.step() is None
    assert redis_client.get(store._keys.history_scan) == b"a"
    assert count(redis_client, store) == scanned() == 3 * 3
    writes = [
        lambda: fire(store, at(180)),  # 4 runs each
        lambda: fire(store, at(240)),  # trimmed: still 4 each
        lambda: manual_run(store, "B", 250),
        lambda: manual_run(store, "a-1", 250),
        lambda: store.delete("A"),
        lambda: store.delete("b"),
        lambda: store.upsert(make_entry("Z", next_run_at=at(0))),  # before "a" in bytes
        lambda: store.upsert(make_entry("z", next_run_at=at(0))),
        lambda: fire(store, at(300)),
    ]
    for write in writes:
        write()
        assert count(redis_client, store) == scanned()
    assert counter.step() is None
    assert redis_client.get(store._keys.history_scan) == "é".encode()
    assert count(redis_client, store) == scanned()
    manual_run(store, "日本", 310)
    manual_run(store, "z", 310)
    assert count(redis_client, store) == scanned()
    total = held(redis_client, store)
    assert counter.step() == total == streams(redis_client, store)
    assert redis_client.get(store._keys.layout) == b"2"
    assert redis_client.exists(store._keys.history_scan) == 0


def test_scans_racing_beats_that_complete_delete_and_create_end_exact(
    store: RedisStore, url: str, redis_client: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two readers scan an old prefix, an id per call, while two beats complete runs and a
    third deletes entries, creates others on both sides of the scan and runs some by hand."""
    store.upsert_many(make_entry(f"e{n:03}", next_run_at=at(n)) for n in range(300))
    for minute in range(3):
        fire(store, at(60 * minute))
    make_old(redis_client, store, None)
    monkeypatch.setattr(history_count, "COUNT_BATCH", 1)
    monkeypatch.setattr(ranks, "INDEX_BATCH", 50)
    opened = [open_store(url) for _ in range(5)]
    started, counted = threading.Event(), threading.Event()
    deadline = time.monotonic() + 20
    during: dict[str, int] = {}

    def going(name: str) -> bool:
        """Note one write done while the count was still being made; whether to go on."""
        if not counted.is_set():
            during[name] = during.get(name, 0) + 1
        started.set()
        return not counted.is_set() and time.monotonic() < deadline

    def scan(reader: Store) -> str:
        started.wait(10)
        try:
            reader.history_size()
        finally:
            counted.set()
        return "counted"

    def beat(name: str, beat_store: Store) -> str:
        minute = 3
        while True:
            fire(beat_store, at(60 * minute), owner=name)
            minute += 1
            if not going(name):
                return name

    def edit(editor: Store) -> str:
        n = 0
        while True:
            editor.delete(f"e{(7 * n) % 300:03}")
            editor.upsert_many(
                [make_entry(f"{side}{n:03}", next_run_at=at(0)) for side in ("d", "f", "é")]
            )
            manual_run(editor, f"e{(11 * n + 5) % 300:03}", 200 + n)
            n += 1
            if not going("editor"):
                return "editor"

    try:
        outcomes = race(
            [
                lambda: scan(opened[0]),
                lambda: scan(opened[1]),
                lambda: beat("beat-1", opened[2]),
                lambda: beat("beat-2", opened[3]),
                lambda: edit(opened[4]),
            ]
        )
    finally:
        for other in opened:
            other.close()
    assert sorted(outcomes) == ["beat-1", "beat-2", "counted", "counted", "editor"]
    assert during.get("editor", 0) > 0
    assert during.get("beat-1", 0) + during.get("beat-2", 0) > 0
    assert redis_client.get(store._keys.layout) == b"2"
    assert redis_client.exists(store._keys.history_scan) == 0
    assert store.history_size().runs == streams(redis_client, store) == held(redis_client, store)
    manual_run(store, "f000", 10_000)
    assert store.delete("d000")
    assert store.history_size().runs == streams(redis_client, store)
