"""The SQL store's maintenance pass (history retention, PostgreSQL's VACUUM) and the
autovacuum warning, on SQLite and PostgreSQL."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest
import sqlalchemy as sa

from celery_stembeat.stores import Store, open_store
from celery_stembeat.stores.memory import MemoryStore
from celery_stembeat.stores.sql import SQLStore
from celery_stembeat.stores.sql.engine import locate
from celery_stembeat.stores.sql.maintenance import MAINTENANCE_INTERVAL, maintenance_key
from tests.contract.helpers import LEASE, at, make_entry, published


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
