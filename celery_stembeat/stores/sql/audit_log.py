"""The SQL store's audit log: the change records of a write, appended in its transaction.

``{prefix}audit`` holds one row per record kept: ``seq`` (the primary key), ``entry_id``,
``at``, ``text`` (:meth:`~celery_stembeat.audit.Change.text`, what the hash is taken of) and
``hash``, indexed on ``(entry_id, seq)``. ``{prefix}audit_head`` holds one row, the
:class:`~celery_stembeat.audit.AuditHead`: ``seq``, ``hash`` and ``floor``.

An audited write transaction reads the head first (:func:`read_head` with ``lock``:
``FOR UPDATE`` on PostgreSQL, before any entry row is locked, so audited writers queue on the
head and never deadlock with each other; SQLite's ``BEGIN IMMEDIATE`` already runs alone), then
makes its change and its records (:func:`records`, which a bulk write makes while the database
works on its rows), then :func:`write` inserts the records in bulk (the dialect's
:meth:`~celery_stembeat.stores.sql.dialects.Dialect.insert_changes`), updates the head, and, only
when the log went over ``audit_limit``, deletes the records below the new floor (a range of the
primary key).

Costs: the head, one row read and one written per audited write; a write of ``n`` entries adds
``n`` records (JSON and a hash each, made once) in one bulk insert, and a delete of as many
old records once the log is full. Reading: :func:`change` is one primary-key lookup;
:func:`changes_query` a range of the primary key, or of ``{prefix}audit_entry`` for one entry,
walked either way; ``since`` bounds the range at the newest record made before it (records are
in ``seq`` order, which is time order while one clock dates them), found by walking the same
index back from the end; :func:`count_query` counts the same range.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from celery_stembeat._collector import collector_paused
from celery_stembeat.audit import AuditHead, Change, ChangeNote, EntryChange, chained, trimmed
from celery_stembeat.stores.sql.schema import AUDIT_HEAD_SLOT, Schema

#: Records made (and rows built) at a time: their definitions and texts are let go of before
#: the next ones are made, so a bulk write's records cost little more memory than their rows.
_CHUNK = 100

#: Inserts rows of :func:`change_row` into ``{prefix}audit`` in the caller's transaction.
InsertChanges = Callable[[sa.Connection, Sequence[Mapping[str, Any]]], None]


def read_head(conn: sa.Connection, schema: Schema, lock: bool = False) -> AuditHead:
    """The log's head (``lock``: its row locked for the rest of the write transaction
    ``conn``, the first statement of every audited write)."""
    head = schema.audit_head
    query = sa.select(head.c.seq, head.c.hash, head.c.floor).where(head.c.slot == AUDIT_HEAD_SLOT)
    row = conn.execute(query.with_for_update() if lock else query).one()
    return AuditHead(int(row.seq), row.hash, int(row.floor))


@dataclass(frozen=True)
class Records:
    """The change records of a write, as rows of ``{prefix}audit``, and the head after them
    (its floor not moved yet)."""

    rows: list[dict[str, Any]]
    head: AuditHead


def records(head: AuditHead, note: ChangeNote, items: Iterable[EntryChange | None]) -> Records:
    """The records of ``items`` (``None``: no change), appended after ``head``: no I/O, so a
    bulk write can make them while the database works on its rows.

    Made with the cyclic collector paused: each record allocates a few short-lived containers,
    and the collections they triggered walked every object the write holds (its entries and
    rows), a third of the time records took for a bulk write of 100,000 entries."""
    changed = (item for item in items if item is not None)
    rows: list[dict[str, Any]] = []
    with collector_paused():
        while chunk := list(itertools.islice(changed, _CHUNK)):
            made, head = chained(head, note, chunk)
            rows += map(change_row, made)
    return Records(rows, head)


def write(
    conn: sa.Connection,
    schema: Schema,
    head: AuditHead,
    made: Records,
    limit: int,
    insert: InsertChanges,
) -> None:
    """Insert the records ``made`` after ``head`` (what :func:`read_head` read and locked in
    this transaction), move the head, and keep the newest ``limit``."""
    if not made.rows:
        return
    insert(conn, made.rows)
    kept = trimmed(made.head, limit)
    table = schema.audit_head
    conn.execute(
        sa.update(table)
        .where(table.c.slot == AUDIT_HEAD_SLOT)
        .values(seq=kept.seq, hash=kept.hash, floor=kept.floor)
    )
    if kept.floor > head.floor:
        log = schema.audit
        conn.execute(sa.delete(log).where(log.c.seq >= head.floor, log.c.seq < kept.floor))


def change_row(change: Change) -> dict[str, Any]:
    """The row of ``{prefix}audit`` that keeps ``change``."""
    return {
        "seq": change.seq,
        "entry_id": change.entry_id,
        "at": change.at,
        "text": change.text(),
        "hash": change.hash,
    }


def _selected(schema: Schema, entry_id: str | None, since: datetime | None) -> list[Any]:
    """The conditions of the records :meth:`~celery_stembeat.stores.Store.changes` selects:
    ``entry_id``'s when given; with ``since``, those after the newest record (of
    ``entry_id``) made before it, which one backward walk of the primary key (or of
    ``{prefix}audit_entry``) finds, stopping there."""
    log = schema.audit
    conditions: list[Any] = []
    if entry_id is not None:
        conditions.append(log.c.entry_id == entry_id)
    if since is not None:
        before = (
            sa.select(log.c.seq)
            .where(log.c.at < since, *conditions)
            .order_by(log.c.seq.desc())
            .limit(1)
            .scalar_subquery()
        )
        conditions.append(log.c.seq > sa.func.coalesce(before, 0))
    return conditions


def changes_query(
    schema: Schema,
    entry_id: str | None,
    since: datetime | None,
    newest_first: bool = False,
    limit: int | None = None,
) -> sa.Select[Any]:
    """The records :meth:`~celery_stembeat.stores.Store.changes` selects, in ``seq`` order
    (``newest_first``: descending), at most ``limit``."""
    log = schema.audit
    order = log.c.seq.desc() if newest_first else log.c.seq
    query = sa.select(log.c.text, log.c.hash).where(*_selected(schema, entry_id, since))
    return query.order_by(order).limit(limit)


def count_query(schema: Schema, entry_id: str | None, since: datetime | None) -> sa.Select[Any]:
    """How many records :func:`changes_query` selects: a count of an index range."""
    log = schema.audit
    return sa.select(sa.func.count()).select_from(log).where(*_selected(schema, entry_id, since))


def change_query(schema: Schema, seq: int) -> sa.Select[Any]:
    """The record numbered ``seq``."""
    log = schema.audit
    return sa.select(log.c.text, log.c.hash).where(log.c.seq == seq)


def read_change(row: sa.RowMapping) -> Change:
    """The record a row of :func:`changes_query` holds."""
    return Change.from_text(row["text"], row["hash"])
