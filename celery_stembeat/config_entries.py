"""celery's ``beat_schedule`` as entries, and the start-up sync that writes them to the store.

The sync writes only what changed, keeps every entry's run state, disables (never deletes) a
config entry that left ``beat_schedule``, and never touches an entry created in the store
(CLI or API), even one whose id a ``beat_schedule`` key repeats.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from celery_stembeat.entry import Entry, EntryError
from celery_stembeat.specs import SpecError, parse_spec
from celery_stembeat.stores.base import Store

logger = logging.getLogger(__name__)

#: ``beat_schedule`` keys celery itself knows.
CELERY_KEYS = ("task", "schedule", "args", "kwargs", "options", "relative")
#: Keys stembeat adds to a ``beat_schedule`` item (ignored by nothing: unknown keys are errors).
STEMBEAT_KEYS = ("enabled", "run_once", "expire_at", "catch_up", "jitter", "description")


def entry_from_config(name: str, item: Mapping[str, Any], timezone: str) -> Entry:
    """One ``beat_schedule`` item as an entry (``source="config"``); bad items raise EntryError."""
    if not isinstance(item, Mapping):
        raise EntryError(f"beat_schedule[{name!r}]: expected a dict, got {item!r}", name)
    unknown = sorted(set(item) - set(CELERY_KEYS) - set(STEMBEAT_KEYS))
    if unknown:
        raise EntryError(f"beat_schedule[{name!r}]: unknown key {unknown[0]!r}", name, unknown[0])
    for required in ("task", "schedule"):
        if required not in item:
            raise EntryError(f"beat_schedule[{name!r}]: {required!r} is missing", name, required)
    try:
        spec = parse_spec(item["schedule"], timezone=timezone)
    except SpecError as exc:
        raise EntryError(f"beat_schedule[{name!r}]: 'schedule': {exc}", name, "schedule") from None
    extra = {key: item[key] for key in STEMBEAT_KEYS if key in item}
    return Entry(
        id=name,
        task=item["task"],
        spec=spec,
        args=tuple(item.get("args") or ()),
        kwargs=dict(item.get("kwargs") or {}),
        options=dict(item.get("options") or {}),
        source="config",
        **extra,
    )


def entries_from_config(schedule: Mapping[str, Any], timezone: str) -> list[Entry]:
    """Every ``beat_schedule`` item as an entry."""
    return [entry_from_config(name, item, timezone) for name, item in schedule.items()]


@dataclass
class SyncReport:
    """What a sync wrote."""

    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    unchanged: int = 0
    disabled: list[str] = field(default_factory=list)
    #: ``beat_schedule`` keys shadowed by an entry created in the store.
    shadowed: list[str] = field(default_factory=list)


def sync_config(store: Store, entries: Iterable[Entry], now: datetime) -> SyncReport:
    """Make the store's config entries match ``entries``, keeping run state."""
    report = SyncReport()
    stored = {entry.id: entry for entry in store.list()}
    wanted: dict[str, Entry] = {}
    writes: list[Entry] = []
    for entry in entries:
        current = stored.get(entry.id)
        if current is not None and current.source != "config":
            report.shadowed.append(entry.id)
            continue
        wanted[entry.id] = entry
        if current is None:
            writes.append(
                entry.with_state(
                    next_run_at=entry.first_run_after(now), created_at=now, updated_at=now
                )
            )
            report.added.append(entry.id)
        elif current.definition() != entry.definition():
            # The store takes next_run_at only if the schedule itself changed.
            writes.append(
                replace(entry, state=current.state).with_state(
                    next_run_at=entry.first_run_after(now, resume=False), updated_at=now
                )
            )
            report.changed.append(entry.id)
        else:
            report.unchanged += 1
    if writes:
        store.upsert_many(writes)
    for entry_id, current in stored.items():
        if current.source == "config" and current.enabled and entry_id not in wanted:
            store.set_enabled(entry_id, False, now)
            report.disabled.append(entry_id)
    for entry_id in report.shadowed:
        logger.warning(
            "stembeat: beat_schedule entry %r is ignored: an entry with that id was created "
            "in the store, and the store's wins",
            entry_id,
        )
    if report.disabled:
        logger.info(
            "stembeat: disabled %d entr(ies) no longer in beat_schedule: %s",
            len(report.disabled),
            ", ".join(report.disabled),
        )
    return report
