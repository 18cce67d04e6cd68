"""The verbs, as click commands shared by ``stembeat`` and ``celery stembeat``."""

from __future__ import annotations

from celery_stembeat.cli.errors import BadInput
from celery_stembeat.entry import Entry, is_entry_id
from celery_stembeat.limits import MAX_ID_LENGTH, shorten
from celery_stembeat.stores import EntryNotFound, Store


def require(store: Store, entry_id: str) -> Entry:
    """The entry with that id; :class:`EntryNotFound` (exit 1) when there is none."""
    entry = store.get(entry_id)
    if entry is None:
        raise EntryNotFound(entry_id)
    return entry


def checked_id(entry_id: str) -> str:
    """``entry_id`` when it could be an entry's id; else :class:`BadInput` (exit 2)."""
    if not is_entry_id(entry_id):
        raise BadInput(
            f"{shorten(entry_id)} is not an entry id (1 to {MAX_ID_LENGTH} printable characters)"
        )
    return entry_id
