"""A celery app's ``beat_schedule`` as store entries: the conversion beat itself uses at start."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime
from typing import Any

from celery_stembeat.config_entries import entry_from_config
from celery_stembeat.entry import EntryError
from celery_stembeat.migrate.convert import Conversion


def convert_beat_schedule(
    schedule: Mapping[str, Any], timezone: str, now: datetime
) -> list[Conversion]:
    """Each item as an entry of the store (``source="store"``), first run after ``now``.

    celery's default scheduler keeps no run state that outlives its shelve file, so each entry
    starts as a fresh celery beat would start it.
    """
    conversions = []
    for name, item in schedule.items():
        try:
            entry = replace(entry_from_config(name, item, timezone), source="store")
        except EntryError as exc:
            conversions.append(Conversion(str(name), None, skipped=str(exc)))
            continue
        changes: tuple[str, ...] = ()
        if isinstance(item, Mapping) and item.get("relative"):
            changes = ("relative=True is read as a plain interval, as beat reads it",)
        entry = entry.with_state(
            next_run_at=entry.first_run_after(now), created_at=now, updated_at=now
        )
        conversions.append(Conversion(name, entry, changes))
    return conversions
