"""Rolling an entry back to a definition its audit log recorded, as ``stembeat rollback`` and
the dashboard do it: the target change, the difference field by field, and the write, run
state kept and checked against the version the entry was read at."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from celery_stembeat.audit import Change, ChangeNote
from celery_stembeat.cli.apply import config_owned, write_definition
from celery_stembeat.cli.commands import checked_id
from celery_stembeat.cli.errors import BadInput, Failed
from celery_stembeat.entry import Entry
from celery_stembeat.stores import Store

#: The audit log's verb for a rollback.
VERB = "rollback"
#: What a definition field shows on the side where the entry does not exist.
ABSENT = "-"

Definition = Mapping[str, Any]


@dataclass(frozen=True)
class Target:
    """The definition to restore: the one ``change`` found (``before``) or left (``after``);
    ``None`` where the entry did not exist."""

    change: Change
    side: Literal["before", "after"]

    @property
    def definition(self) -> Definition | None:
        return self.change.before if self.side == "before" else self.change.after

    def describe(self) -> str:
        """``before change 14`` or ``after change 12``."""
        return f"{self.side} change {self.change.seq}"


def _is_run(change: Change) -> bool:
    """Whether ``change`` records a run (which leaves the definition alone)."""
    return change.before is None and change.after is None


def undo_target(store: Store, entry_id: str) -> Target:
    """What undoing the entry's newest change restores: the definition that change found."""
    changes = store.changes(entry_id, newest_first=True)
    newest = next((change for change in changes if not _is_run(change)), None)
    if newest is None:
        raise BadInput(f"the audit log holds no change of entry {entry_id!r} to undo")
    return Target(newest, "before")


def to_target(store: Store, entry_id: str, seq: int) -> Target:
    """The definition the entry had right after change ``seq``; BadInput (exit 2) when the
    log does not hold that change, or it is not a definition change of this entry."""
    head = store.audit_head()
    change = store.change(seq) if head.floor <= seq <= head.seq else None
    if change is None:
        kept = f"changes {head.floor}-{head.seq}" if head.count else "no changes"
        raise BadInput(f"--to {seq}: no such change in the audit log (it holds {kept})")
    if change.entry_id != entry_id:
        about = f"entry {change.entry_id!r}" if change.entry_id else "the pause"
        raise BadInput(f"--to {seq}: change {seq} is about {about}, not entry {entry_id!r}")
    if _is_run(change):
        raise BadInput(f"--to {seq}: change {seq} is a run, which left the definition alone")
    return Target(change, "after")


def restored(target: Target) -> Entry | None:
    """The entry the target's definition makes, or ``None``; refuses an edited record."""
    change = target.change
    if change.computed_hash() != change.hash:
        raise Failed(
            f"change {change.seq} was edited: its hash does not match its content "
            "(see stembeat log --verify); nothing written"
        )
    definition = target.definition
    return None if definition is None else Entry.from_dict(dict(definition))


def differences(old: Definition | None, new: Definition | None) -> list[tuple[str, str, str]]:
    """The fields whose values differ: (name, old value, new value), as JSON (or ``-`` on the
    side where the entry does not exist), in the order of an entry file."""
    names = dict.fromkeys([*(old or {}), *(new or {})])

    def shown(definition: Definition | None, name: str) -> str:
        if definition is None:
            return ABSENT
        text = json.dumps(definition.get(name), ensure_ascii=False)
        # JSON leaves some characters that break a line as they are (U+2028, C1 controls).
        return "".join(c if c.isprintable() else json.dumps(c)[1:-1] for c in text)

    return [
        (name, shown(old, name), shown(new, name))
        for name in names
        if old is None or new is None or old.get(name) != new.get(name)
    ]


@dataclass(frozen=True)
class Rollback:
    """What rolling an entry back to a target does."""

    entry_id: str
    target: Target
    #: The entry as read (``None``: it does not exist), and what the target makes of it.
    current: Entry | None
    restored: Entry | None

    @property
    def action(self) -> str:
        """``none``, ``update``, ``recreate`` or ``remove``."""
        old, new = self.old, self.new
        if old == new:
            return "none"
        return "remove" if new is None else "recreate" if old is None else "update"

    @property
    def version(self) -> int:
        """The version the entry was read at (``0``: absent)."""
        return 0 if self.current is None else self.current.version

    @property
    def old(self) -> Definition | None:
        """The definition as read (``None``: absent)."""
        return None if self.current is None else self.current.definition()

    @property
    def new(self) -> Definition | None:
        """The definition the target restores (``None``: absent)."""
        return None if self.restored is None else self.restored.definition()

    def headline(self) -> str:
        """What the rollback does, in a line."""
        when, entry_id = self.target.describe(), self.entry_id
        return {
            "none": f"{entry_id} already has its definition {when}: nothing to roll back",
            "remove": f"remove {entry_id}: it did not exist {when}",
            "recreate": f"recreate {entry_id}: its definition {when}",
            "update": f"roll {entry_id} back to its definition {when}",
        }[self.action]

    def done(self) -> str:
        """What the rollback did, in a line."""
        when, entry_id = self.target.describe(), self.entry_id
        return {
            "none": self.headline(),
            "remove": f"removed {entry_id}: it did not exist {when}",
            "recreate": f"recreated {entry_id}: its definition {when}",
            "update": f"rolled back {entry_id}: its definition {when}",
        }[self.action]


def rollback_of(store: Store, entry_id: str, seq: int | None) -> Rollback:
    """What rolling ``entry_id`` back to change ``seq`` (``None``: undoing its newest change)
    does; :class:`BadInput` or :class:`Failed` when it cannot."""
    checked_id(entry_id)
    current = store.get(entry_id)
    target = undo_target(store, entry_id) if seq is None else to_target(store, entry_id, seq)
    found = Rollback(entry_id, target, current, restored(target))
    if found.action != "none" and current is not None and current.source == "config":
        raise config_owned(entry_id)
    return found


def write_rollback(store: Store, found: Rollback, now: datetime, note: ChangeNote) -> Entry | None:
    """Write what ``found`` restores over the entry as it was read (``None``: remove it),
    checked against that version; what is stored now.
    :class:`~celery_stembeat.stores.VersionConflict` when the entry changed since read."""
    if found.restored is None:
        store.delete(found.entry_id, expected_version=found.version, note=note)
        return None
    return write_definition(store, found.restored, found.current, now, note)
