"""The store's maintenance pass: history retention, and on PostgreSQL its own ``VACUUM``.

A beat that completes runs makes a maintenance pass at most once per
:data:`MAINTENANCE_INTERVAL` seconds, instead of trimming each entry's history in every
completion: :func:`retain` deletes, in one statement, every entry's runs beyond its newest
``history_limit``; on PostgreSQL :func:`vacuum` then vacuums the tables every fire rewrites
(:data:`HOT_TABLES`), so that their dead row versions are reclaimed and the space reused
whether or not autovacuum runs. Between passes an entry may hold up to the runs it made in
one interval beyond the limit; reads of history never show more than the limit.
"""

from __future__ import annotations

import hashlib

import sqlalchemy as sa

from celery_stembeat.stores.sql.schema import Schema

#: Seconds between one store's maintenance passes.
MAINTENANCE_INTERVAL = 10.0
#: The tables every fire rewrites or grows, by their unprefixed names.
HOT_TABLES = ("entries", "runs", "run_minutes")


def retain(conn: sa.Connection, schema: Schema, history_limit: int) -> int:
    """Delete the runs of every entry beyond its newest ``history_limit``, in one statement;
    the rows deleted.

    Only entries that counted more runs than the limit are looked at (history holds at most
    one row per run counted, manual runs aside, which :func:`~.complete.trim` trims as they
    are recorded). Each one's newest run past the limit is found by walking its runs in the
    index ``(entry_id, id)`` newest first, and its older runs are read from the same index.
    """
    if conn.dialect.name == "postgresql":
        text = _postgres_retention(schema, conn.dialect.identifier_preparer)
        return int(conn.execute(text, {"keep": history_limit}).rowcount or 0)
    entries, runs = schema.entries, schema.runs
    newer = runs.alias("newer")
    oldest_dropped = (
        sa.select(newer.c.id)
        .where(newer.c.entry_id == entries.c.id)
        .order_by(newer.c.id.desc())
        .offset(history_limit)
        .limit(1)
        .scalar_subquery()
    )
    counted = entries.c.total_run_count + entries.c.failure_count
    cut = (
        sa.select(entries.c.id.label("entry_id"), oldest_dropped.label("last"))
        .where(counted > history_limit)
        .cte("cut")
    )
    over = sa.and_(runs.c.entry_id == cut.c.entry_id, runs.c.id <= cut.c.last)
    statement = sa.delete(runs).where(runs.c.id.in_(sa.select(runs.c.id).join(cut, over)))
    return int(conn.execute(statement).rowcount or 0)


def _postgres_retention(schema: Schema, quote: sa.sql.compiler.IdentifierPreparer) -> sa.TextClause:
    """:func:`retain` on PostgreSQL, with the parameter ``keep``.

    The planner would join the entries' cuts to the whole history by hashing (reading every
    run, 30 times slower at 100,000 runs); the ``LATERAL`` subqueries (``LIMIT``, ``OFFSET
    0``) keep each lookup an index range of one entry, and ``= ANY(ARRAY(…))`` deletes the ids
    found through the primary key.
    """
    entries, runs = quote.format_table(schema.entries), quote.format_table(schema.runs)
    return sa.text(
        f"""
        DELETE FROM {runs} WHERE id = ANY(ARRAY(
            SELECT old.id FROM {entries} AS e
            CROSS JOIN LATERAL (
                SELECT n.id FROM {runs} AS n WHERE n.entry_id = e.id
                ORDER BY n.id DESC OFFSET :keep LIMIT 1
            ) AS cut
            CROSS JOIN LATERAL (
                SELECT r.id FROM {runs} AS r WHERE r.entry_id = e.id AND r.id <= cut.id
                OFFSET 0
            ) AS old
            WHERE e.total_run_count + e.failure_count > :keep
        ))
        """
    )


def maintenance_key(schema: Schema) -> int:
    """The PostgreSQL advisory-lock key that lets one beat at a time maintain the prefix."""
    digest = hashlib.sha256(f"celery_stembeat:{schema.prefix}:maintenance".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def vacuum(conn: sa.Connection, schema: Schema) -> None:
    """``VACUUM`` the hot tables, on ``conn`` in autocommit (PostgreSQL only), skipping any a
    ``VACUUM`` elsewhere (autovacuum's) holds."""
    quote = conn.dialect.identifier_preparer
    tables = ", ".join(quote.format_table(_table(schema, name)) for name in HOT_TABLES)
    conn.exec_driver_sql(f"VACUUM (SKIP_LOCKED) {tables}")


def _table(schema: Schema, name: str) -> sa.Table:
    table: sa.Table = getattr(schema, name)
    return table
