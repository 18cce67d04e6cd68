"""``log``: the audit log's change records, newest first; ``log --verify``: whether the log
is whole and unedited."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import click

from celery_stembeat import audit, wording
from celery_stembeat.audit import AuditHead, Verification, newest
from celery_stembeat.cli import render
from celery_stembeat.cli.commands import checked_id
from celery_stembeat.cli.errors import Command, Failed
from celery_stembeat.cli.jsonstream import json_list
from celery_stembeat.cli.params import instant_option, output_options
from celery_stembeat.cli.session import current
from celery_stembeat.stores import Store

#: Changes shown unless ``--limit`` says otherwise.
DEFAULT_LIMIT = 20


def verified(store: Store) -> tuple[AuditHead, Verification]:
    """The log's head and what :func:`~celery_stembeat.audit.verify` finds from it.

    A write made while the log is read may trim the oldest records away: should the problem
    lie below the floor of the head read again, the log is checked once more from that head.
    """
    head = store.audit_head()
    found = audit.verify(head, store.changes())
    if not found.intact:
        problem_at = head.floor if found.last is None else found.last + 1
        again = store.audit_head()
        if again.floor > problem_at:
            head, found = again, audit.verify(again, store.changes())
    return head, found


@contextlib.contextmanager
def unreadable_fails() -> Iterator[None]:
    """A change record the store holds but that does not read as one (edited by hand) ends the
    command with one line naming it, exit 1."""
    try:
        yield
    except ValueError as exc:
        raise Failed(f"audit log broken: {exc}") from None


def verification_line(found: Verification) -> str:
    """``audit log intact: 1,234 changes, 17-1,250``, or the problem found."""
    if not found.intact:
        return f"audit log broken: {found.problem}"
    counted = f"{found.checked:,} change{'' if found.checked == 1 else 's'}"
    span = "" if found.first is None else f", {found.first:,}-{found.last:,}"
    return f"audit log intact: {counted}{span}"


def verification_dict(head: AuditHead, found: Verification) -> dict[str, Any]:
    """``log --verify --json``: the head checked against, and what was found."""
    return {
        "intact": found.intact,
        "checked": found.checked,
        "first": found.first,
        "last": found.last,
        "problem": found.problem,
        "head": {"seq": head.seq, "hash": head.hash, "floor": head.floor},
    }


@click.command("log", cls=Command)
@click.argument("entry_id", metavar="[ID]", required=False)
@instant_option("--since", help="Only changes made at or after INSTANT.")
@click.option(
    "--limit",
    metavar="N",
    type=click.IntRange(1, audit.MAX_AUDIT_LIMIT),
    help=f"Show the newest N changes (default {DEFAULT_LIMIT}).",
)
@click.option(
    "--verify",
    is_flag=True,
    help="Check instead that no change kept was edited or removed (exit 1 if one was).",
)
@output_options
@click.pass_context
def log(
    ctx: click.Context,
    entry_id: str | None,
    since: datetime | None,
    limit: int | None,
    verify: bool,
    as_json: bool,
) -> None:
    """Show the audit log: who changed what, when, newest first.

    Every change to an entry (apply, import, enable, disable, remove, rollback, beat's sync of
    beat_schedule, the store API), every manual run and every pause and resume is recorded,
    with the definition before and after (see --json). Give an entry ID for its changes
    only. The store keeps the newest audit_limit changes (100,000 by default).
    """
    session = current(ctx)
    if verify:
        if entry_id is not None or since is not None or limit is not None:
            raise click.UsageError("--verify checks the whole log: give no ID, --since or --limit")
        with session.store() as store, unreadable_fails():
            head, found = verified(store)
        if as_json:
            render.echo_json(verification_dict(head, found))
        else:
            click.echo(verification_line(found))
        ctx.exit(0 if found.intact else 1)
    if entry_id is not None:
        checked_id(entry_id)
    limit = limit or DEFAULT_LIMIT
    with session.store() as store, unreadable_fails():
        if as_json:  # the records alone, all read before any is printed: nothing to count
            shown = list(store.changes(entry_id, since=since, newest_first=True, limit=limit))
            json_list((change.to_dict() for change in shown), sys.stdout.write)
            return
        shown, selected = newest(store, entry_id, since, limit)
    subject = entry_id or "audit log"
    title = (
        f"{subject}: {wording.counted(selected, 'change')}, newest first, times in UTC"
        if len(shown) == selected
        else f"{subject}: the newest {len(shown)} of {selected:,} changes, times in UTC"
    )
    empty = "no changes" + (f" of {entry_id}" if entry_id else "")
    render.show(session, render.changes_table(shown, title if shown else None, empty))
