"""The store-wide pause: the statements behind :meth:`SQLStore.pause`, ``resume`` and
``paused``, and the idle pass's look (the claim's guard is in ``claims.py``), the same on
PostgreSQL and SQLite.

``{prefix}pause`` holds at most one row (``slot`` 1): the
:class:`~celery_stembeat.stores.base.Pause` as stored, one column per field, named as the field.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from celery_stembeat.stores.base import Pause
from celery_stembeat.stores.sql.claims import head_query
from celery_stembeat.stores.sql.schema import Schema

_SLOT = 1
_FIELDS = ("since", "until", "reason", "actor")


def look_query(schema: Schema) -> sa.Select[Any]:
    """One row: ``b_head``, the due index's head, and the stored pause's columns (all NULL
    when there is none): an idle pass's only round trip."""
    c = schema.pause.c
    head = head_query(schema).scalar_subquery().label("b_head")
    one = sa.select(sa.literal(_SLOT).label("one")).subquery("one")
    joined = one.outerjoin(schema.pause, c.slot == one.c.one)
    return sa.select(head, *(c[name] for name in _FIELDS)).select_from(joined)


def row_pause(row: sa.RowMapping) -> Pause | None:
    """The pause in a row of :func:`look_query` or of the pause table, or ``None``."""
    if row["since"] is None:
        return None
    return Pause(**{name: row[name] for name in _FIELDS})


def read_pause(conn: sa.Connection, schema: Schema, lock: bool = False) -> Pause | None:
    """The stored pause (``lock``: its row read ``FOR UPDATE``)."""
    query = sa.select(schema.pause).where(schema.pause.c.slot == _SLOT)
    if lock:
        query = query.with_for_update()
    row = conn.execute(query).mappings().first()
    return None if row is None else row_pause(row)


def replace_pause(
    conn: sa.Connection, schema: Schema, insert: Any, pause: Pause | None
) -> Pause | None:
    """In the write transaction ``conn``: store ``pause`` (``None``: clear it); the pause it
    replaced. ``insert``, the dialect's ``INSERT`` into the pause table, can say ``ON
    CONFLICT``: two first pauses at once both write, the later one wins."""
    previous = read_pause(conn, schema, lock=True)
    if pause is None:
        conn.execute(sa.delete(schema.pause))
        return previous
    values = {name: getattr(pause, name) for name in _FIELDS}
    statement = insert.values(slot=_SLOT, **values)
    conn.execute(statement.on_conflict_do_update(index_elements=["slot"], set_=values))
    return previous
