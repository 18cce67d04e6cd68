"""The SQL store: SQLite (the embedded default) and PostgreSQL, on SQLAlchemy Core.

``sqlite:///PATH`` or ``postgresql://…`` (``postgres://`` and ``postgresql+psycopg://`` too; the
driver is always psycopg 3). The store's own options, ``prefix`` (default ``stembeat_``) and
``history_limit``, are keyword arguments (``open_store`` takes them from the URL's query).

Tables (named with the prefix)
------------------------------

``{prefix}entries``
    One row per entry: the definition (``task``; ``spec``, ``args``, ``kwargs``, ``options`` as
    JSON, JSONB on PostgreSQL; ``spec_key``, the spec's canonical JSON text, so "the schedule
    changed" is an exact text compare; the flags and ``version``), one column per
    :class:`~celery_stembeat.entry.RunState` field, and the claim: ``claim_token``,
    ``claim_owner``, ``lease_until``, ``claimed_for``, ``claim_version``.

    The due index is ``(enabled, next_run_at, id)`` and the due query is just ``enabled AND
    next_run_at <= now ORDER BY next_run_at, id``: a claim moves ``next_run_at`` into
    ``claimed_for`` and sets it to NULL, so leased entries are not in the index at all. While
    claimed, ``claimed_for`` *is* the entry's ``next_run_at`` (an edit during the claim writes
    its new next run there); completion or lease recovery moves it back. The edit's next run
    wins at completion when the schedule changed since the claim: ``spec_key`` differs from
    the claimed entry's, or ``claimed_for`` no longer is the claimed occurrence (enabled
    again). ``claim_version`` records the version the claim saw. ``lease_until`` is indexed
    for recovery.
``{prefix}runs``
    History, one row per run, oldest first by the autoincrement ``id``; indexed on
    ``(entry_id, id)`` and trimmed to the newest ``history_limit`` per entry on every completion.
``{prefix}meta``
    ``schema_version`` and ``changes``, a counter every definition change increments.
    Migrations (``_sql_schema.MIGRATIONS``) take the schema up from ``schema_version``.
``{prefix}changes`` (SQLite only)
    The change log: ``seq`` (the counter's value) and the changed ``entry_id``; the newest
    10 000 rows are kept. SQLite feeds poll it; PostgreSQL uses ``NOTIFY`` on the channel
    ``{prefix}changes`` with the entry id as payload.

Instants are stored as UTC with microsecond resolution and read back as aware UTC. Floats in
JSON are written so that JSONB (which keeps a number's digits, not its notation) gives back the
same float. PostgreSQL cannot hold NUL characters: entries refuse them in their definitions
(:class:`~celery_stembeat.entry.EntryError`); in run errors (``last_error``, history) they are
replaced by U+FFFD.

Concurrency: SQLite runs in WAL mode with a 30 s busy timeout, and every write is one ``BEGIN
IMMEDIATE`` transaction, so several processes can share the file. On PostgreSQL a claim is one
``UPDATE … FROM (SELECT … FOR UPDATE SKIP LOCKED)`` statement; completions lock their rows in id
order. Schema creation and upgrades run on open, under an advisory lock (PostgreSQL) or a write
transaction (SQLite); an upgrade never drops rows.
"""

from __future__ import annotations

import builtins
import contextlib
import dataclasses
import functools
import json
import math
import operator
import os
import re
import uuid
import weakref
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.pool import StaticPool

from celery_stembeat.entry import Entry, RunState
from celery_stembeat.entry_decode import stored_entry, stored_state
from celery_stembeat.extras import missing_extra
from celery_stembeat.specs import Spec, parse_spec
from celery_stembeat.stores import _sql_complete
from celery_stembeat.stores._decode import attached_digest
from celery_stembeat.stores._overlap import send_while_encoding
from celery_stembeat.stores._runstate import advance, rescheduled_during
from celery_stembeat.stores._sql_feed import (
    CHANGE_LOG_SIZE,
    ListenFeed,
    PollingFeed,
    notify_payload,
)
from celery_stembeat.stores._sql_pool import ping_idle_connections
from celery_stembeat.stores._sql_schema import (
    CHANGES_KEY,
    SCHEMA_VERSION,
    Schema,
    UTCDateTime,
    build_schema,
    migrate,
    stored_version,
)
from celery_stembeat.stores.base import (
    ANY_CHANGE,
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
    StoreURLError,
    VersionConflict,
)

if TYPE_CHECKING:
    import psycopg

__all__ = ["ANY_CHANGE", "DEFAULT_PREFIX", "SQLStore"]

DEFAULT_PREFIX = "stembeat_"
_PREFIX_PATTERN = re.compile(r"[A-Za-z0-9_]{0,40}")
_SQLITE_DRIVERS = ("sqlite", "sqlite+pysqlite")
_POSTGRES_DRIVERS = ("postgresql", "postgres", "postgresql+psycopg", "postgres+psycopg")
_BUSY_TIMEOUT = 30.0
_LISTEN_CONNECT_TIMEOUT = 10
_CHUNK = 500  # ids per IN (…) list
_ID_ARRAY = sa.ARRAY(sa.Text)  # PostgreSQL's ARRAY once compiled for it
_WRITE = "stembeat_write"
#: Columns holding JSON values.
_JSON_COLUMNS = frozenset(("spec", "args", "kwargs", "options"))
#: Rows per JSON document PostgreSQL's bulk upsert takes in one statement.
_JSON_ROWS = 5000
#: A number in exponent form, as ``json.dumps`` writes large and small floats (``repr``
#: always signs the exponent: ``1e-05``, ``1e+300``).
_EXPONENT = re.compile(r"[0-9]e[+-]")
#: ``json.dumps`` as :func:`_dumps` calls it, without building an encoder on every call.
_compact_json = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode

#: Run-state columns a completion writes; the stamps below belong to definition changes.
_OUTCOME_FIELDS = (
    "next_run_at",
    "last_scheduled_for",
    "last_run_at",
    "total_run_count",
    "failure_count",
    "consecutive_failures",
    "last_error",
    "last_drift",
    "drift_mean",
    "drift_max",
)
_RUN_STATE_FIELDS = (*_OUTCOME_FIELDS, "created_at", "updated_at")
_RUN_TEXTS = ("last_error", "error", "owner", "task_id")
_CLEARED_CLAIM: dict[str, Any] = {
    "claim_token": None,
    "claim_owner": None,
    "lease_until": None,
    "claimed_for": None,
    "claim_version": None,
}


def _dumps(value: object) -> str:
    """Compact JSON whose floats survive JSONB (which keeps a number's digits, not its form)."""
    text = _compact_json(value)
    # Only a float in exponent form needs spelling out; the pattern may also find one in a
    # string, which costs the slow path and nothing else.
    return _exact_dumps(value) if _EXPONENT.search(text) else text


def _key(key: object) -> str:
    """A mapping key as ``json.dumps`` writes it (``True`` → ``true``)."""
    return key if isinstance(key, str) else json.dumps(key)


def _exact_dumps(value: object) -> str:
    if isinstance(value, float):
        text = repr(value)
        if not math.isfinite(value):
            raise ValueError(f"{text} is not JSON")
        if "e" in text:
            # JSONB would print 1e+300 as a bare integer; 1000…0.0 reads back as the same float.
            text = format(Decimal(text), "f")
            return text if "." in text else f"{text}.0"
        return text
    if isinstance(value, dict):
        items = (f"{_exact_dumps(_key(key))}:{_exact_dumps(item)}" for key, item in value.items())
        return "{" + ",".join(items) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(_exact_dumps(item) for item in value) + "]"
    return json.dumps(value, ensure_ascii=False, allow_nan=False)


@functools.lru_cache(maxsize=4096)
def _spec_key(spec: Spec) -> str:
    """The spec's canonical JSON (specs are immutable values: computed once per spec)."""
    return json.dumps(
        spec.to_dict(), sort_keys=True, ensure_ascii=False, separators=(",", ":"), allow_nan=False
    )


@functools.lru_cache(maxsize=4096)
def _spec(key: str) -> Spec:
    # Specs are immutable values: one parse per distinct schedule serves every read.
    return parse_spec(json.loads(key))


def _aware(value: datetime, name: str) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise StoreError(f"{name}: {value!r} is a naive datetime; pass an aware one")
    return value


def _chunks(items: Sequence[str]) -> Iterator[Sequence[str]]:
    for start in range(0, len(items), _CHUNK):
        yield items[start : start + _CHUNK]


def _distinct_runs(ids: Sequence[str]) -> Iterator[builtins.list[int]]:
    """Split the positions of ``ids`` into consecutive runs in which no id appears twice."""
    run: builtins.list[int] = []
    seen: set[str] = set()
    for index, entry_id in enumerate(ids):
        if entry_id in seen:
            yield run
            run, seen = [], set()
        run.append(index)
        seen.add(entry_id)
    yield run


#: The columns :func:`_definition` fills.
_DEFINITION_COLUMNS = (
    "task",
    "spec",
    "spec_key",
    "args",
    "kwargs",
    "options",
    "enabled",
    "run_once",
    "expire_at",
    "catch_up",
    "jitter",
    "description",
    "source",
)


def _definition(entry: Entry) -> dict[str, Any]:
    return {
        "task": entry.task,
        "spec": entry.spec.to_dict(),
        "spec_key": _spec_key(entry.spec),
        "args": list(entry.args),
        "kwargs": dict(entry.kwargs),
        "options": dict(entry.options),
        "enabled": entry.enabled,
        "run_once": entry.run_once,
        "expire_at": entry.expire_at,
        "catch_up": entry.catch_up,
        "jitter": entry.jitter,
        "description": entry.description,
        "source": entry.source,
    }


@dataclasses.dataclass(frozen=True)
class _DriverStatement:
    """A statement compiled for the driver: its SQL, how to take a row's column values in
    parameter order, the bind processors by position, and the statement's own constants (which
    come after the columns)."""

    sql: str
    columns: Callable[[Mapping[str, Any]], tuple[Any, ...]]
    processors: builtins.list[tuple[int, Callable[[Any], Any]]]
    constants: tuple[Any, ...]


def _plain_type(column: sa.Column[Any]) -> Any:
    """The type a plain (not JSON) ``column``'s value has in a JSON row document."""
    if isinstance(column.type, sa.Text):
        return sa.Text()
    if isinstance(column.type, UTCDateTime):
        return sa.DateTime(timezone=True)
    return column.type


def _json_row(row: Mapping[str, Any]) -> dict[str, Any]:
    """A row of column values for a JSON row document: instants in ISO 8601 with their
    offset, ``None`` left out."""
    return {
        name: _sql_complete.json_value(value) for name, value in row.items() if value is not None
    }


def _state_values(state: RunState) -> dict[str, Any]:
    return {name: getattr(state, name) for name in _RUN_STATE_FIELDS}


def _outcome_values(state: RunState) -> dict[str, Any]:
    """The run state a completion writes."""
    return {name: getattr(state, name) for name in _OUTCOME_FIELDS}


def _run_values(run: RunRecord) -> dict[str, Any]:
    return {
        "entry_id": run.entry_id,
        "scheduled_for": run.scheduled_for,
        "published_at": run.published_at,
        "outcome": run.outcome,
        "drift": run.drift,
        "jitter": run.jitter,
        "error": run.error,
        "owner": run.owner,
        "task_id": run.task_id,
    }


def _describe(exc: sa.exc.SQLAlchemyError) -> str:
    """The driver's message without the statement (and so without any parameters)."""
    origin: BaseException = exc
    if isinstance(exc, sa.exc.DBAPIError) and exc.orig is not None:
        origin = exc.orig
    text = str(origin).strip().splitlines()
    return f"{type(origin).__name__}: {text[0] if text else ''}".rstrip(": ")


_LIVE: weakref.WeakSet[SQLStore] = weakref.WeakSet()


def _after_fork() -> None:
    # A forked child must not share the parent's pooled connections (SQLAlchemy's advice).
    for store in builtins.list(_LIVE):
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
        try:
            parsed = make_url(url)
        except (sa.exc.ArgumentError, ValueError):
            # The parser's message quotes the URL, password included.
            raise StoreURLError("SQL store: cannot parse the URL") from None
        self._secrets = [str(secret) for secret in (parsed.password, parsed.query.get("password"))]
        self._secrets = [secret for secret in self._secrets if secret and secret != "None"]
        shown = parsed
        if "password" in parsed.query:
            shown = parsed.update_query_dict({"password": "***"})
        self.display_url = shown.render_as_string(hide_password=True)
        if not isinstance(prefix, str) or not _PREFIX_PATTERN.fullmatch(prefix):
            raise StoreError(
                f"SQL store: prefix {prefix!r} must be at most 40 letters, digits or underscores"
            )
        if (
            isinstance(history_limit, bool)
            or not isinstance(history_limit, int)
            or history_limit < 0
        ):
            raise StoreError(f"SQL store: history_limit {history_limit!r} is not a count >= 0")
        self.prefix = prefix
        self.history_limit = history_limit
        self.poll_interval = poll_interval
        self._closed = False
        self._feeds: weakref.WeakSet[ChangeFeed] = weakref.WeakSet()
        self._engine = self._create_engine(parsed, dict(engine_options))
        self._is_postgres = self._engine.dialect.name == "postgresql"
        self._writer = self._engine.execution_options(**{_WRITE: True})
        # PostgreSQL runs single statements on a pool of its own whose connections stay in
        # autocommit: switching a pooled connection there and back costs a sixth of a pass.
        self._single = (
            self._create_engine(parsed, {**engine_options, "isolation_level": "AUTOCOMMIT"})
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
        self._head_statement = self._head_query()
        self._complete_statement = _sql_complete.statement(
            self._schema, self._engine.dialect.identifier_preparer
        )
        self._upgrade()
        _LIVE.add(self)

    # -- set-up ----------------------------------------------------------------------------------

    def _create_engine(self, url: sa.URL, options: dict[str, Any]) -> sa.Engine:
        driver = url.drivername
        settings: dict[str, Any] = {"hide_parameters": True, "json_serializer": _dumps}
        if driver in _POSTGRES_DRIVERS:
            url = url.set(drivername="postgresql+psycopg")
        elif driver in _SQLITE_DRIVERS:
            connect_args: dict[str, Any] = {"timeout": _BUSY_TIMEOUT}
            if url.database in (None, "", ":memory:"):
                # One private in-memory database, shared by this store's connections.
                settings["poolclass"] = StaticPool
                connect_args["check_same_thread"] = False
            elif not url.query.get("uri"):
                _create_private(url.database)
            settings["connect_args"] = {**connect_args, **options.pop("connect_args", {})}
        else:
            raise StoreError(
                f"SQL store {self.display_url}: unsupported driver {driver!r} "
                "(use sqlite:/// or postgresql://, which uses psycopg 3)"
            )
        try:
            engine = sa.create_engine(url, **{**settings, **options})
        except (sa.exc.SQLAlchemyError, ImportError, TypeError, ValueError) as exc:
            missing = missing_extra(exc)
            if missing is not None:
                raise missing from None
            message = f"{type(exc).__name__}: {exc}".split("\n")[0]
            raise StoreError(f"SQL store {self.display_url}: {self._scrub(message)}") from None
        if engine.dialect.name == "sqlite":
            event.listen(engine, "connect", _sqlite_connect)
            event.listen(engine, "begin", _sqlite_begin)
        else:
            ping_idle_connections(engine)
        return engine

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
            message = self._scrub(_describe(exc))
            raise StoreError(f"SQL store {self.display_url}: {message}") from exc

    def _scrub(self, message: str) -> str:
        for secret in self._secrets:
            message = message.replace(secret, "***")
        return message

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

    def _entry(self, row: sa.RowMapping) -> Entry:
        # The row holds what a validated entry wrote, in final types (see entry_decode).
        claimed = row["claim_token"] is not None
        state = stored_state(
            next_run_at=row["claimed_for"] if claimed else row["next_run_at"],
            last_scheduled_for=row["last_scheduled_for"],
            last_run_at=row["last_run_at"],
            total_run_count=int(row["total_run_count"]),
            failure_count=int(row["failure_count"]),
            consecutive_failures=int(row["consecutive_failures"]),
            last_error=row["last_error"],
            last_drift=row["last_drift"],
            drift_mean=row["drift_mean"],
            drift_max=row["drift_max"],
            created_at=row["created_at"],
            updated_at=row["updated_at"],
        )
        return stored_entry(
            id=row["id"],
            task=row["task"],
            spec=_spec(row["spec_key"]),
            args=tuple(row["args"]),
            kwargs=row["kwargs"],
            options=row["options"],
            enabled=bool(row["enabled"]),
            run_once=bool(row["run_once"]),
            expire_at=row["expire_at"],
            catch_up=row["catch_up"],
            jitter=float(row["jitter"]),
            description=row["description"],
            source=row["source"],
            version=int(row["version"]),
            state=state,
        )

    def _announce(self, conn: sa.Connection, entry_ids: Sequence[str]) -> None:
        """Record definition changes, one per id, inside the transaction that made them."""
        meta = self._schema.meta
        counter = conn.execute(
            sa.update(meta)
            .where(meta.c.key == CHANGES_KEY)
            .values(value=meta.c.value + len(entry_ids))
            .returning(meta.c.value)
        ).scalar_one()
        if self._is_postgres:
            # Delivered at commit, to every LISTENing connection.
            conn.execute(
                sa.text(
                    "SELECT pg_notify(:channel, payload) "
                    "FROM unnest(CAST(:payloads AS text[])) AS payload"
                ),
                {
                    "channel": self._schema.channel,
                    "payloads": [notify_payload(entry_id) for entry_id in entry_ids],
                },
            )
        else:
            log = self._schema.changes
            first = counter - len(entry_ids) + 1
            conn.execute(
                sa.insert(log),
                [
                    {"seq": first + index, "entry_id": entry_id}
                    for index, entry_id in enumerate(entry_ids)
                ],
            )
            conn.execute(sa.delete(log).where(log.c.seq <= counter - CHANGE_LOG_SIZE))

    def _version_of(self, conn: sa.Connection, entry_id: str) -> int | None:
        entries = self._schema.entries
        version = conn.scalar(sa.select(entries.c.version).where(entries.c.id == entry_id))
        return None if version is None else int(version)

    def _insert(self) -> Any:
        # Only the engine's own dialect is imported: a store never loads the other one.
        if self._is_postgres:
            from sqlalchemy.dialects import postgresql

            return postgresql.insert(self._schema.entries)
        from sqlalchemy.dialects import sqlite

        return sqlite.insert(self._schema.entries)

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
        return None if row is None else self._entry(row)

    def list(
        self, *, enabled: bool | None = None, prefix: str | None = None
    ) -> builtins.list[Entry]:
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
        found = [self._entry(row) for row in rows if prefix is None or row["id"].startswith(prefix)]
        return sorted(found, key=lambda entry: entry.id)

    def get_many(self, entry_ids: Iterable[str]) -> builtins.list[Entry]:
        """The entries with these ids that exist, in the order given, in one query."""
        with self._single_statement() as conn:
            return self._read_back(conn, builtins.list(entry_ids))

    def _read_back(self, conn: sa.Connection, ids: Sequence[str]) -> builtins.list[Entry]:
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
            wanted = sa.func.unnest(sa.cast(sa.literal(builtins.list(ids)), _ID_ARRAY))
            given = wanted.table_valued("id").render_derived(name="given")
            query = sa.select(*self._columns).join(given, c.id == given.c.id)
            found.update((row["id"], self._entry(row)) for row in conn.execute(query).mappings())
        else:
            for chunk in _chunks(ids):
                rows = conn.execute(sa.select(*self._columns).where(c.id.in_(chunk)))
                found.update((row["id"], self._entry(row)) for row in rows.mappings())
        return [found[entry_id] for entry_id in ids if entry_id in found]

    def fingerprints(self) -> dict[str, Fingerprint]:
        """Every beat_schedule entry's :class:`Fingerprint`, in one query over four columns."""
        c = self._schema.entries.c
        query = sa.select(c.id, c.enabled, c.version, c.config_digest).where(c.source == "config")
        with self._single_statement() as conn:
            rows = conn.execute(query).all()
        return {
            row.id: Fingerprint(bool(row.enabled), attached_digest(row.config_digest, row.version))
            for row in rows
        }

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
        definition = _definition(entry)
        while True:
            row: sa.RowMapping | None = None
            with self._write() as conn:
                if expected_version != 0:
                    row = (
                        conn.execute(self._update_stmt(entry, definition, expected_version))
                        .mappings()
                        .first()
                    )
                    if row is None and expected_version is not None:
                        actual = self._version_of(conn, entry.id)
                        raise VersionConflict(entry.id, expected_version, actual)
                if row is None:
                    insert = (
                        self._insert()
                        .values(
                            id=entry.id,
                            version=1,
                            **definition,
                            **_state_values(entry.state),
                            **_CLEARED_CLAIM,
                        )
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
                return self._entry(row)
            # No check asked for, and another writer created the entry between our UPDATE and
            # INSERT: update it now.

    def _update_stmt(
        self, entry: Entry, definition: Mapping[str, Any], expected_version: int | None
    ) -> Any:
        entries = self._schema.entries
        c = entries.c
        rescheduled = c.spec_key != definition["spec_key"]
        if entry.enabled:
            rescheduled = sa.or_(rescheduled, c.enabled == sa.false())
        next_run = sa.literal(entry.state.next_run_at, entries.c.next_run_at.type)
        claimed = c.claim_token.is_not(None)
        stmt = (
            sa.update(entries)
            .where(c.id == entry.id)
            .values(
                **definition,
                version=c.version + 1,
                created_at=sa.func.coalesce(
                    c.created_at, sa.literal(entry.state.created_at, c.created_at.type)
                ),
                updated_at=entry.state.updated_at,
                next_run_at=sa.case(
                    (sa.and_(sa.not_(claimed), rescheduled), next_run), else_=c.next_run_at
                ),
                claimed_for=sa.case((sa.and_(claimed, rescheduled), next_run), else_=c.claimed_for),
            )
            .returning(*self._columns)
        )
        if expected_version is not None:
            stmt = stmt.where(c.version == expected_version)
        return stmt

    def upsert_many(
        self, entries: Iterable[Entry], digests: Mapping[str, str] | None = None
    ) -> builtins.list[Entry]:
        """:meth:`upsert` each entry without a version check, all in one transaction.

        Each run of distinct ids is one ``INSERT … ON CONFLICT (id) DO UPDATE`` executed with
        many parameter sets (which applies :meth:`upsert`'s rules row by row), then one read of
        the rows written; an id given again starts a new run, so repeats apply in order.
        """
        return self._upsert_runs(builtins.list(entries), digests, read_back=True)

    def write_many(
        self, entries: Iterable[Entry], digests: Mapping[str, str] | None = None
    ) -> None:
        """:meth:`upsert_many` without reading the rows back."""
        self._upsert_runs(builtins.list(entries), digests, read_back=False)

    def _upsert_runs(
        self, batch: Sequence[Entry], digests: Mapping[str, str] | None, read_back: bool
    ) -> builtins.list[Entry]:
        if not batch:
            return []
        stored: builtins.list[Entry] = []
        with self._write() as conn:
            for indexes in _distinct_runs([entry.id for entry in batch]):
                rows = [self._new_row(batch[index], digests) for index in indexes]
                self._insert_rows(conn, rows)
                if read_back:
                    stored += self._read_back(conn, [batch[index].id for index in indexes])
            self._announce(conn, [entry.id for entry in batch])
        return stored

    def _new_row(self, entry: Entry, digests: Mapping[str, str] | None) -> dict[str, Any]:
        """Every column of ``entry`` as a new, unclaimed row at version 1, with its digest."""
        digest = digests.get(entry.id) if digests else None
        return {
            "id": entry.id,
            "version": 1,
            **_definition(entry),
            **_state_values(entry.state),
            **_CLEARED_CLAIM,
            "config_digest": f"1:{digest}" if digest else None,
        }

    def _insert_rows(self, conn: sa.Connection, rows: builtins.list[dict[str, Any]]) -> None:
        """Upsert ``rows`` (distinct ids) by the rules of :meth:`_upsert_many_stmt`.

        Binding 30 parameters per row through SQLAlchemy costs more than the database's whole
        insert. PostgreSQL takes the rows as JSON documents of :data:`_JSON_ROWS` rows each,
        one statement apiece, sent on a thread while the next is encoded; SQLite gets the
        statement compiled once and the rows as tuples of driver values (made by the columns'
        own bind processors), and runs it once per row inside the driver.
        """
        if not self._is_postgres:
            driver = self._sqlite_upsert
            values = []
            # Rows written together mostly share their instants (one stamp, a first run per
            # schedule): each column formats each distinct instant once.
            instants: dict[tuple[int, datetime], Any] = {}
            for row in rows:
                items = list(driver.columns(row))
                for index, process in driver.processors:
                    value = items[index]
                    if value is None:  # NULL whatever the type (JSON is NOT NULL)
                        continue
                    if type(value) is datetime:
                        key = (index, value)
                        if (done := instants.get(key)) is None:
                            done = instants[key] = process(value)
                        items[index] = done
                    else:
                        items[index] = process(value)
                values.append((*items, *driver.constants))
            conn.exec_driver_sql(driver.sql, values)
            return
        statement = self._json_upsert

        def documents() -> Iterator[str]:
            for first in range(0, len(rows), _JSON_ROWS):
                yield _dumps([_json_row(row) for row in rows[first : first + _JSON_ROWS]])

        send_while_encoding(
            documents(), lambda text: conn.execute(statement, {"rows": text}), "stembeat-upsert"
        )

    @functools.cached_property
    def _sqlite_upsert(self) -> _DriverStatement:
        """SQLite's upsert statement compiled once, for rows of driver values."""
        dialect = self._engine.dialect
        compiled = self._upsert_many_stmt(self._insert()).compile(dialect=dialect)
        columns = self._schema.entries.c
        names = [name for name in compiled.positiontup or () if name in columns]
        constants = (compiled.positiontup or ())[len(names) :]
        if any(name in columns for name in constants):
            raise StoreError("the upsert statement binds its constants before its columns")
        processors = []
        for index, name in enumerate(names):
            process = columns[name].type.dialect_impl(dialect).bind_processor(dialect)
            if process is not None:
                processors.append((index, process))
        return _DriverStatement(
            compiled.string,
            operator.itemgetter(*names),
            processors,
            tuple(compiled.params[name] for name in constants),
        )

    @functools.cached_property
    def _json_upsert(self) -> Any:
        """PostgreSQL's upsert taking its rows from one JSON document (parameter ``rows``)."""
        from sqlalchemy.dialects.postgresql import JSONB

        entries = self._schema.entries
        record = (
            sa.func.jsonb_to_recordset(sa.cast(sa.bindparam("rows", type_=sa.Text), JSONB))
            .table_valued(
                *(
                    sa.column(c.name, JSONB() if c.name in _JSON_COLUMNS else _plain_type(c))
                    for c in entries.c
                )
            )
            .render_derived(name="r", with_types=True)
        )
        insert = self._insert().from_select(
            [c.name for c in entries.c], sa.select(*(record.c[c.name] for c in entries.c))
        )
        return self._upsert_many_stmt(insert)

    def _upsert_many_stmt(self, insert: Any) -> Any:
        """``insert`` (of whole rows) made an upsert: :meth:`upsert`'s rules, row by row."""
        c = self._schema.entries.c
        new = insert.excluded
        rescheduled = sa.or_(
            c.spec_key != new.spec_key, sa.and_(new.enabled == sa.true(), c.enabled == sa.false())
        )
        claimed = c.claim_token.is_not(None)
        return insert.on_conflict_do_update(
            index_elements=["id"],
            set_={
                **{name: new[name] for name in _DEFINITION_COLUMNS},
                "version": c.version + 1,
                "created_at": sa.func.coalesce(c.created_at, new.created_at),
                "updated_at": new.updated_at,
                "next_run_at": sa.case(
                    (sa.and_(sa.not_(claimed), rescheduled), new.next_run_at),
                    else_=c.next_run_at,
                ),
                "claimed_for": sa.case(
                    (sa.and_(claimed, rescheduled), new.next_run_at), else_=c.claimed_for
                ),
                # A new row's digest is attached to version 1: move it to the version made here.
                "config_digest": sa.case(
                    (new.config_digest.is_(None), None),
                    else_=sa.cast(c.version + 1, sa.Text) + sa.func.substr(new.config_digest, 2),
                ),
            },
        )

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
                stored = self._entry(current)
                if stored.enabled == enabled:
                    return stored
                values: dict[str, Any] = {
                    "enabled": enabled,
                    "version": c.version + 1,
                    "updated_at": now,
                }
                if enabled:
                    fresh = sa.literal(
                        stored.first_run_after(now, resume=False), c.next_run_at.type
                    )
                    claimed = c.claim_token.is_not(None)
                    values["next_run_at"] = sa.case((claimed, c.next_run_at), else_=fresh)
                    values["claimed_for"] = sa.case((claimed, fresh), else_=c.claimed_for)
                row = (
                    conn.execute(
                        sa.update(entries)
                        .where(
                            c.id == entry_id,
                            c.version == stored.version,
                            # first_run_after() reads the run count (for one-offs)
                            c.total_run_count == stored.state.total_run_count,
                        )
                        .values(values)
                        .returning(*self._columns)
                    )
                    .mappings()
                    .first()
                )
                if row is not None:
                    self._announce(conn, [entry_id])
            if row is not None:
                return self._entry(row)

    # -- claims ----------------------------------------------------------------------------------

    def claim_due(
        self, now: datetime, limit: int, owner: str, lease: timedelta
    ) -> builtins.list[Claim]:
        """Lease up to ``limit`` enabled entries whose ``next_run_at <= now``, earliest first.

        One statement: ``FOR UPDATE SKIP LOCKED`` on PostgreSQL, a ``BEGIN IMMEDIATE``
        transaction on SQLite.
        """
        return self.claim_batch(now, limit, owner, lease).claims

    def claim_batch(self, now: datetime, limit: int, owner: str, lease: timedelta) -> ClaimBatch:
        """:meth:`claim_due` and the earliest due time left after it.

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
        token = f"{owner}:{uuid.uuid4().hex}"
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
        claims = [Claim(self._entry(row), row["claimed_for"], owner, token, until) for row in rows]
        claims.sort(key=lambda claim: (claim.scheduled_for, claim.entry_id))
        self._head_hint = head
        return ClaimBatch(claims, head)

    def _claim_statement(self, limit: int) -> Any:
        """The claim of up to ``limit`` entries (built once per limit: building costs more
        than running it). On PostgreSQL its first column, ``b_head``, is the index head left
        after the claim, on a row of its own when nothing was claimed."""
        statement = self._claims.get(limit)
        if statement is not None:
            return statement
        entries = self._schema.entries
        c = entries.c
        now = sa.bindparam("b_now", type_=c.next_run_at.type)
        due = entries.alias("due")
        picked = (
            sa.select(due.c.id)
            .where(due.c.enabled == sa.true(), due.c.next_run_at <= now)
            .order_by(due.c.next_run_at, due.c.id)
            .limit(limit)
        )
        claim = sa.update(entries).values(
            claimed_for=c.next_run_at,
            next_run_at=None,
            claim_token=sa.bindparam("b_token", type_=c.claim_token.type),
            claim_owner=sa.bindparam("b_owner", type_=c.claim_owner.type),
            lease_until=sa.bindparam("b_until", type_=c.lease_until.type),
            claim_version=c.version,
        )
        if self._is_postgres:
            chosen = picked.with_for_update(skip_locked=True).cte("picked")
            claimed = claim.where(c.id == chosen.c.id).returning(*self._columns).cte("claimed")
            # The sibling query sees the table as it was before the claim: leave out the
            # rows just claimed.
            left = (
                self._head_query()
                .where(c.id.not_in(sa.select(chosen.c.id)))
                .scalar_subquery()
                .label("b_head")
            )
            head = sa.select(left).subquery("head")
            statement = sa.select(head.c.b_head, claimed).select_from(
                head.outerjoin(claimed, sa.true())
            )
        else:
            statement = claim.where(c.id.in_(picked)).returning(*self._columns)
        self._claims[limit] = statement
        return statement

    def _head_query(self) -> sa.Select[Any]:
        c = self._schema.entries.c
        return (
            sa.select(c.next_run_at)
            .where(c.enabled == sa.true(), c.next_run_at.is_not(None))
            .order_by(c.next_run_at)
            .limit(1)
        )

    def complete(self, claim: Claim, outcome: Outcome) -> bool:
        """Record ``outcome`` for ``claim`` in one transaction; ``False`` if the lease was lost.

        See :meth:`Store.complete`.
        """
        return self.complete_many([(claim, outcome)])[0]

    def complete_many(self, pairs: Iterable[tuple[Claim, Outcome]]) -> builtins.list[bool]:
        """:meth:`complete` for several claims, all in one transaction.

        PostgreSQL: one statement per batch of distinct entries (see ``_sql_complete``), in
        a transaction only when history needs trimming too. SQLite: locks, checks and writes
        in one ``BEGIN IMMEDIATE`` transaction.
        """
        pairs = builtins.list(pairs)
        results = [False] * len(pairs)
        if not pairs:
            return results
        if self._is_postgres:
            for indexes in _distinct_runs([claim.entry_id for claim, _ in pairs]):
                done = self._complete_postgres([pairs[index] for index in indexes])
                for index, recorded in zip(indexes, done, strict=True):
                    results[index] = recorded
            return results
        entries, runs = self._schema.entries, self._schema.runs
        c = entries.c
        ids = sorted({claim.entry_id for claim, _ in pairs})
        with self._write() as conn:
            # Lock the rows (in id order, so concurrent batches cannot deadlock) and see which
            # claims still hold their lease.
            held: dict[str, Any] = {}
            for chunk in _chunks(ids):
                query = (
                    sa.select(c.id, c.claim_token, c.spec_key, c.claimed_for, c.enabled)
                    .where(c.id.in_(chunk))
                    .order_by(c.id)
                    .with_for_update()
                )
                held.update((row.id, row) for row in conn.execute(query))
            updates: builtins.list[dict[str, Any]] = []
            new_runs: builtins.list[dict[str, Any]] = []
            full: set[str] = set()
            for index, (claim, outcome) in enumerate(pairs):
                row = held.get(claim.entry_id)
                if row is None or row.claim_token is None or row.claim_token != claim.token:
                    continue
                del held[claim.entry_id]  # released: the same claim cannot complete twice
                result = advance(claim, outcome)
                next_run_at = (
                    row.claimed_for  # while claimed, the stored next run lives there
                    if rescheduled_during(claim, _spec(row.spec_key), row.claimed_for)
                    else result.state.next_run_at
                )
                values = _outcome_values(result.state)
                values.update(
                    _CLEARED_CLAIM,
                    b_id=claim.entry_id,
                    next_run_at=next_run_at,
                    enabled=bool(row.enabled) and not result.disable,
                )
                updates.append(self._storable(values))
                new_runs.extend(self._storable(_run_values(run)) for run in outcome.runs)
                if outcome.runs and self._over_limit(result.state):
                    full.add(claim.entry_id)
                results[index] = True
            if updates:
                conn.execute(sa.update(entries).where(c.id == sa.bindparam("b_id")), updates)
            if new_runs:
                conn.execute(sa.insert(runs), new_runs)
            if full:
                self._trim(conn, sorted(full))
        return results

    def _complete_postgres(self, pairs: Sequence[tuple[Claim, Outcome]]) -> builtins.list[bool]:
        """Complete claims of distinct entries in one statement (plus a trim if needed)."""
        completions: builtins.list[dict[str, Any]] = []
        new_runs: builtins.list[dict[str, Any]] = []
        full: builtins.list[str] = []
        for claim, outcome in pairs:
            result = advance(claim, outcome)
            row: dict[str, Any] = {
                "id": claim.entry_id,
                "token": claim.token,
                "spec_key": _spec_key(claim.entry.spec),
                "scheduled_for": claim.scheduled_for,
                "disable": result.disable,
            }
            row.update(_outcome_values(result.state))
            completions.append(self._storable(row))
            for run in outcome.runs:
                new_runs.append(self._storable({"seq": len(new_runs), **_run_values(run)}))
            if outcome.runs and self._over_limit(result.state):
                full.append(claim.entry_id)
        params = {
            "completions": _sql_complete.document(completions),
            "runs": _sql_complete.document(new_runs),
        }
        connection = self._write() if full else self._single_statement()
        with connection as conn:
            done = set(conn.execute(self._complete_statement, params).scalars())
            if full:
                self._trim(conn, sorted(set(full) & done))
        return [claim.entry_id in done for claim, _ in pairs]

    def _over_limit(self, state: RunState) -> bool:
        """Whether history may hold more runs than it keeps: it holds at most one row per
        run ever counted, so only an entry that counted more runs than the limit can."""
        return state.total_run_count + state.failure_count > self.history_limit

    def _storable(self, values: dict[str, Any]) -> dict[str, Any]:
        """Run-state texts PostgreSQL can hold: NUL becomes U+FFFD there.

        Error messages come from brokers and exceptions; refusing one would fail the completion
        for good (and re-publish the occurrence after every lease), so it is mended instead.
        """
        if self._is_postgres:
            for name in _RUN_TEXTS:
                text = values.get(name)
                if isinstance(text, str) and "\x00" in text:
                    values[name] = text.replace("\x00", "\ufffd")
        return values

    def _trim(self, conn: sa.Connection, entry_ids: Sequence[str]) -> None:
        runs = self._schema.runs
        newest: sa.BindParameter[str] = sa.bindparam("b_entry", type_=runs.c.entry_id.type)
        oldest_kept = (
            sa.select(runs.c.id)
            .where(runs.c.entry_id == newest)
            .order_by(runs.c.id.desc())
            .limit(1)
            .offset(self.history_limit)
            .scalar_subquery()
        )
        conn.execute(
            sa.delete(runs).where(runs.c.entry_id == newest, runs.c.id <= oldest_kept),
            [{"b_entry": entry_id} for entry_id in entry_ids],
        )

    def renew_claims(
        self, claims: Sequence[Claim], now: datetime, lease: timedelta
    ) -> builtins.list[Claim | None]:
        """Extend the claims still held: one ``UPDATE … WHERE claim_token = …`` per claim
        batch (a batch's claims share their token)."""
        until = _aware(now, "now") + lease
        c = self._schema.entries.c
        by_token: dict[str, builtins.list[str]] = {}
        for claim in claims:
            by_token.setdefault(claim.token, []).append(claim.entry_id)
        held: set[tuple[str, str]] = set()
        connection = self._single_statement() if self._is_postgres else self._write()
        with connection as conn:
            for token, ids in by_token.items():
                for chunk in _chunks(ids):
                    statement = (
                        sa.update(self._schema.entries)
                        .where(c.claim_token == token, c.id.in_(chunk))
                        .values(lease_until=until)
                        .returning(c.id)
                    )
                    held.update((token, entry_id) for entry_id in conn.execute(statement).scalars())
        return [
            dataclasses.replace(claim, lease_until=until)
            if (claim.token, claim.entry_id) in held
            else None
            for claim in claims
        ]

    def recover_expired_claims(self, now: datetime) -> builtins.list[str]:
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
        stmt = sa.update(entries).values(next_run_at=c.claimed_for, **_CLEARED_CLAIM)
        if self._is_postgres:
            lapsed = entries.alias("lapsed")
            chosen = (
                sa.select(lapsed.c.id)
                .where(lapsed.c.lease_until <= now)
                .order_by(lapsed.c.id)
                .with_for_update(skip_locked=True)
                .subquery("chosen")
            )
            stmt = stmt.where(c.id == chosen.c.id)
        else:
            stmt = stmt.where(c.lease_until <= now)
        with self._write() as conn:
            recovered = conn.execute(stmt.returning(c.id)).scalars().all()
        return sorted(recovered)

    # -- reading run state -----------------------------------------------------------------------

    def history(self, entry_id: str, limit: int = 100) -> builtins.list[RunRecord]:
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
        return [
            RunRecord(
                entry_id=row["entry_id"],
                scheduled_for=row["scheduled_for"],
                outcome=row["outcome"],
                published_at=row["published_at"],
                drift=row["drift"],
                jitter=row["jitter"],
                error=row["error"],
                owner=row["owner"],
                task_id=row["task_id"],
            )
            for row in rows
        ]

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
        import psycopg

        args, kwargs = self._engine.dialect.create_connect_args(self._engine.url)
        # Without a connect timeout, a feed reconnecting to an unreachable host would hang.
        kwargs.setdefault("connect_timeout", _LISTEN_CONNECT_TIMEOUT)
        return psycopg.connect(*args, **{**kwargs, "autocommit": True})

    def drop_schema(self) -> None:
        """Drop this prefix's tables, entries and history included (for tests and uninstall)."""
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
        for feed in builtins.list(self._feeds):
            feed.close()
        _LIVE.discard(self)
        self._dispose()

    def _dispose(self, close: bool = True) -> None:
        """Let go of every pooled connection (``close=False``: without closing them, in a
        forked child that must not use them)."""
        self._engine.dispose(close=close)
        if self._single is not self._engine:
            self._single.dispose(close=close)


def _create_private(path: str) -> None:
    """Create the SQLite file ``path`` readable by its owner only, unless it exists.

    Entries' kwargs often carry secrets. SQLite gives its ``-wal`` and ``-shm`` files the
    database file's permissions, so they are private too.
    """
    # If it exists, or its directory is missing or read-only, SQLite carries on or says so.
    with contextlib.suppress(OSError):
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))


def _sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    # SQLAlchemy emits BEGIN itself (see _sqlite_begin); the driver must not.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")  # a no-op for in-memory databases
        cursor.execute("PRAGMA synchronous=NORMAL")
    finally:
        cursor.close()


def _sqlite_begin(conn: sa.Connection) -> None:
    # Writers take the write lock up front: no deadlock-prone lock upgrade mid-transaction.
    immediate = conn.get_execution_options().get(_WRITE, False)
    conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")
