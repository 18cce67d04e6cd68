"""The SQL store's algorithm: :class:`SQLStore` on SQLite or PostgreSQL (see the package for
the tables and the files)."""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import os
import re
import weakref
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from celery_stembeat.entry import Entry
from celery_stembeat.stores._overlap import send_while_encoding
from celery_stembeat.stores.base import (
    DEFAULT_HISTORY_LIMIT,
    ChangeFeed,
    Claim,
    ClaimBatch,
    EntryNotFound,
    Fingerprint,
    Outcome,
    RunRecord,
    Store,
    StoreError,
    VersionConflict,
    checked_history_limit,
    claim_token,
)
from celery_stembeat.stores.sql import complete, upserts
from celery_stembeat.stores.sql.batches import chunks, distinct_runs
from celery_stembeat.stores.sql.claims import (
    claim_statement,
    head_query,
    recover_statement,
    renew_statement,
)
from celery_stembeat.stores.sql.codec import (
    definition,
    new_row,
    read_entry,
    read_fingerprint,
    read_run,
)
from celery_stembeat.stores.sql.engine import (
    WRITE,
    create_engine,
    describe,
    listen_connection,
    locate,
)
from celery_stembeat.stores.sql.feed import ListenFeed, PollingFeed, announce
from celery_stembeat.stores.sql.schema import (
    SCHEMA_VERSION,
    Schema,
    build_schema,
    migrate,
    stored_version,
)

if TYPE_CHECKING:
    import psycopg

DEFAULT_PREFIX = "stembeat_"
_PREFIX_PATTERN = re.compile(r"[A-Za-z0-9_]{0,40}")
_ID_ARRAY = sa.ARRAY(sa.Text)  # PostgreSQL's ARRAY once compiled for it


def _aware(value: datetime, name: str) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise StoreError(f"{name}: {value!r} is a naive datetime; pass an aware one")
    return value


_LIVE: weakref.WeakSet[SQLStore] = weakref.WeakSet()


def _after_fork() -> None:
    # A forked child must not share the parent's pooled connections (SQLAlchemy's advice).
    for store in list(_LIVE):
        store._dispose(close=False)


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork)


class SQLStore(Store):
    """The store on SQLite or PostgreSQL."""

    def __init__(
        self,
        url: str | sa.URL = "sqlite:///stembeat.db",
        *,
        prefix: str = DEFAULT_PREFIX,
        history_limit: int = DEFAULT_HISTORY_LIMIT,
        poll_interval: float = 0.05,
        **engine_options: Any,
    ) -> None:
        """Open (and create or upgrade the tables of) the store at ``url``.

        ``poll_interval`` is how often a SQLite change feed looks for changes; other keyword
        arguments go to :func:`sqlalchemy.create_engine`.
        """
        location = locate(url)
        self._location = location
        self.display_url = location.display_url
        if not isinstance(prefix, str) or not _PREFIX_PATTERN.fullmatch(prefix):
            raise StoreError(
                f"SQL store: prefix {prefix!r} must be at most 40 letters, digits or underscores"
            )
        self.history_limit = checked_history_limit(history_limit, "SQL")
        self.prefix = prefix
        self.poll_interval = poll_interval
        self._closed = False
        self._feeds: weakref.WeakSet[ChangeFeed] = weakref.WeakSet()
        self._engine = self._create_engine(location.url, dict(engine_options))
        self._is_postgres = self._engine.dialect.name == "postgresql"
        self._writer = self._engine.execution_options(**{WRITE: True})
        # PostgreSQL runs single statements on a pool of its own whose connections stay in
        # autocommit: switching a pooled connection there and back costs a sixth of a pass.
        self._single = (
            self._create_engine(location.url, {**engine_options, "isolation_level": "AUTOCOMMIT"})
            if self._is_postgres
            else self._engine
        )
        self._schema: Schema = build_schema(prefix, self._engine.dialect.name)
        entries = self._schema.entries
        # Every column an entry is rebuilt from (``spec_key`` stands for the spec JSON).
        self._columns = [c for c in entries.c if c.name not in ("spec", "config_digest")]
        self._claims: dict[int, Any] = {}
        #: The index head the last claim left: while it is due, the next claim skips the look.
        self._head_hint: datetime | None = None
        self._head_statement = head_query(self._schema)
        self._complete_statement = complete.statement(
            self._schema, self._engine.dialect.identifier_preparer
        )
        self._upgrade()
        _LIVE.add(self)

    # -- set-up ----------------------------------------------------------------------------------

    def _create_engine(self, url: sa.URL, options: dict[str, Any]) -> sa.Engine:
        return create_engine(url, options, self.display_url, self._scrub)

    def _upgrade(self) -> None:
        try:
            with self._errors():
                with self._engine.connect() as conn:
                    current = stored_version(conn, self._schema)
                if current < SCHEMA_VERSION:
                    with self._writer.begin() as conn:
                        current, _ = migrate(conn, self._schema)
        except BaseException:
            self._dispose()
            raise
        if current > SCHEMA_VERSION:
            self._dispose()
            raise StoreError(
                f"SQL store {self.display_url}: tables {self.prefix!r} are at schema version "
                f"{current}, newer than this celery-stembeat understands ({SCHEMA_VERSION}); "
                "upgrade celery-stembeat"
            )

    def __repr__(self) -> str:
        return f"SQLStore({self.display_url!r}, prefix={self.prefix!r})"

    # -- plumbing --------------------------------------------------------------------------------

    @contextlib.contextmanager
    def _errors(self) -> Iterator[None]:
        try:
            yield
        except sa.exc.SQLAlchemyError as exc:
            message = self._scrub(describe(exc))
            raise StoreError(f"SQL store {self.display_url}: {message}") from exc

    def _scrub(self, message: str) -> str:
        return self._location.scrub(message)

    @contextlib.contextmanager
    def _write(self) -> Iterator[sa.Connection]:
        """One write transaction (``BEGIN IMMEDIATE`` on SQLite)."""
        with self._errors(), self._writer.begin() as conn:
            yield conn

    @contextlib.contextmanager
    def _single_statement(self) -> Iterator[sa.Connection]:
        """A connection for one statement: outside a transaction block on PostgreSQL (a
        statement is atomic by itself; BEGIN and COMMIT would triple its round trips)."""
        with self._errors(), self._single.connect() as conn:
            yield conn

    def _announce(self, conn: sa.Connection, entry_ids: Sequence[str]) -> None:
        announce(conn, self._schema, self._is_postgres, entry_ids)

    def _version_of(self, conn: sa.Connection, entry_id: str) -> int | None:
        entries = self._schema.entries
        version = conn.scalar(sa.select(entries.c.version).where(entries.c.id == entry_id))
        return None if version is None else int(version)

    def _insert(self) -> Any:
        return upserts.insert(self._schema, self._is_postgres)

    # -- definitions -----------------------------------------------------------------------------

    def get(self, entry_id: str) -> Entry | None:
        """The entry with that id, or ``None``."""
        entries = self._schema.entries
        with self._single_statement() as conn:
            row = (
                conn.execute(sa.select(*self._columns).where(entries.c.id == entry_id))
                .mappings()
                .first()
            )
        return None if row is None else read_entry(row)

    def list_entries(
        self, *, enabled: bool | None = None, prefix: str | None = None
    ) -> list[Entry]:
        """Entries sorted by id, optionally only enabled/disabled ones or ids with ``prefix``."""
        entries = self._schema.entries
        query = sa.select(*self._columns)
        if enabled is not None:
            query = query.where(entries.c.enabled == enabled)
        if prefix:
            query = query.where(entries.c.id.startswith(prefix, autoescape=True))
        with self._single_statement() as conn:
            rows = conn.execute(query).mappings().all()
        # SQLite's LIKE ignores ASCII case: the exact test is Python's.
        found = [read_entry(row) for row in rows if prefix is None or row["id"].startswith(prefix)]
        return sorted(found, key=lambda entry: entry.id)

    def get_many(self, entry_ids: Iterable[str]) -> list[Entry]:
        """The entries with these ids that exist, in the order given, in one query."""
        with self._single_statement() as conn:
            return self._read_back(conn, list(entry_ids))

    def _read_back(self, conn: sa.Connection, ids: Sequence[str]) -> list[Entry]:
        """The entries with ``ids`` that exist, in that order.

        PostgreSQL joins the rows with the ids as one array (a hash join: one pass, however
        many ids); an ``IN`` list per 500 ids would scan a freshly filled table once per list,
        before statistics know its size. SQLite looks each id up in the primary key.
        """
        if not ids:
            return []
        c = self._schema.entries.c
        found: dict[str, Entry] = {}
        if self._is_postgres:
            wanted = sa.func.unnest(sa.cast(sa.literal(list(ids)), _ID_ARRAY))
            given = wanted.table_valued("id").render_derived(name="given")
            query = sa.select(*self._columns).join(given, c.id == given.c.id)
            found.update((row["id"], read_entry(row)) for row in conn.execute(query).mappings())
        else:
            for chunk in chunks(ids):
                rows = conn.execute(sa.select(*self._columns).where(c.id.in_(chunk)))
                found.update((row["id"], read_entry(row)) for row in rows.mappings())
        return [found[entry_id] for entry_id in ids if entry_id in found]

    def fingerprints(self) -> dict[str, Fingerprint]:
        """Every beat_schedule entry's :class:`Fingerprint`, in one query over four columns."""
        c = self._schema.entries.c
        query = sa.select(c.id, c.enabled, c.version, c.config_digest).where(c.source == "config")
        with self._single_statement() as conn:
            rows = conn.execute(query).all()
        return {row.id: read_fingerprint(row) for row in rows}

    def set_digests(self, digests: Mapping[str, tuple[int, str]]) -> None:
        """Attach the digests where the version still holds: one statement, many parameters."""
        if not digests:
            return
        c = self._schema.entries.c
        statement = (
            sa.update(self._schema.entries)
            .where(c.id == sa.bindparam("b_id"), c.version == sa.bindparam("b_version"))
            .values(config_digest=sa.bindparam("b_digest"))
        )
        params = [
            {"b_id": entry_id, "b_version": version, "b_digest": f"{version}:{digest}"}
            for entry_id, (version, digest) in digests.items()
        ]
        with self._write() as conn:
            conn.execute(statement, params)

    def upsert(self, entry: Entry, expected_version: int | None = None) -> Entry:
        """Create or update ``entry``'s definition; return what is stored now.

        See :meth:`Store.upsert`. Each attempt is one statement, so of several writers holding
        the same ``expected_version`` exactly one wins.
        """
        values = definition(entry)
        while True:
            row: sa.RowMapping | None = None
            with self._write() as conn:
                if expected_version != 0:
                    row = (
                        conn.execute(self._update_stmt(entry, values, expected_version))
                        .mappings()
                        .first()
                    )
                    if row is None and expected_version is not None:
                        actual = self._version_of(conn, entry.id)
                        raise VersionConflict(entry.id, expected_version, actual)
                if row is None:
                    insert = (
                        self._insert()
                        .values(new_row(entry))
                        .on_conflict_do_nothing(index_elements=["id"])
                        .returning(*self._columns)
                    )
                    row = conn.execute(insert).mappings().first()
                    if row is None and expected_version == 0:
                        actual = self._version_of(conn, entry.id)
                        raise VersionConflict(entry.id, expected_version, actual)
                if row is not None:
                    self._announce(conn, [entry.id])
            if row is not None:
                return read_entry(row)
            # No check asked for, and another writer created the entry between our UPDATE and
            # INSERT: update it now.

    def _update_stmt(
        self, entry: Entry, values: Mapping[str, Any], expected_version: int | None
    ) -> Any:
        return upserts.update_statement(
            self._schema, self._columns, entry, values, expected_version
        )

    def upsert_many(
        self, entries: Iterable[Entry], digests: Mapping[str, str] | None = None
    ) -> list[Entry]:
        """:meth:`upsert` each entry without a version check, all in one transaction.

        Each run of distinct ids is one ``INSERT … ON CONFLICT (id) DO UPDATE`` executed with
        many parameter sets (which applies :meth:`upsert`'s rules row by row), then one read of
        the rows written; an id given again starts a new run, so repeats apply in order.
        """
        return self._upsert_runs(list(entries), digests, read_back=True)

    def write_many(
        self, entries: Iterable[Entry], digests: Mapping[str, str] | None = None
    ) -> None:
        """:meth:`upsert_many` without reading the rows back."""
        self._upsert_runs(list(entries), digests, read_back=False)

    def _upsert_runs(
        self, batch: Sequence[Entry], digests: Mapping[str, str] | None, read_back: bool
    ) -> list[Entry]:
        if not batch:
            return []
        stored: list[Entry] = []
        with self._write() as conn:
            for indexes in distinct_runs([entry.id for entry in batch]):
                rows = [self._new_row(batch[index], digests) for index in indexes]
                self._insert_rows(conn, rows)
                if read_back:
                    stored += self._read_back(conn, [batch[index].id for index in indexes])
            self._announce(conn, [entry.id for entry in batch])
        return stored

    def _new_row(self, entry: Entry, digests: Mapping[str, str] | None) -> dict[str, Any]:
        """Every column of ``entry`` as a new, unclaimed row at version 1, with its digest."""
        digest = digests.get(entry.id) if digests else None
        return new_row(entry, f"1:{digest}" if digest else None)

    def _insert_rows(self, conn: sa.Connection, rows: list[dict[str, Any]]) -> None:
        """Upsert ``rows`` (distinct ids) by the rules of :func:`.upserts.upsert_many_statement`.

        Binding 30 parameters per row through SQLAlchemy costs more than the database's whole
        insert. PostgreSQL takes the rows as JSON documents of :data:`.upserts.JSON_ROWS` rows each,
        one statement apiece, sent on a thread while the next is encoded; SQLite gets the
        statement compiled once and the rows as tuples of driver values (made by the columns'
        own bind processors), and runs it once per row inside the driver.
        """
        if not self._is_postgres:
            driver = self._sqlite_upsert
            conn.exec_driver_sql(driver.sql, upserts.driver_rows(driver, rows))
            return
        statement = self._json_upsert
        send_while_encoding(
            upserts.json_documents(rows),
            lambda text: conn.execute(statement, {"rows": text}),
            "stembeat-upsert",
        )

    @functools.cached_property
    def _sqlite_upsert(self) -> upserts.DriverStatement:
        """SQLite's upsert statement compiled once, for rows of driver values."""
        return upserts.driver_statement(self._engine, self._schema)

    @functools.cached_property
    def _json_upsert(self) -> Any:
        """PostgreSQL's upsert taking its rows from one JSON document (parameter ``rows``)."""
        return upserts.json_upsert(self._schema)

    def delete(self, entry_id: str) -> bool:
        """Remove the entry and its history; ``False`` if it did not exist."""
        entries, runs = self._schema.entries, self._schema.runs
        with self._write() as conn:
            gone = conn.execute(
                sa.delete(entries).where(entries.c.id == entry_id).returning(entries.c.id)
            ).first()
            conn.execute(sa.delete(runs).where(runs.c.entry_id == entry_id))
            if gone is not None:
                self._announce(conn, [entry_id])
        return gone is not None

    def set_enabled(self, entry_id: str, enabled: bool, now: datetime) -> Entry:
        """Enable or disable; enabling starts afresh from ``now`` (no backlog is fired).

        Bumps the version when the flag changes. Raises :class:`EntryNotFound`.
        """
        _aware(now, "now")
        entries = self._schema.entries
        c = entries.c
        while True:
            row: sa.RowMapping | None
            with self._write() as conn:
                current = (
                    conn.execute(
                        sa.select(*self._columns).where(c.id == entry_id).with_for_update()
                    )
                    .mappings()
                    .first()
                )
                if current is None:
                    raise EntryNotFound(entry_id)
                stored = read_entry(current)
                if stored.enabled == enabled:
                    return stored
                statement = upserts.enable_statement(
                    self._schema, self._columns, stored, enabled, now
                )
                row = conn.execute(statement).mappings().first()
                if row is not None:
                    self._announce(conn, [entry_id])
            if row is not None:
                return read_entry(row)

    # -- claims ----------------------------------------------------------------------------------

    def claim_batch(self, now: datetime, limit: int, owner: str, lease: timedelta) -> ClaimBatch:
        """Claim what is due and read the earliest due time left after it (see
        :meth:`Store.claim_batch`): ``FOR UPDATE SKIP LOCKED`` on PostgreSQL.

        Unless the last claim left something due by ``now``, a look at the index head comes
        first: when nothing is due, that read is all (one round trip, no lock). Otherwise
        PostgreSQL claims and reads the new head in one statement, run outside a transaction
        block (a statement is atomic by itself); SQLite claims and reads it in one ``BEGIN
        IMMEDIATE`` transaction.
        """
        _aware(now, "now")
        hint = self._head_hint
        if limit <= 0 or hint is None or hint > now:
            head = self.next_due_at()
            if limit <= 0 or head is None or head > now:
                self._head_hint = head
                return ClaimBatch([], head)  # nothing due: one read, no write lock
        token = claim_token(owner)
        until = now + lease
        params = {"b_now": now, "b_token": token, "b_owner": owner, "b_until": until}
        statement = self._claim_statement(limit)
        if self._is_postgres:
            with self._single_statement() as conn:
                rows = conn.execute(statement, params).mappings().all()
            head = rows[0]["b_head"]
            rows = [row for row in rows if row["id"] is not None]
        else:
            with self._write() as conn:
                rows = conn.execute(statement, params).mappings().all()
                head = conn.scalar(self._head_statement)
        claims = [Claim(read_entry(row), row["claimed_for"], owner, token, until) for row in rows]
        claims.sort(key=lambda claim: (claim.scheduled_for, claim.entry_id))
        self._head_hint = head
        return ClaimBatch(claims, head)

    def _claim_statement(self, limit: int) -> Any:
        """The claim of up to ``limit`` entries (built once per limit: building costs more
        than running it). On PostgreSQL its first column, ``b_head``, is the index head left
        after the claim, on a row of its own when nothing was claimed."""
        statement = self._claims.get(limit)
        if statement is None:
            statement = claim_statement(self._schema, self._columns, self._is_postgres, limit)
            self._claims[limit] = statement
        return statement

    def complete_many(self, pairs: Iterable[tuple[Claim, Outcome]]) -> list[bool]:
        """:meth:`complete` for several claims, all in one transaction.

        PostgreSQL: one statement per batch of distinct entries (see ``complete.py``), in
        a transaction only when history needs trimming too. SQLite: locks, checks and writes
        in one ``BEGIN IMMEDIATE`` transaction.
        """
        pairs = list(pairs)
        results = [False] * len(pairs)
        if not pairs:
            return results
        if self._is_postgres:
            for indexes in distinct_runs([claim.entry_id for claim, _ in pairs]):
                done = self._complete_postgres([pairs[index] for index in indexes])
                for index, recorded in zip(indexes, done, strict=True):
                    results[index] = recorded
            return results
        with self._write() as conn:
            return complete.complete_sqlite(conn, self._schema, pairs, self.history_limit)

    def _complete_postgres(self, pairs: Sequence[tuple[Claim, Outcome]]) -> list[bool]:
        """Complete claims of distinct entries in one statement (plus a trim if needed)."""
        params, full = complete.postgres_params(pairs, self.history_limit)
        connection = self._write() if full else self._single_statement()
        with connection as conn:
            done = set(conn.execute(self._complete_statement, params).scalars())
            if full:
                complete.trim(conn, self._schema, sorted(set(full) & done), self.history_limit)
        return [claim.entry_id in done for claim, _ in pairs]

    def renew_claims(
        self, claims: Sequence[Claim], now: datetime, lease: timedelta
    ) -> list[Claim | None]:
        """Extend the claims still held: one ``UPDATE … WHERE claim_token = …`` per claim
        batch (a batch's claims share their token)."""
        until = _aware(now, "now") + lease
        by_token: dict[str, list[str]] = {}
        for claim in claims:
            by_token.setdefault(claim.token, []).append(claim.entry_id)
        held: set[tuple[str, str]] = set()
        connection = self._single_statement() if self._is_postgres else self._write()
        with connection as conn:
            for token, ids in by_token.items():
                for chunk in chunks(ids):
                    statement = renew_statement(self._schema, token, chunk, until)
                    held.update((token, entry_id) for entry_id in conn.execute(statement).scalars())
        return [
            dataclasses.replace(claim, lease_until=until)
            if (claim.token, claim.entry_id) in held
            else None
            for claim in claims
        ]

    def recover_expired_claims(self, now: datetime) -> list[str]:
        """Return leases that ran out before ``now`` to the due index; the ids recovered.

        A look at the ``lease_until`` index comes first, outside a transaction: beats call this
        every quarter lease, and there is seldom anything to recover.
        """
        _aware(now, "now")
        entries = self._schema.entries
        c = entries.c
        with self._single_statement() as conn:
            if conn.scalar(sa.select(c.id).where(c.lease_until <= now).limit(1)) is None:
                return []
        statement = recover_statement(self._schema, self._is_postgres, now)
        with self._write() as conn:
            recovered = conn.execute(statement).scalars().all()
        return sorted(recovered)

    # -- reading run state -----------------------------------------------------------------------

    def history(self, entry_id: str, limit: int = 100) -> list[RunRecord]:
        """The newest ``limit`` runs of the entry, newest first."""
        if limit <= 0:
            return []
        runs = self._schema.runs
        query = (
            sa.select(runs)
            .where(runs.c.entry_id == entry_id)
            .order_by(runs.c.id.desc())
            .limit(limit)
        )
        with self._single_statement() as conn:
            rows = conn.execute(query).mappings().all()
        return [read_run(row) for row in rows]

    def next_due_at(self) -> datetime | None:
        """The earliest ``next_run_at`` among enabled, unclaimed entries."""
        with self._single_statement() as conn:
            value: datetime | None = conn.scalar(self._head_statement)
        return value

    def time(self) -> datetime | None:
        """PostgreSQL's ``clock_timestamp()``; ``None`` on SQLite (the beat's own host)."""
        if not self._is_postgres:
            return None
        with self._single_statement() as conn:
            now = conn.scalar(sa.select(sa.func.clock_timestamp()))
        assert isinstance(now, datetime)
        return now.astimezone(timezone.utc)

    # -- lifecycle -------------------------------------------------------------------------------

    def watch(self) -> ChangeFeed:
        """A feed of definition changes made through any store on the same tables.

        PostgreSQL: ``LISTEN`` on a connection of the feed's own. SQLite: polls the change log
        every ``poll_interval`` seconds. Besides entry ids, ``wait()`` may return
        :data:`ANY_CHANGE` (``""``), meaning "changes may have been missed: reload everything".
        """
        feed: ChangeFeed
        if self._is_postgres:
            feed = ListenFeed(
                self._listen_connection, self._schema.channel, self.display_url, self._scrub
            )
        else:
            feed = PollingFeed(self._engine, self._schema, self.poll_interval, self._errors)
        self._feeds.add(feed)
        return feed

    def _listen_connection(self) -> psycopg.Connection[Any]:
        return listen_connection(self._engine)

    def drop(self) -> None:
        """Drop this prefix's tables, entries and history included."""
        schema = self._schema
        with self._write() as conn:
            if self._is_postgres:
                conn.execute(sa.select(sa.func.pg_advisory_xact_lock(schema.lock_key)))
            schema.metadata.drop_all(conn, checkfirst=True)

    def close(self) -> None:
        """Close this store's change feeds and connections; safe to call twice."""
        if self._closed:
            return
        self._closed = True
        for feed in list(self._feeds):
            feed.close()
        _LIVE.discard(self)
        self._dispose()

    def _dispose(self, close: bool = True) -> None:
        """Let go of every pooled connection (``close=False``: without closing them, in a
        forked child that must not use them)."""
        self._engine.dispose(close=close)
        if self._single is not self._engine:
            self._single.dispose(close=close)
