"""The SQL store's definition writes: one entry's ``UPDATE`` (an edit, enabling or disabling),
and the ``INSERT … ON CONFLICT DO UPDATE`` of many rows, compiled once for SQLite's driver (see
``driver.py``) or fed one JSON document at a time to PostgreSQL. Edits of one entry and of many
apply the same rule for their next run (:func:`rescheduled`)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from celery_stembeat.entry import Entry
from celery_stembeat.stores.sql.codec import DEFINITION_COLUMNS, dumps, json_row
from celery_stembeat.stores.sql.schema import Schema, UTCDateTime

#: Columns holding JSON values.
_JSON_COLUMNS = frozenset(("spec", "args", "kwargs", "options", "tags"))
#: Rows per JSON document PostgreSQL's bulk upsert takes in one statement.
JSON_ROWS = 5000


def _plain_type(column: sa.Column[Any]) -> Any:
    """The type a plain (not JSON) ``column``'s value has in a JSON row document."""
    if isinstance(column.type, sa.Text):
        return sa.Text()
    if isinstance(column.type, UTCDateTime):
        return sa.DateTime(timezone=True)
    return column.type


def rescheduled(
    c: Any, spec_key: Any, enabling: bool | sa.ColumnElement[bool], next_run: Any
) -> dict[str, Any]:
    """Where an edit puts its next run: ``next_run`` wins when the edit changes the schedule
    (a new ``spec_key``, or ``enabling`` a disabled entry), in ``next_run_at`` or, while the
    entry is claimed, in ``claimed_for``; otherwise the stored next run stays."""
    changed = c.spec_key != spec_key
    if enabling is True:
        changed = sa.or_(changed, c.enabled == sa.false())
    elif enabling is not False:
        changed = sa.or_(changed, sa.and_(enabling, c.enabled == sa.false()))
    claimed = c.claim_token.is_not(None)
    return {
        "next_run_at": sa.case((sa.and_(sa.not_(claimed), changed), next_run), else_=c.next_run_at),
        "claimed_for": sa.case((sa.and_(claimed, changed), next_run), else_=c.claimed_for),
    }


def update_statement(
    schema: Schema,
    columns: Sequence[sa.ColumnElement[Any]],
    entry: Entry,
    definition: Mapping[str, Any],
) -> Any:
    """The ``UPDATE`` of ``entry``'s definition, returning ``columns`` (no row if the entry
    is missing)."""
    entries = schema.entries
    c = entries.c
    next_run = sa.literal(entry.state.next_run_at, entries.c.next_run_at.type)
    return (
        sa.update(entries)
        .where(c.id == entry.id)
        .values(
            **definition,
            version=c.version + 1,
            created_at=sa.func.coalesce(
                c.created_at, sa.literal(entry.state.created_at, c.created_at.type)
            ),
            updated_at=entry.state.updated_at,
            **rescheduled(c, definition["spec_key"], entry.enabled, next_run),
        )
        .returning(*columns)
    )


def upsert_many_statement(schema: Schema, insert: Any) -> Any:
    """``insert`` (of whole rows) made an upsert: :func:`update_statement`'s rules, row by row."""
    c = schema.entries.c
    new = insert.excluded
    return insert.on_conflict_do_update(
        index_elements=["id"],
        set_={
            **{name: new[name] for name in DEFINITION_COLUMNS},
            "version": c.version + 1,
            "created_at": sa.func.coalesce(c.created_at, new.created_at),
            "updated_at": new.updated_at,
            **rescheduled(c, new.spec_key, new.enabled == sa.true(), new.next_run_at),
            # A new row's digest is attached to version 1: move it to the version made here.
            "config_digest": sa.case(
                (new.config_digest.is_(None), None),
                else_=sa.cast(c.version + 1, sa.Text) + sa.func.substr(new.config_digest, 2),
            ),
        },
    )


def json_upsert(schema: Schema) -> Any:
    """PostgreSQL's upsert taking its rows from one JSON document (parameter ``rows``)."""
    from sqlalchemy.dialects.postgresql import JSONB, insert

    entries = schema.entries
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
    statement = insert(entries).from_select(
        [c.name for c in entries.c], sa.select(*(record.c[c.name] for c in entries.c))
    )
    return upsert_many_statement(schema, statement)


def json_documents(rows: Sequence[Mapping[str, Any]]) -> Iterator[str]:
    """``rows`` as the JSON documents :func:`json_upsert` takes, :data:`JSON_ROWS` each."""
    for first in range(0, len(rows), JSON_ROWS):
        yield dumps([json_row(row) for row in rows[first : first + JSON_ROWS]])


def enable_statement(
    schema: Schema,
    columns: Sequence[sa.ColumnElement[Any]],
    stored: Entry,
    enabled: bool,
    now: datetime,
) -> Any:
    """The ``UPDATE`` that enables or disables ``stored``, returning ``columns`` (no row if it
    changed meanwhile). Enabling starts afresh from ``now`` (in ``claimed_for`` while the entry
    is claimed)."""
    entries = schema.entries
    c = entries.c
    values: dict[str, Any] = {
        "enabled": enabled,
        "version": c.version + 1,
        "updated_at": now,
    }
    if enabled:
        fresh = sa.literal(stored.first_run_after(now, resume=False), c.next_run_at.type)
        claimed = c.claim_token.is_not(None)
        values["next_run_at"] = sa.case((claimed, c.next_run_at), else_=fresh)
        values["claimed_for"] = sa.case((claimed, fresh), else_=c.claimed_for)
    return (
        sa.update(entries)
        .where(
            c.id == stored.id,
            c.version == stored.version,
            # first_run_after() reads the run count (for one-offs)
            c.total_run_count == stored.state.total_run_count,
        )
        .values(values)
        .returning(*columns)
    )
