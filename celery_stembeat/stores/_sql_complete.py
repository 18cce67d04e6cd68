"""Completions on PostgreSQL in one statement: lock, check, record and log a batch at once.

The batch travels as two JSON documents (the completions, the runs). One statement locks the
claimed rows in id order (so concurrent batches cannot deadlock), keeps only those whose
claim token still holds, writes their run state and appends their runs to the history. The
statement is atomic by itself, so a beat pays one round trip per batch.

An edit made during the claim wins the next run exactly as
:func:`~celery_stembeat.stores._runstate.rescheduled_during` says: when the stored spec is not
the claimed entry's, or the stored next run (``claimed_for``) is not the claimed occurrence.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from celery_stembeat.stores._sql_schema import Schema

#: The run state a completion writes, with its PostgreSQL types.
STATE_COLUMNS = (
    ("next_run_at", "timestamptz"),
    ("last_scheduled_for", "timestamptz"),
    ("last_run_at", "timestamptz"),
    ("total_run_count", "bigint"),
    ("failure_count", "bigint"),
    ("consecutive_failures", "bigint"),
    ("last_error", "text"),
    ("last_drift", "double precision"),
    ("drift_mean", "double precision"),
    ("drift_max", "double precision"),
)
#: A history row's columns, with their PostgreSQL types.
RUN_COLUMNS = (
    ("entry_id", "text"),
    ("scheduled_for", "timestamptz"),
    ("published_at", "timestamptz"),
    ("outcome", "text"),
    ("drift", "double precision"),
    ("jitter", "double precision"),
    ("error", "text"),
    ("owner", "text"),
    ("task_id", "text"),
)
_CLAIM_COLUMNS = (
    ("id", "text"),
    ("token", "text"),
    ("spec_key", "text"),
    ("scheduled_for", "timestamptz"),
    ("disable", "boolean"),
)


def _columns(columns: Sequence[tuple[str, str]]) -> str:
    return ", ".join(f"{name} {kind}" for name, kind in columns)


def statement(schema: Schema, quote: sa.sql.compiler.IdentifierPreparer) -> sa.TextClause:
    """The statement, with parameters ``completions`` and ``runs`` (JSON text); it returns
    the ids whose completion was recorded."""
    entries, runs = quote.format_table(schema.entries), quote.format_table(schema.runs)
    state = ", ".join(f"{name} = g.{name}" for name, _ in STATE_COLUMNS[1:])
    run_names = ", ".join(name for name, _ in RUN_COLUMNS)
    return sa.text(
        f"""
        WITH given AS (
            SELECT * FROM jsonb_to_recordset(CAST(:completions AS jsonb))
            AS g({_columns(_CLAIM_COLUMNS + STATE_COLUMNS)})
        ), held AS (
            SELECT e.id FROM {entries} AS e JOIN given AS g ON e.id = g.id
            WHERE e.claim_token = g.token ORDER BY e.id FOR UPDATE OF e
        ), done AS (
            UPDATE {entries} AS e SET
                next_run_at = CASE
                    WHEN e.spec_key = g.spec_key AND e.claimed_for = g.scheduled_for
                    THEN g.next_run_at ELSE e.claimed_for END,
                enabled = e.enabled AND NOT g.disable,
                {state},
                claim_token = NULL, claim_owner = NULL, lease_until = NULL,
                claimed_for = NULL, claim_version = NULL
            FROM given AS g JOIN held AS h ON h.id = g.id
            WHERE e.id = g.id
            RETURNING e.id
        ), logged AS (
            INSERT INTO {runs} ({run_names})
            SELECT {run_names} FROM jsonb_to_recordset(CAST(:runs AS jsonb))
            AS r(seq integer, {_columns(RUN_COLUMNS)})
            WHERE r.entry_id IN (SELECT id FROM done)
            ORDER BY r.seq
        )
        SELECT id FROM done
        """
    )


def json_value(value: Any) -> Any:
    """A column value as a JSON row document holds it: instants as ISO 8601 with offset."""
    return value.isoformat() if isinstance(value, datetime) else value


def document(rows: Sequence[dict[str, Any]]) -> str:
    """``rows`` as the JSON text the statement reads (instants as ISO 8601 with offset)."""
    return json.dumps(
        [{key: json_value(value) for key, value in row.items()} for row in rows],
        ensure_ascii=False,
        allow_nan=False,
    )
