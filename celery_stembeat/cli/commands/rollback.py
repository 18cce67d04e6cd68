"""``rollback``: give an entry back a definition the audit log recorded, its run state kept."""

from __future__ import annotations

import click

from celery_stembeat.cli import render
from celery_stembeat.cli.commands import checked_id
from celery_stembeat.cli.errors import Command, changed_meanwhile
from celery_stembeat.cli.params import json_option
from celery_stembeat.cli.rollbacks import VERB, differences, rollback_of, write_rollback
from celery_stembeat.cli.session import current
from celery_stembeat.stores import VersionConflict


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
        found = rollback_of(store, entry_id, seq)
        version = None
        if found.action != "none" and not dry_run:
            try:
                stored = write_rollback(store, found, session.now(), session.note(VERB))
            except VersionConflict:
                raise changed_meanwhile(entry_id, "rolling back", "nothing written") from None
            version = None if stored is None else stored.version
    if as_json:
        render.echo_json(
            {
                "entry": entry_id,
                "change": found.target.change.seq,
                "restored": found.target.side,
                "action": found.action,
                "dry_run": dry_run,
                "current": found.old,
                "definition": found.new,
                "version": version,
            }
        )
        return
    if found.action == "none":
        click.echo(found.headline())
        return
    click.echo(f"{found.done()} (dry run: nothing written)" if dry_run else found.done())
    for name, before, after in differences(found.old, found.new):
        click.echo(f"  {name}: {before} → {after}")
