"""The SQL store's algorithm: :class:`SQLStore` on SQLite or PostgreSQL (see the package for
the tables and the files)."""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import logging
import os
import re
import threading
import time
import weakref
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from datetime import date, datetime, timedelta
from typing import Any, TypeVar

import sqlalchemy as sa

from celery_stembeat import audit
from celery_stembeat.audit import AuditHead, Change, ChangeNote, EntryChange, entry_change
from celery_stembeat.entry import Entry
from celery_stembeat.stores._overlap import read_ahead
from celery_stembeat.stores.base import (
    ANY_CHANGE,
    DEFAULT_HISTORY_LIMIT,
    DEFAULT_HISTORY_MAX_AGE,
    Activity,
    BeatInfo,
    ChangeFeed,
    Claim,
    ClaimBatch,
    EntryCounts,
    Fingerprint,
    HistorySize,
    Incident,
    Outcome,
    Pause,
    RunRecord,
    Store,
    StoreError,
    SuspectRules,
    TaskReport,
    announced,
    check_version,
    checked_activity,
    checked_calendar,
    checked_change_limit,
    checked_history_limit,
    checked_history_max_age,
    checked_manual,
    checked_pause,
    checked_ranking,
    checked_selection,
    checked_soonest,
    checked_transition,
    claim_token,
    not_found,
    pause_change,
)
from celery_stembeat.stores.sql import (
    activity,
    audit_log,
    health,
    maintenance,
    manual,
    outcomes,
    upserts,
)
from celery_stembeat.stores.sql import tags as tag_index
from celery_stembeat.stores.sql.autovacuum import autovacuum_warning
from celery_stembeat.stores.sql.batches import chunks, distinct_runs
from celery_stembeat.stores.sql.beats import delete_beat, read_beats, upsert_beat
from celery_stembeat.stores.sql.calendars import add_days, read_calendars, remove_days
from celery_stembeat.stores.sql.claims import head_query, renew_statement
from celery_stembeat.stores.sql.codec import (
    DEFINITION_READ_COLUMNS,
    definition,
    new_row,
    read_definition,
    read_entry,
    read_fingerprint,
    read_run,
    read_sourced_fingerprint,
)
from celery_stembeat.stores.sql.dialects import dialect_for
from celery_stembeat.stores.sql.engine import WRITE, create_engine, describe, locate
from celery_stembeat.stores.sql.history_size import read_history_size
from celery_stembeat.stores.sql.incidents import read_incidents, transition
from celery_stembeat.stores.sql.ordered import ranked_query, soonest_query
from celery_stembeat.stores.sql.pause import look_query, read_pause, replace_pause, row_pause
from celery_stembeat.stores.sql.schema import (
    SCHEMA_VERSION,
    Schema,
    build_schema,
    migrate,
    stored_version,
)

logger = logging.getLogger(__name__)

DEFAULT_PREFIX = "stembeat_"
#: Rows a streamed read takes from the server at a time.
_STREAM_ROWS = 1000
_T = TypeVar("_T")
_PREFIX_PATTERN = re.compile(r"[A-Za-z0-9_]{0,40}")


def _entry_changes(
    before: Mapping[str, sa.RowMapping], entries: Iterable[Entry]
) -> Iterator[EntryChange | None]:
    """The change each of ``entries`` makes, in order, to the definitions ``before`` (the rows
    :meth:`SQLStore._before` read, by id) and to those of the entries written before it."""
    current: dict[str, Entry] = {}
    for entry in entries:
        found = before.get(entry.id)
        previous = current.get(entry.id) or (None if found is None else read_definition(found))
        yield entry_change(entry.id, previous, entry)
        current[entry.id] = entry


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
        history_max_age: timedelta | float | str = DEFAULT_HISTORY_MAX_AGE,
        audit_limit: int = audit.DEFAULT_AUDIT_LIMIT,
        poll_interval: float = 0.05,
        **engine_options: Any,
    ) -> None:
        """Open (and create or upgrade the tables of) the store at ``url``.

        ``audit_limit`` is how many change records the audit log keeps (the newest);
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
        self.history_max_age = checked_history_max_age(history_max_age, "SQL")
        self.audit_limit = audit.checked_audit_limit(audit_limit, "SQL")
        self.prefix = prefix
        self.poll_interval = poll_interval
        self._closed = False
        self._feeds: weakref.WeakSet[ChangeFeed] = weakref.WeakSet()
        self._engine = self._create_engine(location.url, dict(engine_options))
        self._writer = self._engine.execution_options(**{WRITE: True})
        self._schema: Schema = build_schema(prefix, self._engine.dialect.name)
        entries = self._schema.entries
        self._dialect = dialect_for(self._engine, self._schema)
        # Every column an entry is rebuilt from.
        self._columns = self._dialect.columns
        # What an audited write reads of the rows it changes: their definitions and versions.
        self._before_columns = [
            *(entries.c[name] for name in (*DEFINITION_READ_COLUMNS, "version")),
            self._dialect.definition_json(),
        ]
        # Single statements may run on a pool of their own whose connections stay in
        # autocommit: switching a pooled connection there and back costs a sixth of a pass.
        self._single = (
            self._create_engine(location.url, {**engine_options, "isolation_level": "AUTOCOMMIT"})
            if self._dialect.autocommit_statements
            else self._engine
        )
        #: The index head the last claim left: while it is due, the next claim skips the look.
        self._head_hint: datetime | None = None
        self._head_statement = head_query(self._schema)
        self._look_statement = look_query(self._schema)
        #: Seconds between this store's maintenance passes (see ``maintenance.py``), and the
        #: clock that measures them.
        self.maintenance_interval = maintenance.MAINTENANCE_INTERVAL
        self.monotonic: Callable[[], float] = time.monotonic
        self._maintained_at: float | None = None
        self._retention = maintenance.Retention(self.history_limit, self.history_max_age)
        self._maintenance: threading.Thread | None = None
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
                        self._dialect.lock(conn)
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
        """A connection for one statement: outside a transaction block where the dialect
        allows (a statement is atomic by itself; BEGIN and COMMIT would triple its round
        trips)."""
        with self._errors(), self._single.connect() as conn:
            yield conn

    def _one_write(self) -> contextlib.AbstractContextManager[sa.Connection]:
        """A connection for one writing statement: a single statement where writers run
        concurrently, else a write transaction."""
        return self._single_statement() if self._dialect.autocommit_statements else self._write()

    def _stream(self, query: sa.Select[Any]) -> Iterator[sa.RowMapping]:
        """The rows of ``query``, read through a server-side cursor :data:`_STREAM_ROWS` rows at
        a time (from a server, the next batch read while the caller decodes this one)."""
        batches = self._row_batches(query)
        if self._dialect.reads_ahead:
            batches = read_ahead(batches, "stembeat-read")
        for batch in batches:
            yield from batch

    def _row_batches(self, query: sa.Select[Any]) -> Iterator[Sequence[sa.RowMapping]]:
        options = {"stream_results": True, "yield_per": _STREAM_ROWS}
        with self._errors(), self._engine.connect() as conn, conn.begin():
            yield from conn.execution_options(**options).execute(query).mappings().partitions()

    def _lock_audit(self, conn: sa.Connection) -> AuditHead:
        """The audit log's head, locked: the first statement of an audited write transaction
        (see ``audit_log.py``)."""
        return audit_log.read_head(conn, self._schema, lock=True)

    def _before(self, conn: sa.Connection, ids: Sequence[str]) -> dict[str, sa.RowMapping]:
        """The definition and version of each of the rows ``ids`` that exist, locked."""
        rows = self._dialect.rows_of(conn, self._before_columns, ids, lock=True)
        return {row["id"]: row for row in rows}

    def _record(
        self,
        conn: sa.Connection,
        head: AuditHead,
        note: ChangeNote,
        items: Iterable[EntryChange | None],
    ) -> None:
        """Append the change records of ``items`` to the audit log, in the transaction that
        read ``head``."""
        self._write_records(conn, head, audit_log.records(head, note, items))

    def _write_records(self, conn: sa.Connection, head: AuditHead, made: audit_log.Records) -> None:
        audit_log.write(
            conn, self._schema, head, made, self.audit_limit, self._dialect.insert_changes
        )

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
        return list(self.iter_entries(enabled=enabled, prefix=prefix))

    def iter_entries(
        self, *, enabled: bool | None = None, prefix: str | None = None
    ) -> Iterator[Entry]:
        """One query, sorted by the ids' code points and read through a server-side cursor
        :data:`_STREAM_ROWS` rows at a time."""
        entries = self._schema.entries
        order = entries.c.id.collate("C") if self._engine.dialect.name == "postgresql" else None
        query = sa.select(*self._columns).order_by(entries.c.id if order is None else order)
        if enabled is not None:
            query = query.where(entries.c.enabled == enabled)
        if prefix:
            query = query.where(entries.c.id.startswith(prefix, autoescape=True))
        for row in self._stream(query):
            # SQLite's LIKE ignores ASCII case: the exact test is Python's.
            if prefix is None or row["id"].startswith(prefix):
                yield read_entry(row)

    def soonest(self, limit: int, *, after: tuple[datetime, str] | None = None) -> list[Entry]:
        """One query: a range of the due index ``{prefix}entries_due``."""
        limit, after = checked_soonest(limit, after)
        dialect = self._engine.dialect.name
        query = soonest_query(self._schema, self._columns, dialect, limit, after)
        with self._single_statement() as conn:
            return [read_entry(row) for row in conn.execute(query).mappings()]

    def ranked(self, by: str, limit: int, *, offset: int = 0) -> list[Entry]:
        """One query, sorted on the server (``ORDER BY`` … ``LIMIT``/``OFFSET``: the server
        sorts every row, and reads the ``offset`` rows it skips)."""
        checked_ranking(by, limit, offset)
        dialect = self._engine.dialect.name
        query = ranked_query(self._schema, self._columns, dialect, by, limit, offset)
        with self._single_statement() as conn:
            return [read_entry(row) for row in conn.execute(query).mappings()]

    def get_many(self, entry_ids: Iterable[str]) -> list[Entry]:
        """The entries with these ids that exist, in the order given, in one query."""
        with self._single_statement() as conn:
            return self._read_back(conn, list(entry_ids))

    def _read_back(self, conn: sa.Connection, ids: Sequence[str]) -> list[Entry]:
        return self._dialect.read_back(conn, ids)

    def ids_tagged(self, tags: Collection[str]) -> list[str]:
        """The sorted ids holding every one of ``tags``: one query of ``{prefix}entry_tags``."""
        selection = checked_selection(tags)
        with self._single_statement() as conn:
            return tag_index.read_tagged(conn, self._schema, selection)

    def fingerprints(self) -> dict[str, Fingerprint]:
        """Every beat_schedule entry's :class:`Fingerprint`, in one query over four columns."""
        c = self._schema.entries.c
        query = sa.select(c.id, c.enabled, c.version, c.config_digest).where(c.source == "config")
        with self._single_statement() as conn:
            rows = conn.execute(query).all()
        return {row.id: read_fingerprint(row) for row in rows}

    def fingerprints_of(self, entry_ids: Iterable[str]) -> dict[str, Fingerprint]:
        """The fingerprints of these entries, reading five columns of each in one query."""
        c = self._schema.entries.c
        columns = (c.id, c.enabled, c.version, c.config_digest, c.source)
        with self._single_statement() as conn:
            rows = self._dialect.rows_of(conn, columns, list(entry_ids))
            return {row["id"]: read_sourced_fingerprint(row) for row in rows}

    def write_checked(
        self,
        entries: Sequence[Entry],
        expected_versions: Mapping[str, int],
        digests: Mapping[str, str] | None = None,
        *,
        note: ChangeNote | None = None,
    ) -> list[str]:
        """One transaction: the audit log's head locked, the rows' definitions and versions
        read and locked, then the entries whose version holds written as :meth:`write_many`
        writes them, and their change records appended."""
        note = audit.note_or_default(note, audit.WRITE)
        if not entries:
            return []
        with self._write() as conn:
            head = self._lock_audit(conn)
            stored = self._before(conn, [entry.id for entry in entries])
            refused: list[str] = []
            kept: list[Entry] = []
            for entry in entries:
                found = stored.get(entry.id)
                if (int(found["version"]) if found else 0) == expected_versions[entry.id]:
                    kept.append(entry)
                else:
                    refused.append(entry.id)
            if kept:
                made = functools.cache(
                    lambda: audit_log.records(head, note, _entry_changes(stored, kept))
                )
                self._dialect.insert_rows(conn, [self._new_row(e, digests) for e in kept], made)
                if any(entry.tags for entry in kept) or tag_index.any_tagged(conn, self._schema):
                    self._dialect.write_tags(conn, kept, True)
                self._write_records(conn, head, made())
                self._dialect.announce(conn, announced([entry.id for entry in kept]))
        return refused

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

    def upsert(
        self, entry: Entry, expected_version: int | None = None, *, note: ChangeNote | None = None
    ) -> Entry:
        """Create or update ``entry``'s definition; return what is stored now.

        See :meth:`Store.upsert`. One write transaction: the audit log's head locked, the row's
        definition and version read and locked, then one ``UPDATE`` or ``INSERT`` and the
        change record.
        """
        note = audit.note_or_default(note, audit.WRITE)
        with self._write() as conn:
            head = self._lock_audit(conn)
            before = self._before(conn, [entry.id])
            found = before.get(entry.id)
            actual = None if found is None else int(found["version"])
            check_version(entry.id, expected_version, actual)
            if found is None:
                statement = (
                    self._dialect.insert(self._schema.entries)
                    .values(new_row(entry))
                    .returning(*self._columns)
                )
            else:
                statement = upserts.update_statement(
                    self._schema, self._columns, entry, definition(entry)
                )
            row = conn.execute(statement).mappings().one()
            self._dialect.write_tags(conn, [entry], True)
            self._record(conn, head, note, _entry_changes(before, [entry]))
            self._dialect.announce(conn, [entry.id])
        return read_entry(row)

    def upsert_many(
        self,
        entries: Iterable[Entry],
        digests: Mapping[str, str] | None = None,
        *,
        note: ChangeNote | None = None,
    ) -> list[Entry]:
        """:meth:`upsert` each entry without a version check, all in one transaction.

        The audit log's head is locked and the rows' definitions read (and locked) in one query
        first. Each run of distinct ids is then one ``INSERT … ON CONFLICT (id) DO UPDATE``
        executed with many parameter sets (which applies :meth:`upsert`'s rules row by row),
        then one read of the rows written; an id given again starts a new run, so repeats apply
        in order. The change records go in last, in one bulk insert.
        """
        note = audit.note_or_default(note, audit.WRITE)
        return self._upsert_runs(list(entries), digests, note, read_back=True)

    def write_many(
        self,
        entries: Iterable[Entry],
        digests: Mapping[str, str] | None = None,
        *,
        note: ChangeNote | None = None,
    ) -> None:
        """:meth:`upsert_many` without reading the rows back."""
        note = audit.note_or_default(note, audit.WRITE)
        self._upsert_runs(list(entries), digests, note, read_back=False)

    def _upsert_runs(
        self,
        batch: Sequence[Entry],
        digests: Mapping[str, str] | None,
        note: ChangeNote,
        read_back: bool,
    ) -> list[Entry]:
        if not batch:
            return []
        stored: list[Entry] = []
        with self._write() as conn:
            head = self._lock_audit(conn)
            before = self._before(conn, list(dict.fromkeys(entry.id for entry in batch)))
            # Made once, while the database writes the first rows.
            made = functools.cache(
                lambda: audit_log.records(head, note, _entry_changes(before, batch))
            )
            tagged = tag_index.any_tagged(conn, self._schema)
            for indexes in distinct_runs([entry.id for entry in batch]):
                rows = [self._new_row(batch[index], digests) for index in indexes]
                self._dialect.insert_rows(conn, rows, made)
                run = [batch[index] for index in indexes]
                if tagged or any(entry.tags for entry in run):
                    tagged = self._dialect.write_tags(conn, run, tagged) or tagged
                if read_back:
                    stored += self._read_back(conn, [batch[index].id for index in indexes])
            self._write_records(conn, head, made())
            self._dialect.announce(conn, announced([entry.id for entry in batch]))
        return stored

    def _new_row(self, entry: Entry, digests: Mapping[str, str] | None) -> dict[str, Any]:
        """Every column of ``entry`` as a new, unclaimed row at version 1, with its digest."""
        digest = digests.get(entry.id) if digests else None
        return new_row(entry, f"1:{digest}" if digest else None)

    def delete(
        self,
        entry_id: str,
        *,
        expected_version: int | None = None,
        note: ChangeNote | None = None,
    ) -> bool:
        """Remove the entry and its history; ``False`` if it did not exist. See
        :meth:`Store.delete`. One write transaction: the audit log's head locked, then
        ``DELETE … WHERE id = … [AND version = …]``; when the version named removed nothing,
        the version stored is read (no audited writer can move it: they queue on the head)
        for the conflict."""
        note = audit.note_or_default(note, audit.REMOVE)
        entries, runs = self._schema.entries, self._schema.runs
        statement = sa.delete(entries).where(entries.c.id == entry_id)
        if expected_version is not None:
            statement = statement.where(entries.c.version == expected_version)
        with self._write() as conn:
            head = self._lock_audit(conn)
            gone = conn.execute(statement.returning(*self._before_columns)).mappings().first()
            if gone is None and expected_version is not None:
                version = sa.select(entries.c.version).where(entries.c.id == entry_id)
                check_version(entry_id, expected_version, conn.scalar(version))
            conn.execute(sa.delete(runs).where(runs.c.entry_id == entry_id))
            tag_index.delete_tags(conn, self._schema, entry_id)
            if gone is not None:
                self._record(
                    conn, head, note, [entry_change(entry_id, read_definition(gone), None)]
                )
                self._dialect.announce(conn, [entry_id])
        return gone is not None

    def set_enabled(
        self,
        entry_id: str,
        enabled: bool,
        now: datetime,
        *,
        expected_version: int | None = None,
        note: ChangeNote | None = None,
    ) -> Entry:
        """Enable or disable; enabling starts afresh from ``now`` (no backlog is fired). See
        :meth:`Store.set_enabled`.

        One write transaction: the audit log's head locked, the row read and locked (where
        ``expected_version`` is checked), then ``UPDATE … WHERE id = … AND version = …`` with
        the version read, so the check and the write are one step."""
        _aware(now, "now")
        note = audit.note_or_default(note, audit.ENABLE if enabled else audit.DISABLE)
        entries = self._schema.entries
        c = entries.c
        while True:
            row: sa.RowMapping | None
            with self._write() as conn:
                head = self._lock_audit(conn)
                current = (
                    conn.execute(
                        sa.select(*self._columns).where(c.id == entry_id).with_for_update()
                    )
                    .mappings()
                    .first()
                )
                if current is None:
                    raise not_found(entry_id, expected_version)
                stored = read_entry(current)
                check_version(entry_id, expected_version, stored.version)
                if stored.enabled == enabled:
                    return stored
                statement = upserts.enable_statement(
                    self._schema, self._columns, stored, enabled, now
                )
                row = conn.execute(statement).mappings().first()
                if row is not None:
                    changed = read_entry(row)
                    self._record(conn, head, note, [entry_change(entry_id, stored, changed)])
                    self._dialect.announce(conn, [entry_id])
            if row is not None:
                return changed

    # -- claims ----------------------------------------------------------------------------------

    def claim_batch(self, now: datetime, limit: int, owner: str, lease: timedelta) -> ClaimBatch:
        """Claim what is due and read the earliest due time left after it (see
        :meth:`Store.claim_batch`): ``FOR UPDATE SKIP LOCKED`` on PostgreSQL.

        Unless the last claim left something due by ``now``, a look at the index head and the
        pause comes first: when nothing is due, or a pause holds, that read is all (one round
        trip, no lock). Otherwise PostgreSQL claims and reads the new head in one statement,
        run outside a transaction block (a statement is atomic by itself); SQLite claims and
        reads it in one ``BEGIN IMMEDIATE`` transaction. The claim itself claims nothing while
        a pause holds; when it leaves due entries unclaimed, the pause is read again.
        """
        _aware(now, "now")
        hint = self._head_hint
        if limit <= 0 or hint is None or hint > now:
            head, pause = self._look()
            if pause is not None and pause.in_force(now):
                self._head_hint = None
                return ClaimBatch.held(pause)
            if limit <= 0 or head is None or head > now:
                self._head_hint = head
                return ClaimBatch([], head)  # nothing due: one read, no write lock
        token = claim_token(owner)
        until = now + lease
        params = {"b_now": now, "b_token": token, "b_owner": owner, "b_until": until}
        statement = self._dialect.claim_statement(limit)
        rows, head = self._dialect.claim(self._write, self._single_statement, statement, params)
        if not rows and head is not None and head <= now:
            head, pause = self._look()  # due, yet nothing claimed: a pause came in meanwhile
            if pause is not None and pause.in_force(now):
                self._head_hint = None
                return ClaimBatch.held(pause)
        claims = [Claim(read_entry(row), row["claimed_for"], owner, token, until) for row in rows]
        claims.sort(key=lambda claim: (claim.scheduled_for, claim.entry_id))
        self._head_hint = head
        return ClaimBatch(claims, head)

    def _look(self) -> tuple[datetime | None, Pause | None]:
        """The due index's head and the stored pause, in one query."""
        with self._single_statement() as conn:
            row = conn.execute(self._look_statement).mappings().one()
        head: datetime | None = row["b_head"]
        return head, row_pause(row)

    def complete_many(self, pairs: Iterable[tuple[Claim, Outcome]]) -> list[bool]:
        """:meth:`complete` for several claims, all in one transaction.

        PostgreSQL: one statement per batch of distinct entries (see ``complete.py``).
        SQLite: locks, checks and writes in one ``BEGIN IMMEDIATE`` transaction. History is
        not trimmed here: a maintenance pass follows, at most once per
        ``maintenance_interval`` seconds (see ``maintenance.py``).
        """
        pairs = list(pairs)
        if not pairs:
            return []
        results = self._dialect.complete_many(self._write, self._single_statement, pairs)
        self._maintain_when_due()
        return results

    def _maintain_when_due(self) -> None:
        """A maintenance pass, unless this store started one less than
        ``maintenance_interval`` seconds ago or one is still running. On PostgreSQL it runs
        on a thread of its own (on its own connection), so the beat does not wait for it;
        SQLite's would wait for the beat's write lock, and runs here."""
        now, last = self.monotonic(), self._maintained_at
        if last is not None and now - last < self.maintenance_interval:
            return
        running = self._maintenance
        if running is not None and running.is_alive():
            return
        self._maintained_at = now
        if not self._dialect.autocommit_statements:
            self._maintain()
            return
        self._maintenance = threading.Thread(
            target=self._maintain, name="stembeat-maintenance", daemon=True
        )
        self._maintenance.start()

    def maintain(self) -> None:
        """Make a maintenance pass now (history retention; on PostgreSQL, ``VACUUM`` of the
        tables every fire writes), once any pass still running is done, and wait for it."""
        self._join_maintenance()
        self._maintained_at = self.monotonic()
        self._dialect.maintain(self._write, self._single_statement, self._retention)

    def _maintain(self) -> None:
        """One maintenance pass; a failed pass is logged (the completions are recorded) and
        left for the next interval."""
        try:
            self._dialect.maintain(self._write, self._single_statement, self._retention)
        except StoreError as exc:
            logger.warning("stembeat: history retention and vacuum failed: %s", exc)

    def _join_maintenance(self) -> None:
        """Wait for a maintenance pass still running."""
        running = self._maintenance
        if running is not None and running is not threading.current_thread():
            running.join()

    def server_warnings(self) -> list[str]:
        """PostgreSQL: one line when autovacuum does not cover the store's tables (see
        ``autovacuum.py``)."""
        if self._engine.dialect.name != "postgresql":
            return []
        with self._single_statement() as conn:
            warning = autovacuum_warning(conn, self._schema)
        return [] if warning is None else [f"SQL store {self.display_url}: {warning}"]

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
        with self._one_write() as conn:
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
        statement = self._dialect.recover_statement(now)
        with self._write() as conn:
            recovered = conn.execute(statement).scalars().all()
        return sorted(recovered)

    # -- pause -----------------------------------------------------------------------------------

    def pause(self, pause: Pause, *, note: ChangeNote | None = None) -> Pause | None:
        """Store ``pause``, record and announce it, in one write transaction; the pause
        replaced."""
        pause = checked_pause(pause)
        note = audit.note_or_default(note, audit.PAUSE)
        insert = self._dialect.insert(self._schema.pause)
        with self._write() as conn:
            head = self._lock_audit(conn)
            previous = replace_pause(conn, self._schema, insert, pause)
            self._record(conn, head, note, [pause_change(previous, pause)])
            self._dialect.announce(conn, [ANY_CHANGE])
        return previous

    def resume(self, *, note: ChangeNote | None = None) -> Pause | None:
        """Clear the pause, record and announce it, in one write transaction; the pause
        cleared."""
        note = audit.note_or_default(note, audit.RESUME)
        insert = self._dialect.insert(self._schema.pause)
        with self._write() as conn:
            head = self._lock_audit(conn)
            previous = replace_pause(conn, self._schema, insert, None)
            if previous is not None:
                self._record(conn, head, note, [pause_change(previous, None)])
                self._dialect.announce(conn, [ANY_CHANGE])
        return previous

    def paused(self) -> Pause | None:
        """The stored pause, or ``None``."""
        with self._single_statement() as conn:
            return read_pause(conn, self._schema)

    # -- reading run state -----------------------------------------------------------------------

    def history(self, entry_id: str, limit: int = 100) -> list[RunRecord]:
        """The newest ``limit`` runs of the entry (at most ``history_limit``, none older than
        ``history_max_age`` before the newest), newest first."""
        if limit <= 0 or self.history_limit <= 0:
            return []
        runs = self._schema.runs
        # Retention runs every few seconds: history may hold more runs than it keeps meanwhile.
        query = (
            sa.select(runs)
            .where(runs.c.entry_id == entry_id)
            .order_by(runs.c.id.desc())
            .limit(min(limit, self.history_limit))
        )
        with self._single_statement() as conn:
            rows = conn.execute(query).mappings().all()
        return [read_run(row) for row in maintenance.shown(rows, self.history_max_age)]

    def record_outcomes(self, reports: Sequence[TaskReport]) -> list[bool]:
        """Fold workers' reports into history and run state (see :meth:`Store.record_outcomes`),
        all in one write transaction (see ``outcomes.py``)."""
        if not reports:
            return []
        with self._write() as conn:
            return outcomes.record_outcomes(conn, self._schema, reports)

    def record_manual_run(self, record: RunRecord, *, note: ChangeNote | None = None) -> bool:
        """Append a manual run to history and record it, in one write transaction (see
        ``manual.py``)."""
        checked_manual(record)
        note = audit.note_or_default(note, audit.RUN)
        with self._write() as conn:
            head = self._lock_audit(conn)
            found = manual.record_manual_run(conn, self._schema, record, self._dialect.insert)
            if found:
                self._record(conn, head, note, [(record.entry_id, None, None)])
            return found

    def next_due_at(self) -> datetime | None:
        """The earliest ``next_run_at`` among enabled, unclaimed entries."""
        with self._single_statement() as conn:
            value: datetime | None = conn.scalar(self._head_statement)
        return value

    # -- audit log -------------------------------------------------------------------------------

    def audit_head(self) -> AuditHead:
        """The audit log's head: one row."""
        with self._single_statement() as conn:
            return audit_log.read_head(conn, self._schema)

    def changes(
        self,
        entry_id: str | None = None,
        *,
        since: datetime | None = None,
        newest_first: bool = False,
        limit: int | None = None,
    ) -> Iterator[Change]:
        """The records selected, in the order asked: one query, read :data:`_STREAM_ROWS` rows
        at a time (see ``audit_log.py``)."""
        limit = checked_change_limit(limit)
        query = audit_log.changes_query(self._schema, entry_id, since, newest_first, limit)
        for row in self._stream(query):
            yield audit_log.read_change(row)

    def count_changes(self, entry_id: str | None = None, *, since: datetime | None = None) -> int:
        """The head's count, or one ``COUNT`` of the index range :meth:`changes` reads."""
        if entry_id is None and since is None:
            return self.audit_head().count
        with self._single_statement() as conn:
            return int(conn.scalar(audit_log.count_query(self._schema, entry_id, since)) or 0)

    def change(self, seq: int) -> Change | None:
        """The record numbered ``seq``: one primary-key lookup."""
        with self._single_statement() as conn:
            row = conn.execute(audit_log.change_query(self._schema, seq)).mappings().first()
        return None if row is None else audit_log.read_change(row)

    # -- health ----------------------------------------------------------------------------------

    def entry_counts(self) -> EntryCounts:
        """Every entry and the scheduled ones, in one query of two index counts (see
        ``health.py``)."""
        return self._read_health(health.read_counts, EntryCounts(0, 0))

    def history_size(self) -> HistorySize:
        """The runs held, from PostgreSQL's statistics with the bytes, or counted on SQLite
        (see ``history_size.py``)."""
        return self._read_health(read_history_size, HistorySize(0))

    def health_suspects(self, rules: SuspectRules, limit: int) -> list[str]:
        """The suspects by ``rules``, sorted, at most ``limit``: one query, the union of three
        index lookups of at most ``limit`` rows each (see ``health.py``)."""
        limit = SuspectRules.checked_limit(limit)
        return self._read_health(
            lambda conn, schema: health.read_suspects(conn, schema, rules, limit), []
        )

    def activity(self, now: datetime, overdue_before: datetime, since: datetime) -> Activity:
        """One query of index counts and the counted minutes' rows (see ``activity.py``)."""
        now, overdue_before, since = checked_activity(now, overdue_before, since)
        return self._read_health(
            lambda conn, schema: activity.read_activity(conn, schema, now, overdue_before, since),
            Activity(0, 0, 0, 0, 0),
        )

    def _read_health(self, read: Callable[[sa.Connection, Schema], _T], dropped: _T) -> _T:
        """``read`` on a connection; ``dropped`` when the tables are gone (:meth:`drop`)."""
        with self._single_statement() as conn:
            try:
                return read(conn, self._schema)
            except sa.exc.DBAPIError:
                if sa.inspect(conn).has_table(self._schema.entries.name):
                    raise
                return dropped

    # -- beats -----------------------------------------------------------------------------------

    def record_beat(self, beat: BeatInfo) -> None:
        """Upsert ``beat`` by its owner and forget the beats silent for more than
        :data:`~celery_stembeat.stores.base.BEAT_RETENTION` before it, in one write
        transaction."""
        insert = self._dialect.insert(self._schema.beats)
        with self._write() as conn:
            upsert_beat(conn, self._schema, insert, beat)

    def remove_beat(self, owner: str) -> bool:
        """Forget the beat ``owner``: one ``DELETE``; whether it was recorded."""
        with self._one_write() as conn:
            return delete_beat(conn, self._schema, owner)

    def beats(self) -> list[BeatInfo]:
        """Every recorded beat, by owner."""
        with self._single_statement() as conn:
            return read_beats(conn, self._schema)

    # -- holiday calendars -----------------------------------------------------------------------

    def calendars(self) -> dict[str, tuple[date, ...]]:
        """Every holiday calendar's dates, by name (one query)."""
        with self._single_statement() as conn:
            return read_calendars(conn, self._schema)

    def add_calendar_dates(self, name: str, dates: Collection[date]) -> None:
        """Insert the dates the calendar lacks, in one transaction."""
        name, days = checked_calendar(name, dates)
        if days:
            insert = self._dialect.insert(self._schema.calendar_days)
            with self._write() as conn:
                add_days(conn, insert, name, days)

    def remove_calendar_dates(self, name: str, dates: Collection[date] | None = None) -> None:
        """Delete the dates (or every date) of the calendar, in one transaction."""
        name, days = checked_calendar(name, () if dates is None else dates)
        with self._write() as conn:
            remove_days(conn, self._schema, name, None if dates is None else days)

    # -- incidents -------------------------------------------------------------------------------

    def transition_incident(self, key: str, state: str, at: datetime) -> str | None:
        """Move incident ``key`` to ``state`` in one write transaction that reads its row
        ``FOR UPDATE`` (see ``incidents.py``); the state it left, or ``None``."""
        key, state, at = checked_transition(key, state, at)
        insert = self._dialect.insert(self._schema.incidents)
        with self._write() as conn:
            return transition(conn, self._schema, insert, key, state, at)

    def incidents(self) -> list[Incident]:
        """Every open incident, by key."""
        with self._single_statement() as conn:
            return read_incidents(conn, self._schema)

    def time(self) -> datetime | None:
        """PostgreSQL's ``clock_timestamp()``; ``None`` on SQLite (the beat's own host)."""
        return self._dialect.time(self._single_statement)

    # -- lifecycle -------------------------------------------------------------------------------

    def watch(self) -> ChangeFeed:
        """A feed of definition changes made through any store on the same tables.

        PostgreSQL: ``LISTEN`` on a connection of the feed's own. SQLite: polls the change log
        every ``poll_interval`` seconds. Besides entry ids, ``wait()`` may return
        :data:`ANY_CHANGE` (``""``), meaning "changes may have been missed: reload everything".
        """
        feed = self._dialect.watch(self.display_url, self._scrub, self._errors, self.poll_interval)
        self._feeds.add(feed)
        return feed

    def drop(self) -> None:
        """Drop this prefix's tables, entries and history included."""
        schema = self._schema
        self._join_maintenance()
        with self._write() as conn:
            self._dialect.lock(conn)
            schema.metadata.drop_all(conn, checkfirst=True)

    def close(self) -> None:
        """Close this store's change feeds and connections; safe to call twice."""
        if self._closed:
            return
        self._closed = True
        for feed in list(self._feeds):
            feed.close()
        _LIVE.discard(self)
        self._join_maintenance()
        self._dispose()

    def _dispose(self, close: bool = True) -> None:
        """Let go of every pooled connection (``close=False``: without closing them, in a
        forked child that must not use them)."""
        self._engine.dispose(close=close)
        if self._single is not self._engine:
            self._single.dispose(close=close)
