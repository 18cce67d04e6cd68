"""Activity from indexes and the run counter: the statements behind
:meth:`SQLStore.activity` and the counting a completion adds, the same on PostgreSQL and
SQLite.

:func:`activity_query` is one statement of counts, each over an index: the scheduled entries
as ``entry_counts`` counts them (:func:`.health.counts_query`); the unclaimed due and overdue
ones from the due index ``(enabled, next_run_at, id)`` (a claim sets ``next_run_at`` to NULL);
the claimed ones still scheduled from ``{prefix}entries_lease``; the entries failing to send
from the partial index ``{prefix}entries_failing``, its predicate repeated (see ``health.py``);
and the runs of the counted minutes from ``{prefix}run_minutes``, at most
:data:`~celery_stembeat.stores.base.RUN_MINUTES_KEPT` of rows. Completions add their runs to
``{prefix}run_minutes`` in their own transaction and delete the minutes older than that.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

import sqlalchemy as sa

from celery_stembeat.stores.base import (
    RUN_MINUTES_KEPT,
    Activity,
    counted_minutes,
)
from celery_stembeat.stores.sql.health import counts_query
from celery_stembeat.stores.sql.schema import Schema, failing_predicate

#: Before every lease: ``lease_until >= _EARLIEST`` is a range the lease index serves for
#: every claimed entry (SQLite does not search an index for ``IS NOT NULL``).
_EARLIEST = datetime(1, 1, 1, tzinfo=timezone.utc)


def _count(schema: Schema, *where: sa.ColumnElement[bool]) -> sa.ScalarSelect[int]:
    return sa.select(sa.func.count()).select_from(schema.entries).where(*where).scalar_subquery()


def _count_if(
    schema: Schema, where: sa.ColumnElement[bool], counted: sa.ColumnElement[bool]
) -> sa.ScalarSelect[int]:
    """The entries ``where`` finds (an index range) for which ``counted`` holds: SQLite, which
    has no statistics, would read any condition on ``enabled`` from the due index, visiting
    every enabled row, so the conditions the index does not hold are counted, not searched."""
    one = sa.case((counted, 1), else_=0)
    query = sa.select(sa.func.coalesce(sa.func.sum(one), 0)).select_from(schema.entries)
    return query.where(where).scalar_subquery()


def activity_query(
    schema: Schema, now: datetime, overdue_before: datetime, since: datetime
) -> sa.Select[Any]:
    """The counts of :class:`Activity` (scheduled as total and unscheduled) in one statement."""
    c = schema.entries.c
    enabled = c.enabled == sa.true()
    counts = counts_query(schema).subquery("counts")
    minutes = schema.run_minutes
    counted = counted_minutes(now, since)
    runs = (
        sa.select(sa.func.coalesce(sa.func.sum(minutes.c.runs), 0))
        .where(minutes.c.minute >= counted[0], minutes.c.minute <= counted[-1])
        .scalar_subquery()
        if counted
        else sa.literal(0)
    )
    zero = sa.literal_column("0", sa.BigInteger())
    return sa.select(
        counts.c.total,
        counts.c.unscheduled,
        _count(schema, enabled, c.next_run_at <= now).label("due"),
        _count_if(
            schema, c.lease_until >= _EARLIEST, sa.and_(enabled, c.claimed_for.is_not(None))
        ).label("claimed"),
        _count(schema, enabled, c.next_run_at < overdue_before).label("overdue"),
        _count_if(
            schema, failing_predicate(c), sa.and_(enabled, c.consecutive_failures > zero)
        ).label("failing"),
        runs.label("runs"),
    )


def read_activity(
    conn: sa.Connection, schema: Schema, now: datetime, overdue_before: datetime, since: datetime
) -> Activity:
    """:class:`Activity` at ``now`` (see :func:`activity_query`)."""
    row = conn.execute(activity_query(schema, now, overdue_before, since)).one()
    return Activity(
        enabled=int(row.total) - int(row.unscheduled),
        due=int(row.due) + int(row.claimed),
        overdue=int(row.overdue),
        failing=int(row.failing),
        runs=int(row.runs),
    )


def count_runs(
    conn: sa.Connection, schema: Schema, insert: Any, counts: Mapping[datetime, int]
) -> None:
    """Add ``counts`` (from :func:`~celery_stembeat.stores.base.minute_counts`) to
    ``{prefix}run_minutes``, minutes in order, then delete the minutes kept no longer."""
    if not counts:
        return
    table = schema.run_minutes
    rows = [{"minute": minute, "runs": counts[minute]} for minute in sorted(counts)]
    statement = insert(table)
    conn.execute(
        statement.on_conflict_do_update(
            index_elements=[table.c.minute],
            set_={"runs": table.c.runs + statement.excluded.runs},
        ),
        rows,
    )
    conn.execute(sa.delete(table).where(table.c.minute < max(counts) - RUN_MINUTES_KEPT))
