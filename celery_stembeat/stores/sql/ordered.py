"""The sorted reads of the SQL store: a page of the due index by next run (keyset), and a
page ranked by last run, runs or mean drift (``ORDER BY`` … ``LIMIT``/``OFFSET``)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from celery_stembeat.stores.sql.schema import Schema


def _id_order(schema: Schema, dialect: str) -> sa.ColumnElement[Any]:
    """The id column compared by code points (PostgreSQL's default collation is not)."""
    column = schema.entries.c.id
    return column.collate("C") if dialect == "postgresql" else column


def soonest_query(
    schema: Schema,
    columns: Sequence[sa.ColumnElement[Any]],
    dialect: str,
    limit: int,
    after: tuple[datetime, str] | None,
) -> sa.Select[Any]:
    """The first ``limit`` rows of the due index (enabled, unclaimed, a next run) by
    ``(next_run_at, id)``, after ``after`` when given: a range of ``{prefix}entries_due``."""
    c = schema.entries.c
    entry_id = _id_order(schema, dialect)
    query = sa.select(*columns).where(c.enabled == sa.true(), c.next_run_at.is_not(None))
    if after is not None:
        at, last_id = after
        query = query.where(
            sa.or_(c.next_run_at > at, sa.and_(c.next_run_at == at, entry_id > last_id))
        )
    return query.order_by(c.next_run_at, entry_id).limit(limit)


def ranked_query(
    schema: Schema,
    columns: Sequence[sa.ColumnElement[Any]],
    dialect: str,
    by: str,
    limit: int,
    offset: int,
) -> sa.Select[Any]:
    """A page of the entries ranked by ``by`` (``last``, ``runs`` or ``drift``), as
    :data:`celery_stembeat.ordering.SORTS` orders them: sorted on the server."""
    c = schema.entries.c
    orders: dict[str, list[sa.ColumnElement[Any]]] = {
        "last": [c.last_run_at.is_(None), c.last_run_at.desc()],
        "runs": [c.total_run_count.desc()],
        "drift": [c.drift_mean.is_(None), c.drift_mean.desc()],
    }
    return (
        sa.select(*columns)
        .order_by(*orders[by], _id_order(schema, dialect))
        .limit(limit)
        .offset(offset)
    )
