"""The SQL store's maintenance pass (history retention, PostgreSQL's VACUUM) and the
autovacuum warning, on SQLite and PostgreSQL."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import timedelta

import pytest
import sqlalchemy as sa

from celery_stembeat.stores import FAILED, Outcome, RunRecord, Store, open_store
from celery_stembeat.stores.memory import MemoryStore
from celery_stembeat.stores.sql import SQLStore
from celery_stembeat.stores.sql.engine import locate
from celery_stembeat.stores.sql.maintenance import (
    MAINTENANCE_INTERVAL,
    Retention,
    maintenance_key,
)
from tests.contract.helpers import LEASE, at, make_entry, published
from tests.contract.test_manual_runs import manual


@pytest.fixture
def sql_url(backend: str, store_url: str) -> str:
    """The store URL, on the SQL backends only."""
    if backend not in ("sqlite", "postgres"):
        pytest.skip("the SQL store only")
    return store_url


@pytest.fixture
def raw_engine(sql_url: str) -> Iterator[sa.Engine]:
    """An engine on the store's database, past the store (in autocommit)."""
    url = locate(sql_url).url.difference_update_query(["prefix"])
    engine = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    yield engine
    engine.dispose()


class Clock:
    """The store's monotonic clock, moved by hand."""

    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def small(sql_url: str, store: Store, open_more: Callable[..., Store]) -> tuple[SQLStore, Clock]:
    """A store keeping 3 runs per entry, on a clock of the test's."""
    opened = open_more(history_limit=3)
    assert isinstance(opened, SQLStore)
    clock = Clock()
    opened.monotonic = clock
    return opened, clock


def _fire(store: Store, times: int, start: int = 0) -> None:
    """``times`` rounds of claims, each round's completions in one batch."""
    for round_ in range(start, start + times):
        claims = store.claim_due(at(60 * round_ + 1), 10, "beat-1", LEASE)
        assert all(store.complete_many([(claim, published(claim)) for claim in claims]))


def _stored_runs(engine: sa.Engine, store: SQLStore) -> dict[str, int]:
    """Each entry's rows in history, once the store's maintenance pass (if any) is done."""
    store._join_maintenance()
    runs = sa.table(f"{store.prefix}runs", sa.column("entry_id"))
    query = sa.select(runs.c.entry_id, sa.func.count()).group_by(runs.c.entry_id)
    with engine.connect() as conn:
        return {row[0]: int(row[1]) for row in conn.execute(query)}


def test_history_is_trimmed_by_the_next_pass_and_never_reads_past_the_limit(
    small: tuple[SQLStore, Clock], raw_engine: sa.Engine
) -> None:
    store, clock = small
    store.upsert(make_entry("busy"))
    store.upsert(make_entry("quiet"))
    _fire(store, 5)  # the first completion made the pass, with nothing to trim
    assert _stored_runs(raw_engine, store) == {"busy": 5, "quiet": 5}
    assert [r.scheduled_for for r in store.history("busy", 100)] == [at(60 * k) for k in (4, 3, 2)]
    clock.now += MAINTENANCE_INTERVAL - 0.001
    _fire(store, 1, start=5)
    assert _stored_runs(raw_engine, store) == {"busy": 6, "quiet": 6}
    clock.now += 0.001
    _fire(store, 1, start=6)
    assert _stored_runs(raw_engine, store) == {"busy": 3, "quiet": 3}
    assert [r.scheduled_for for r in store.history("busy", 100)] == [at(60 * k) for k in (6, 5, 4)]
    entry = store.get("busy")
    assert entry is not None
    assert entry.state.total_run_count == 7


def test_the_pass_trims_by_age_the_entries_with_fewer_runs_than_the_limit(
    sql_url: str, store: Store, open_more: Callable[..., Store], raw_engine: sa.Engine
) -> None:
    """An entry far below ``history_limit`` still loses the runs more than
    ``history_max_age`` older than its newest; ``history()`` hides them until the pass."""
    aged = open_more(history_max_age="150s")
    assert isinstance(aged, SQLStore)
    clock = Clock()
    aged.monotonic = clock
    aged.upsert(make_entry("job"))
    _fire(aged, 6)  # runs at 0 to 300 s; the first completion made the pass
    assert _stored_runs(raw_engine, aged) == {"job": 6}
    assert [r.scheduled_for for r in aged.history("job")] == [at(60 * k) for k in (5, 4, 3)]
    clock.now += MAINTENANCE_INTERVAL
    _fire(aged, 1, start=6)
    assert _stored_runs(raw_engine, aged) == {"job": 3}
    assert [r.scheduled_for for r in aged.history("job")] == [at(60 * k) for k in (6, 5, 4)]


def test_the_pass_deletes_exactly_the_runs_history_hides(
    sql_url: str, store: Store, open_more: Callable[..., Store], raw_engine: sa.Engine
) -> None:
    """Stamps never go back: a manual run dated before the newest ages as if recorded with
    it, a failed run by its scheduled time; the pass keeps what ``history()`` shows."""
    aged = open_more(history_limit=4, history_max_age="100s")
    assert isinstance(aged, SQLStore)
    aged.upsert(make_entry("job"))
    _fire(aged, 3)  # 0, 60 and 120 s
    assert aged.record_manual_run(manual(at(30)))  # stamped 120 s
    (claim,) = aged.claim_due(at(181), 10, "beat-1", LEASE)
    failed = RunRecord("job", at(180), FAILED, error="down")
    assert aged.complete(claim, Outcome(at(240), (failed,)))
    shown = aged.history("job")
    assert [(r.scheduled_for, r.manual) for r in shown] == [
        (at(180), False),
        (at(30), True),
        (at(120), False),
    ]
    aged.maintain()
    assert _stored_runs(raw_engine, aged) == {"job": 3}
    assert aged.history("job") == shown


def test_a_stores_first_passes_trim_the_history_written_before(
    sql_url: str, store: Store, open_more: Callable[..., Store], raw_engine: sa.Engine
) -> None:
    """A store's first two passes look at every entry, and so trim history that no entry
    adds to any more (written by a store with other limits, or before an upgrade)."""
    assert isinstance(store, SQLStore)
    store.upsert(make_entry("a"))
    store.upsert(make_entry("b"))
    _fire(store, 5)
    assert _stored_runs(raw_engine, store) == {"a": 5, "b": 5}
    by_count = open_more(history_limit=4)
    assert isinstance(by_count, SQLStore)
    by_count.maintain()
    assert _stored_runs(raw_engine, by_count) == {"a": 4, "b": 4}
    by_age = open_more(history_max_age="90s")
    assert isinstance(by_age, SQLStore)
    by_age.maintain()
    assert _stored_runs(raw_engine, by_age) == {"a": 2, "b": 2}


def test_a_pass_looks_at_the_entries_with_runs_since_the_pass_before_the_previous() -> None:
    """The watermark: the newest run id when the pass before the previous one began (a run
    given a lower id may commit after a pass read the newest); none (every entry) until two
    passes are done, and again when ids go back."""
    retention = Retention(100, timedelta(days=30))
    assert retention.since is None
    retention.passed(10)
    assert retention.since is None
    retention.passed(25)
    assert retention.since == 10
    retention.passed(None)  # no runs held: ids only grow from the newest known
    assert retention.since == 25
    retention.passed(40)
    assert retention.since == 25
    retention.passed(30)
    assert retention.since is None
    retention.passed(35)
    assert retention.since is None
    retention.passed(50)
    assert retention.since == 35


def test_a_store_keeping_no_history_reads_none(
    sql_url: str, store: Store, open_more: Callable[..., Store]
) -> None:
    none = open_more(history_limit=0)
    none.upsert(make_entry("job"))
    _fire(none, 2)
    assert none.history("job", 100) == []


def test_only_one_store_at_a_time_makes_the_pass(
    backend: str, small: tuple[SQLStore, Clock], raw_engine: sa.Engine
) -> None:
    if backend != "postgres":
        pytest.skip("PostgreSQL: SQLite's write transactions run alone anyway")
    store, clock = small
    store.upsert(make_entry("job"))
    _fire(store, 5)
    key = maintenance_key(store._schema)
    with raw_engine.connect() as holder:
        assert holder.scalar(sa.select(sa.func.pg_try_advisory_lock(key)))
        clock.now += MAINTENANCE_INTERVAL
        _fire(store, 1, start=5)
        assert _stored_runs(raw_engine, store) == {"job": 6}  # another holds the pass: skipped
        holder.scalar(sa.select(sa.func.pg_advisory_unlock(key)))
    clock.now += MAINTENANCE_INTERVAL
    _fire(store, 1, start=6)
    assert _stored_runs(raw_engine, store) == {"job": 3}


def test_postgres_vacuums_the_tables_every_fire_rewrites(
    backend: str, small: tuple[SQLStore, Clock], raw_engine: sa.Engine
) -> None:
    if backend != "postgres":
        pytest.skip("PostgreSQL only")
    store, _ = small
    store.upsert(make_entry("job"))
    _fire(store, 1)
    names = [f"{store.prefix}{name}" for name in ("entries", "runs", "run_minutes", "audit")]
    query = sa.text(
        "SELECT relname FROM pg_stat_user_tables WHERE relname = ANY(:names) "
        "AND last_vacuum IS NOT NULL"
    )
    deadline = time.monotonic() + 10
    vacuumed: set[str] = set()
    while time.monotonic() < deadline:
        with raw_engine.connect() as conn:
            conn.execute(sa.text("SELECT pg_stat_clear_snapshot()"))
            vacuumed = set(conn.scalars(query, {"names": names}))
        if len(vacuumed) == 3:
            break
        time.sleep(0.1)  # polling the server's statistics, which it reports asynchronously
    assert vacuumed == set(names[:3])


def test_postgres_warns_when_autovacuum_is_off(
    backend: str, store: Store, raw_engine: sa.Engine
) -> None:
    if backend != "postgres":
        pytest.skip("PostgreSQL only")
    with raw_engine.connect() as conn:
        autovacuum = conn.scalar(sa.text("SHOW autovacuum"))
    warnings = store.server_warnings()
    if autovacuum == "on":
        assert warnings == []
        return
    (line,) = warnings
    assert "\n" not in line
    assert line.startswith(f"SQL store {store.display_url}: autovacuum = off: ")
    assert "Set autovacuum = on" in line


def test_postgres_warns_of_a_table_whose_autovacuum_is_disabled(
    backend: str, store: Store, raw_engine: sa.Engine
) -> None:
    if backend != "postgres":
        pytest.skip("PostgreSQL only")
    assert isinstance(store, SQLStore)
    with raw_engine.connect() as conn:
        if conn.scalar(sa.text("SHOW autovacuum")) != "on":
            pytest.skip("the server's autovacuum is off, which the warning names first")
        conn.execute(sa.text(f"ALTER TABLE {store.prefix}runs SET (autovacuum_enabled = false)"))
    (line,) = store.server_warnings()
    assert f"autovacuum_enabled = false on {store.prefix}runs" in line


def test_sqlite_and_memory_have_nothing_to_warn_of(sql_url: str, backend: str) -> None:
    if backend != "sqlite":
        pytest.skip("once")
    with open_store(sql_url) as store:
        assert store.server_warnings() == []
    assert MemoryStore().server_warnings() == []
