"""Writing converted entries to a store: idempotent, and keeping run state.

Importing the same source twice writes nothing. After edits at the source, only the entries
whose definition changed are written. Run state follows one rule: until stembeat has run an
entry (no run, no failed attempt recorded), the source's run state is the truth and is copied
again when it moved on (the old scheduler kept running between two imports); once stembeat has
run it, the store's run state is kept and only the definition changes. Run states are compared
to the millisecond, the precision stembeat keeps.

An entry that stembeat disabled itself for its run state (see :func:`retired`) stays disabled:
the source, which never saw that run, still says enabled. A task disabled at the source is
disabled in the store, as any edit.

Beat should be stopped while importing: refreshing an entry's run state replaces the entry
(a delete and an insert, for stores keep run state across every upsert).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime

from celery_stembeat.audit import ChangeNote
from celery_stembeat.changes import Changes, changed_fields
from celery_stembeat.entry import Entry, RunState
from celery_stembeat.migrate.convert import Conversion, same_instant
from celery_stembeat.stores import Store

#: Entries written per store batch.
BATCH = 500
#: How reports name a change of the last run or the run count.
RUN_STATE = "run state"


@dataclass
class ImportResult(Changes):
    """What an import did (or, in a dry run, would do), by entry id; ``updated`` names the
    definition fields that changed at the source."""

    #: Unchanged definitions whose run state was copied again from the source.
    refreshed: list[str] = field(default_factory=list)
    #: id → why it was not imported.
    skipped: dict[str, str] = field(default_factory=dict)
    #: id → what the entry expresses differently from the source.
    changes: dict[str, tuple[str, ...]] = field(default_factory=dict)
    #: The entries as imported (for the verification of a dry run), by id.
    entries: dict[str, Entry] = field(default_factory=dict)

    def to_dict(self) -> dict[str, object]:
        """JSON-able form (without the entries)."""
        return {
            "added": self.added,
            "updated": self.updated,
            "refreshed": self.refreshed,
            "unchanged": self.unchanged,
            "skipped": self.skipped,
            "changes": {key: list(value) for key, value in self.changes.items()},
        }


def _stembeat_ran(entry: Entry) -> bool:
    state = entry.state
    return state.last_scheduled_for is not None or state.failure_count > 0


def same_run_state(old: RunState, new: RunState) -> bool:
    """Whether two run states have the same run count and last run (to the millisecond)."""
    return old.total_run_count == new.total_run_count and same_instant(
        old.last_run_at, new.last_run_at
    )


def _moved_on(stored: Entry, incoming: Entry) -> bool:
    """Whether the source's run state moved on from the store's. A disabled task without a
    last run says nothing of it: django-celery-beat clears the last run of a disabled task."""
    state = stored.state
    if not incoming.enabled and incoming.state.last_run_at is None:
        state = replace(state, last_run_at=None)
    return not same_run_state(state, incoming.state)


def retired(stored: Entry, incoming: Entry, now: datetime) -> bool:
    """Whether stembeat disabled ``stored`` itself for a reason that ``incoming`` (the source's
    definition) still gives: a run-once entry that ran, an entry with no next run after
    stembeat ran it, or one whose ``expire_at`` has passed."""
    if stored.enabled or not incoming.enabled:
        return False
    state = stored.state
    return (
        (incoming.run_once and state.total_run_count > 0)
        or (state.next_run_at is None and _stembeat_ran(stored))
        or (incoming.expire_at is not None and incoming.expire_at < now)
    )


class _Writer:
    """Collects writes and sends them to the store in batches, recorded as ``note`` says."""

    def __init__(self, store: Store, dry_run: bool, note: ChangeNote | None) -> None:
        self.store = store
        self.dry_run = dry_run
        self.note = note
        self.pending: list[Entry] = []

    def replace(self, entry: Entry, version: int) -> None:
        """Write ``entry`` in place of the stored one, removed at ``version`` (as read)."""
        if not self.dry_run:
            self.flush()
            self.store.delete(entry.id, expected_version=version, note=self.note)
        self.upsert(entry)

    def upsert(self, entry: Entry) -> None:
        self.pending.append(entry)
        if len(self.pending) >= BATCH:
            self.flush()

    def flush(self) -> None:
        if self.pending and not self.dry_run:
            self.store.upsert_many(self.pending, note=self.note)
        self.pending = []


def import_conversions(
    store: Store,
    conversions: Iterable[Conversion],
    now: datetime,
    *,
    dry_run: bool = False,
    note: ChangeNote | None = None,
) -> ImportResult:
    """Write every converted entry to ``store``; see the module docstring for the rules.

    An id that an entry of ``beat_schedule`` already holds in the store is skipped: beat owns
    it. With ``dry_run`` nothing is written and the result says what would be. The audit log
    records the writes as ``note`` says (by default, as the store's own verbs). An entry
    replaced (see the module docstring) is removed at the version read: should another
    process change it meanwhile, :class:`~celery_stembeat.stores.VersionConflict`, and nothing
    more is written.
    """
    result = ImportResult()
    stored = {entry.id: entry for entry in store.list_entries()}
    writer = _Writer(store, dry_run, note)
    for conversion in conversions:
        name, entry = conversion.name, conversion.entry
        if entry is None:
            result.skipped[name] = conversion.skipped or "not converted"
            continue
        current = stored.get(name)
        if current is not None and current.source == "config":
            result.skipped[name] = "the store's entry of that id comes from beat_schedule"
            continue
        if conversion.changes:
            result.changes[name] = conversion.changes
        if current is not None:
            # No source has tags: the ones given in stembeat stay.
            entry = replace(entry, tags=current.tags)
        kept_disabled = current is not None and retired(current, entry, now)
        if kept_disabled:
            entry = replace(entry, enabled=False)
        result.entries[name] = entry
        if current is None:
            result.added.append(name)
            writer.upsert(entry)
        elif not (_stembeat_ran(current) or kept_disabled):
            fields = changed_fields(current, entry)
            if fields:
                result.updated[name] = fields
            elif not _moved_on(current, entry):
                result.unchanged.append(name)
                result.entries[name] = current
                continue
            else:
                result.refreshed.append(name)
            writer.replace(entry, current.version)
        elif current.definition() == entry.definition():
            result.unchanged.append(name)
            result.entries[name] = current
        else:
            result.updated[name] = changed_fields(current, entry)
            kept = replace(entry, state=current.state)
            fresh = kept.with_state(
                next_run_at=kept.first_run_after(now, resume=False), updated_at=now
            )
            result.entries[name] = fresh
            writer.upsert(fresh)
    writer.flush()
    return result
