"""What only the SQL store does: it upgrades tables an older celery-stembeat made, keeping
their rows; it mends NUL characters in workers' reports (PostgreSQL cannot hold them); its
reports and completions lock rows in the same order; its audited writers queue on the audit
log's head."""

from __future__ import annotations

import itertools
import queue
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import replace
from datetime import date, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import psycopg

from celery_stembeat.audit import AuditHead, ChangeNote, verify
from celery_stembeat.entry import TRACKED_FIELDS, Entry
from celery_stembeat.stores import (
    INCIDENT_OK,
    PUBLISHED,
    BeatInfo,
    Claim,
    ClaimBatch,
    EntryCounts,
    Incident,
    Pause,
    RunRecord,
    Store,
    StoreError,
    SuspectRules,
    TaskReport,
    open_store,
)
from celery_stembeat.stores.sql import DEFAULT_PREFIX, SQLStore
from celery_stembeat.stores.sql.activity import activity_query
from celery_stembeat.stores.sql.engine import locate
from celery_stembeat.stores.sql.health import counts_query, suspects_query
from celery_stembeat.stores.sql.schema import (
    SCHEMA_VERSION,
    SCHEMA_VERSION_KEY,
    build_schema,
    health_indexes,
    stored_version,
)
from tests.contract.helpers import LEASE, T0, at, drop_store, make_entry, published

#: The history columns schema version 3 added.
_REPORTED_RUN_COLUMNS = ("started_at", "finished_at", "runtime", "worker")


@pytest.fixture
def sql_url(backend: str, store_url: str) -> str:
    """The store URL, on the SQL backends only."""
    if backend not in ("sqlite", "postgres"):
        pytest.skip("the SQL store only")
    return store_url


@pytest.fixture
def old_store(sql_url: str, backend: str, request: pytest.FixtureRequest) -> Iterator[str]:
    """Tables at schema version 2 (or the version given as the fixture's parameter), holding
    an entry and one run; yields the URL."""
    store = open_store(sql_url)
    store.upsert(make_entry("job"))
    (claim,) = store.claim_due(at(86_400), 10, "beat-1", LEASE)
    assert store.complete(claim, published(claim))
    assert isinstance(store, SQLStore)
    store.close()
    _downgrade(sql_url, store.prefix, getattr(request, "param", 2))
    yield sql_url
    drop_store(open_store(sql_url), backend)


def _raw_engine(url: str) -> sa.Engine:
    """An engine on the store's database, past the store."""
    return sa.create_engine(locate(url).url.difference_update_query(["prefix"]))


@pytest.fixture
def raw_engine(sql_url: str) -> Iterator[sa.Engine]:
    """:func:`_raw_engine` on ``sql_url``, disposed of afterwards."""
    engine = _raw_engine(sql_url)
    yield engine
    engine.dispose()


def _downgrade(url: str, prefix: str, version: int) -> None:
    """Make the tables as schema ``version`` (2 to 7, 11, 12 or 13) had them: without the
    history stamps (version 14); below 13 without the holiday calendars (version 13); below 12
    without the audit log (version 12); below 11 without the run counter (version 11), the
    history's ``manual`` column (version 10), the tags (version 9) and the pause table (version
    8), below 7 without the partial indexes of the health suspects and entry counts, below 6
    without the incidents, below 5 without the overlap columns, below 4 without the beats, and
    at version 2 without the outcome columns either."""
    assert 2 <= version <= 7 or version in (11, 12, 13)
    engine = _raw_engine(url)
    try:
        schema = build_schema(prefix, engine.dialect.name)
        quote = engine.dialect.identifier_preparer
        dropped = [(schema.entries, ("history_stamp",)), (schema.runs, ("stamp",))]
        if version < 11:
            dropped += [(schema.entries, ("tags",)), (schema.runs, ("manual",))]
        if version < 5:
            dropped += [(schema.entries, ("overlap", "overlap_timeout"))]
        if version < 3:
            dropped += [(schema.entries, TRACKED_FIELDS), (schema.runs, _REPORTED_RUN_COLUMNS)]
        with engine.begin() as conn:
            if version < 13:
                schema.calendar_days.drop(conn)
            if version < 12:
                schema.audit.drop(conn)
                schema.audit_head.drop(conn)
            if version < 11:
                schema.run_minutes.drop(conn)
                schema.pause.drop(conn)
                schema.entry_tags.drop(conn)
            if version < 7:
                for index in health_indexes(schema):
                    index.drop(conn)
            if version < 6:
                schema.incidents.drop(conn)
            if version < 4:
                schema.beats.drop(conn)
            for table, names in dropped:
                for name in names:
                    conn.execute(
                        sa.text(f"ALTER TABLE {quote.format_table(table)} DROP COLUMN {name}")
                    )
            meta = schema.meta
            conn.execute(
                sa.update(meta).where(meta.c.key == SCHEMA_VERSION_KEY).values(value=version)
            )
    finally:
        engine.dispose()


def test_version_2_tables_are_upgraded_and_keep_their_rows(old_store: str) -> None:
    store: Store = open_store(old_store)
    try:
        entry = store.get("job")
        assert entry is not None
        assert (entry.state.total_run_count, entry.state.success_count) == (1, 0)
        assert (entry.state.last_outcome, entry.state.runtime_max) == (None, None)
        (run,) = store.history("job")
        assert (run.outcome, run.owner, run.started_at, run.worker) == (
            "published",
            "beat-1",
            None,
            None,
        )
        report = TaskReport("job", T0, "success", at(2), at(1), runtime=1.0, worker="w1")
        assert store.record_outcomes([report]) == [True]
        entry = store.get("job")
        assert entry is not None
        assert (entry.state.success_count, entry.state.runtime_mean) == (1, 1.0)
        (run,) = store.history("job")
        assert (run.outcome, run.started_at, run.finished_at) == ("success", at(1), at(2))
    finally:
        store.close()


@contextmanager
def upgraded(url: str) -> Iterator[Store]:
    """The store opened on older tables at ``url``, which it upgraded to the current version
    keeping their entry."""
    store = open_store(url)
    assert isinstance(store, SQLStore)
    engine = _raw_engine(url)
    try:
        with engine.connect() as conn:
            schema = build_schema(store.prefix, engine.dialect.name)
            assert stored_version(conn, schema) == SCHEMA_VERSION == 14
        entry = store.get("job")
        assert entry is not None
        assert (entry.version, entry.state.total_run_count) == (1, 1)
        yield store
    finally:
        engine.dispose()
        store.close()


@pytest.mark.parametrize("old_store", [3], indirect=True)
def test_version_3_tables_are_upgraded_and_keep_their_rows(old_store: str) -> None:
    """Version 4 adds the beats table; entries and history stay as they were."""
    with upgraded(old_store) as store:
        (run,) = store.history("job")
        assert (run.outcome, run.owner, run.scheduled_for) == ("published", "beat-1", T0)
        assert store.beats() == []
        beat = BeatInfo("beat-1", "web-1", 1, "0.1.0", T0, at(5), 0.001, None)
        store.record_beat(beat)
        assert store.beats() == [beat]


@pytest.mark.parametrize("old_store", [4], indirect=True)
def test_version_4_entries_gain_the_overlap_policy_allow(old_store: str) -> None:
    """Version 5 adds ``overlap`` and ``overlap_timeout``: stored entries read as before
    (``allow``) and take a policy of their own."""
    store = open_store(old_store)
    try:
        entry = store.get("job")
        assert entry is not None
        assert (entry.overlap, entry.overlap_timeout, entry.state.total_run_count) == (
            "allow",
            None,
            1,
        )
        store.upsert(replace(entry, overlap="skip", overlap_timeout=90.0))
        changed = store.get("job")
        assert changed is not None
        assert (changed.overlap, changed.overlap_timeout) == ("skip", 90.0)
    finally:
        store.close()


@pytest.mark.parametrize("old_store", [5], indirect=True)
def test_version_5_tables_are_upgraded_and_keep_their_rows(old_store: str) -> None:
    """Version 6 adds the incidents table; entries and history stay as they were."""
    with upgraded(old_store) as store:
        assert store.incidents() == []
        assert store.transition_incident("entry:job", "failing", at(5)) == INCIDENT_OK
        assert store.incidents() == [Incident("entry:job", "failing", at(5))]


@pytest.mark.parametrize("old_store", [6], indirect=True)
def test_version_6_tables_gain_the_health_indexes_and_keep_their_rows(old_store: str) -> None:
    """Version 7 adds the partial indexes of the health suspects and the entry counts over the
    rows already there."""
    engine = _raw_engine(old_store)
    prefix = sa.make_url(old_store).query.get("prefix", DEFAULT_PREFIX)
    assert isinstance(prefix, str)
    schema = build_schema(prefix, engine.dialect.name)
    entries = schema.entries
    try:
        with engine.begin() as conn:
            conn.execute(sa.update(entries).values(consecutive_failures=2))
        store = open_store(old_store)
        try:
            with engine.connect() as conn:
                assert stored_version(conn, schema) == SCHEMA_VERSION == 14
                indexes = {index["name"] for index in sa.inspect(conn).get_indexes(entries.name)}
            names = {f"{prefix}entries_{name}" for name in ("failing", "open", "unscheduled")}
            assert {index.name for index in health_indexes(schema)} == names
            assert names <= indexes
            entry = store.get("job")
            assert entry is not None
            assert (entry.version, entry.state.consecutive_failures) == (1, 2)
            rules = SuspectRules(missed_before=T0, failures=2, open_before=T0)
            assert store.health_suspects(rules, 10) == ["job"]
            store.upsert(make_entry("off", enabled=False))
            assert store.entry_counts() == EntryCounts(total=2, scheduled=1)
        finally:
            store.close()
    finally:
        engine.dispose()


@pytest.mark.parametrize("old_store", [7], indirect=True)
def test_version_7_tables_gain_the_pause_table_and_keep_their_rows(old_store: str) -> None:
    """Version 8 adds the pause table: nothing is paused, and a pause then holds claims."""
    with upgraded(old_store) as store:
        assert store.paused() is None
        pause = Pause(at(0), None, "maintenance", "ops@host")
        assert store.pause(pause) is None
        assert store.claim_batch(at(86_500), 10, "beat-1", LEASE) == ClaimBatch.held(pause)
        assert store.resume() == pause
        assert [c.entry_id for c in store.claim_due(at(86_500), 10, "beat-1", LEASE)] == ["job"]


@pytest.mark.parametrize("old_store", [7], indirect=True)
def test_version_7_entries_gain_empty_tags_and_the_tag_index(old_store: str) -> None:
    """Version 9 adds the ``tags`` column (empty for the entries there) and the tag index."""
    with upgraded(old_store) as store:
        entry = store.get("job")
        assert entry is not None
        assert entry.tags == ()
        assert store.ids_tagged(["x"]) == []
        store.upsert(replace(entry, tags=("x",)))
        store.write_many([make_entry("other", tags=["x", "y"])])
        assert store.ids_tagged(["x"]) == ["job", "other"]


@pytest.mark.parametrize("old_store", [7], indirect=True)
def test_version_7_runs_read_as_scheduled_and_take_manual_runs(old_store: str) -> None:
    """Version 10 adds the history's ``manual`` column: the runs already there read as
    scheduled runs, and manual runs are recorded beside them."""
    with upgraded(old_store) as store:
        (run,) = store.history("job")
        assert (run.scheduled_for, run.manual) == (T0, False)
        manual = RunRecord("job", at(30), PUBLISHED, at(30), owner="ops@host", manual=True)
        assert store.record_manual_run(manual)
        assert store.history("job") == [manual, run]


@pytest.mark.parametrize("old_store", [7], indirect=True)
def test_older_tables_gain_the_run_counter_which_counts_from_the_upgrade(
    old_store: str,
) -> None:
    """Version 11 adds ``run_minutes``: the runs history holds from before are not counted,
    those completed since are."""
    with upgraded(old_store) as store:
        assert store.activity(at(60), at(60), T0).runs == 0  # the run at T0 came before
        (claim,) = store.claim_due(at(86_400), 10, "beat-1", LEASE)
        assert claim.scheduled_for == at(60)
        assert store.complete(claim, published(claim))
        assert len(store.history("job")) == 2
        assert store.activity(at(60), at(60), T0).runs == 1


@pytest.mark.parametrize("old_store", [11], indirect=True)
def test_older_tables_gain_an_empty_audit_log_that_records_from_the_upgrade(
    old_store: str,
) -> None:
    """Version 12 adds the audit log: the changes made before have no records, so it starts
    empty (the genesis head), and the changes made since are recorded from number 1."""
    with upgraded(old_store) as store:
        assert store.audit_head() == AuditHead()
        assert list(store.changes()) == []
        before = store.get("job")
        assert before is not None
        store.set_enabled("job", False, at(10), note=ChangeNote("ops@host-1", "disable"))
        (change,) = store.changes()
        assert (change.seq, change.entry_id, change.verb) == (1, "job", "disable")
        assert change.before == before.definition()
        assert change.fields_changed() == ["enabled"]
        assert store.audit_head() == AuditHead(1, change.hash, 1)
        assert verify(store.audit_head(), store.changes()).intact


@pytest.mark.parametrize("old_store", [12], indirect=True)
def test_version_12_tables_gain_the_holiday_calendars(old_store: str) -> None:
    """Version 13 adds the holiday calendars, empty."""
    with upgraded(old_store) as store:
        assert store.calendars() == {}
        store.add_calendar_dates("us-holidays", [date(2026, 7, 3)])
        assert store.calendars() == {"us-holidays": (date(2026, 7, 3),)}


@pytest.mark.parametrize("old_store", [13], indirect=True)
def test_version_13_runs_age_by_their_own_time(old_store: str) -> None:
    """Version 14 stores each run's stamp: a run recorded before ages by when it was sent,
    the runs recorded since by their stamps, in ``history()`` and in the maintenance pass."""
    with upgraded(old_store):
        aged = open_store(old_store, history_max_age="60s")
        held = open_store(old_store, history_max_age=0)  # shows every run held
        try:
            assert isinstance(aged, SQLStore)

            def complete_next() -> None:
                (claim,) = aged.claim_due(at(86_400), 10, "beat-1", LEASE)
                assert aged.complete(claim, published(claim))

            complete_next()  # sent at 60 s: the run sent at T0 is 60 s older, kept
            assert [run.scheduled_for for run in aged.history("job")] == [at(60), T0]
            complete_next()
            assert [run.scheduled_for for run in aged.history("job")] == [at(120), at(60)]
            assert len(held.history("job")) == 3
            aged.maintain()
            assert [run.scheduled_for for run in held.history("job")] == [at(120), at(60)]
        finally:
            aged.close()
            held.close()


def _plan(conn: sa.Connection, query: sa.Select[Any]) -> str:
    """The plan of ``query`` with its parameters bound. On PostgreSQL the generic plan, the
    one a prepared statement settles on, planned without the parameters' values, and with
    scans avoided, so that a small table shows the plan a large one gets."""
    if conn.dialect.name == "sqlite":
        compiled = query.compile(conn)
        values = tuple(compiled.params[name] for name in compiled.positiontup or ())
        explained = conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {compiled.string}", values)
        return "\n".join(str(row[-1]) for row in explained)
    compiled = query.compile(dialect=psycopg.dialect(paramstyle="numeric_dollar"))
    literal = {"literal_binds": True}
    arguments = ", ".join(
        str(sa.literal(compiled.params[name]).compile(conn, compile_kwargs=literal))
        for name in compiled.positiontup or ()
    )
    conn.exec_driver_sql(f"PREPARE health_plan AS {compiled.string}")
    conn.exec_driver_sql("SET plan_cache_mode = force_generic_plan")
    conn.exec_driver_sql("SET enable_seqscan = off")
    execute = f"EXECUTE health_plan({arguments})" if arguments else "EXECUTE health_plan"
    explained = conn.exec_driver_sql(f"EXPLAIN {execute}")
    plan = "\n".join(str(row[0]) for row in explained)
    conn.exec_driver_sql("DEALLOCATE health_plan")  # not undone by a rollback
    return plan


def test_the_health_queries_read_indexes_only(raw_engine: sa.Engine, store: Store) -> None:
    """Each lookup of ``health_suspects`` has an index it can use, its partial index's
    predicate repeated (a parameter would not prove it): none scans the table. ``entry_counts``
    counts the unscheduled entries from their partial index, and every entry from an index."""
    assert isinstance(store, SQLStore)
    store.upsert(make_entry("job"))
    schema = build_schema(store.prefix, raw_engine.dialect.name)
    name = schema.entries.name
    rules = SuspectRules(missed_before=T0, failures=3, open_before=T0)
    with raw_engine.connect() as conn:
        plan = _plan(conn, suspects_query(schema, rules, 10))
    assert f"Seq Scan on {name}" not in plan
    assert f"SCAN {name}" not in plan
    for index in ("due", "failing", "open"):
        assert f"{store.prefix}entries_{index}" in plan
    with raw_engine.connect() as conn:
        counts = _plan(conn, counts_query(schema)).splitlines()
    assert not [line for line in counts if f"Seq Scan on {name}" in line]
    assert not [line for line in counts if f"SCAN {name}" in line and "INDEX" not in line]
    (unscheduled,) = [line for line in counts if "entries_unscheduled" in line]
    assert f"{store.prefix}entries_unscheduled" in unscheduled


def test_the_activity_query_reads_indexes_only(raw_engine: sa.Engine, store: Store) -> None:
    """Each count of ``activity`` has an index it can use: none scans the entries."""
    assert isinstance(store, SQLStore)
    store.upsert(make_entry("job"))
    schema = build_schema(store.prefix, raw_engine.dialect.name)
    name = schema.entries.name
    with raw_engine.connect() as conn:
        plan = _plan(conn, activity_query(schema, at(60), at(30), T0)).splitlines()
    assert not [line for line in plan if f"Seq Scan on {name}" in line]
    assert not [line for line in plan if f"SCAN {name}" in line and "INDEX" not in line]
    for index in ("due", "lease", "failing"):
        assert [line for line in plan if f"{store.prefix}entries_{index}" in line]
    assert not [line for line in plan if f"Seq Scan on {schema.run_minutes.name}" in line]


def test_nul_in_a_reports_texts_becomes_a_replacement_character(sql_url: str, backend: str) -> None:
    store = open_store(sql_url)
    try:
        store.upsert(make_entry("job"))
        (claim,) = store.claim_due(at(86_400), 10, "beat-1", LEASE)
        assert store.complete(claim, published(claim))
        report = TaskReport("job", T0, "failure", at(2), error="E: a\x00b", worker="w\x001")
        assert store.record_outcomes([report]) == [True]
        (run,) = store.history("job")
        assert (run.error, run.worker) == ("E: a\ufffdb", "w\ufffd1")
        entry = store.get("job")
        assert entry is not None
        assert entry.state.last_task_error == "E: a\ufffdb"
    finally:
        drop_store(store, backend)


def test_reports_and_completions_running_together_neither_deadlock_nor_lose_counts(
    sql_url: str, store: Store, open_more: Callable[..., Store]
) -> None:
    """A beat completes batches (locking in id order) while a worker reports on the previous
    batch in reverse id order: every report is found and counted. (A claim skips the rows a
    report holds on PostgreSQL: the beat claims again until it has the whole round.)"""
    ids = [f"job{number:02d}" for number in range(20)]
    store.upsert_many(make_entry(entry_id) for entry_id in ids)
    worker = open_more()
    fired: queue.Queue[list[tuple[str, datetime]] | None] = queue.Queue()
    rounds = 8

    def beat() -> None:
        try:
            for _ in range(rounds):
                claims: list[Claim] = []
                while len(claims) < len(ids):
                    claims += store.claim_due(at(86_400), 50, "beat-1", LEASE)
                assert all(store.complete_many((claim, published(claim)) for claim in claims))
                fired.put([(claim.entry_id, claim.scheduled_for) for claim in claims])
        finally:
            fired.put(None)

    def report() -> None:
        while (batch := fired.get()) is not None:
            reports = [
                TaskReport(entry_id, when, "success", when + timedelta(seconds=1), runtime=1.0)
                for entry_id, when in reversed(batch)
            ]
            assert worker.record_outcomes(reports) == [True] * len(reports)

    with ThreadPoolExecutor(2) as pool:
        done = [pool.submit(beat), pool.submit(report)]
        for future in done:
            future.result(timeout=120)
    for entry in store.get_many(ids):
        assert (entry.state.total_run_count, entry.state.success_count) == (rounds, rounds)
        assert entry.state.last_outcome_for == at(60 * (rounds - 1))


def test_audited_writers_running_together_record_every_change_in_one_unbroken_chain(
    sql_url: str, store: Store, open_more: Callable[..., Store]
) -> None:
    """Two writers change the same entries at once, one in id order (bulk writes), the other
    in reverse (bulk and single upserts), which would deadlock on the rows if each did not
    take the audit log's head first: every change is recorded once, each entry's records
    follow one another (a record's before is the previous one's after), and the chain
    verifies."""
    ids = [f"job{number:02d}" for number in range(30)]
    store.write_many(make_entry(entry_id) for entry_id in ids)
    other = open_more()
    rounds = 10
    start = threading.Barrier(2)

    def entries(name: str, round_: int, order: list[str]) -> list[Entry]:
        return [make_entry(entry_id, description=f"{name}{round_}") for entry_id in order]

    def forward() -> None:
        start.wait(timeout=30)
        for round_ in range(rounds):
            store.write_many(entries("a", round_, ids))

    def backward() -> None:
        start.wait(timeout=30)
        for round_ in range(rounds):
            written = entries("b", round_, ids[::-1])
            if round_ % 2:
                other.upsert_many(written)
            else:
                for entry in written:
                    other.upsert(entry)

    with ThreadPoolExecutor(2) as pool:
        for future in [pool.submit(forward), pool.submit(backward)]:
            future.result(timeout=120)
    head = other.audit_head()
    assert (head.seq, head.count) == (len(ids) * (1 + 2 * rounds),) * 2
    assert verify(head, other.changes()).intact
    for entry_id in ids:
        records = list(other.changes(entry_id))
        assert len(records) == 1 + 2 * rounds
        assert records[0].before is None
        assert all(later.before == earlier.after for earlier, later in itertools.pairwise(records))


def test_drop_removes_the_audit_log_tables(raw_engine: sa.Engine, store: Store) -> None:
    store.upsert(make_entry("job"))
    assert isinstance(store, SQLStore)
    schema = build_schema(store.prefix, raw_engine.dialect.name)
    names = (schema.audit.name, schema.audit_head.name)
    with raw_engine.connect() as conn:
        assert all(sa.inspect(conn).has_table(name) for name in names)
    store.drop()
    with raw_engine.connect() as conn:
        assert not any(sa.inspect(conn).has_table(name) for name in names)


def test_a_write_after_the_head_was_set_back_fails_and_writes_nothing(
    raw_engine: sa.Engine, store: Store
) -> None:
    """A head set back by hand makes the next audited bulk write number a record that exists:
    the insert of the records fails, and with it the whole write."""
    store.upsert(make_entry("a"))
    store.upsert(make_entry("a", description="edited"))
    assert isinstance(store, SQLStore)
    head = build_schema(store.prefix, raw_engine.dialect.name).audit_head
    with raw_engine.begin() as conn:
        conn.execute(sa.update(head).values(seq=1))
    with pytest.raises(StoreError, match="audit"):
        store.write_many([make_entry("b"), make_entry("c")])
    assert store.get_many(["b", "c"]) == []
    assert [change.seq for change in store.changes()] == [1, 2]
