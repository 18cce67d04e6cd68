"""``observe``: what beat is doing, once or live."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta

import click
from celery.bin.base import CeleryCommand
from rich.live import Live

from celery_stembeat.cli import render
from celery_stembeat.cli.params import json_option
from celery_stembeat.cli.session import current
from celery_stembeat.cli.stats import observe as observe_store
from celery_stembeat.stores import Store


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


@click.command("observe", cls=CeleryCommand)
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
@click.option(
    "--grace",
    type=click.FloatRange(min=0),
    help="Seconds late that make an entry overdue (default: stembeat_grace, else 30).",
)
@json_option
@click.pass_context
def observe(
    ctx: click.Context, watch: bool, interval: float, grace: float | None, as_json: bool
) -> None:
    """Summarise what is due, late and failing.

    A line of counts (due now, overdue, runs in the last hour, failing), then each
    entry's runs, drift, next run and last error.
    """
    session = current(ctx)
    window = session.target.grace if grace is None else timedelta(seconds=grace)
    with session.store() as store:
        if not watch:
            seen = observe_store(store, session.now(), window)
            if as_json:
                render.echo_json(render.observation_dict(seen))
            else:
                render.show(session, render.observation_view(seen))
            return
        try:
            if as_json:
                for _ in refreshes(store, interval):
                    seen = observe_store(store, session.now(), window)
                    click.echo(json.dumps(render.observation_dict(seen), ensure_ascii=False))
            else:
                with Live(console=render.console(session), auto_refresh=False) as live:
                    for _ in refreshes(store, interval):
                        seen = observe_store(store, session.now(), window)
                        live.update(render.observation_view(seen), refresh=True)
        except KeyboardInterrupt:
            pass
