"""``run``: send entries' tasks once, now, out of schedule."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import click

from celery_stembeat.cli import render
from celery_stembeat.cli.commands.manage import ENTRY_IDS, targets, warn
from celery_stembeat.cli.errors import BadInput, Command, Failed
from celery_stembeat.cli.params import json_option, tag_option
from celery_stembeat.cli.session import actor, current
from celery_stembeat.entry import Entry, is_entry_id
from celery_stembeat.limits import shorten
from celery_stembeat.manual import ManualRun, expired, run_now
from celery_stembeat.publisher import CeleryPublisher
from celery_stembeat.stores import PUBLISHED

#: Ids an error line names at most.
NAMED = 5
NO_APP = (
    "run sends tasks through your celery app: call it as "
    "'celery -A PROJ stembeat run ID...' (PROJ: the module of your app)"
)


def _named(entry_ids: Sequence[str]) -> str:
    """The ids, quoted and shortened, at most :data:`NAMED` of them."""
    named = ", ".join(shorten(entry_id) for entry_id in entry_ids[:NAMED])
    more = len(entry_ids) - NAMED
    return named + (f" and {more} more" if more > 0 else "")


def _runnable(entries: Sequence[Entry], entry_ids: Sequence[str], now: datetime) -> None:
    """Refuse (exit 2, nothing sent) ids with no entry, and entries whose ``expire_at`` has
    passed: their message would expire before any worker could run it."""
    found = {entry.id for entry in entries}
    missing = [entry_id for entry_id in entry_ids if entry_id not in found]
    if missing:
        raise BadInput(f"no entry {_named(missing)}; nothing sent")
    gone = expired(entries, now)
    if gone:
        raise BadInput(
            f"entry {_named(gone)} expired (expire_at has passed): its message would "
            "expire unrun; nothing sent"
        )


def _echo(runs: Sequence[ManualRun]) -> None:
    for run in runs:
        record = run.record
        if record.outcome == PUBLISHED:
            click.echo(f"sent {record.entry_id}: task id {record.task_id}")
        else:
            click.echo(f"not sent {record.entry_id}: {record.error}")


@click.command("run", cls=Command)
@ENTRY_IDS
@tag_option
@json_option
@click.pass_context
def run(
    ctx: click.Context, entry_ids: tuple[str, ...], tags: tuple[str, ...], as_json: bool
) -> None:
    """Send each entry's task once, now, out of schedule.

    The message is the one beat sends (args, kwargs, options), with a task id of its own.
    The schedule is untouched (next run, run count, failures); history records a manual run,
    which track_outcomes completes with the worker's outcome. Disabled entries run too.
    Give entry IDs, or --tag to run every entry holding the tags. Needs the app:
    celery -A PROJ stembeat run ID...
    """
    session = current(ctx)
    if session.app is None:
        raise BadInput(NO_APP)
    with session.store() as store:
        wanted = list(dict.fromkeys(targets(store, entry_ids, tags, "run")))
        # An id no entry could have is not looked up: it is unknown.
        entries = store.get_many([entry_id for entry_id in wanted if is_entry_id(entry_id)])
        _runnable(entries, wanted, session.now())
        publisher = CeleryPublisher(session.app, clock=session.now)
        runs = run_now(store, publisher, entries, session.now, actor())
    for lost in (run.record for run in runs if not run.recorded):
        warn(f"entry {shorten(lost.entry_id)} was removed meanwhile: history has no record of it")
    if as_json:
        render.echo_json([run.record.to_dict() for run in runs])
    else:
        _echo(runs)
    failed = [run.record.entry_id for run in runs if run.record.outcome != PUBLISHED]
    if failed:
        raise Failed(f"not sent: {_named(failed)}")
