"""Reading verbs: ``list``, ``show``, ``history`` and ``dry-run``."""

from __future__ import annotations

import sys
from datetime import datetime

import click

from celery_stembeat import wording
from celery_stembeat.cli import render
from celery_stembeat.cli.commands import require
from celery_stembeat.cli.errors import Command
from celery_stembeat.cli.jsonstream import json_list
from celery_stembeat.cli.params import (
    instant_option,
    json_option,
    output_options,
    tag_option,
    zone_option,
)
from celery_stembeat.cli.session import current
from celery_stembeat.health import STATES, HealthRules
from celery_stembeat.ordering import SORTS
from celery_stembeat.selection import in_state, select, stored
from celery_stembeat.specs import Spec, SpecError, format_instant, parse_spec


@click.command("list", cls=Command)
@click.option("--enabled/--disabled", default=None, help="Only enabled (or disabled) entries.")
@click.option("--prefix", help="Only entries whose id starts with PREFIX.")
@click.option("--task", help="Only entries that send TASK.")
@tag_option
@click.option(
    "--sort",
    type=click.Choice(list(SORTS)),
    default="id",
    show_default=True,
    help="Order: by id, soonest next run, latest last run, most runs, largest mean drift.",
)
@click.option(
    "--state",
    type=click.Choice(STATES),
    help="Only entries in this health state (observe's default thresholds).",
)
@click.option("--limit", type=click.IntRange(min=1), help="Only the first N (after --sort).")
@click.option("--count", is_flag=True, help="Print only how many entries match.")
@output_options
@click.pass_context
def list_entries(
    ctx: click.Context,
    enabled: bool | None,
    prefix: str | None,
    task: str | None,
    tags: tuple[str, ...],
    sort: str,
    state: str | None,
    limit: int | None,
    count: bool,
    as_json: bool,
) -> None:
    """List entries with their next and last run."""
    session = current(ctx)
    with session.store() as store:
        pause = store.paused()
        if pause is not None and pause.in_force(session.now()):
            click.echo(render.pause_banner(pause), err=True)
        found = select(stored(store, tags=tags, enabled=enabled, prefix=prefix), task=task)
        if state is not None:
            rules = HealthRules(missed_after=session.target.grace)
            found = in_state(store, found, state, session.now(), rules, pause)
        if count:
            click.echo(sum(1 for _ in found))
            return
        entries = select(found, sort=sort, limit=limit)
        if as_json:
            json_list((entry.to_dict() for entry in entries), sys.stdout.write)
        else:
            render.show(session, render.entries_table(entries, session.now()))


@click.command("show", cls=Command)
@click.argument("entry_id", metavar="ID")
@json_option
@click.pass_context
def show(ctx: click.Context, entry_id: str, as_json: bool) -> None:
    """Show everything about one entry.

    Its definition (options included) and its run state.
    """
    session = current(ctx)
    with session.store() as store:
        entry = require(store, entry_id)
    if as_json:
        render.echo_json(entry.to_dict())
    else:
        render.show(session, render.entry_table(entry, session.now()))


@click.command("history", cls=Command)
@click.argument("entry_id", metavar="ID")
@click.option(
    "--limit", default=20, show_default=True, type=click.IntRange(min=1), help="Runs to show."
)
@output_options
@click.pass_context
def history(ctx: click.Context, entry_id: str, limit: int, as_json: bool) -> None:
    """Show the recorded runs of one entry.

    Newest first: scheduled time, publish time, drift, jitter, outcome, error, beat. Runs sent
    with 'run' say '(manual)' after their outcome.
    """
    session = current(ctx)
    with session.store() as store:
        entry = require(store, entry_id)
        runs = store.history(entry_id, limit)
    if as_json:
        render.echo_json([run.to_dict() for run in runs])
    else:
        render.show(session, render.history_table(entry, runs))


def _parse(text: str, zone: str | None) -> Spec:
    try:
        return parse_spec(text, timezone=zone)
    except SpecError as exc:
        raise click.BadParameter(str(exc), param_hint="'--spec'") from None


@click.command("dry-run", cls=Command)
@click.argument("entry_id", metavar="[ID]", required=False)
@click.option(
    "--spec",
    "spec_text",
    metavar="SPEC",
    help="A spec instead of an entry: JSON, cron ('0 9 * * 1-5'), or interval ('5m', 'every:5m').",
)
@click.option(
    "--count", default=10, show_default=True, type=click.IntRange(1, 1000), help="How many."
)
@instant_option("--after", help="Start after this instant (default: now).")
@zone_option(
    "--tz",
    "zone",
    help="Show local times in ZONE (default: the spec's zone, else UTC); also the zone of a "
    "cron string given to --spec.",
)
@output_options
@click.pass_context
def dry_run(
    ctx: click.Context,
    entry_id: str | None,
    spec_text: str | None,
    count: int,
    after: datetime | None,
    zone: str | None,
    as_json: bool,
) -> None:
    """Show the next occurrences of an entry or spec.

    Give an entry ID or --spec SPEC. Nothing is run or written.
    """
    session = current(ctx)
    start = after or session.now().replace(microsecond=0)
    if spec_text is not None and entry_id is None:
        spec = _parse(spec_text, zone)
        instants = list(spec.occurrences(start, count))
    elif entry_id is not None and spec_text is None:
        with session.store() as store:
            entry = require(store, entry_id)
        spec = entry.spec
        # Without --after: the times beat will send, from the stored next run on.
        instants = (
            entry.coming(start, count) if after is None else list(spec.occurrences(start, count))
        )
    else:
        raise click.UsageError("give either an entry ID or --spec SPEC")
    shown = zone or wording.spec_zone(spec)
    if not as_json:
        render.show(session, render.occurrences_table(spec, start, instants, shown))
        return
    render.echo_json(
        {
            "spec": spec.to_dict(),
            "schedule": spec.describe(),
            "after": format_instant(start),
            "zone": shown,
            "occurrences": [
                {"utc": format_instant(instant), "local": wording.local(instant, shown)}
                for instant in instants
            ],
        }
    )
