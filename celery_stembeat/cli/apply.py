"""``apply``: make the store hold the files' definitions, keeping each entry's run state.

Nothing is written until every entry of every file is valid (see :mod:`.files`) and no file
entry would take over an entry that ``beat_schedule`` owns. The store is asked only about the
entries the files name: their fingerprints first (version, source and the digest of the file
item ``apply`` last wrote them from), then in full only those whose digest does not match; an
item whose digest matches is not even checked again. The
writes go in bulk, each entry checked against the version just read
(:meth:`~celery_stembeat.stores.Store.write_checked`); entries another process changed
meanwhile are read and written again.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime

from celery_stembeat.audit import ChangeNote
from celery_stembeat.calendars import bind
from celery_stembeat.changes import Changes, changed_fields
from celery_stembeat.cli.errors import Failed, changed_meanwhile
from celery_stembeat.cli.files import BadItem, Item, checked_entries, item_digest
from celery_stembeat.entry import Entry, RunState, is_entry_id
from celery_stembeat.limits import shorten
from celery_stembeat.specs import Spec, SpecError, calendar_names
from celery_stembeat.stores import Fingerprint, Store, VersionConflict

#: How often an entry is written when another process keeps changing it.
ATTEMPTS = 5


@dataclass
class Plan(Changes):
    """What applying the files changes, by entry id."""

    #: Store entries absent from the files (looked for only when pruning): id → the version
    #: read, which removing them checks.
    absent: dict[str, int] = field(default_factory=dict)
    #: The stored entries that change, by id, as read for the plan.
    stored: dict[str, Entry] = field(default_factory=dict, repr=False)
    #: Unchanged entries whose stored digest is missing: id → (version, digest) to attach.
    undigested: dict[str, tuple[int, str]] = field(default_factory=dict, repr=False)

    def to_dict(self, removed: Iterable[str]) -> dict[str, object]:
        """JSON-able form, with the ids actually (or, in a dry run, to be) removed."""
        return {
            "added": self.added,
            "changed": self.updated,
            "unchanged": self.unchanged,
            "removed": list(removed),
        }


def config_owned(entry_id: str) -> Failed:
    """The error of a verb refusing to change an entry that ``beat_schedule`` owns."""
    return Failed(
        f"entry {entry_id!r} comes from beat_schedule (source=config): change it there, or "
        f"remove it from beat_schedule and run 'stembeat remove {entry_id}' first"
    )


def plan(
    store: Store,
    ids: Sequence[str],
    entries: Mapping[str, Entry],
    digests: Mapping[str, str],
    *,
    marks: Mapping[str, Fingerprint] | None = None,
    prune: bool = False,
) -> Plan:
    """Compare the files with the store; refuse to touch entries that ``beat_schedule`` owns.

    ``ids``: every id the files name, in order; ``entries``: the checked entries by id (an id
    without one is stored exactly as its file item says: unchanged); ``digests``: each item's
    :func:`~celery_stembeat.cli.files.item_digest`; ``marks``: the fingerprints of ``ids``
    when already read. With ``prune``, also list the store's entries the files leave out.
    """
    if marks is None:
        marks = store.fingerprints_of(ids)
    for entry_id in ids:
        mark = marks.get(entry_id)
        if mark is not None and mark.source == "config":
            raise config_owned(entry_id)
    unsure = [i for i in ids if i in entries and i in marks and marks[i].digest != digests.get(i)]
    stored = {entry.id: entry for entry in store.get_many(unsure)}
    result = Plan()
    for entry_id in ids:
        entry = entries.get(entry_id)
        current = stored.get(entry_id)
        if entry is None:
            result.unchanged.append(entry_id)
        elif current is None:  # not stored (or removed since its fingerprint was read)
            result.added.append(entry_id)
        elif current.definition() == entry.definition():
            result.unchanged.append(entry_id)
            if digests.get(entry_id):
                result.undigested[entry_id] = (current.version, digests[entry_id])
        else:
            result.updated[entry_id] = changed_fields(current, entry)
            result.stored[entry_id] = current
    if prune:
        wanted = set(ids)
        result.absent = {
            stored_entry.id: stored_entry.version
            for stored_entry in store.list_entries()
            if stored_entry.source == "store" and stored_entry.id not in wanted
        }
    return result


class FirstRuns:
    """The run state of new entries at one instant: a new entry's first run depends on its spec
    alone, and files repeat a few specs many times, so entries of one spec share one state."""

    def __init__(self, now: datetime) -> None:
        self.now = now
        self._by_spec: dict[Spec, RunState] = {}

    def state_of(self, entry: Entry) -> RunState:
        """The run state ``entry`` is stored with when new."""
        spec = entry.spec
        state = self._by_spec.get(spec)
        if state is None:
            now = self.now
            first = entry.first_run_after(now)
            state = self._by_spec[spec] = RunState(
                next_run_at=first, created_at=now, updated_at=now
            )
        return state


def replacing(entry: Entry, current: Entry, now: datetime) -> Entry:
    """``entry``'s definition with ``current``'s run state, to write over ``current``: should
    the schedule change, its next run starts afresh from ``now`` (the store keeps the stored
    next run otherwise), so that a running beat follows the new schedule at once."""
    kept = replace(entry, state=current.state)
    next_run = kept.first_run_after(now, resume=False)
    return kept.with_state(next_run_at=next_run, updated_at=now)


def _writes(
    planned: Plan, entries: Iterable[Entry], first_runs: FirstRuns
) -> tuple[list[Entry], dict[str, int]]:
    """The entries to write and the version each must still have: a new entry starts at its
    first run; a changed one keeps its run state (see :func:`replacing`)."""
    added = set(planned.added)
    batch: list[Entry] = []
    expected: dict[str, int] = {}
    for entry in entries:
        current = planned.stored.get(entry.id)
        if entry.id in added:
            batch.append(entry.with_run_state(first_runs.state_of(entry)))
            expected[entry.id] = 0
        elif current is not None:
            batch.append(replacing(entry, current, first_runs.now))
            expected[entry.id] = current.version
    return batch, expected


def apply(
    store: Store,
    planned: Plan,
    entries: Mapping[str, Entry],
    digests: Mapping[str, str],
    now: datetime,
    note: ChangeNote,
) -> None:
    """Write what ``planned`` adds and changes (of ``entries``, by id), in bulk, recorded as
    ``note`` says, and attach the digests of what it leaves unchanged; entries changed meanwhile
    by another process are planned and written again, ``ATTEMPTS`` times.

    Should an entry keep changing, the error names it and how many entries were written:
    applying the same files again finishes the job.
    """
    first_runs = FirstRuns(now)
    pending, written = planned, 0
    refused: list[str] = []
    for _ in range(ATTEMPTS):
        batch, expected = _writes(pending, entries.values(), first_runs)
        refused = store.write_checked(batch, expected, digests, note=note)
        written += len(batch) - len(refused)
        if pending.undigested:
            store.set_digests(pending.undigested)
        if not refused:
            return
        pending = plan(
            store, refused, {entry_id: entries[entry_id] for entry_id in refused}, digests
        )
    named = ", ".join(repr(entry_id) for entry_id in refused[:5])
    raise Failed(
        f"{'entry' if len(refused) == 1 else 'entries'} {named}{' …' if len(refused) > 5 else ''}"
        f": still changing under us after {ATTEMPTS} attempts ({written} written; apply the "
        "files again to finish)"
    )


@dataclass(frozen=True)
class ItemsPlan:
    """What applying some files' items changes, and what writing it takes."""

    plan: Plan
    #: The checked entries by id (items the store holds exactly as written are left out).
    entries: dict[str, Entry]
    #: Each item's :func:`~celery_stembeat.cli.files.item_digest`, by id.
    digests: dict[str, str]


def _bind_calendars(store: Store, items: Sequence[Item], entries: dict[str, Entry]) -> None:
    """Bind the store's holiday calendars into the entries whose rules name one (read only
    when one does); an unknown calendar raises :class:`BadItem` naming the item."""
    named = [entry for entry in entries.values() if calendar_names(entry.spec)]
    if not named:
        return
    calendars = store.calendars()
    where = {item.entry_id: item.where for item in items}
    for entry in named:
        try:
            entries[entry.id] = bind(entry, calendars)
        except SpecError as exc:
            raise BadItem(
                f"{where[entry.id]}: entry {shorten(entry.id)}: 'spec': {exc}", "spec"
            ) from None


def plan_items(store: Store, items: Sequence[Item], *, prune: bool = False) -> ItemsPlan:
    """Check ``items`` (as read from files) and :func:`plan` them against the store; the first
    bad item raises :class:`~celery_stembeat.cli.errors.BadInput`. Items whose digest the
    store already holds are not checked again (see :func:`checked_entries`)."""
    digests = {
        entry_id: digest
        for item in items
        if is_entry_id(entry_id := item.entry_id) and (digest := item_digest(item))
    }
    marks = store.fingerprints_of(digests)
    known = {
        entry_id
        for entry_id, mark in marks.items()
        if mark.source == "store" and mark.digest and mark.digest == digests[entry_id]
    }
    entries = {entry.id: entry for entry in checked_entries(items, known)}
    _bind_calendars(store, items, entries)
    ids = list(dict.fromkeys(item.entry_id or "" for item in items))
    planned = plan(store, ids, entries, digests, marks=marks, prune=prune)
    return ItemsPlan(planned, entries, digests)


def carry_out(store: Store, planned: ItemsPlan, now: datetime, note: ChangeNote) -> None:
    """:func:`apply` what ``planned`` adds and changes, then remove the entries it found
    absent (pruning) at the versions it read, each recorded as ``note`` says. Should one have
    changed since (an entry gone is left gone), nothing more is removed: :class:`Failed`
    naming it."""
    apply(store, planned.plan, planned.entries, planned.digests, now, note)
    for entry_id, version in planned.plan.absent.items():
        try:
            store.delete(entry_id, expected_version=version, note=note)
        except VersionConflict as conflict:
            if conflict.actual is not None:
                raise changed_meanwhile(entry_id, "pruning", "nothing more removed") from None


def write_definition(
    store: Store, entry: Entry, current: Entry | None, now: datetime, note: ChangeNote
) -> Entry:
    """Write ``entry``'s definition over ``current`` (the entry as read; ``None``: absent),
    checked against its version, as ``apply`` writes one entry: a new entry starts at its
    first run, an existing one keeps its run state (see :func:`replacing`). What is stored
    now; :class:`~celery_stembeat.stores.VersionConflict` when the entry changed since read."""
    if current is None:
        return store.upsert(entry.with_run_state(FirstRuns(now).state_of(entry)), 0, note=note)
    return store.upsert(replacing(entry, current, now), current.version, note=note)
