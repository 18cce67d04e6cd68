"""``rollback``: give an entry back a definition the audit log recorded, its run state kept."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import click

from celery_stembeat.audit import Change
from celery_stembeat.cli import render
from celery_stembeat.cli.apply import FirstRuns, config_owned, replacing
from celery_stembeat.cli.commands import checked_id
from celery_stembeat.cli.errors import BadInput, Command, Failed
from celery_stembeat.cli.params import json_option
from celery_stembeat.cli.session import Session, current
from celery_stembeat.entry import Entry
from celery_stembeat.stores import Store, VersionConflict

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


def _restored(target: Target) -> Entry | None:
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


def _changed_meanwhile(entry_id: str) -> Failed:
    return Failed(
        f"entry {entry_id!r} changed while rolling back: nothing written (see stembeat log "
        f"{entry_id})"
    )


def _write(
    session: Session, store: Store, entry_id: str, current: Entry | None, entry: Entry | None
) -> int | None:
    """Write ``entry`` (``None``: remove) over ``current`` as read, checked against its version;
    the version stored. Exit 1 when another process changed the entry meanwhile."""
    note = session.note(VERB)
    expected = 0 if current is None else current.version
    try:
        if entry is None:
            store.delete(entry_id, expected_version=expected, note=note)
            return None
        written = (
            entry.with_run_state(FirstRuns(session.now()).state_of(entry))
            if current is None
            else replacing(entry, current, session.now())
        )
        return store.upsert(written, expected, note=note).version
    except VersionConflict:
        raise _changed_meanwhile(entry_id) from None


@click.command("rollback", cls=Command)
@click.argument("entry_id", metavar="ID")
@click.option(
    "--to",
    "seq",
    metavar="CHANGE",
    type=click.IntRange(min=1),
    help="Restore the definition the entry had right after change CHANGE (see log).",
)
@click.option("--dry-run", is_flag=True, help="Show the difference field by field; write nothing.")
@json_option
@click.pass_context
def rollback(
    ctx: click.Context, entry_id: str, seq: int | None, dry_run: bool, as_json: bool
) -> None:
    """Restore an entry's earlier definition from the audit log.

    Without --to, undo the entry's newest change (manual runs aside): restore the definition
    that change found. Run state stays; a removed entry is created again, an entry that did
    not exist then is removed. The write is checked against the entry as read: should another
    process change it meanwhile, nothing is written (exit 1). The audit log records the
    rollback as any change.
    """
    session = current(ctx)
    checked_id(entry_id)
    with session.store() as store:
        existing = store.get(entry_id)
        target = undo_target(store, entry_id) if seq is None else to_target(store, entry_id, seq)
        restored = _restored(target)
        old = None if existing is None else existing.definition()
        new = None if restored is None else restored.definition()
        if old == new:
            action = "none"
        elif existing is not None and existing.source == "config":
            raise config_owned(entry_id)
        else:
            action = "remove" if new is None else "recreate" if old is None else "update"
        version = None
        if action != "none" and not dry_run:
            version = _write(session, store, entry_id, existing, restored)
    if as_json:
        render.echo_json(
            {
                "entry": entry_id,
                "change": target.change.seq,
                "restored": target.side,
                "action": action,
                "dry_run": dry_run,
                "current": old,
                "definition": new,
                "version": version,
            }
        )
        return
    when = target.describe()
    if action == "none":
        click.echo(f"{entry_id} already has its definition {when}: nothing to roll back")
        return
    headline = (
        f"removed {entry_id}: it did not exist {when}"
        if action == "remove"
        else f"{'recreated' if action == 'recreate' else 'rolled back'} {entry_id}: its "
        f"definition {when}"
    )
    click.echo(f"{headline} (dry run: nothing written)" if dry_run else headline)
    for name, before, after in differences(old, new):
        click.echo(f"  {name}: {before} → {after}")
