"""How much history the runs table holds: the statements behind :meth:`SQLStore.history_size`.

PostgreSQL answers from its statistics, never by reading the runs: ``reltuples`` per page in
``pg_class`` (what the last ``ANALYZE`` or ``VACUUM`` saw, autovacuum keeping it current)
scaled to the pages the table has now, as the planner estimates, and
``pg_total_relation_size`` (table, indexes and TOAST) for the bytes. A table with no statistics
yet (never analysed, so young and small) is counted instead. SQLite has no statistics of the
kind: ``count(*)``, which reads the smallest index (``{prefix}runs_entry``), so its cost grows
with the runs held; the bytes are not known (the ``dbstat`` table is not always built in).
"""

from __future__ import annotations

import sqlalchemy as sa

from celery_stembeat.stores.base import HistorySize
from celery_stembeat.stores.sql.schema import Schema

_STATISTICS = sa.text(
    "SELECT c.reltuples, c.relpages, pg_relation_size(c.oid), pg_total_relation_size(c.oid),"
    " current_setting('block_size')::bigint FROM pg_class c WHERE c.oid = to_regclass(:name)"
)


def read_history_size(conn: sa.Connection, schema: Schema) -> HistorySize:
    """The runs held, every entry's together, and on PostgreSQL their bytes."""
    runs = schema.runs
    if conn.dialect.name == "postgresql":
        name = conn.dialect.identifier_preparer.format_table(runs)
        found = conn.execute(_STATISTICS, {"name": name}).one_or_none()
        if found is None:  # drop() removed the table
            return HistorySize(0)
        tuples, pages, size, total, block = found
        if tuples >= 0 and pages > 0:
            estimate = round(tuples / pages * (size // block))
            return HistorySize(estimate, int(total), estimated=True)
        return HistorySize(_count(conn, runs), int(total))
    return HistorySize(_count(conn, runs))


def _count(conn: sa.Connection, runs: sa.Table) -> int:
    return int(conn.execute(sa.select(sa.func.count()).select_from(runs)).scalar_one())
