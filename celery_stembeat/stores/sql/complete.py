"""Completions: folding outcomes into the claimed rows, one batch at a time.

On PostgreSQL a batch is one statement fed two JSON documents (the completions, the runs). It
locks the claimed rows in id order (so concurrent batches cannot deadlock), keeps only those
whose claim token still holds, writes their run state and appends their runs to the history.
Each run is stamped from the entry's ``history_stamp`` (see
:func:`~celery_stembeat.stores.base.history_stamps`), read from the locked row, so that a
manual run recorded meanwhile is counted in.
The statement is atomic by itself, so a beat pays one round trip per batch. On SQLite the
store locks, checks and writes in one ``BEGIN IMMEDIATE`` transaction (:func:`complete_sqlite`).

An edit made during the claim wins the next run exactly as
:func:`~celery_stembeat.stores._runstate.rescheduled_during` says: when the stored spec is not
the claimed entry's, or the stored next run (``claimed_for``) is not the claimed occurrence.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from celery_stembeat.stores._runstate import advance, rescheduled_during
from celery_stembeat.stores._spec_text import spec_from_text, spec_text
from celery_stembeat.stores.base import (
    RUN_MINUTES_KEPT,
    Claim,
    Outcome,
    RunRecord,
    history_stamps,
    minute_counts,
    run_minute,
)
from celery_stembeat.stores.sql.activity import count_runs
from celery_stembeat.stores.sql.batches import chunks
from celery_stembeat.stores.sql.codec import (
    CLEARED_CLAIM,
    document,
    outcome_values,
    run_values,
    storable,
)
from celery_stembeat.stores.sql.schema import Schema

#: The run state a completion writes, with its PostgreSQL types (not the fields workers'
#: reports write: a completion keeps those as stored).
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
    ("manual", "boolean"),
    ("started_at", "timestamptz"),
    ("finished_at", "timestamptz"),
    ("runtime", "double precision"),
    ("worker", "text"),
)
#: The stamp in both documents: a run's among its completion's runs (see
#: :func:`postgres_params`), and a completion's, that of its last run.
_STAMP_COLUMNS = (("stamp", "timestamptz"),)
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
    minutes = quote.format_table(schema.run_minutes)
    state = ", ".join(f"{name} = g.{name}" for name, _ in STATE_COLUMNS[1:])
    run_names = ", ".join(name for name, _ in RUN_COLUMNS)
    return sa.text(
        f"""
        WITH given AS (
            SELECT * FROM jsonb_to_recordset(CAST(:completions AS jsonb))
            AS g({_columns(_CLAIM_COLUMNS + STATE_COLUMNS + _STAMP_COLUMNS)})
        ), held AS (
            SELECT e.id, e.history_stamp FROM {entries} AS e JOIN given AS g ON e.id = g.id
            WHERE e.claim_token = g.token ORDER BY e.id FOR UPDATE OF e
        ), done AS (
            UPDATE {entries} AS e SET
                next_run_at = CASE
                    WHEN e.spec_key = g.spec_key AND e.claimed_for = g.scheduled_for
                    THEN g.next_run_at ELSE e.claimed_for END,
                enabled = e.enabled AND NOT g.disable,
                {state},
                history_stamp = greatest(h.history_stamp, g.stamp),
                claim_token = NULL, claim_owner = NULL, lease_until = NULL,
                claimed_for = NULL, claim_version = NULL
            FROM given AS g JOIN held AS h ON h.id = g.id
            WHERE e.id = g.id
            RETURNING e.id
        ), logged AS (
            INSERT INTO {runs} ({run_names}, stamp)
            SELECT {", ".join(f"r.{name}" for name, _ in RUN_COLUMNS)},
                greatest(h.history_stamp, r.stamp)
            FROM jsonb_to_recordset(CAST(:runs AS jsonb))
            AS r(seq integer, {_columns(RUN_COLUMNS + _STAMP_COLUMNS)})
            JOIN held AS h ON h.id = r.entry_id
            WHERE r.entry_id IN (SELECT id FROM done)
            ORDER BY r.seq
        ), counted AS (
            INSERT INTO {minutes} (minute, runs)
            SELECT r.minute, count(*)
            FROM jsonb_to_recordset(CAST(:runs AS jsonb)) AS r(entry_id text, minute timestamptz)
            WHERE r.minute IS NOT NULL AND r.entry_id IN (SELECT id FROM done)
            GROUP BY r.minute ORDER BY r.minute
            ON CONFLICT (minute) DO UPDATE SET runs = {minutes}.runs + EXCLUDED.runs
        ), pruned AS (
            DELETE FROM {minutes} WHERE minute < CAST(:oldest_minute AS timestamptz)
        )
        SELECT id FROM done
        """
    )


def postgres_params(pairs: Sequence[tuple[Claim, Outcome]]) -> dict[str, Any]:
    """The parameters of :func:`statement` completing ``pairs`` (of distinct entries).

    Each run carries the minute it counts in (``None``: not counted, see
    :func:`~celery_stembeat.stores.base.minute_counts`) and its stamp among its completion's
    runs, and each completion the stamp of its last run, which the statement raises to the
    entry's ``history_stamp``; ``oldest_minute`` is the oldest minute the counter keeps."""
    completions: list[dict[str, Any]] = []
    new_runs: list[dict[str, Any]] = []
    counted = minute_counts(run for _, outcome in pairs for run in outcome.runs)
    for claim, outcome in pairs:
        result = advance(claim, outcome)
        row: dict[str, Any] = {
            "id": claim.entry_id,
            "token": claim.token,
            "spec_key": spec_text(claim.entry.spec),
            "scheduled_for": claim.scheduled_for,
            "disable": result.disable,
        }
        row.update(outcome_values(result.state))
        stamps = history_stamps(None, outcome.runs)
        row["stamp"] = stamps[-1] if stamps else None
        completions.append(storable(row))
        for run, stamp in zip(outcome.runs, stamps, strict=True):
            minute = run_minute(run)
            values = {"seq": len(new_runs), **run_values(run, stamp)}
            values["minute"] = minute if minute in counted else None
            new_runs.append(storable(values))
    return {
        "completions": document(completions),
        "runs": document(new_runs),
        "oldest_minute": min(counted) - RUN_MINUTES_KEPT if counted else None,
    }


def complete_sqlite(
    conn: sa.Connection,
    schema: Schema,
    pairs: Sequence[tuple[Claim, Outcome]],
    insert: Any,
) -> list[bool]:
    """Complete ``pairs`` in SQLite's write transaction ``conn`` (``insert`` makes an
    ``INSERT … ON CONFLICT``): which were recorded."""
    entries, runs = schema.entries, schema.runs
    c = entries.c
    ids = sorted({claim.entry_id for claim, _ in pairs})
    results = [False] * len(pairs)
    # Lock the rows (in id order, so concurrent batches cannot deadlock) and see which
    # claims still hold their lease.
    held: dict[str, Any] = {}
    for chunk in chunks(ids):
        query = (
            sa.select(c.id, c.claim_token, c.spec_key, c.claimed_for, c.enabled, c.history_stamp)
            .where(c.id.in_(chunk))
            .order_by(c.id)
            .with_for_update()
        )
        held.update((row.id, row) for row in conn.execute(query))
    updates: list[dict[str, Any]] = []
    new_runs: list[dict[str, Any]] = []
    recorded: list[RunRecord] = []
    for index, (claim, outcome) in enumerate(pairs):
        row = held.get(claim.entry_id)
        if row is None or row.claim_token is None or row.claim_token != claim.token:
            continue
        del held[claim.entry_id]  # released: the same claim cannot complete twice
        result = advance(claim, outcome)
        next_run_at = (
            row.claimed_for  # while claimed, the stored next run lives there
            if rescheduled_during(claim, spec_from_text(row.spec_key), row.claimed_for)
            else result.state.next_run_at
        )
        stamps = history_stamps(row.history_stamp, outcome.runs)
        values = outcome_values(result.state)
        values.update(
            CLEARED_CLAIM,
            b_id=claim.entry_id,
            next_run_at=next_run_at,
            enabled=bool(row.enabled) and not result.disable,
            history_stamp=stamps[-1] if stamps else row.history_stamp,
        )
        updates.append(values)
        new_runs.extend(map(run_values, outcome.runs, stamps))
        recorded.extend(outcome.runs)
        results[index] = True
    if updates:
        conn.execute(sa.update(entries).where(c.id == sa.bindparam("b_id")), updates)
    if new_runs:
        conn.execute(sa.insert(runs), new_runs)
        count_runs(conn, schema, insert, minute_counts(recorded))
    return results
