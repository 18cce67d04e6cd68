"""``apply``: make the store hold the files' definitions, keeping each entry's run state.

Nothing is written until every entry of every file is valid (see :mod:`.files`) and no file
entry would take over an entry that ``beat_schedule`` owns. Each write is an upsert guarded by
the version read just before it, retried on a conflict.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import TypeVar

from celery_stembeat.changes import Changes, changed_fields
from celery_stembeat.cli.errors import Failed
from celery_stembeat.entry import Entry
from celery_stembeat.stores import Store, StoreError, VersionConflict

#: How often a write is tried when another process keeps changing the same entry.
ATTEMPTS = 5

T = TypeVar("T")


@dataclass
class Plan(Changes):
    """What applying the files changes, by entry id."""

    #: Store entries absent from the files (removed only with ``--prune``).
    absent: list[str] = field(default_factory=list)

    def to_dict(self, removed: Sequence[str]) -> dict[str, object]:
        """JSON-able form, with the ids actually (or, in a dry run, to be) removed."""
        return {
            "added": self.added,
            "changed": self.updated,
            "unchanged": self.unchanged,
            "removed": list(removed),
        }


def _config_owned(entry_id: str) -> Failed:
    return Failed(
        f"entry {entry_id!r} comes from beat_schedule (source=config): change it there, or "
        f"remove it from beat_schedule and run 'stembeat remove {entry_id}' first"
    )


def plan(store: Store, entries: Sequence[Entry]) -> Plan:
    """Compare the files with the store; refuse to touch entries that ``beat_schedule`` owns."""
    stored = {entry.id: entry for entry in store.list_entries()}
    result = Plan()
    for entry in entries:
        current = stored.get(entry.id)
        if current is None:
            result.added.append(entry.id)
        elif current.source == "config":
            raise _config_owned(entry.id)
        elif current.definition() == entry.definition():
            result.unchanged.append(entry.id)
        else:
            result.updated[entry.id] = changed_fields(current, entry)
    wanted = {entry.id for entry in entries}
    result.absent = [
        entry_id
        for entry_id, entry in stored.items()
        if entry.source == "store" and entry_id not in wanted
    ]
    return result


def retrying(entry_id: str, operation: Callable[[], T]) -> T:
    """Run ``operation`` again while it raises :class:`VersionConflict`, ``ATTEMPTS`` times."""
    conflict: VersionConflict | None = None
    for _ in range(ATTEMPTS):
        try:
            return operation()
        except VersionConflict as exc:
            conflict = exc
    raise Failed(
        f"entry {entry_id!r}: still changing under us after {ATTEMPTS} attempts ({conflict})"
    )


def write(store: Store, entry: Entry, now: datetime) -> bool:
    """Store ``entry``'s definition once, against the version read now; ``False`` if unchanged.

    A new entry starts at ``entry.first_run_after(now)``. An existing one keeps its run state;
    when its schedule changes (or it is enabled again) it starts afresh from ``now``.
    """
    current = store.get(entry.id)
    if current is None:
        fresh = entry.with_state(
            next_run_at=entry.first_run_after(now), created_at=now, updated_at=now
        )
        store.upsert(fresh, expected_version=0)
        return True
    if current.source == "config":
        raise _config_owned(entry.id)
    if current.definition() == entry.definition():
        return False
    kept = replace(entry, state=current.state)
    store.upsert(
        kept.with_state(next_run_at=kept.first_run_after(now, resume=False), updated_at=now),
        expected_version=current.version,
    )
    return True


def apply(store: Store, entries: Sequence[Entry], now: datetime) -> None:
    """Write every entry, each with the conflict retry.

    Should a write fail for good, the error names the entries already written: applying the
    same files again finishes the job.
    """
    written: list[str] = []
    try:
        for entry in entries:
            if retrying(entry.id, functools.partial(write, store, entry, now)):
                written.append(entry.id)
    except (Failed, StoreError) as exc:
        if not written:
            raise
        raise Failed(f"{exc} (already written: {', '.join(written)})") from None
