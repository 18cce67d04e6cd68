"""What differs between the databases the SQL store runs on, in one place.

:class:`SQLStore` is one algorithm; where PostgreSQL and SQLite need different statements or
round trips it asks its :class:`Dialect`: the claim, the bulk upsert, the bulk completion, the
read-back of written rows, the definitions an audited write replaces and the insert of its
change records, the change announcement and feed, the database clock and the lock that
serialises schema changes.
"""

from __future__ import annotations

import abc
import functools
import operator
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from datetime import datetime, timezone
from typing import Any

import sqlalchemy as sa

from celery_stembeat.entry import Entry
from celery_stembeat.stores._overlap import send_while_encoding
from celery_stembeat.stores.base import ChangeFeed, Claim, Outcome
from celery_stembeat.stores.sql import complete, maintenance, tags, upserts
from celery_stembeat.stores.sql.batches import chunks, distinct_runs
from celery_stembeat.stores.sql.claims import claim_statement, head_query, recover_statement
from celery_stembeat.stores.sql.codec import (
    DEFINITION_JSON,
    JSON_DEFINITION_COLUMNS,
    UNREAD_COLUMNS,
    read_entry,
)
from celery_stembeat.stores.sql.driver import DriverStatement, driver_rows, driver_statement
from celery_stembeat.stores.sql.engine import listen_connection
from celery_stembeat.stores.sql.feed import (
    ListenFeed,
    PollingFeed,
    count_changes,
    log_changes,
    notify,
)
from celery_stembeat.stores.sql.schema import Schema

#: A context manager giving a connection: the store's write transaction or single statement.
Connect = Callable[[], AbstractContextManager[sa.Connection]]
#: The store's context that turns database errors into :class:`StoreError`.
Errors = Callable[[], AbstractContextManager[None]]

_ID_ARRAY = sa.ARRAY(sa.Text)  # PostgreSQL's ARRAY once compiled for it


def _nothing() -> None:
    pass


class Dialect(abc.ABC):
    """One database's ways, for one store's tables (``schema``) on ``engine``."""

    #: Single statements run on a pool of their own in autocommit (no BEGIN/COMMIT).
    autocommit_statements: bool = False
    #: Claims and lease recoveries pick their rows ``FOR UPDATE SKIP LOCKED`` (writers run
    #: concurrently); without it every write transaction runs alone.
    skip_locked: bool = False
    #: Streamed reads wait on a server: the next batch is read on a thread meanwhile.
    reads_ahead: bool = False

    def __init__(self, engine: sa.Engine, schema: Schema):
        self.engine = engine
        self.schema = schema
        #: What :func:`~.codec.read_entry` reads.
        self.columns: list[sa.ColumnElement[Any]] = [
            *(c for c in schema.entries.c if c.name not in UNREAD_COLUMNS),
            self.definition_json(),
        ]
        self._claims: dict[int, Any] = {}

    @abc.abstractmethod
    def insert(self, table: sa.Table) -> Any:
        """An ``INSERT`` into ``table`` that can say ``ON CONFLICT``."""

    @abc.abstractmethod
    def definition_json(self) -> sa.ColumnElement[str]:
        """The JSON text of an array of an entry row's
        :data:`~.codec.JSON_DEFINITION_COLUMNS` values, labelled :data:`~.codec.DEFINITION_JSON`."""

    def claim_statement(self, limit: int) -> Any:
        """The claim of up to ``limit`` entries (built once per limit: building costs more
        than running it)."""
        statement = self._claims.get(limit)
        if statement is None:
            statement = claim_statement(self.schema, self.columns, self.skip_locked, limit)
            self._claims[limit] = statement
        return statement

    def recover_statement(self, now: datetime) -> Any:
        """Return the leases that ran out before ``now`` to the due index."""
        return recover_statement(self.schema, self.skip_locked, now)

    @abc.abstractmethod
    def announce(self, conn: sa.Connection, entry_ids: Sequence[str]) -> None:
        """Record definition changes, one per id, inside the transaction that made them."""

    @abc.abstractmethod
    def claim(
        self, write: Connect, single: Connect, statement: Any, params: dict[str, Any]
    ) -> tuple[list[sa.RowMapping], datetime | None]:
        """Run the claim: the rows claimed and the index head left after it."""

    @abc.abstractmethod
    def insert_rows(
        self,
        conn: sa.Connection,
        rows: list[dict[str, Any]],
        meanwhile: Callable[[], object] = _nothing,
    ) -> None:
        """Upsert ``rows`` (distinct ids) by :func:`.upserts.upsert_many_statement`'s rules, and
        run ``meanwhile`` (work that needs no connection), while the database works on them
        where it can."""

    def write_tags(self, conn: sa.Connection, entries: Sequence[Entry], replace: bool) -> bool:
        """Make the tag index rows of ``entries`` (distinct ids) their tags (``replace=False``:
        they have none yet); whether any row was written."""
        return tags.write_tags(conn, self.schema, entries, replace)

    @abc.abstractmethod
    def insert_changes(self, conn: sa.Connection, rows: Sequence[Mapping[str, Any]]) -> None:
        """Insert ``rows`` (change records, see :func:`.audit_log.change_row`) into
        ``{prefix}audit``."""

    @abc.abstractmethod
    def rows_of(
        self,
        conn: sa.Connection,
        columns: Sequence[sa.ColumnElement[Any]],
        ids: Sequence[str],
        lock: bool = False,
    ) -> Iterator[sa.RowMapping]:
        """The ``columns`` of the rows with ``ids`` that exist, in no particular order;
        ``lock``: locked for the rest of the transaction."""

    def read_back(self, conn: sa.Connection, ids: Sequence[str]) -> list[Entry]:
        """The entries with ``ids`` that exist, in that order."""
        found = {row["id"]: read_entry(row) for row in self.rows_of(conn, self.columns, ids)}
        return [found[entry_id] for entry_id in ids if entry_id in found]

    @abc.abstractmethod
    def complete_many(
        self, write: Connect, single: Connect, pairs: list[tuple[Claim, Outcome]]
    ) -> list[bool]:
        """Complete ``pairs`` (not empty); whether each claim was still held."""

    @abc.abstractmethod
    def maintain(self, write: Connect, single: Connect, retention: maintenance.Retention) -> None:
        """One maintenance pass (see ``maintenance.py``)."""

    @abc.abstractmethod
    def time(self, single: Connect) -> datetime | None:
        """The database server's clock, or ``None`` when it is the beat's own host."""

    @abc.abstractmethod
    def watch(
        self, display_url: str, scrub: Callable[[str], str], errors: Errors, poll: float
    ) -> ChangeFeed:
        """A feed of definition changes made through any store on these tables."""

    @abc.abstractmethod
    def lock(self, conn: sa.Connection) -> None:
        """Serialise schema creation, upgrades and drops with other processes."""


class PostgresDialect(Dialect):
    """PostgreSQL: ``SKIP LOCKED`` claims, JSON-document upserts, one-statement completions,
    ``LISTEN``/``NOTIFY`` and an advisory lock."""

    autocommit_statements = True
    skip_locked = True
    reads_ahead = True

    def __init__(self, engine: sa.Engine, schema: Schema):
        super().__init__(engine, schema)
        self._complete_statement = complete.statement(schema, engine.dialect.identifier_preparer)

    def insert(self, table: sa.Table) -> Any:
        """PostgreSQL's ``INSERT`` (only the engine's own dialect module is imported)."""
        from sqlalchemy.dialects import postgresql

        return postgresql.insert(table)

    def definition_json(self) -> sa.ColumnElement[str]:
        """``jsonb_build_array`` of the columns, as text."""
        c = self.schema.entries.c
        values = sa.func.jsonb_build_array(*(c[name] for name in JSON_DEFINITION_COLUMNS))
        return sa.cast(values, sa.Text).label(DEFINITION_JSON)

    def announce(self, conn: sa.Connection, entry_ids: Sequence[str]) -> None:
        """Count the changes and ``NOTIFY`` each id, delivered at commit."""
        count_changes(conn, self.schema, len(entry_ids))
        notify(conn, self.schema, entry_ids)

    def claim(
        self, write: Connect, single: Connect, statement: Any, params: dict[str, Any]
    ) -> tuple[list[sa.RowMapping], datetime | None]:
        """One statement outside a transaction block; its first column, ``b_head``, is the
        index head left after the claim, on a row of its own when nothing was claimed."""
        with single() as conn:
            rows = conn.execute(statement, params).mappings().all()
        head: datetime | None = rows[0]["b_head"]
        return [row for row in rows if row["id"] is not None], head

    @functools.cached_property
    def _json_upsert(self) -> Any:
        return upserts.json_upsert(self.schema)

    def insert_rows(
        self,
        conn: sa.Connection,
        rows: list[dict[str, Any]],
        meanwhile: Callable[[], object] = _nothing,
    ) -> None:
        """The rows as JSON documents of :data:`.upserts.JSON_ROWS` rows each, one statement
        apiece, sent on a thread while the next is encoded (binding 30 parameters per row
        through SQLAlchemy costs more than the database's whole insert); ``meanwhile`` runs
        once they are all encoded, while the server works on the rest."""
        statement = self._json_upsert
        send_while_encoding(
            upserts.json_documents(rows),
            lambda text: conn.execute(statement, {"rows": text}),
            "stembeat-upsert",
            meanwhile,
        )

    def write_tags(self, conn: sa.Connection, entries: Sequence[Entry], replace: bool) -> bool:
        """Two statements of arrays, however many entries."""
        return tags.write_tags_arrays(conn, self.schema, entries, replace)

    def insert_changes(self, conn: sa.Connection, rows: Sequence[Mapping[str, Any]]) -> None:
        """One ``COPY … FROM STDIN`` on the transaction's own psycopg connection: the rows
        streamed as psycopg formats them, without a statement's parameters."""
        import psycopg

        table = self.schema.audit
        quote = self.engine.dialect.identifier_preparer
        names = [column.name for column in table.c]
        columns = ", ".join(map(quote.quote, names))
        statement = f"COPY {quote.format_table(table)} ({columns}) FROM STDIN"
        values = operator.itemgetter(*names)
        driver = conn.connection.driver_connection
        assert driver is not None  # the transaction's own, open
        try:
            with driver.cursor() as cursor, cursor.copy(statement) as copy:
                for row in rows:
                    copy.write_row(values(row))
        except psycopg.Error as exc:
            raise sa.exc.DBAPIError.instance(statement, None, exc, psycopg.Error) from exc

    def rows_of(
        self,
        conn: sa.Connection,
        columns: Sequence[sa.ColumnElement[Any]],
        ids: Sequence[str],
        lock: bool = False,
    ) -> Iterator[sa.RowMapping]:
        """The ids joined as one array (a hash join: one pass, however many ids); an ``IN``
        list per 500 ids would scan a freshly filled table once per list, before statistics
        know its size."""
        if not ids:
            return iter(())
        entries = self.schema.entries
        wanted = sa.func.unnest(sa.cast(sa.literal(list(ids)), _ID_ARRAY))
        given = wanted.table_valued("id").render_derived(name="given")
        query = sa.select(*columns).join(given, entries.c.id == given.c.id)
        if lock:
            query = query.with_for_update(of=entries)
        return iter(conn.execute(query).mappings())

    def complete_many(
        self, write: Connect, single: Connect, pairs: list[tuple[Claim, Outcome]]
    ) -> list[bool]:
        """One statement per run of distinct entries (see ``complete.py``), outside a
        transaction block."""
        results = [False] * len(pairs)
        for indexes in distinct_runs([claim.entry_id for claim, _ in pairs]):
            run = [pairs[index] for index in indexes]
            params = complete.postgres_params(run)
            with single() as conn:
                done = set(conn.execute(self._complete_statement, params).scalars())
            for index, (claim, _) in zip(indexes, run, strict=True):
                results[index] = claim.entry_id in done
        return results

    def maintain(self, write: Connect, single: Connect, retention: maintenance.Retention) -> None:
        """Retention, then ``VACUUM`` of the hot tables, each a statement of its own in
        autocommit, under a session advisory lock that lets one store at a time do it (the
        others skip their pass)."""
        key = maintenance.maintenance_key(self.schema)
        with single() as conn:
            if not conn.scalar(sa.select(sa.func.pg_try_advisory_lock(key))):
                return
            try:
                retention.passed(maintenance.retain(conn, self.schema, retention))
                maintenance.vacuum(conn, self.schema)
            finally:
                conn.scalar(sa.select(sa.func.pg_advisory_unlock(key)))

    def time(self, single: Connect) -> datetime | None:
        """``clock_timestamp()``: the server's clock as the statement runs."""
        with single() as conn:
            now = conn.scalar(sa.select(sa.func.clock_timestamp()))
        assert isinstance(now, datetime)
        return now.astimezone(timezone.utc)

    def watch(
        self, display_url: str, scrub: Callable[[str], str], errors: Errors, poll: float
    ) -> ChangeFeed:
        """``LISTEN`` on a connection of the feed's own."""
        return ListenFeed(
            lambda: listen_connection(self.engine), self.schema.channel, display_url, scrub
        )

    def lock(self, conn: sa.Connection) -> None:
        """A transaction-scoped advisory lock on the prefix's key."""
        conn.execute(sa.select(sa.func.pg_advisory_xact_lock(self.schema.lock_key)))


class SQLiteDialect(Dialect):
    """SQLite: every write one ``BEGIN IMMEDIATE`` transaction (writers are serialised), rows
    bound as driver tuples, and a change log that feeds poll."""

    def insert(self, table: sa.Table) -> Any:
        """SQLite's ``INSERT`` (only the engine's own dialect module is imported)."""
        from sqlalchemy.dialects import sqlite

        return sqlite.insert(table)

    def definition_json(self) -> sa.ColumnElement[str]:
        """The columns' JSON texts, as SQLite keeps them, joined into an array."""
        c = self.schema.entries.c
        pattern = "[" + ",".join("%s" for _ in JSON_DEFINITION_COLUMNS) + "]"
        parts = (sa.type_coerce(c[name], sa.Text) for name in JSON_DEFINITION_COLUMNS)
        return sa.func.printf(pattern, *parts, type_=sa.Text).label(DEFINITION_JSON)

    def announce(self, conn: sa.Connection, entry_ids: Sequence[str]) -> None:
        """Count the changes and write them to the change log that feeds poll."""
        counter = count_changes(conn, self.schema, len(entry_ids))
        log_changes(conn, self.schema, counter, entry_ids)

    def claim(
        self, write: Connect, single: Connect, statement: Any, params: dict[str, Any]
    ) -> tuple[list[sa.RowMapping], datetime | None]:
        """The claim and a read of the new head in one write transaction."""
        with write() as conn:
            rows = conn.execute(statement, params).mappings().all()
            head: datetime | None = conn.scalar(self._head)
        return list(rows), head

    @functools.cached_property
    def _head(self) -> Any:
        return head_query(self.schema)

    @functools.cached_property
    def _driver_upsert(self) -> DriverStatement:
        from sqlalchemy.dialects.sqlite import insert

        statement = upserts.upsert_many_statement(self.schema, insert(self.schema.entries))
        return driver_statement(self.engine, statement, self.schema.entries)

    def insert_rows(
        self,
        conn: sa.Connection,
        rows: list[dict[str, Any]],
        meanwhile: Callable[[], object] = _nothing,
    ) -> None:
        """The statement compiled once and the rows as tuples of driver values (see
        ``driver.py``), run once per row inside the driver; then ``meanwhile`` (SQLite works
        in this thread)."""
        driver = self._driver_upsert
        conn.exec_driver_sql(driver.sql, driver_rows(driver, rows))
        meanwhile()

    @functools.cached_property
    def _driver_insert_changes(self) -> DriverStatement:
        table = self.schema.audit
        return driver_statement(self.engine, sa.insert(table), table)

    def insert_changes(self, conn: sa.Connection, rows: Sequence[Mapping[str, Any]]) -> None:
        """As :meth:`insert_rows` inserts entries: one ``executemany`` inside the driver."""
        driver = self._driver_insert_changes
        conn.exec_driver_sql(driver.sql, driver_rows(driver, rows))

    def rows_of(
        self,
        conn: sa.Connection,
        columns: Sequence[sa.ColumnElement[Any]],
        ids: Sequence[str],
        lock: bool = False,
    ) -> Iterator[sa.RowMapping]:
        """Each id looked up in the primary key, 500 per ``IN`` list; ``lock`` needs nothing
        (the write transaction, ``BEGIN IMMEDIATE``, already runs alone)."""
        c = self.schema.entries.c
        for chunk in chunks(ids):
            yield from conn.execute(sa.select(*columns).where(c.id.in_(chunk))).mappings()

    def complete_many(
        self, write: Connect, single: Connect, pairs: list[tuple[Claim, Outcome]]
    ) -> list[bool]:
        """Locks, checks and writes in one ``BEGIN IMMEDIATE`` transaction."""
        with write() as conn:
            return complete.complete_sqlite(conn, self.schema, pairs, self.insert)

    def maintain(self, write: Connect, single: Connect, retention: maintenance.Retention) -> None:
        """Retention in a write transaction (SQLite reuses freed pages without a vacuum)."""
        with write() as conn:
            newest = maintenance.retain(conn, self.schema, retention)
        retention.passed(newest)

    def lock(self, conn: sa.Connection) -> None:
        """Nothing: the write transaction (``BEGIN IMMEDIATE``) already runs alone."""

    def time(self, single: Connect) -> datetime | None:
        """``None``: the file is on the beat's own host."""
        return None

    def watch(
        self, display_url: str, scrub: Callable[[str], str], errors: Errors, poll: float
    ) -> ChangeFeed:
        """Polls the change log every ``poll`` seconds."""
        return PollingFeed(self.engine, self.schema, poll, errors)


def dialect_for(engine: sa.Engine, schema: Schema) -> Dialect:
    """The :class:`Dialect` of ``engine``'s database."""
    kind = PostgresDialect if engine.dialect.name == "postgresql" else SQLiteDialect
    return kind(engine, schema)
