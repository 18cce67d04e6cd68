"""``observe``: what beat is doing, once or live."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta

import click
from rich.live import Live

from celery_stembeat.cli import render, tables
from celery_stembeat.cli.errors import Command
from celery_stembeat.cli.params import F, output_options
from celery_stembeat.cli.session import current
from celery_stembeat.health import HealthRules, live_beats
from celery_stembeat.observation import observe as observe_store
from celery_stembeat.stores import Store
from celery_stembeat.survey import survey

DEFAULTS = HealthRules()

beat_silence_option = click.option(
    "--beat-silence",
    default=DEFAULTS.beat_silence.total_seconds(),
    show_default=True,
    type=click.FloatRange(min=1),
    help="Seconds a beat may be silent and still count as live.",
)


def refreshes(store: Store, interval: float) -> Iterator[list[str]]:
    """Yield at once, then after each change the store announces or ``interval`` seconds.

    The change feed announces definition changes only (runs are not announced), hence the
    interval. Yields the ids that changed (``[]`` after a quiet interval).
    """
    feed = store.watch()
    try:
        changed: list[str] = []
        while True:
            yield changed
            changed = feed.wait(interval)
    finally:
        feed.close()


_HEALTH_OPTIONS = (
    click.option(
        "--grace",
        type=click.FloatRange(min=0),
        help="Seconds late that make an entry overdue, and missed "
        "(default: stembeat_grace, else 30).",
    ),
    click.option(
        "--start-within",
        default=DEFAULTS.start_within.total_seconds(),
        show_default=True,
        type=click.FloatRange(min=0),
        help="Seconds a sent occurrence may wait to start before its entry is late.",
    ),
    click.option(
        "--finish-within",
        default=DEFAULTS.finish_within.total_seconds(),
        show_default=True,
        type=click.FloatRange(min=0),
        help="Seconds a started occurrence may run before its entry is stuck.",
    ),
    click.option(
        "--failures",
        default=DEFAULTS.failures,
        show_default=True,
        type=click.IntRange(min=1),
        help="Failures in a row that make an entry failing.",
    ),
    beat_silence_option,
)


def health_options(command: F) -> F:
    """The thresholds of the health states, as options (read them with :func:`health_rules`)."""
    for option in reversed(_HEALTH_OPTIONS):
        command = option(command)
    return command


def health_rules(
    ctx: click.Context,
    grace: float | None,
    start_within: float,
    finish_within: float,
    failures: int,
    beat_silence: float,
) -> HealthRules:
    """The rules :func:`health_options` gave (``--grace`` defaults to the target's)."""
    return HealthRules(
        missed_after=current(ctx).target.grace if grace is None else timedelta(seconds=grace),
        start_within=timedelta(seconds=start_within),
        finish_within=timedelta(seconds=finish_within),
        failures=failures,
        beat_silence=timedelta(seconds=beat_silence),
    )


@click.command("observe", cls=Command)
@click.option(
    "--watch",
    is_flag=True,
    help="Keep refreshing (Ctrl-C stops): at each change the store announces, and every "
    "--interval seconds. With --json, one JSON document per line.",
)
@click.option(
    "--interval",
    default=2.0,
    show_default=True,
    type=click.FloatRange(min=0.1),
    help="Seconds between refreshes with --watch.",
)
@health_options
@click.option(
    "--check",
    is_flag=True,
    help="A health probe: one line per problem (no live beat; entries late, failing, "
    "missed or stuck) and exit 1, or one 'ok' line and exit 0. A 'paused:' line comes "
    "first while the store is paused (not a problem by itself).",
)
@output_options
@click.pass_context
def observe(
    ctx: click.Context,
    watch: bool,
    interval: float,
    grace: float | None,
    start_within: float,
    finish_within: float,
    failures: int,
    beat_silence: float,
    check: bool,
    as_json: bool,
) -> None:
    """Summarise what is due, late and failing, and how healthy each entry is.

    A line of counts (due now, overdue, runs in the last hour, failing to send), a line of
    health counts (ok, late, failing, missed, stuck, disabled) and live beats, then the
    entries that are not healthy, with why.
    """
    session = current(ctx)
    rules = health_rules(ctx, grace, start_within, finish_within, failures, beat_silence)
    with session.store() as store:
        if check:
            surveyed = survey(store, session.now(), rules)
            found = render.problems(surveyed, rules)
            healthy = render.health_line(surveyed.counts, surveyed.live, surveyed.beats)
            if surveyed.paused is not None:
                click.echo(f"paused: {surveyed.paused.describe()}")
            for line in found or [f"ok: {healthy}"]:
                click.echo(line)
            ctx.exit(1 if found else 0)
        if not watch:
            seen = observe_store(store, session.now(), rules)
            if as_json:
                render.echo_json(render.observation_dict(seen))
            else:
                render.show(session, render.observation_view(seen))
            return
        try:
            if as_json:
                for _ in refreshes(store, interval):
                    seen = observe_store(store, session.now(), rules)
                    click.echo(json.dumps(render.observation_dict(seen), ensure_ascii=False))
            elif tables.is_tsv(session.output):
                for _ in refreshes(store, interval):
                    seen = observe_store(store, session.now(), rules)
                    render.show(session, render.observation_view(seen))
            else:
                out = render.console(session)
                with Live(console=out, auto_refresh=False) as live:
                    for _ in refreshes(store, interval):
                        seen = observe_store(store, session.now(), rules)
                        view = tables.renderable(render.observation_view(seen), out, session.output)
                        live.update(view, refresh=True)
        except KeyboardInterrupt:
            pass


@click.command("beats", cls=Command)
@beat_silence_option
@output_options
@click.pass_context
def beats(ctx: click.Context, beat_silence: float, as_json: bool) -> None:
    """The beats recorded in the store: host, pid, version, last pass, store latency and
    clock offset, and whether each is live."""
    session = current(ctx)
    rules = HealthRules(beat_silence=timedelta(seconds=beat_silence))
    now = session.now()
    with session.store() as store:
        recorded = store.beats()
    live = live_beats(recorded, now, rules)
    if as_json:
        alive = {beat.owner for beat in live}
        render.echo_json([{**beat.to_dict(), "live": beat.owner in alive} for beat in recorded])
    else:
        render.show(session, render.beats_table(recorded, live, now))
