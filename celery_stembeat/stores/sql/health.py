"""Health from indexes: the statements behind :meth:`SQLStore.entry_counts` and
``health_suspects``, the same on PostgreSQL and SQLite.

Each kind of suspect has its index, and its query stops after ``limit`` rows of it, so the
cost grows with the suspects, not with the entries:

- missed: the due index ``(enabled, next_run_at, id)``; a claim sets ``next_run_at`` to NULL,
  so claimed entries are not in its range;
- failing: ``{prefix}entries_failing`` on ``(enabled, id)``, partial, over the entries with a
  failure in a row (``schema.failing_predicate``);
- open: ``{prefix}entries_open`` on ``(enabled, last_run_at)``, partial, over the entries whose
  newest occurrence has no final outcome on an entry that has one (``schema.open_predicate``).

``entry_counts`` reads two indexes, not the table: ``count(*)`` of every entry, which the
planner takes from the smallest index (on PostgreSQL an index-only scan, as cheap as the table's
visibility map is current: after a bulk load, until a vacuum, it visits the rows), and the
unscheduled entries from ``{prefix}entries_unscheduled``, partial, over the entries disabled or
without a next run (``schema.unscheduled_predicate``). Scheduled is the difference.

PostgreSQL uses a partial index only when the query's ``WHERE`` visibly implies the index's,
which a bound parameter does not in a generic plan (psycopg prepares a statement run five
times, and PostgreSQL may then plan it once for any values): the queries repeat the predicates,
literals and all. SQLite's rule is the same, though it compares bound values too.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from celery_stembeat.stores.base import EntryCounts, SuspectRules
from celery_stembeat.stores.sql.schema import (
    Schema,
    failing_predicate,
    open_predicate,
    unscheduled_predicate,
)


def suspects_query(schema: Schema, rules: SuspectRules, limit: int) -> sa.Select[Any]:
    """The ids of up to ``limit`` suspects by ``rules``, sorted: the union of three index
    lookups of up to ``limit`` rows each."""
    c = schema.entries.c
    enabled = c.enabled == sa.true()
    missed = (
        sa.select(c.id)
        .where(enabled, c.next_run_at < rules.missed_before, c.claim_token.is_(None))
        .order_by(c.next_run_at, c.id)
    )
    n = rules.failures
    failing = (
        sa.select(c.id)
        .where(
            failing_predicate(c),
            sa.or_(c.consecutive_task_failures >= n, c.consecutive_failures >= n),
            enabled,
        )
        .order_by(c.id)
    )
    open_runs = (
        sa.select(c.id)
        .where(open_predicate(c), c.last_run_at < rules.open_before, enabled)
        .order_by(c.last_run_at)
    )
    branches = [
        query.limit(limit).subquery(name)
        for name, query in (("missed", missed), ("failing", failing), ("open_runs", open_runs))
    ]
    union = sa.union(*(sa.select(branch.c.id) for branch in branches)).subquery("suspects")
    return sa.select(union.c.id).order_by(union.c.id).limit(limit)


def read_suspects(
    conn: sa.Connection, schema: Schema, rules: SuspectRules, limit: int
) -> list[str]:
    """The ids of up to ``limit`` suspects by ``rules``, sorted (code point order)."""
    return list(conn.scalars(suspects_query(schema, rules, limit)))


def counts_query(schema: Schema) -> sa.Select[int, int]:
    """Every entry, and the unscheduled ones, in one statement: a plain ``count(*)``, which
    reads the smallest index, and a count over ``{prefix}entries_unscheduled``."""
    entries = schema.entries
    total = sa.select(sa.func.count()).select_from(entries).scalar_subquery()
    unscheduled = (
        sa.select(sa.func.count())
        .select_from(entries)
        .where(unscheduled_predicate(entries.c))
        .scalar_subquery()
    )
    return sa.select(total.label("total"), unscheduled.label("unscheduled"))


def read_counts(conn: sa.Connection, schema: Schema) -> EntryCounts:
    """Every entry, and the scheduled ones: all but the unscheduled (see
    :func:`counts_query`)."""
    total, unscheduled = conn.execute(counts_query(schema)).one()
    return EntryCounts(int(total), int(total) - int(unscheduled))
