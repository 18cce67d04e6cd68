"""Tables, column types, schema versions and migrations of the SQL store (the package
docstring describes the tables)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import sqlalchemy as sa

from celery_stembeat.audit import AuditHead
from celery_stembeat.entry import TRACKED_FIELDS

#: Meta-table keys.
SCHEMA_VERSION_KEY = "schema_version"
CHANGES_KEY = "changes"


class UTCDateTime(sa.TypeDecorator[datetime]):
    """An aware instant: stored as UTC, read back as aware UTC on every dialect."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value!r}: instants must be timezone-aware")
        value = value.astimezone(timezone.utc)
        # SQLite keeps text without an offset: naive UTC sorts and compares correctly there.
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)

    def result_processor(
        self, dialect: sa.Dialect, coltype: object
    ) -> Callable[[Any], datetime | None] | None:
        # SQLite hands back the naive UTC text written above: parsing it directly costs a
        # quarter of SQLAlchemy's text-to-datetime and the conversion after it.
        if dialect.name == "sqlite":
            return _sqlite_instant
        return super().result_processor(dialect, coltype)


def _sqlite_instant(value: str | None) -> datetime | None:
    # An offset in the text makes a UTC instant at a seventh of the cost of replace(tzinfo=).
    return None if value is None else datetime.fromisoformat(value + "+00:00")


def _json(dialect: str) -> sa.types.TypeEngine[Any]:
    if dialect != "postgresql":
        return sa.JSON()
    # Imported here: a SQLite store never loads SQLAlchemy's PostgreSQL dialect.
    from sqlalchemy.dialects.postgresql import JSONB

    return JSONB()


def _id() -> sa.types.TypeEngine[str]:
    # Byte order (= code point order) on PostgreSQL too, as list() and the memory store sort.
    return sa.Text().with_variant(sa.Text(collation="C"), "postgresql")


def _serial() -> sa.types.TypeEngine[int]:
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _count(name: str) -> sa.Column[int]:
    """A count that rows written before the column existed start at 0."""
    return sa.Column(name, sa.BigInteger, nullable=False, server_default=sa.text("0"))


def failing_predicate(c: Any) -> sa.ColumnElement[bool]:
    """The entries with at least one failure in a row (task outcomes or sends): the
    predicate of the partial index ``{prefix}entries_failing``."""
    zero = sa.literal_column("0", sa.BigInteger())
    return sa.or_(c.consecutive_task_failures > zero, c.consecutive_failures > zero)


def open_predicate(c: Any) -> sa.ColumnElement[bool]:
    """The entries a worker has reported on whose newest occurrence has no final outcome:
    the predicate of the partial index ``{prefix}entries_open``."""
    return sa.and_(
        c.last_outcome.is_not(None),
        c.last_scheduled_for.is_not(None),
        sa.or_(c.last_outcome_for.is_(None), c.last_outcome_for < c.last_scheduled_for),
    )


def unscheduled_predicate(c: Any) -> sa.ColumnElement[bool]:
    """The entries that are not scheduled: disabled (claimed or not), or without a next run,
    which is ``next_run_at`` unclaimed and ``claimed_for`` claimed (an edit during a claim can
    leave none): the predicate of the partial index ``{prefix}entries_unscheduled``."""
    return sa.or_(
        c.enabled == sa.false(),
        sa.and_(c.claim_token.is_(None), c.next_run_at.is_(None)),
        sa.and_(c.claim_token.is_not(None), c.claimed_for.is_(None)),
    )


@dataclass(frozen=True)
class Schema:
    """The tables of one prefix."""

    prefix: str
    metadata: sa.MetaData
    entries: sa.Table
    runs: sa.Table
    meta: sa.Table
    changes: sa.Table
    beats: sa.Table
    incidents: sa.Table
    pause: sa.Table
    entry_tags: sa.Table
    run_minutes: sa.Table
    audit: sa.Table
    audit_head: sa.Table
    calendar_days: sa.Table

    def tables(self, dialect: str) -> list[sa.Table]:
        """The tables this dialect uses (only SQLite needs the change log)."""
        tables = [
            self.meta,
            self.entries,
            self.runs,
            self.beats,
            self.incidents,
            self.pause,
            self.entry_tags,
            self.run_minutes,
            self.audit,
            self.audit_head,
            self.calendar_days,
        ]
        return [*tables, self.changes] if dialect == "sqlite" else tables

    @property
    def channel(self) -> str:
        """The PostgreSQL NOTIFY channel of this prefix."""
        return f"{self.prefix}changes"

    @property
    def lock_key(self) -> int:
        """A PostgreSQL advisory-lock key for schema changes of this prefix."""
        digest = hashlib.sha256(f"celery_stembeat:{self.prefix}".encode()).digest()
        return int.from_bytes(digest[:8], "big", signed=True)


def build_schema(prefix: str, dialect: str) -> Schema:
    """Describe the tables named with ``prefix``, as the ``dialect`` (its name) creates them."""
    metadata = sa.MetaData()
    # Naming another dialect's option would import that dialect, to check the option exists.
    runs_options: dict[str, Any] = {"sqlite_autoincrement": True} if dialect == "sqlite" else {}
    where = f"{dialect}_where"
    entries = sa.Table(
        f"{prefix}entries",
        metadata,
        sa.Column("id", _id(), primary_key=True),
        # -- definition
        sa.Column("task", sa.Text, nullable=False),
        sa.Column("spec", _json(dialect), nullable=False),
        sa.Column("spec_key", sa.Text, nullable=False),
        sa.Column("args", _json(dialect), nullable=False),
        sa.Column("kwargs", _json(dialect), nullable=False),
        sa.Column("options", _json(dialect), nullable=False),
        sa.Column("enabled", sa.Boolean, nullable=False),
        sa.Column("run_once", sa.Boolean, nullable=False),
        sa.Column("expire_at", UTCDateTime),
        sa.Column("catch_up", sa.Text, nullable=False),
        sa.Column("jitter", sa.Double, nullable=False),
        sa.Column("description", sa.Text, nullable=False),
        # (overlap and overlap_timeout added by schema version 5)
        sa.Column("overlap", sa.Text, nullable=False, server_default="allow"),
        sa.Column("overlap_timeout", sa.Double),
        # (added by schema version 9; {prefix}entry_tags indexes it)
        sa.Column("tags", _json(dialect), nullable=False, server_default=sa.text("'[]'")),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("version", sa.BigInteger, nullable=False),
        # "version:digest" of the beat_schedule item start-up sync found this definition equal to
        sa.Column("config_digest", sa.Text),
        # -- run state
        sa.Column("next_run_at", UTCDateTime),
        sa.Column("last_scheduled_for", UTCDateTime),
        sa.Column("last_run_at", UTCDateTime),
        sa.Column("total_run_count", sa.BigInteger, nullable=False),
        sa.Column("failure_count", sa.BigInteger, nullable=False),
        sa.Column("consecutive_failures", sa.BigInteger, nullable=False),
        sa.Column("last_error", sa.Text),
        sa.Column("last_drift", sa.Double),
        sa.Column("drift_mean", sa.Double),
        sa.Column("drift_max", sa.Double),
        sa.Column("created_at", UTCDateTime),
        sa.Column("updated_at", UTCDateTime),
        # -- run state only workers' reports write (added by schema version 3)
        sa.Column("last_outcome", sa.Text),
        sa.Column("last_outcome_for", UTCDateTime),
        _count("success_count"),
        _count("task_failure_count"),
        _count("consecutive_task_failures"),
        sa.Column("last_task_error", sa.Text),
        sa.Column("runtime_mean", sa.Double),
        sa.Column("runtime_max", sa.Double),
        # -- claim (all NULL while unclaimed)
        sa.Column("claim_token", sa.Text),
        sa.Column("claim_owner", sa.Text),
        sa.Column("lease_until", UTCDateTime),
        sa.Column("claimed_for", UTCDateTime),
        sa.Column("claim_version", sa.BigInteger),
        # -- the stamp of the newest run recorded (added by schema version 14)
        sa.Column("history_stamp", UTCDateTime),
        sa.Index(f"{prefix}entries_due", "enabled", "next_run_at", "id"),
        sa.Index(f"{prefix}entries_lease", "lease_until"),
    )
    # Added by schema version 7; the health suspects' queries repeat the predicates. Leading
    # with ``enabled`` lets SQLite, which has no statistics, prefer them to the due index.
    failing: dict[str, Any] = {where: failing_predicate(entries.c)}
    sa.Index(f"{prefix}entries_failing", entries.c.enabled, entries.c.id, **failing)
    open_runs: dict[str, Any] = {where: open_predicate(entries.c)}
    sa.Index(f"{prefix}entries_open", entries.c.enabled, entries.c.last_run_at, **open_runs)
    # Also version 7: entry_counts counts the unscheduled entries from it, and the rest from
    # the smallest index.
    unscheduled: dict[str, Any] = {where: unscheduled_predicate(entries.c)}
    sa.Index(f"{prefix}entries_unscheduled", entries.c.id, **unscheduled)
    runs = sa.Table(
        f"{prefix}runs",
        metadata,
        sa.Column("id", _serial(), primary_key=True, autoincrement=True),
        sa.Column("entry_id", _id(), nullable=False),
        sa.Column("scheduled_for", UTCDateTime, nullable=False),
        sa.Column("published_at", UTCDateTime),
        sa.Column("outcome", sa.Text, nullable=False),
        sa.Column("drift", sa.Double),
        sa.Column("jitter", sa.Double, nullable=False),
        sa.Column("error", sa.Text),
        sa.Column("owner", sa.Text, nullable=False),
        sa.Column("task_id", sa.Text),
        # -- what the worker reported (added by schema version 3)
        sa.Column("started_at", UTCDateTime),
        sa.Column("finished_at", UTCDateTime),
        sa.Column("runtime", sa.Double),
        sa.Column("worker", sa.Text),
        # -- sent out of schedule by `stembeat run` (added by schema version 10)
        sa.Column("manual", sa.Boolean, nullable=False, server_default=sa.false()),
        # -- the instant history ages the run by (added by schema version 14; NULL in rows
        # written before, which age by their own time)
        sa.Column("stamp", UTCDateTime),
        sa.Index(f"{prefix}runs_entry", "entry_id", "id"),
        **runs_options,
    )
    meta = sa.Table(
        f"{prefix}meta",
        metadata,
        sa.Column("key", sa.Text, primary_key=True),
        sa.Column("value", sa.BigInteger, nullable=False),
    )
    changes = sa.Table(
        f"{prefix}changes",
        metadata,
        sa.Column("seq", _serial(), primary_key=True, autoincrement=False),
        sa.Column("entry_id", _id(), nullable=False),
    )
    # Added by schema version 4.
    beats = sa.Table(
        f"{prefix}beats",
        metadata,
        sa.Column("owner", _id(), primary_key=True),
        sa.Column("host", sa.Text, nullable=False),
        sa.Column("pid", sa.BigInteger, nullable=False),
        sa.Column("version", sa.Text, nullable=False),
        sa.Column("started_at", UTCDateTime, nullable=False),
        sa.Column("last_pass_at", UTCDateTime, nullable=False),
        sa.Column("store_latency", sa.Double),
        sa.Column("clock_offset", sa.Double),
    )
    # Added by schema version 6.
    incidents = sa.Table(
        f"{prefix}incidents",
        metadata,
        sa.Column("key", _id(), primary_key=True),
        sa.Column("state", sa.Text, nullable=False),
        sa.Column("since", UTCDateTime, nullable=False),
    )
    # Added by schema version 8: at most one row (``slot`` 1), the pause in force.
    pause = sa.Table(
        f"{prefix}pause",
        metadata,
        sa.Column("slot", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("since", UTCDateTime, nullable=False),
        sa.Column("until", UTCDateTime),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("actor", sa.Text, nullable=False),
    )
    # Added by schema version 9: one row per tag of an entry, written in the transaction that
    # writes the entry (``Store.ids_tagged`` reads the primary key's tag ranges).
    entry_tags = sa.Table(
        f"{prefix}entry_tags",
        metadata,
        sa.Column("tag", _id(), primary_key=True),
        sa.Column("entry_id", _id(), primary_key=True),
        sa.Index(f"{prefix}entry_tags_entry", "entry_id"),
    )
    # Added by schema version 11: runs recorded per minute (the start of the minute, UTC).
    run_minutes = sa.Table(
        f"{prefix}run_minutes",
        metadata,
        sa.Column("minute", UTCDateTime, primary_key=True),
        sa.Column("runs", sa.BigInteger, nullable=False),
    )
    # Added by schema version 12: the audit log (see ``audit.py``), one row per change record,
    # and its head, one row (``slot`` 1).
    audit = sa.Table(
        f"{prefix}audit",
        metadata,
        sa.Column("seq", _serial(), primary_key=True, autoincrement=False),
        sa.Column("entry_id", _id(), nullable=False),
        sa.Column("at", UTCDateTime, nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("hash", sa.Text, nullable=False),
        sa.Index(f"{prefix}audit_entry", "entry_id", "seq"),
    )
    audit_head = sa.Table(
        f"{prefix}audit_head",
        metadata,
        sa.Column("slot", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("seq", sa.BigInteger, nullable=False),
        sa.Column("hash", sa.Text, nullable=False),
        sa.Column("floor", sa.BigInteger, nullable=False),
    )
    # Added by schema version 13: one row per date of a holiday calendar.
    calendar_days = sa.Table(
        f"{prefix}calendar_days",
        metadata,
        sa.Column("calendar", _id(), primary_key=True),
        sa.Column("day", sa.Date, primary_key=True),
    )
    return Schema(
        prefix,
        metadata,
        entries,
        runs,
        meta,
        changes,
        beats,
        incidents,
        pause,
        entry_tags,
        run_minutes,
        audit,
        audit_head,
        calendar_days,
    )


# -- migrations ----------------------------------------------------------------------------------
#
# MIGRATIONS[n] takes the schema from version n to n + 1. Append, never edit or reorder, and
# never drop rows. A later migration that adds a column must also add it to build_schema() and
# check that the column is missing before adding it, because migration 0 creates the tables from
# build_schema() as they are today. Likewise, a migration that adds a table or an index creates it
# only where it is missing.

Migration = Callable[[sa.Connection, Schema], None]


def _create_tables(conn: sa.Connection, schema: Schema) -> None:
    schema.metadata.create_all(conn, tables=schema.tables(conn.dialect.name), checkfirst=True)
    conn.execute(sa.insert(schema.meta).values(key=CHANGES_KEY, value=0))


def _add_columns(conn: sa.Connection, table: sa.Table, names: Sequence[str]) -> None:
    """Add the columns ``names`` of ``table`` (as :func:`build_schema` describes them) that
    the database's table lacks."""
    present = {column["name"] for column in sa.inspect(conn).get_columns(table.name)}
    quoted = conn.dialect.identifier_preparer.format_table(table)
    for name in names:
        if name not in present:
            column = sa.schema.CreateColumn(table.c[name]).compile(dialect=conn.dialect)
            conn.execute(sa.text(f"ALTER TABLE {quoted} ADD COLUMN {column}"))


def _add_config_digest(conn: sa.Connection, schema: Schema) -> None:
    _add_columns(conn, schema.entries, ["config_digest"])


def _add_outcome_columns(conn: sa.Connection, schema: Schema) -> None:
    _add_columns(conn, schema.entries, TRACKED_FIELDS)
    _add_columns(conn, schema.runs, ["started_at", "finished_at", "runtime", "worker"])


def _create_beats(conn: sa.Connection, schema: Schema) -> None:
    schema.beats.create(conn, checkfirst=True)


def _add_overlap_columns(conn: sa.Connection, schema: Schema) -> None:
    _add_columns(conn, schema.entries, ["overlap", "overlap_timeout"])


def _create_incidents(conn: sa.Connection, schema: Schema) -> None:
    schema.incidents.create(conn, checkfirst=True)


def _create_health_indexes(conn: sa.Connection, schema: Schema) -> None:
    for index in health_indexes(schema):
        index.create(conn, checkfirst=True)


def _create_pause(conn: sa.Connection, schema: Schema) -> None:
    schema.pause.create(conn, checkfirst=True)


def _add_tags(conn: sa.Connection, schema: Schema) -> None:
    # Entries stored before have no tags: the new table starts empty.
    _add_columns(conn, schema.entries, ["tags"])
    schema.entry_tags.create(conn, checkfirst=True)


def _add_manual_runs(conn: sa.Connection, schema: Schema) -> None:
    _add_columns(conn, schema.runs, ["manual"])


def health_indexes(schema: Schema) -> list[sa.Index]:
    """The partial indexes of the health suspects and entry counts (added by schema
    version 7)."""
    names = {f"{schema.prefix}entries_{name}" for name in ("failing", "open", "unscheduled")}
    return sorted(
        (index for index in schema.entries.indexes if index.name in names),
        key=lambda index: str(index.name),
    )


def _create_run_minutes(conn: sa.Connection, schema: Schema) -> None:
    schema.run_minutes.create(conn, checkfirst=True)


#: The one row of ``{prefix}audit_head``.
AUDIT_HEAD_SLOT = 1


def _create_audit(conn: sa.Connection, schema: Schema) -> None:
    # Changes made before have no records: the log starts empty.
    schema.audit.create(conn, checkfirst=True)
    schema.audit_head.create(conn, checkfirst=True)
    head = schema.audit_head
    if conn.scalar(sa.select(head.c.slot).where(head.c.slot == AUDIT_HEAD_SLOT)) is None:
        empty = AuditHead()
        values = {"seq": empty.seq, "hash": empty.hash, "floor": empty.floor}
        conn.execute(sa.insert(head).values(slot=AUDIT_HEAD_SLOT, **values))


def _create_calendars(conn: sa.Connection, schema: Schema) -> None:
    schema.calendar_days.create(conn, checkfirst=True)


def _add_history_stamps(conn: sa.Connection, schema: Schema) -> None:
    # Rows written before keep NULL: such a run ages by its own time, and an entry without a
    # history_stamp stamps its next run by that run's own time.
    _add_columns(conn, schema.entries, ["history_stamp"])
    _add_columns(conn, schema.runs, ["stamp"])


MIGRATIONS: tuple[Migration, ...] = (
    _create_tables,
    _add_config_digest,
    _add_outcome_columns,
    _create_beats,
    _add_overlap_columns,
    _create_incidents,
    _create_health_indexes,
    _create_pause,
    _add_tags,
    _add_manual_runs,
    _create_run_minutes,
    _create_audit,
    _create_calendars,
    _add_history_stamps,
)
SCHEMA_VERSION = len(MIGRATIONS)


def stored_version(conn: sa.Connection, schema: Schema) -> int:
    """The schema version the database holds for this prefix; 0 when there are no tables."""
    if not sa.inspect(conn).has_table(schema.meta.name):
        return 0
    meta = schema.meta
    value = conn.scalar(sa.select(meta.c.value).where(meta.c.key == SCHEMA_VERSION_KEY))
    return int(value or 0)


def migrate(conn: sa.Connection, schema: Schema) -> tuple[int, int]:
    """Bring the schema up to date inside the caller's write transaction, which holds the
    dialect's schema lock: (from, to)."""
    if not sa.inspect(conn).has_table(schema.meta.name):
        schema.meta.create(conn)
    current = stored_version(conn, schema)
    if current > SCHEMA_VERSION:
        return current, current
    for migration in MIGRATIONS[current:]:
        migration(conn, schema)
    meta = schema.meta
    if current == 0:
        conn.execute(sa.insert(meta).values(key=SCHEMA_VERSION_KEY, value=SCHEMA_VERSION))
    elif current < SCHEMA_VERSION:
        conn.execute(
            sa.update(meta).where(meta.c.key == SCHEMA_VERSION_KEY).values(value=SCHEMA_VERSION)
        )
    return current, SCHEMA_VERSION
