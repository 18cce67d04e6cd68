"""``apply``: make the store hold the files' definitions, keeping each entry's run state.

Nothing is written until every entry of every file is valid (see :mod:`.files`) and no file
entry would take over an entry that ``beat_schedule`` owns. The store is asked only about the
entries the files name: their fingerprints first (version, source and the digest ``apply``
attached when it last wrote them), then in full only those whose digest does not match. The
writes go in bulk, each entry checked against the version just read
(:meth:`~celery_stembeat.stores.Store.write_checked`); entries another process changed
meanwhile are read and written again.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime

from celery_stembeat import __version__
from celery_stembeat.changes import Changes, changed_fields
from celery_stembeat.cli.errors import Failed
from celery_stembeat.entry import Entry, RunState
from celery_stembeat.specs import Spec
from celery_stembeat.stores import Store

#: How often an entry is written when another process keeps changing it.
ATTEMPTS = 5


def definition_digest(entry: Entry) -> str:
    """A digest of ``entry``'s definition (and of this release, which reads files into
    definitions): equal digests, equal definitions."""
    text = json.dumps(
        [__version__, entry.definition()], sort_keys=True, ensure_ascii=False, default=str
    )
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()


@dataclass
class Plan(Changes):
    """What applying the files changes, by entry id."""

    #: Store entries absent from the files (looked for only when pruning).
    absent: list[str] = field(default_factory=list)
    #: The stored entries that change, by id, as read for the plan.
    stored: dict[str, Entry] = field(default_factory=dict, repr=False)
    #: Unchanged entries whose stored digest is missing: id → (version, digest) to attach.
    undigested: dict[str, tuple[int, str]] = field(default_factory=dict, repr=False)

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


def plan(
    store: Store, entries: Sequence[Entry], digests: dict[str, str], *, prune: bool = False
) -> Plan:
    """Compare the files with the store; refuse to touch entries that ``beat_schedule`` owns.

    ``digests``: each entry's :func:`definition_digest`. With ``prune``, also list the
    store's entries the files leave out.
    """
    marks = store.fingerprints_of(entry.id for entry in entries)
    for entry in entries:
        mark = marks.get(entry.id)
        if mark is not None and mark.source == "config":
            raise _config_owned(entry.id)
    unsure = [e.id for e in entries if e.id in marks and marks[e.id].digest != digests[e.id]]
    stored = {entry.id: entry for entry in store.get_many(unsure)}
    result = Plan()
    for entry in entries:
        current = stored.get(entry.id)
        if entry.id not in marks:
            result.added.append(entry.id)
        elif current is None:
            result.unchanged.append(entry.id)
        elif current.definition() == entry.definition():
            result.unchanged.append(entry.id)
            result.undigested[entry.id] = (current.version, digests[entry.id])
        else:
            result.updated[entry.id] = changed_fields(current, entry)
            result.stored[entry.id] = current
    if prune:
        wanted = {entry.id for entry in entries}
        result.absent = [
            stored_entry.id
            for stored_entry in store.list_entries()
            if stored_entry.source == "store" and stored_entry.id not in wanted
        ]
    return result


class _FirstRuns:
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


def _writes(
    planned: Plan, entries: Iterable[Entry], first_runs: _FirstRuns
) -> tuple[list[Entry], dict[str, int]]:
    """The entries to write and the version each must still have: a new entry starts at its
    first run; a changed one keeps its run state and, when its schedule changes, starts afresh
    from now."""
    now = first_runs.now
    added = set(planned.added)
    batch: list[Entry] = []
    expected: dict[str, int] = {}
    for entry in entries:
        current = planned.stored.get(entry.id)
        if entry.id in added:
            batch.append(entry.with_run_state(first_runs.state_of(entry)))
            expected[entry.id] = 0
        elif current is not None:
            kept = replace(entry, state=current.state)
            next_run = kept.first_run_after(now, resume=False)
            batch.append(kept.with_state(next_run_at=next_run, updated_at=now))
            expected[entry.id] = current.version
    return batch, expected


def apply(
    store: Store, planned: Plan, entries: Sequence[Entry], digests: dict[str, str], now: datetime
) -> None:
    """Write what ``planned`` adds and changes, in bulk, and attach the digests of what it
    leaves unchanged; entries changed meanwhile by another process are planned and written
    again, ``ATTEMPTS`` times.

    Should an entry keep changing, the error names it and how many entries were written:
    applying the same files again finishes the job.
    """
    first_runs = _FirstRuns(now)
    by_id = {entry.id: entry for entry in entries}
    pending, written = planned, 0
    refused: list[str] = []
    for _ in range(ATTEMPTS):
        batch, expected = _writes(pending, entries, first_runs)
        refused = store.write_checked(batch, expected, digests)
        written += len(batch) - len(refused)
        if pending.undigested:
            store.set_digests(pending.undigested)
        if not refused:
            return
        pending = plan(store, [by_id[entry_id] for entry_id in refused], digests)
    named = ", ".join(repr(entry_id) for entry_id in refused[:5])
    raise Failed(
        f"{'entry' if len(refused) == 1 else 'entries'} {named}{' …' if len(refused) > 5 else ''}"
        f": still changing under us after {ATTEMPTS} attempts ({written} written; apply the "
        "files again to finish)"
    )
