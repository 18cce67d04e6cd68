"""The history budget: ``history_limit`` and ``history_max_age`` trim each entry's history,
and :meth:`Store.history_size` tells how much is held, on every store."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta

import pytest
import redis

from celery_stembeat.specs import IntervalSpec
from celery_stembeat.stores import (
    DEFAULT_HISTORY_LIMIT,
    DEFAULT_HISTORY_MAX_AGE,
    FAILED,
    Outcome,
    RunRecord,
    Store,
    StoreError,
    StoreURLError,
    open_store,
)
from celery_stembeat.stores.sql import SQLStore
from tests.contract.helpers import LEASE, at, make_entry, published, with_option

HOUR = 3600
SQL = ("sqlite", "postgres")


def run_every_hour(store: Store, entry_id: str, hours: int) -> None:
    """Record one run of ``entry_id`` each hour, at hours 0 to ``hours - 1``."""
    store.upsert(make_entry(entry_id, spec=IntervalSpec(HOUR), next_run_at=at(0)))
    for hour in range(hours):
        for claim in store.claim_due(at(hour * HOUR), 10, "beat-1", LEASE):
            assert store.complete(claim, published(claim))


def hours_held(store: Store, entry_id: str) -> list[int]:
    return [
        int((run.scheduled_for - at(0)).total_seconds()) // HOUR
        for run in store.history(entry_id, limit=1000)
    ]


def maintain(store: Store, backend: str) -> None:
    """On SQL, the maintenance pass that trims history in batches (and on PostgreSQL vacuums),
    made now."""
    if backend in SQL:
        assert isinstance(store, SQLStore)
        store.maintain()


def test_the_defaults_are_a_budget_for_100_000_entries(store: Store) -> None:
    assert (store.history_limit, store.history_max_age) == (100, timedelta(days=30))
    assert DEFAULT_HISTORY_LIMIT == 100
    assert timedelta(days=30) == DEFAULT_HISTORY_MAX_AGE


@pytest.mark.parametrize("given", ["12h", "43200", "720m", "43200s", 43200, timedelta(hours=12)])
def test_history_max_age_is_read_in_seconds_or_with_a_unit(
    open_more: Callable[..., Store], store_url: str, given: object
) -> None:
    assert open_more(history_max_age=given).history_max_age == timedelta(hours=12)
    if isinstance(given, str):
        url = with_option(store_url, "history_max_age", given)
        with open_store(url) as opened:
            assert opened.history_max_age == timedelta(hours=12)


@pytest.mark.parametrize(
    "value", ["-1", "-5d", "3651d", "99999999999d", "1e999", "nan", "12 hours", "1w", "x" * 2**20]
)
def test_a_bad_history_max_age_in_the_url_is_refused_in_one_line(
    store_url: str, value: str
) -> None:
    with pytest.raises(StoreURLError) as refused:
        open_store(with_option(store_url, "history_max_age", value))
    message = str(refused.value)
    assert message.startswith("store URL: history_max_age ")
    assert message.endswith(
        "is not a duration from 0 to 3650d (seconds, or a number with s, m, h or d)"
    )
    assert "\n" not in message
    assert len(message) < 300


@pytest.mark.parametrize("value", [-1, True, float("inf"), timedelta(days=-1), [30], "30 d"])
def test_a_bad_history_max_age_argument_is_refused(store_url: str, value: object) -> None:
    with pytest.raises(StoreError, match=r"store: history_max_age .* is not a duration from 0"):
        open_store(store_url, history_max_age=value)


def test_runs_older_than_history_max_age_are_dropped(open_more: Callable[..., Store]) -> None:
    """A run stays while it is at most ``history_max_age`` older than the entry's newest."""
    aged = open_more(history_max_age="3h")
    run_every_hour(aged, "hourly", 8)
    assert hours_held(aged, "hourly") == [7, 6, 5, 4]
    run_every_hour(aged, "other", 2)  # per entry: another's runs age by its own
    assert hours_held(aged, "other") == [1, 0]
    assert hours_held(aged, "hourly") == [7, 6, 5, 4]


def test_both_limits_apply(open_more: Callable[..., Store]) -> None:
    """Kept: among the newest ``history_limit`` AND young enough."""
    by_count = open_more(history_limit=2, history_max_age="5h")
    run_every_hour(by_count, "counted", 8)
    assert hours_held(by_count, "counted") == [7, 6]
    by_age = open_more(history_limit=5, history_max_age="1h")
    run_every_hour(by_age, "aged", 8)
    assert hours_held(by_age, "aged") == [7, 6]


def test_a_zero_max_age_keeps_runs_of_any_age(open_more: Callable[..., Store]) -> None:
    store = open_more(history_max_age=0)
    store.upsert(make_entry("yearly", spec=IntervalSpec(400 * 86400), next_run_at=at(0)))
    for step in range(3):
        for claim in store.claim_due(at(step * 400 * 86400), 10, "beat-1", LEASE):
            assert store.complete(claim, published(claim))
    assert len(store.history("yearly")) == 3


def test_age_is_counted_from_when_a_run_was_sent(open_more: Callable[..., Store]) -> None:
    """A run's time is when it was sent (a catch-up run of an old occurrence is young), or its
    scheduled time when it was not sent; a manual run ages the history too."""
    store = open_more(history_max_age="2h")
    store.upsert(make_entry("late", spec=IntervalSpec(HOUR), next_run_at=at(0)))
    (claim,) = store.claim_due(at(0), 10, "beat-1", LEASE)
    sent_late = published(claim, drift=5 * HOUR)  # occurrence 0 sent at hour 5
    failed = RunRecord("late", at(HOUR), FAILED, error="down")  # never sent: hour 1
    assert store.complete(claim, Outcome(at(6 * HOUR), (failed, *sent_late.runs)))
    assert [run.outcome for run in store.history("late")] == ["published"]
    manual = RunRecord("late", at(8 * HOUR), "published", published_at=at(8 * HOUR), manual=True)
    assert store.record_manual_run(manual)
    assert store.history("late") == [manual]


def test_age_is_counted_in_whole_milliseconds(
    open_more: Callable[..., Store], backend: str
) -> None:
    """A run's stamp is its time to the millisecond: one sent 0.1 ms into a millisecond is
    exactly ``history_max_age`` older than one sent 0.9 ms into the millisecond that long
    after, and stays, in ``history()`` and through a maintenance pass."""
    store = open_more(history_max_age="90s")
    store.upsert(make_entry("job", spec=IntervalSpec(90), next_run_at=at(0)))

    def send(drift: float) -> None:
        (claim,) = store.claim_due(at(86_400), 10, "beat-1", LEASE)
        assert store.complete(claim, published(claim, drift=drift))

    send(0.0001)
    send(0.0009)
    maintain(store, backend)
    assert [run.scheduled_for for run in store.history("job")] == [at(90), at(0)]
    assert store.history_size().runs == 2
    send(0.0009)
    assert [run.scheduled_for for run in store.history("job")] == [at(180), at(90)]


def test_history_size_counts_the_runs_held(open_more: Callable[..., Store], backend: str) -> None:
    """After trims by count (and by age where they apply), deletes and drop."""
    store = open_more(history_limit=4, history_max_age="3h")
    assert store.history_size().runs == 0
    run_every_hour(store, "a", 6)
    run_every_hour(store, "b", 2)
    manual = RunRecord("b", at(2 * HOUR), "published", published_at=at(2 * HOUR), manual=True)
    assert store.record_manual_run(manual)
    maintain(store, backend)
    size = store.history_size()
    # The SQL store's own VACUUM keeps PostgreSQL's statistics, which it then reads.
    assert size.estimated == (backend == "postgres")
    assert size.runs == 4 + 3 == len(store.history("a")) + len(store.history("b"))
    assert (size.bytes is not None) == (backend == "postgres")
    assert store.delete("a")
    maintain(store, backend)
    assert store.history_size().runs == 3
    store.drop()
    assert store.history_size().runs == 0


def test_history_size_after_age_trims(open_more: Callable[..., Store], backend: str) -> None:
    store = open_more(history_max_age="2h")
    run_every_hour(store, "a", 10)
    maintain(store, backend)
    assert store.history_size().runs == 3


def test_a_run_out_of_order_ages_by_the_newest_before_it(open_more: Callable[..., Store]) -> None:
    """Stamps never go back: a manual run dated before the newest run is aged as if recorded
    with it, and drops nothing newer."""
    store = open_more(history_max_age="1h")
    run_every_hour(store, "a", 3)
    early = RunRecord("a", at(0), "published", published_at=at(0), manual=True)
    assert store.record_manual_run(early)
    assert [run.manual for run in store.history("a")] == [True, False, False]
    later = replace(early, scheduled_for=at(4 * HOUR), published_at=at(4 * HOUR))
    assert store.record_manual_run(later)
    assert store.history("a") == [later]


def test_the_redis_count_follows_every_stream(
    open_more: Callable[..., Store], backend: str, redis_url: str, unique_prefix: str
) -> None:
    """``{P}:history`` equals the runs the streams hold after trims, deletes and drop."""
    if backend != "redis":
        pytest.skip("the Redis store's count of runs")
    store = open_more(history_limit=5, history_max_age="3h")
    plain = redis.Redis.from_url(redis_url)
    try:

        def streams() -> int:
            return sum(plain.xlen(key) for key in plain.scan_iter(f"{{{unique_prefix}}}:runs:*"))

        run_every_hour(store, "a", 9)
        run_every_hour(store, "b", 3)
        run_every_hour(store, "c", 2)
        assert store.history_size().runs == streams() == 4 + 3 + 2
        assert store.delete("b")
        assert store.history_size().runs == streams() == 6
        assert plain.get(f"{{{unique_prefix}}}:history") == b"6"
        store.drop()
        assert store.history_size().runs == streams() == 0
        assert plain.exists(f"{{{unique_prefix}}}:history") == 0
    finally:
        plain.close()
