"""Incidents: the statements behind :meth:`SQLStore.transition_incident` and ``incidents``, the
same on PostgreSQL and SQLite (the dialect only gives its ``INSERT``).

A row of ``{prefix}incidents`` is an open :class:`~celery_stembeat.stores.base.Incident`, one
column per field, named as the field; a resolved incident has no row.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa

from celery_stembeat.stores.base import INCIDENT_OK, Incident
from celery_stembeat.stores.sql.schema import Schema


def transition(
    conn: sa.Connection, schema: Schema, insert: Any, key: str, state: str, at: datetime
) -> str | None:
    """In the write transaction ``conn``: move incident ``key`` to ``state`` (see
    :meth:`~celery_stembeat.stores.base.Store.transition_incident`); the state it left, or
    ``None`` when it was in ``state`` already.

    The row is read ``FOR UPDATE`` (on SQLite the transaction holds the write lock from its
    start), so concurrent transitions of one key take turns. ``insert`` is the dialect's
    ``INSERT`` into the incidents.
    """
    incidents = schema.incidents
    c = incidents.c
    read = sa.select(c.state).where(c.key == key).with_for_update()
    create = (
        insert.values(key=key, state=state, since=at)
        .on_conflict_do_nothing(index_elements=["key"])
        .returning(c.key)
    )
    while True:
        stored = conn.scalar(read)
        previous = INCIDENT_OK if stored is None else str(stored)
        if previous == state:
            return None
        if state == INCIDENT_OK:
            conn.execute(sa.delete(incidents).where(c.key == key))
            return previous
        if stored is not None:
            conn.execute(sa.update(incidents).where(c.key == key).values(state=state, since=at))
            return previous
        if conn.execute(create).first() is not None:
            return previous
        # Another transaction created the row after the read (and committed, since the INSERT
        # waited for it): read it again, under its lock this time.


def read_incidents(conn: sa.Connection, schema: Schema) -> list[Incident]:
    """Every open incident, by key (code point order, as the column sorts on both databases)."""
    incidents = schema.incidents
    rows = conn.execute(sa.select(incidents).order_by(incidents.c.key)).mappings()
    return [Incident(**row) for row in rows]
