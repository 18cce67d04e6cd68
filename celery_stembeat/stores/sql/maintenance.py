"""The store's maintenance pass: history retention, and on PostgreSQL its own ``VACUUM``.

A beat that completes runs makes a maintenance pass at most once per
:data:`MAINTENANCE_INTERVAL` seconds, instead of trimming each entry's history in every
completion: :func:`retain` deletes, in one statement, the runs of each entry beyond its newest
``history_limit`` and those stamped more than ``history_max_age`` before its newest run; on
PostgreSQL :func:`vacuum` then vacuums the tables every fire rewrites (:data:`HOT_TABLES`),
so that their dead row versions are reclaimed and the space reused whether or not
autovacuum runs. Between passes an entry may hold up to the runs it made in one interval
beyond the limits; reads of history never show them (:func:`shown`).

Each run is stored with its stamp (``stamp``, see
:func:`~celery_stembeat.stores.base.history_stamps`), so stamps never go back along an
entry's runs in id order: the runs too old are the entry's oldest, found by walking the index
``(entry_id, id)`` from its start to the first run young enough. A row written before stamps
were stored (schema version 13 and older) ages by its own time (:func:`row_stamp`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from celery_stembeat.stores.sql.schema import Schema

#: Seconds between one store's maintenance passes.
MAINTENANCE_INTERVAL = 10.0
#: The tables every fire rewrites or grows, by their unprefixed names.
HOT_TABLES = ("entries", "runs", "run_minutes")
_ONE_MS = timedelta(milliseconds=1)


class Retention:
    """What one store's passes keep of history, and which entries its next pass looks at.

    A pass looks only at the entries with runs whose ids are above :attr:`since`, the newest
    run id when the pass before the previous one began. Not the previous one's: a run given a
    lower id than the newest that pass read may have committed after it read it. The first
    two passes of a store look at every entry, so that history no pass of its own looked at
    (kept under other limits, or written before runs were stamped) is trimmed too.
    """

    def __init__(self, history_limit: int, history_max_age: timedelta) -> None:
        self.history_limit = history_limit
        self.history_max_age = history_max_age
        #: The newest run id when each of the last two passes began, the older first.
        self._began: tuple[int | None, int | None] = (None, None)

    @property
    def since(self) -> int | None:
        """The watermark of the next pass: it looks at the entries with runs above it
        (``None``: at every entry)."""
        return self._began[0]

    def passed(self, newest: int | None) -> None:
        """A pass that began when ``newest`` was the newest run id (``None``: there was none)
        is done: its deletions are committed."""
        last = self._began[1]
        if newest is None:
            newest = last
        elif last is not None and newest < last:
            # Ids went back (the runs holding the newest id were deleted, or the tables made
            # anew): look at every entry again rather than miss any.
            self._began = (None, None)
            return
        self._began = (last, newest)


def retain(conn: sa.Connection, schema: Schema, retention: Retention) -> int | None:
    """Delete, in one statement, the runs the entries that recorded runs since
    ``retention.since`` hold beyond both limits; the newest run id when it began, for
    :meth:`Retention.passed` once the deletion is committed.

    For each entry looked at, the newest run past ``history_limit`` is found by walking the
    index ``(entry_id, id)`` newest first (``history_limit`` entries), and the oldest run young
    enough by walking it from the oldest (one row, and one per run too old); the runs below
    either are read from the same index.
    """
    runs = schema.runs
    newest: int | None = conn.scalar(sa.select(sa.func.max(runs.c.id)))
    since = retention.since
    if conn.dialect.name == "postgresql":
        text = _postgres_retention(schema, conn.dialect.identifier_preparer, retention, since)
        params: dict[str, Any] = {"keep": retention.history_limit}
        if since is not None:
            params["since"] = since
        if retention.history_max_age:
            params["max_age"] = retention.history_max_age
        conn.execute(text, params)
    else:
        conn.execute(_sqlite_retention(schema, retention, since))
    return newest


def row_stamp(row: Any) -> datetime:
    """The stamp a history row ages by: its ``stamp``, or for a row written before stamps
    were stored, its own time (sent, else scheduled)."""
    stamp: datetime = row["stamp"] or row["published_at"] or row["scheduled_for"]
    return stamp


def shown(rows: Sequence[Any], max_age: timedelta) -> Sequence[Any]:
    """Of an entry's newest history ``rows``, newest first, those a pass would keep by age
    (all, for a ``max_age`` of 0): down to the oldest stamped at most ``max_age`` before the
    newest, to the millisecond."""
    if not rows or not max_age:
        return rows
    newest = row_stamp(rows[0])
    oldest = newest.replace(microsecond=newest.microsecond // 1000 * 1000) - max_age
    young = [index for index, row in enumerate(rows) if row_stamp(row) >= oldest]
    return rows[: young[-1] + 1]


def _postgres_retention(
    schema: Schema,
    quote: sa.sql.compiler.IdentifierPreparer,
    retention: Retention,
    since: int | None,
) -> sa.TextClause:
    """:func:`retain` on PostgreSQL, with the parameters ``keep``, ``since`` and
    ``max_age`` (an interval, given only when there is an age limit).

    The planner would join the entries' cuts to the whole history by hashing (reading every
    run, 30 times slower at 100,000 runs); the ``LATERAL`` subqueries (``LIMIT``, ``OFFSET
    0``) keep each lookup an index range of one entry, and ``= ANY(ARRAY(…))`` deletes the ids
    found through the primary key.
    """
    entries, runs = quote.format_table(schema.entries), quote.format_table(schema.runs)
    candidates = (
        f"SELECT id FROM {entries}"
        if since is None
        else f"SELECT DISTINCT entry_id FROM {runs} WHERE id > :since"
    )
    # ``below``: the entry's runs with lower ids go (NULL: none does).
    counted = f"""
        SELECT n.id + 1 FROM {runs} AS n WHERE n.entry_id = e.id
        ORDER BY n.id DESC OFFSET :keep LIMIT 1
    """
    if not retention.history_max_age:
        below = f"({counted})"
    else:
        stamp = "coalesce({0}.stamp, {0}.published_at, {0}.scheduled_for)"
        oldest = f"""
            SELECT date_trunc('milliseconds', {stamp.format("n")}) - CAST(:max_age AS interval)
            FROM {runs} AS n WHERE n.entry_id = e.id ORDER BY n.id DESC LIMIT 1
        """
        young = f"""
            SELECT y.id FROM {runs} AS y
            WHERE y.entry_id = e.id AND {stamp.format("y")} >= ({oldest})
            ORDER BY y.id LIMIT 1
        """
        below = f"greatest(({counted}), ({young}))"
    return sa.text(
        f"""
        DELETE FROM {runs} WHERE id = ANY(ARRAY(
            SELECT old.id FROM ({candidates}) AS e(id)
            CROSS JOIN LATERAL (SELECT {below} AS below) AS cut
            CROSS JOIN LATERAL (
                SELECT r.id FROM {runs} AS r WHERE r.entry_id = e.id AND r.id < cut.below
                OFFSET 0
            ) AS old
        ))
        """
    )


def _sqlite_retention(schema: Schema, retention: Retention, since: int | None) -> sa.Delete:
    """:func:`retain` on SQLite. Instants are text there (``YYYY-MM-DD HH:MM:SS.ffffff``,
    UTC), which sorts as they do: the oldest stamp kept is the newest's to the millisecond
    less ``history_max_age``, by ``strftime``, whose ``%f`` writes milliseconds."""
    runs = schema.runs
    if since is None:
        candidates = sa.select(schema.entries.c.id.label("entry_id"))
    else:
        candidates = sa.select(runs.c.entry_id).where(runs.c.id > since).distinct()
    looked_at = candidates.cte("looked_at")
    newer = runs.alias("newer")
    below: sa.ColumnElement[Any] = (
        sa.select(newer.c.id + 1)
        .where(newer.c.entry_id == looked_at.c.entry_id)
        .order_by(newer.c.id.desc())
        .offset(retention.history_limit)
        .limit(1)
        .scalar_subquery()
    )
    if retention.history_max_age:
        newest, young = runs.alias("newest"), runs.alias("young")
        newest_stamp = (
            sa.select(_stamp(newest))
            .where(newest.c.entry_id == looked_at.c.entry_id)
            .order_by(newest.c.id.desc())
            .limit(1)
            .scalar_subquery()
        )
        seconds = retention.history_max_age / _ONE_MS / 1000
        oldest = sa.func.strftime(
            "%Y-%m-%d %H:%M:%f", sa.func.substr(newest_stamp, 1, 23), f"-{seconds:.3f} seconds"
        )
        first_young = (
            sa.select(young.c.id)
            .where(young.c.entry_id == looked_at.c.entry_id, _stamp(young) >= oldest)
            .order_by(young.c.id)
            .limit(1)
            .scalar_subquery()
        )
        # SQLite's max() of several values is NULL if any is.
        below = sa.func.max(sa.func.coalesce(below, 0), sa.func.coalesce(first_young, 0))
    cut = sa.select(looked_at.c.entry_id, below.label("below")).cte("cut")
    over = sa.and_(runs.c.entry_id == cut.c.entry_id, runs.c.id < cut.c.below)
    return sa.delete(runs).where(runs.c.id.in_(sa.select(runs.c.id).join(cut, over)))


def _stamp(runs: Any) -> sa.ColumnElement[Any]:
    """:func:`row_stamp` in SQL."""
    return sa.func.coalesce(runs.c.stamp, runs.c.published_at, runs.c.scheduled_for)


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
