"""The Redis store's keys for workers' reports: bounded by history, gone with the entry, and
written in a transaction that a concurrent write sends back to read again."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import redis

from celery_stembeat.stores import Store, StoreError, open_store
from celery_stembeat.stores.redis import RedisStore
from celery_stembeat.stores.redis.outcomes import OUTCOME_ATTEMPTS
from tests.contract.faults import private_redis_store
from tests.contract.helpers import T0, make_entry, one_off
from tests.contract.test_outcomes import fire, report, state_of


@pytest.fixture
def short_url(redis_url: str, unique_prefix: str) -> str:
    """A private prefix on the test server, keeping two runs per entry."""
    return f"{redis_url}?prefix={unique_prefix}&history_limit=2"


@pytest.fixture
def short(short_url: str) -> Iterator[Store]:
    """A Redis store on ``short_url``."""
    opened = open_store(short_url)
    yield opened
    opened.drop()
    opened.close()


def outcome_keys(client: redis.Redis, prefix: str) -> dict[bytes, Any]:
    """Every ``{P}:outcomes:<id>`` hash of ``prefix``, with its fields."""
    found = client.scan_iter(match="{" + prefix + "}:outcomes:*")
    return {key: client.hgetall(key) for key in found}


def test_trimmed_runs_take_their_reports_along(short: Store, redis_client: redis.Redis) -> None:
    """The runs the stream trims lose their reports in the same completion; reports on runs
    still kept stay."""
    assert isinstance(short, RedisStore)
    short.upsert(make_entry("job"))
    times = fire(short, count=2)
    short.record_outcomes([report(at, "success", runtime=1.0) for at in times])
    ((key, fields),) = outcome_keys(redis_client, short.prefix).items()
    assert len(fields) == 2
    (newest,) = fire(short)
    assert len(outcome_keys(redis_client, short.prefix)[key]) == 1
    assert [run.outcome for run in short.history("job")] == ["published", "success"]
    assert short.record_outcomes([report(times[0], "failure")]) == [False]
    fire(short)
    assert outcome_keys(redis_client, short.prefix) == {}
    assert short.record_outcomes([report(newest, "success", runtime=2.0)]) == [True]
    assert state_of(short).success_count == 3


def test_deleting_or_dropping_removes_the_reports(short: Store, redis_client: redis.Redis) -> None:
    assert isinstance(short, RedisStore)
    for entry_id in ("a", "b"):
        short.upsert(one_off(entry_id, T0))
        (at,) = fire(short, entry_id)
        short.record_outcomes([report(at, "started", entry_id=entry_id)])
    assert len(outcome_keys(redis_client, short.prefix)) == 2
    assert short.delete("a")
    assert list(outcome_keys(redis_client, short.prefix)) == [
        f"{{{short.prefix}}}:outcomes:b".encode()
    ]
    short.drop()
    assert outcome_keys(redis_client, short.prefix) == {}


def test_a_concurrent_write_makes_the_reports_read_again(
    short: Store, short_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another reporter writing between the read and the write: both reports count."""
    assert isinstance(short, RedisStore)
    short.upsert(make_entry("job"))
    older, newer = fire(short, count=2)
    other = open_store(short_url)
    reads: list[list[bool]] = []
    fold_reports = short._outcomes._fold

    def interrupted(pipe: Any, reports: Any) -> list[bool]:
        found = fold_reports(pipe, reports)
        reads.append(found)
        if len(reads) == 1:
            assert other.record_outcomes([report(older, "failure", error="E: x")]) == [True]
        return found

    monkeypatch.setattr(short._outcomes, "_fold", interrupted)
    try:
        assert short.record_outcomes([report(newer, "success", runtime=1.0)]) == [True]
    finally:
        other.close()
    assert len(reads) == 2
    state = state_of(short)
    assert (state.success_count, state.task_failure_count) == (1, 1)
    assert (state.last_outcome, state.last_task_error) == ("success", "E: x")
    assert [run.outcome for run in short.history("job")] == ["success", "failure"]


def test_reports_whose_entries_never_stop_changing_give_up(
    short: Store, short_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A beat changing the entries between every read and write: after OUTCOME_ATTEMPTS
    reads the batch fails (the worker's buffer sends it again later) and nothing is written."""
    assert isinstance(short, RedisStore)
    short.upsert(make_entry("job"))
    (first,) = fire(short)
    other = open_store(short_url)
    fold_reports = short._outcomes._fold
    reads = 0

    def always_interrupted(pipe: Any, reports: Any) -> list[bool]:
        nonlocal reads
        reads += 1
        found = fold_reports(pipe, reports)
        other.set_enabled("job", reads % 2 == 0, first)  # a write to the watched entry
        return found

    monkeypatch.setattr(short._outcomes, "_fold", always_interrupted)
    try:
        with pytest.raises(StoreError, match=r"the entries of 1 reports kept changing; tried 20"):
            short.record_outcomes([report(first, "success", runtime=1.0)])
    finally:
        other.close()
    assert reads == OUTCOME_ATTEMPTS
    assert state_of(short).success_count == 0
    assert [run.outcome for run in short.history("job")] == ["published"]


def test_reports_after_the_server_lost_its_scripts() -> None:
    """The read and the write scripts are loaded again after a ``SCRIPT FLUSH``."""
    with private_redis_store() as (store, flushing):
        store.upsert(make_entry("job"))
        (at,) = fire(store)
        flushing.script_flush()
        assert store.record_outcomes([report(at, "started")]) == [True]
        flushing.script_flush()
        assert store.record_outcomes([report(at, "success", runtime=1.0)]) == [True]
        flushing.script_flush()
        assert [run.outcome for run in store.history("job")] == ["success"]
