"""The verbs, as click commands shared by ``stembeat`` and ``celery stembeat``."""

from __future__ import annotations

from celery_stembeat.entry import Entry
from celery_stembeat.stores import EntryNotFound, Store


def require(store: Store, entry_id: str) -> Entry:
    """The entry with that id; :class:`EntryNotFound` (exit 1) when there is none."""
    entry = store.get(entry_id)
    if entry is None:
        raise EntryNotFound(entry_id)
    return entry
