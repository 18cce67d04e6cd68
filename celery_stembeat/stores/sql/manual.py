"""Manual runs (``stembeat run``): a history row for a run sent out of schedule.

One write transaction: lock the entry's row (``FOR UPDATE``; SQLite's ``BEGIN IMMEDIATE``
runs alone anyway) so that a concurrent delete cannot leave the row behind, insert the run,
and trim the entry's history to ``history_limit``. The entry row itself is not written.
"""

from __future__ import annotations

import sqlalchemy as sa

from celery_stembeat.stores.base import RunRecord
from celery_stembeat.stores.sql.codec import run_values, storable
from celery_stembeat.stores.sql.complete import trim
from celery_stembeat.stores.sql.schema import Schema


def record_manual_run(
    conn: sa.Connection, schema: Schema, record: RunRecord, history_limit: int
) -> bool:
    """Append ``record`` to its entry's history in the write transaction ``conn``; ``False``
    when the entry does not exist."""
    c = schema.entries.c
    found = conn.execute(sa.select(c.id).where(c.id == record.entry_id).with_for_update()).first()
    if found is None:
        return False
    conn.execute(sa.insert(schema.runs), [storable(run_values(record))])
    trim(conn, schema, [record.entry_id], history_limit)
    return True
