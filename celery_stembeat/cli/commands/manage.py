"""Writing verbs: ``apply``, ``enable``, ``disable``, ``remove``, and ``export`` for ``apply``."""

from __future__ import annotations

import sys
from collections.abc import Sequence

import click

from celery_stembeat import wording
from celery_stembeat._collector import collector_paused
from celery_stembeat.audit import DISABLE, ENABLE, REMOVE
from celery_stembeat.changes import listed, unlisted_note
from celery_stembeat.cli import render
from celery_stembeat.cli.apply import Plan, carry_out, plan_items
from celery_stembeat.cli.errors import Command, Failed, changed_meanwhile
from celery_stembeat.cli.files import FORMATS, STDIN, read_items, write_entries
from celery_stembeat.cli.params import json_option, tag_option, verbosity_options
from celery_stembeat.cli.session import current
from celery_stembeat.entry import Entry
from celery_stembeat.selection import stored
from celery_stembeat.stores import EntryNotFound, Store, VersionConflict

#: The entries a verb acts on: ids, or (instead) ``--tag``.
ENTRY_IDS = click.argument("entry_ids", metavar="[ID]...", nargs=-1)


def warn(message: str) -> None:
    """A warning on stderr; the command still succeeds."""
    click.echo(f"warning: {message}", err=True)


def _missing(entry_ids: Sequence[str]) -> Failed:
    return Failed(f"no entry {', '.join(repr(entry_id) for entry_id in entry_ids)}")


def _echo_plan(planned: Plan, removed: Sequence[str], dry_run: bool, verbose: bool) -> None:
    rows = [("added", entry_id, "") for entry_id in planned.added]
    rows += [("changed", key, f"({', '.join(names)})") for key, names in planned.updated.items()]
    if verbose:
        rows += [("unchanged", entry_id, "") for entry_id in planned.unchanged]
    rows += [("removed", entry_id, "") for entry_id in removed]
    shown = listed(rows, verbose)
    lines = [f"{status:<10} {entry_id} {detail}".rstrip() for status, entry_id, detail in shown]
    summary = (
        f"{len(planned.added)} added, {len(planned.updated)} changed, "
        f"{len(planned.unchanged)} unchanged, {len(removed)} removed"
        + (" (dry run: nothing written)" if dry_run else "")
        + unlisted_note(rows, shown)
    )
    click.echo("\n".join([*lines, summary]))


@click.command("apply", cls=Command)
@click.argument(
    "files",
    metavar="FILE...",
    nargs=-1,
    required=True,
    type=click.Path(exists=True, dir_okay=False, allow_dash=True),
)
@click.option("--dry-run", is_flag=True, help="Show what would change; write nothing.")
@click.option(
    "--prune",
    is_flag=True,
    help="Also remove entries absent from the files (never those of beat_schedule).",
)
@click.option("--yes", "-y", is_flag=True, help="Prune without asking.")
@verbosity_options("Print nothing but errors.")
@json_option
@click.pass_context
def apply_files(
    ctx: click.Context,
    files: tuple[str, ...],
    dry_run: bool,
    prune: bool,
    yes: bool,
    verbose: bool,
    quiet: bool,
    as_json: bool,
) -> None:
    """Create or update entries from files.

    FILE is JSON or YAML (a list of entries or {"entries": [...]}); '-' reads stdin.

    Every entry of every file is checked before anything is written. Existing entries keep
    their run state. Prints a line per entry added, changed or removed (when there are at most
    50 of them), then the counts.
    """
    if prune and STDIN in files and not (yes or dry_run):
        raise click.UsageError("--prune with a file on stdin needs --yes: stdin cannot confirm")
    session = current(ctx)
    # Every item and entry of the files stays alive until written: the collector's full
    # passes would walk them all again and again (a sixth of an apply of 100,000 entries).
    with collector_paused():
        items = read_items(files)
        with session.store() as store:
            planned_items = plan_items(store, items, prune=prune)
            planned = planned_items.plan
            removed = list(planned.absent)
            if not dry_run:
                if removed and not yes:
                    counted = wording.counted(len(removed), "entry", "entries")
                    click.confirm(
                        f"Remove {counted} absent from the files ({', '.join(removed)})?",
                        abort=True,
                        err=True,
                    )
                carry_out(store, planned_items, session.now(), session.note("apply"))
    if as_json:
        render.echo_json({**planned.to_dict(removed), "dry_run": dry_run})
    elif not quiet:
        _echo_plan(planned, removed, dry_run, verbose)


def targets(
    store: Store, entry_ids: Sequence[str], tags: Sequence[str], verb: str
) -> Sequence[str]:
    """The ids a verb acts on: those given, or (with ``--tag``) those holding every tag.

    As with kubectl's ``-l``, ids and tags do not combine; a selection matching nothing is
    said on stderr and is not an error.
    """
    if entry_ids and tags:
        raise click.UsageError(f"{verb}: give entry IDs or --tag, not both")
    if not tags:
        if not entry_ids:
            raise click.UsageError(f"{verb}: give entry IDs, or --tag to select by tag")
        return entry_ids
    selected = store.ids_tagged(tags)
    if not selected:
        click.echo(f"no entries tagged {' and '.join(tags)}", err=True)
    return selected


def _set_enabled(
    ctx: click.Context,
    entry_ids: Sequence[str],
    tags: Sequence[str],
    enabled: bool,
    as_json: bool,
) -> None:
    session = current(ctx)
    done: list[Entry] = []
    missing: list[str] = []
    verb = ENABLE if enabled else DISABLE
    note = session.note(verb)
    with session.store() as store:
        for entry_id in targets(store, entry_ids, tags, verb):
            try:
                done.append(store.set_enabled(entry_id, enabled, session.now(), note=note))
            except EntryNotFound:
                missing.append(entry_id)
    comeback = (
        None
        if enabled
        else "beat enables it again at its next start unless you remove it from beat_schedule "
        '(or set "enabled": False there)'
    )
    _report(done, missing, "enabled" if enabled else "disabled", comeback, as_json)


def _report(
    done: Sequence[Entry],
    missing: Sequence[str],
    verb: str,
    comeback: str | None,
    as_json: bool,
) -> None:
    """Print what a verb did to each entry; warn where beat_schedule will undo it."""
    for entry in done:
        if comeback and entry.source == "config":
            warn(f"entry {entry.id!r} comes from beat_schedule: {comeback}")
    if as_json:
        render.echo_json([entry.to_dict() for entry in done])
    else:
        for entry in done:
            click.echo(f"{verb} {entry.id}")
    if missing:
        raise _missing(missing)


@click.command("enable", cls=Command)
@ENTRY_IDS
@tag_option
@json_option
@click.pass_context
def enable(
    ctx: click.Context, entry_ids: tuple[str, ...], tags: tuple[str, ...], as_json: bool
) -> None:
    """Enable entries, starting afresh from now.

    Give their IDs, or --tag to enable every entry with the tag(s). No backlog is fired: the
    next run is the first occurrence after now.
    """
    _set_enabled(ctx, entry_ids, tags, True, as_json)


@click.command("disable", cls=Command)
@ENTRY_IDS
@tag_option
@json_option
@click.pass_context
def disable(
    ctx: click.Context, entry_ids: tuple[str, ...], tags: tuple[str, ...], as_json: bool
) -> None:
    """Disable entries (run state and history stay).

    Give their IDs, or --tag to disable every entry with the tag(s).
    """
    _set_enabled(ctx, entry_ids, tags, False, as_json)


@click.command("remove", cls=Command)
@ENTRY_IDS
@tag_option
@click.option("--yes", "-y", is_flag=True, help="Remove the entries --tag selects without asking.")
@json_option
@click.pass_context
def remove(
    ctx: click.Context, entry_ids: tuple[str, ...], tags: tuple[str, ...], yes: bool, as_json: bool
) -> None:
    """Delete entries with their history.

    Give their IDs, or --tag to remove every entry with the tag(s) (after confirming, unless
    --yes). Each entry is removed at the version just read: should another process change one
    meanwhile, it and those after it stay (exit 1).
    """
    session = current(ctx)
    removed: list[Entry] = []
    missing: list[str] = []
    with session.store() as store:
        chosen = targets(store, entry_ids, tags, REMOVE)
        if tags and chosen and not yes:
            click.confirm(
                f"Remove {wording.counted(len(chosen), 'entry', 'entries')} tagged "
                f"{' and '.join(tags)} ({', '.join(chosen)})?",
                abort=True,
                err=True,
            )
        note = session.note(REMOVE)
        changed: Failed | None = None
        for entry_id in chosen:
            entry = store.get(entry_id)
            if entry is not None:
                try:
                    store.delete(entry_id, expected_version=entry.version, note=note)
                    removed.append(entry)
                    continue
                except VersionConflict as conflict:
                    if conflict.actual is not None:
                        changed = changed_meanwhile(entry_id, "removing", "nothing more removed")
                        break
            missing.append(entry_id)  # never stored, or removed meanwhile
    comeback = "beat adds it again at its next start unless you remove it from beat_schedule"
    _report(removed, missing if changed is None else [], "removed", comeback, as_json)
    if changed is not None:
        raise changed


@click.command("export", cls=Command)
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="json", show_default=True)
@tag_option
@click.pass_context
def export(ctx: click.Context, fmt: str, tags: tuple[str, ...]) -> None:
    """Print the store's entries as a file for apply.

    Definitions only, no run state; entries of beat_schedule (source=config) are left out.
    """
    with current(ctx).store() as store:
        entries = (entry for entry in stored(store, tags=tags) if entry.source == "store")
        write_entries(entries, fmt, sys.stdout.write)
