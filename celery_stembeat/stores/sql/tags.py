"""The SQL store's tag index: ``{prefix}entry_tags`` holds a row (tag, entry id) per tag of
each entry, written in the transaction that writes the entry, and answers
:meth:`~celery_stembeat.stores.base.Store.ids_tagged` from its primary key."""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa

from celery_stembeat.entry import Entry
from celery_stembeat.stores.sql.batches import chunks
from celery_stembeat.stores.sql.schema import Schema


def any_tagged(conn: sa.Connection, schema: Schema) -> bool:
    """Whether any entry has a tag (if none has, a bulk write has no rows to replace)."""
    table = schema.entry_tags
    return conn.scalar(sa.select(table.c.tag).limit(1)) is not None


def write_tags(
    conn: sa.Connection, schema: Schema, entries: Sequence[Entry], replace: bool = True
) -> bool:
    """Make the index rows of ``entries`` (distinct ids) their tags; ``replace=False`` when
    they have no rows yet. Whether any row was written."""
    table = schema.entry_tags
    if replace:
        for chunk in chunks([entry.id for entry in entries]):
            conn.execute(sa.delete(table).where(table.c.entry_id.in_(chunk)))
    rows = [{"tag": tag, "entry_id": entry.id} for entry in entries for tag in entry.tags]
    if rows:
        conn.execute(sa.insert(table), rows)
    return bool(rows)


def delete_tags(conn: sa.Connection, schema: Schema, entry_id: str) -> None:
    """Remove the index rows of ``entry_id``."""
    table = schema.entry_tags
    conn.execute(sa.delete(table).where(table.c.entry_id == entry_id))


def read_tagged(conn: sa.Connection, schema: Schema, tags: Sequence[str]) -> list[str]:
    """The sorted ids holding every one of ``tags`` (distinct): a range of the primary key per
    tag, counted per id."""
    c = schema.entry_tags.c
    if len(tags) == 1:
        query = sa.select(c.entry_id).where(c.tag == tags[0])
    else:
        query = (
            sa.select(c.entry_id)
            .where(c.tag.in_(tags))
            .group_by(c.entry_id)
            .having(sa.func.count() == len(tags))
        )
    return list(conn.execute(query.order_by(c.entry_id)).scalars())
