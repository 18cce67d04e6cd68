"""The Redis store's audit log: what a writing script checks before it appends records (a
write whose entries or head moved since the read is read again), concurrent writers, trimming
the per-entry indexes, hostile text, and the keys the log leaves."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis

from celery_stembeat.audit import ChangeNote, verify
from celery_stembeat.stores import Pause, RunRecord, Store, StoreError, open_store
from celery_stembeat.stores.base import PUBLISHED
from celery_stembeat.stores.redis import RedisStore, log_reader
from celery_stembeat.stores.redis.recorded import WRITE_ATTEMPTS
from tests.contract.faults import private_redis_store
from tests.contract.helpers import LEASE, T0, at, make_entry, one_off, published
from tests.contract.test_audit import assert_selections, dated


@pytest.fixture
def url(redis_url: str, unique_prefix: str) -> str:
    """A private prefix on the test server."""
    return f"{redis_url}?prefix={unique_prefix}"


@pytest.fixture
def opened(url: str) -> Iterator[Callable[..., RedisStore]]:
    """Open Redis stores on ``url`` (more of the query in ``query``, options as keywords); the
    first one drops the prefix at the end."""
    stores: list[RedisStore] = []

    def opener(query: str = "", **options: object) -> RedisStore:
        store = open_store(url + query, **options)
        assert isinstance(store, RedisStore)
        stores.append(store)
        return store

    yield opener
    if stores:
        stores[0].drop()
    for store in stores:
        store.close()


#: The scripts that change definitions and append change records.
WRITING = ("upsert", "upsert_many", "delete", "set_enabled", "record_manual_run", "set_pause")


def interrupt_writes(
    monkeypatch: pytest.MonkeyPatch,
    store: RedisStore,
    meanwhile: Callable[[], object],
    every: bool = False,
) -> list[str]:
    """Run ``meanwhile`` right before ``store``'s first writing script call (after the read
    its change records were built from), or before every one; the writing scripts called (a
    bulk write's streamed chunks count once), as they are."""
    called: list[str] = []
    client = store._client
    run, pipelined = client.run, client.pipelined

    def before(name: str) -> None:
        if name in WRITING:
            called.append(name)
            if every or len(called) == 1:
                meanwhile()

    def interrupted_run(name: str, keys: Any, args: Any) -> Any:
        before(name)
        return run(name, keys, args)

    def interrupted_pipelined(name: str, calls: Any) -> Any:
        before(name)
        return pipelined(name, calls)

    monkeypatch.setattr(client, "run", interrupted_run)
    monkeypatch.setattr(client, "pipelined", interrupted_pipelined)
    return called


def trail(store: Store) -> list[tuple[str, str, str | None, str | None]]:
    """(entry, actor, description before, description after) of each record, oldest first."""
    return [
        (
            change.entry_id,
            change.actor,
            None if change.before is None else change.before["description"],
            None if change.after is None else change.after["description"],
        )
        for change in store.changes()
    ]


def test_a_write_whose_entry_changed_after_the_read_is_read_again(
    opened: Callable[..., RedisStore], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another writer edits the entry between the read and the script: the script writes
    nothing, and the write's record, built again, starts from the other writer's edit."""
    first, other = opened(), opened()
    entry = make_entry("job", description="v1")
    first.upsert(entry, note=ChangeNote("ops@a", "apply"))
    called = interrupt_writes(
        monkeypatch,
        first,
        lambda: other.upsert(
            dataclasses.replace(entry, description="other"), note=ChangeNote("ops@b", "apply")
        ),
    )
    stored = first.upsert(
        dataclasses.replace(entry, description="mine"), note=ChangeNote("ops@a", "apply")
    )
    assert len(called) == 2
    assert stored.version == 3
    assert trail(first) == [
        ("job", "ops@a", None, "v1"),
        ("job", "ops@b", "v1", "other"),
        ("job", "ops@a", "other", "mine"),
    ]
    assert verify(first.audit_head(), first.changes()).intact


def test_a_checked_write_after_a_rewrite_that_records_nothing_is_refused(
    opened: Callable[..., RedisStore], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same definition written again moves the version and not the log's head: a checked
    write read before it is refused when read again, and records nothing."""
    first, other = opened(), opened()
    entry = make_entry("job", description="v1")
    first.upsert(entry)
    called = interrupt_writes(monkeypatch, first, lambda: other.upsert(entry))
    refused = first.write_checked([dataclasses.replace(entry, description="mine")], {"job": 1})
    assert refused == ["job"]
    assert len(called) == 2
    assert [(c.seq, c.after and c.after["description"]) for c in first.changes()] == [(1, "v1")]
    stored = first.get("job")
    assert stored is not None
    assert (stored.version, stored.description) == (2, "v1")


def test_a_completion_that_disables_the_entry_sends_the_write_back(
    opened: Callable[..., RedisStore], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A completion disabling a one-off entry changes its definition's ``enabled`` without a
    record or a new version: the write read before it is read again, and its record says the
    entry was disabled."""
    first = opened()
    entry = one_off("once", at(10))
    first.upsert(entry)
    (claim,) = first.claim_due(at(10), 10, "beat-1", LEASE)
    called = interrupt_writes(monkeypatch, first, lambda: first.complete(claim, published(claim)))
    first.upsert(dataclasses.replace(entry, description="again"))
    assert len(called) == 2
    last = list(first.changes())[-1]
    assert last.before is not None
    assert last.after is not None
    assert (last.before["enabled"], last.after["enabled"]) == (False, True)
    assert last.fields_changed() == ["description", "enabled"]


def test_every_writing_method_reads_again_after_a_concurrent_change(
    opened: Callable[..., RedisStore], monkeypatch: pytest.MonkeyPatch
) -> None:
    """delete, set_enabled, a manual run, pause and a bulk write each meet another writer's
    record between their read and their script, and append theirs after it."""
    first, other = opened(), opened()
    first.write_many([make_entry(name) for name in ("a", "b", "c", "d")])
    edits = iter(range(100))

    def meanwhile() -> None:
        other.upsert(make_entry("noise", description=str(next(edits))))

    run = RunRecord("b", at(30), PUBLISHED, at(30), 0.0, owner="ops@a", manual=True)
    writes: list[Callable[[], object]] = [
        lambda: first.delete("a"),
        lambda: first.set_enabled("b", False, at(20)),
        lambda: first.record_manual_run(run),
        lambda: first.pause(Pause(at(40), None, "maintenance", "ops@a")),
        lambda: first.resume(),
        lambda: first.write_many([make_entry(f"bulk{i}") for i in range(1200)]),
        lambda: first.upsert_many([make_entry("c", description="x")] * 2),
    ]
    for write in writes:
        with monkeypatch.context() as patch:
            called = interrupt_writes(patch, first, meanwhile)
            write()
        assert len(called) >= 2
    verbs = [(c.entry_id, c.verb) for c in first.changes() if c.entry_id != "noise"]
    assert verbs[4:] == [
        ("a", "remove"),
        ("b", "disable"),
        ("b", "run"),
        ("", "pause"),
        ("", "resume"),
        *((f"bulk{i}", "write") for i in range(1200)),
        ("c", "write"),
    ]
    assert len([c for c in first.changes() if c.entry_id == "noise"]) == len(writes)
    assert verify(first.audit_head(), first.changes()).intact


def test_two_writers_hammering_leave_an_unbroken_chain(
    opened: Callable[..., RedisStore], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two threads writing one entry and bulk batches at once: every change recorded once, in
    one chain, and at least one write sent back and read again (polled: threads take turns)."""
    stores = [opened(), opened()]
    called = [interrupt_writes(monkeypatch, store, lambda: None, every=True) for store in stores]
    writes = 0
    expected = 0

    def hammer(number: int, round_: int) -> None:
        nonlocal writes
        store = stores[number]
        for step in range(40):
            store.upsert(make_entry("shared", description=f"{number}-{round_}-{step}"))
            writes += 1
            if step % 10 == 0:
                batch = [
                    make_entry(f"w{number}-{i}", description=f"{round_}-{step}") for i in range(600)
                ]
                store.write_many(batch)
                writes += 1

    for round_ in range(10):
        threads = [threading.Thread(target=hammer, args=(n, round_)) for n in (0, 1)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        expected += 2 * (40 + 4 * 600)
        if sum(map(len, called)) > writes:
            break
    assert sum(map(len, called)) > writes, "the writers never met"
    head = stores[0].audit_head()
    assert (head.seq, head.floor) == (expected, 1)
    assert verify(head, stores[1].changes()).intact
    assert len(list(stores[1].changes("shared"))) == 80 * (round_ + 1)


def test_trimming_keeps_each_entrys_index_in_step(
    opened: Callable[..., RedisStore], redis_client: redis.Redis
) -> None:
    """With ``audit_limit`` (from the URL) the log keeps the newest records, and each entry's
    index keeps exactly the numbers of its records still kept; an index left empty goes."""
    store = opened("&audit_limit=7")
    assert store.audit_limit == 7
    prefix = store.prefix

    def indexes() -> dict[str, list[int]]:
        found = redis_client.scan_iter(match="{" + prefix + "}:audit:entry:*", count=1000)
        return {
            key.decode().rsplit(":", 1)[1]: [int(n) for n in redis_client.zrange(key, 0, -1)]
            for key in found
        }

    def kept() -> dict[str, list[int]]:
        by_entry: dict[str, list[int]] = {}
        for change in store.changes():
            by_entry.setdefault(change.entry_id, []).append(change.seq)
        return by_entry

    for i, name in enumerate("aabcbcab"):
        store.upsert(make_entry(name, description=str(i)))
    assert (store.audit_head().seq, store.audit_head().floor) == (8, 2)
    assert indexes() == kept() == {"a": [2, 7], "b": [3, 5, 8], "c": [4, 6]}
    store.pause(Pause(at(1)))
    store.write_many([make_entry(f"n{i}") for i in range(4)])
    assert indexes() == kept() == {"a": [7], "b": [8], "": [9], "n0": [10], "n1": [11],
                                   "n2": [12], "n3": [13]}  # fmt: skip
    store.write_many([make_entry(f"m{i}") for i in range(1100)])  # three chunks
    assert indexes() == kept() == {f"m{i}": [14 + i] for i in range(1093, 1100)}
    assert redis_client.xlen("{" + prefix + "}:audit:log") == 7
    assert verify(store.audit_head(), store.changes()).intact


@pytest.mark.parametrize("page", [1, 2, 4])
def test_reads_page_through_the_log_and_each_entrys_index(
    opened: Callable[..., RedisStore], monkeypatch: pytest.MonkeyPatch, page: int
) -> None:
    """Pages smaller than the selections: each read, from either end, takes up where the page
    before it ended (and a limit cuts the page it reads), the log's and an entry's alike."""
    store = opened()
    dated(store)
    monkeypatch.setattr(log_reader, "CHANGES_BATCH", page)
    assert_selections(store)


def test_hostile_text_reads_back_exactly(opened: Callable[..., RedisStore]) -> None:
    """Ids, notes, definitions, a manual run's error and a pause's reason holding quotes,
    backslashes, braces, glob characters and non-ASCII text (and NUL, where it may be) travel
    through the scripts' arguments and the log unchanged."""
    store = opened()
    text = 'q"uo\\te {x} *?[a-z] ü 🙂 %d -- ]]'
    nasty = text + "\x00"
    entry_id = "a b{c}*?[x]:ü 🙂"
    entry = make_entry(entry_id, kwargs={"text": text, text: [text]}, description=text)
    note = ChangeNote('öps"@{host}*', "apply", T0)
    store.upsert(entry, note=note)
    run = RunRecord(entry_id, at(5), PUBLISHED, at(5), 0.0, error=nasty, owner="o", manual=True)
    assert store.record_manual_run(run, note=note)
    store.pause(Pause(at(6), None, text, "ops"), note=note)
    other = opened()
    changes = list(other.changes())
    assert changes == list(store.changes())
    assert [(c.entry_id, c.actor) for c in changes] == [
        (entry_id, note.actor),
        (entry_id, note.actor),
        ("", note.actor),
    ]
    assert changes[0].after == entry.definition()
    assert changes[2].after is not None
    assert changes[2].after["reason"] == text
    assert [c.seq for c in other.changes(entry_id)] == [1, 2]
    assert other.history(entry_id)[0].error == nasty
    assert verify(other.audit_head(), other.changes()).intact


def test_drop_removes_the_log_and_its_indexes(
    opened: Callable[..., RedisStore], redis_client: redis.Redis
) -> None:
    store = opened()
    store.write_many([make_entry(name) for name in ("a", "b")])
    store.delete("a")
    store.drop()
    assert list(redis_client.scan_iter(match="{" + store.prefix + "}:*")) == []
    store.upsert(make_entry("a"))
    assert [(c.seq, c.prev) for c in store.changes()] == [(1, "0" * 64)]


def test_writes_record_after_the_server_lost_its_scripts() -> None:
    """Every writing script, and the read a bulk write streams, loaded again after a
    ``SCRIPT FLUSH``."""
    with private_redis_store() as (store, flushing):
        entries = [make_entry(f"e{i}") for i in range(700)]
        writes: list[Callable[[], object]] = [
            lambda: store.write_many(entries),
            lambda: store.write_many([dataclasses.replace(e, description="x") for e in entries]),
            lambda: store.write_checked([make_entry("new")], {"new": 0}),
            lambda: store.upsert(make_entry("one")),
            lambda: store.set_enabled("one", False, at(1)),
            lambda: store.record_manual_run(
                RunRecord("one", at(2), PUBLISHED, at(2), 0.0, manual=True)
            ),
            lambda: store.pause(Pause(at(3))),
            lambda: store.delete("one"),
        ]
        for write in writes:
            flushing.script_flush()
            write()
        head = store.audit_head()
        assert head.seq == 700 + 700 + 1 + 1 + 1 + 1 + 1 + 1
        assert verify(head, store.changes()).intact


def test_a_write_that_keeps_meeting_other_writers_gives_up(
    opened: Callable[..., RedisStore], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another writer between every read and script: after WRITE_ATTEMPTS tries the write
    fails, having written nothing."""
    first, other = opened(), opened()
    noise = iter(range(1000))
    called = interrupt_writes(
        monkeypatch,
        first,
        lambda: other.upsert(make_entry("noise", description=str(next(noise)))),
        every=True,
    )
    with pytest.raises(StoreError, match="upsert of 'job': other writers kept changing"):
        first.upsert(make_entry("job"))
    with pytest.raises(StoreError, match="writing 2 entries: other writers kept changing"):
        first.write_many([make_entry("x"), make_entry("y")])
    assert len(called) == 2 * WRITE_ATTEMPTS
    assert first.get("job") is None
    assert first.get("x") is None
    assert {c.entry_id for c in first.changes()} == {"noise"}
