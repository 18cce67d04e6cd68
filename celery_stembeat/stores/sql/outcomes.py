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
from celery_stembeat.specs._time import truncate_to_ms
from celery_stembeat.stores._outcomes import fold
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

#: An occurrence: its entry's id and its scheduled time.
_Key = tuple[str, datetime]
_ONE_MS = timedelta(milliseconds=1)


def record_outcomes(
    conn: sa.Connection, schema: Schema, reports: Sequence[TaskReport]
) -> list[bool]:
    """Fold ``reports`` in the write transaction ``conn``: per report, whether its
    occurrence's run record was found."""
    states = _lock_states(conn, schema, sorted({report.entry_id for report in reports}))
    records = _newest_runs(conn, schema, [_key(r) for r in reports if r.entry_id in states])
    found: list[bool] = []
    runs: dict[int, RunRecord] = {}
    changed: dict[str, RunState] = {}
    for report in reports:
        key = _key(report)
        held = records.get(key)
        found.append(held is not None)
        if held is None:
            continue
        run_id, record = held
        folded = fold(record, states[report.entry_id], report)
        if folded is None:
            continue
        records[key] = (run_id, folded.record)
        runs[run_id] = folded.record
        if folded.state is not None:
            states[report.entry_id] = changed[report.entry_id] = folded.state
    _write_back(conn, schema, runs, changed)
    return found


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


def _key(report: TaskReport) -> _Key:
    """The occurrence a report names, to the millisecond its message's header carries."""
    return report.entry_id, truncate_to_ms(report.scheduled_for)


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
        earliest = min(when for _, when in chunk)
        latest = max(when for _, when in chunk) + _ONE_MS
        query = (
            sa.select(runs)
            .where(
                runs.c.entry_id.in_({entry_id for entry_id, _ in chunk}),
                runs.c.scheduled_for >= earliest,
                runs.c.scheduled_for < latest,
            )
            .order_by(runs.c.id)
        )
        for row in conn.execute(query).mappings():
            key = (row["entry_id"], truncate_to_ms(row["scheduled_for"]))
            if key in wanted:
                # Oldest first: a newer row for the same occurrence replaces an older one.
                found[key] = (row["id"], read_run(row))
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
