"""Beats' heartbeats: the statements behind :meth:`SQLStore.record_beat`, ``remove_beat`` and
``beats``, the same on PostgreSQL and SQLite (the dialect only gives its ``INSERT``).

A row of ``{prefix}beats`` holds a :class:`~celery_stembeat.stores.base.BeatInfo`, one column
per field, named as the field.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import sqlalchemy as sa

from celery_stembeat.stores.base import BEAT_RETENTION, BeatInfo
from celery_stembeat.stores.sql.schema import Schema


def upsert_beat(conn: sa.Connection, schema: Schema, insert: Any, beat: BeatInfo) -> None:
    """In the write transaction ``conn``: upsert ``beat`` by its owner (``insert``, the
    dialect's ``INSERT`` into the beats, can say ``ON CONFLICT``), then delete the beats
    silent for more than :data:`BEAT_RETENTION` before it."""
    beats = schema.beats
    statement = insert.values(dataclasses.asdict(beat))
    replaced = {c.name: statement.excluded[c.name] for c in beats.c if not c.primary_key}
    conn.execute(statement.on_conflict_do_update(index_elements=["owner"], set_=replaced))
    oldest = beat.last_pass_at - BEAT_RETENTION
    conn.execute(sa.delete(beats).where(beats.c.last_pass_at < oldest))


def delete_beat(conn: sa.Connection, schema: Schema, owner: str) -> bool:
    """Delete the beat ``owner``; whether a row went."""
    beats = schema.beats
    return conn.execute(sa.delete(beats).where(beats.c.owner == owner)).rowcount > 0


def read_beats(conn: sa.Connection, schema: Schema) -> list[BeatInfo]:
    """Every beat, by owner (code point order: the column sorts bytes on both databases)."""
    beats = schema.beats
    rows = conn.execute(sa.select(beats).order_by(beats.c.owner)).mappings()
    return [BeatInfo(**row) for row in rows]
