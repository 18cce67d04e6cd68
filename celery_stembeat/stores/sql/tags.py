"""The SQL store's tag index: ``{prefix}entry_tags`` holds a row (tag, entry id) per tag of
each entry, written in the transaction that writes the entry, and answers
:meth:`~celery_stembeat.stores.base.Store.ids_tagged` from its primary key."""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa

from celery_stembeat.entry import Entry
from celery_stembeat.stores.sql.batches import chunks
from celery_stembeat.stores.sql.schema import Schema

_TEXTS = sa.ARRAY(sa.Text)


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


def write_tags_arrays(
    conn: sa.Connection, schema: Schema, entries: Sequence[Entry], replace: bool = True
) -> bool:
    """:func:`write_tags` on PostgreSQL: one ``DELETE … = ANY(ids)`` and one ``INSERT … SELECT
    FROM unnest(tags, ids)``, whatever the number of entries."""
    table = schema.entry_tags
    if replace:
        ids = sa.bindparam("ids", [entry.id for entry in entries], type_=_TEXTS)
        conn.execute(sa.delete(table).where(table.c.entry_id == sa.any_(ids)))
    pairs = [(tag, entry.id) for entry in entries for tag in entry.tags]
    if pairs:
        rows = sa.func.unnest(
            sa.bindparam("tags", [tag for tag, _ in pairs], type_=_TEXTS),
            sa.bindparam("ids", [entry_id for _, entry_id in pairs], type_=_TEXTS),
        ).table_valued("tag", "entry_id")
        given = rows.render_derived(name="given")
        select = sa.select(given.c.tag, given.c.entry_id)
        conn.execute(sa.insert(table).from_select(["tag", "entry_id"], select))
    return bool(pairs)


def delete_tags(conn: sa.Connection, schema: Schema, entry_id: str) -> None:
    """Remove the index rows of ``entry_id``."""
    table = schema.entry_tags
    conn.execute(sa.delete(table).where(table.c.entry_id == entry_id))


def read_tagged(conn: sa.Connection, schema: Schema, tags: Sequence[str]) -> list[str]:
    """The sorted ids holding every one of ``tags`` (distinct): a range of the primary key for
    the first tag, joined on the primary key of each other one (the database picks the order:
    a rare tag probes the common ones' keys)."""
    table = schema.entry_tags
    first = table.alias("t0")
    query = sa.select(first.c.entry_id).where(first.c.tag == tags[0])
    for number, tag in enumerate(tags[1:], 1):
        other = table.alias(f"t{number}")
        query = query.join(other, sa.and_(other.c.tag == tag, other.c.entry_id == first.c.entry_id))
    return list(conn.execute(query.order_by(first.c.entry_id)).scalars())
