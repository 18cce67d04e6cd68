"""Workers' reports: folded into their history rows and their entries' tracked run state.

One write transaction per batch, the same on PostgreSQL and SQLite: lock the reported
entries' rows (``FOR UPDATE`` in id order, as completions lock them, so the two cannot
deadlock; SQLite's ``BEGIN IMMEDIATE`` runs alone anyway), read the newest history row of
each reported occurrence, fold the reports in order with
:func:`~celery_stembeat.stores._outcomes.fold`, and write back what changed with one
many-parameter ``UPDATE`` per table. Completions never write these columns.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

import sqlalchemy as sa

from celery_stembeat.entry import TRACKED_FIELDS, RunState
from celery_stembeat.entry_decode import stored_state
from celery_stembeat.stores._outcomes import fold_batch, occurrence_key
from celery_stembeat.stores.base import RunRecord, TaskReport
from celery_stembeat.stores.sql.batches import chunks
from celery_stembeat.stores.sql.codec import (
    read_run,
    read_tracked,
    reported_values,
    storable,
    tracked_values,
)
from celery_stembeat.stores.sql.schema import Schema

#: An occurrence: its entry's id, its scheduled time, whether it is a manual run.
_Key = tuple[str, datetime, bool]
_ONE_MS = timedelta(milliseconds=1)


def record_outcomes(
    conn: sa.Connection, schema: Schema, reports: Sequence[TaskReport]
) -> list[bool]:
    """Fold ``reports`` in the write transaction ``conn``: per report, whether its
    occurrence's run record was found."""
    states = _lock_states(conn, schema, sorted({report.entry_id for report in reports}))
    keys = [occurrence_key(r) for r in reports if r.entry_id in states]
    records = _newest_runs(conn, schema, keys)
    batch = fold_batch(
        reports, {key: run for key, (_, run) in records.items()}, states, occurrence_key
    )
    changed_runs = {records[key][0]: run for key, run in batch.runs.items()}
    _write_back(conn, schema, changed_runs, batch.states)
    return batch.found


def _lock_states(
    conn: sa.Connection, schema: Schema, entry_ids: Sequence[str]
) -> dict[str, RunState]:
    """The tracked run state of the entries with ``entry_ids`` (sorted) that exist, their
    rows locked in id order."""
    c = schema.entries.c
    states: dict[str, RunState] = {}
    for chunk in chunks(entry_ids):
        query = (
            sa.select(c.id, *(c[name] for name in TRACKED_FIELDS))
            .where(c.id.in_(chunk))
            .order_by(c.id)
            .with_for_update()
        )
        rows = conn.execute(query).mappings()
        states.update((row["id"], stored_state(**read_tracked(row))) for row in rows)
    return states


def _newest_runs(
    conn: sa.Connection, schema: Schema, keys: Sequence[_Key]
) -> dict[_Key, tuple[int, RunRecord]]:
    """The newest history row (its id and run) of each occurrence in ``keys`` that has one.

    A row matches to the millisecond: an interval started at an instant with microseconds
    keeps them in its occurrences, while a message's header, and so the report, has none.
    """
    runs = schema.runs
    found: dict[_Key, tuple[int, RunRecord]] = {}
    for chunk in chunks(list(dict.fromkeys(keys))):
        wanted = set(chunk)
        earliest = min(when for _, when, _ in chunk)
        latest = max(when for _, when, _ in chunk) + _ONE_MS
        query = (
            sa.select(runs)
            .where(
                runs.c.entry_id.in_({entry_id for entry_id, _, _ in chunk}),
                runs.c.scheduled_for >= earliest,
                runs.c.scheduled_for < latest,
            )
            .order_by(runs.c.id)
        )
        for row in conn.execute(query).mappings():
            run = read_run(row)
            key = occurrence_key(run)
            if key in wanted:
                # Oldest first: a newer row for the same occurrence replaces an older one.
                found[key] = (row["id"], run)
    return found


def _write_back(
    conn: sa.Connection, schema: Schema, runs: dict[int, RunRecord], states: dict[str, RunState]
) -> None:
    """Write the folded history rows and run states: one statement, many parameters, each."""
    for table, rows in (
        (schema.runs, [{"b_id": i, **reported_values(run)} for i, run in runs.items()]),
        (schema.entries, [{"b_id": i, **tracked_values(s)} for i, s in states.items()]),
    ):
        if rows:
            update = sa.update(table).where(table.c.id == sa.bindparam("b_id"))
            conn.execute(update, [storable(row) for row in rows])
