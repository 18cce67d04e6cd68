"""``pause`` and ``resume``: hold every beat on the store back from sending, and let them go."""

from __future__ import annotations

from datetime import datetime

import click

from celery_stembeat.audit import PAUSE, RESUME
from celery_stembeat.cli import render
from celery_stembeat.cli.errors import BadInput, Command
from celery_stembeat.cli.params import instant_option, json_option
from celery_stembeat.cli.session import actor, current
from celery_stembeat.stores import Pause


def _pause_json(pause: Pause | None) -> dict[str, object] | None:
    return None if pause is None else pause.to_dict()


@click.command("pause", cls=Command)
@instant_option("--until", help="End the pause by itself at INSTANT (default: until resume).")
@click.option("--reason", default="", help="Why, shown by beats' logs, observe and list.")
@json_option
@click.pass_context
def pause(ctx: click.Context, until: datetime | None, reason: str, as_json: bool) -> None:
    """Stop every beat on the store from sending, from now until resume (or --until).

    Beats keep running and claim nothing meanwhile; afterwards each entry follows its
    catch_up policy for the occurrences passed. Pausing again replaces the pause.
    """
    session = current(ctx)
    try:
        wanted = Pause(session.now(), until, reason, actor())
    except ValueError as exc:
        raise BadInput(f"--{exc}") from None
    with session.store() as store:
        replaced = store.pause(wanted, note=session.note(PAUSE))
    if as_json:
        render.echo_json({"paused": wanted.to_dict(), "replaced": _pause_json(replaced)})
        return
    click.echo(f"paused {wanted.describe()}")
    if replaced is not None:
        click.echo(f"replaced the pause {replaced.describe()}")


@click.command("resume", cls=Command)
@json_option
@click.pass_context
def resume(ctx: click.Context, as_json: bool) -> None:
    """Let every beat on the store send again (a pause's --until ends it by itself too)."""
    session = current(ctx)
    with session.store() as store:
        cleared = store.resume(note=session.note(RESUME))
    if as_json:
        render.echo_json({"resumed": _pause_json(cleared)})
    elif cleared is None:
        click.echo("not paused")
    else:
        click.echo(f"resumed: cleared the pause {cleared.describe()}")
