"""Manual runs (``stembeat run``): a history row for a run sent out of schedule.

One write transaction: lock the entry's row (``FOR UPDATE``; SQLite's ``BEGIN IMMEDIATE``
runs alone anyway) so that a concurrent delete cannot leave the row behind, insert the run,
stamped after the entry's ``history_stamp``, count it, and move ``history_stamp`` on. The
entry's run state is not written; the maintenance pass trims its history.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from celery_stembeat.stores.base import RunRecord, history_stamps, minute_counts
from celery_stembeat.stores.sql.activity import count_runs
from celery_stembeat.stores.sql.codec import run_values, storable
from celery_stembeat.stores.sql.schema import Schema


def record_manual_run(conn: sa.Connection, schema: Schema, record: RunRecord, insert: Any) -> bool:
    """Append ``record`` to its entry's history and count it in ``{prefix}run_minutes`` in
    the write transaction ``conn`` (``insert`` makes an ``INSERT … ON CONFLICT``); ``False``
    when the entry does not exist."""
    c = schema.entries.c
    locked = sa.select(c.history_stamp).where(c.id == record.entry_id).with_for_update()
    found = conn.execute(locked).first()
    if found is None:
        return False
    (stamp,) = history_stamps(found.history_stamp, [record])
    conn.execute(sa.insert(schema.runs), [storable(run_values(record, stamp))])
    stamped = sa.update(schema.entries).where(c.id == record.entry_id)
    conn.execute(stamped.values(history_stamp=stamp))
    count_runs(conn, schema, insert, minute_counts([record]))
    return True
