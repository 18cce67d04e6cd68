"""Manual runs (``stembeat run``): a history row for a run sent out of schedule.

One write transaction: lock the entry's row (``FOR UPDATE``; SQLite's ``BEGIN IMMEDIATE``
runs alone anyway) so that a concurrent delete cannot leave the row behind, insert the run and
count it, and trim the entry's history to ``history_limit``. The entry row itself is not written.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from celery_stembeat.stores.base import RunRecord, minute_counts
from celery_stembeat.stores.sql.activity import count_runs
from celery_stembeat.stores.sql.codec import run_values, storable
from celery_stembeat.stores.sql.complete import trim
from celery_stembeat.stores.sql.schema import Schema


def record_manual_run(
    conn: sa.Connection, schema: Schema, record: RunRecord, history_limit: int, insert: Any
) -> bool:
    """Append ``record`` to its entry's history and count it in ``{prefix}run_minutes`` in
    the write transaction ``conn`` (``insert`` makes an ``INSERT … ON CONFLICT``); ``False``
    when the entry does not exist."""
    c = schema.entries.c
    found = conn.execute(sa.select(c.id).where(c.id == record.entry_id).with_for_update()).first()
    if found is None:
        return False
    conn.execute(sa.insert(schema.runs), [storable(run_values(record))])
    count_runs(conn, schema, insert, minute_counts([record]))
    trim(conn, schema, [record.entry_id], history_limit)
    return True
