"""The operator's CLI: ``stembeat …`` and ``celery -A proj stembeat …``.

One set of verbs, two ways to find the store: the standalone ``stembeat`` reads ``--url`` or
``$STEMBEAT_URL``; the celery subcommand reads the app's configuration (``stembeat_url``,
``stembeat_grace``) like the scheduler does.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import datetime

import click
from celery.bin.base import handle_preload_options

from celery_stembeat import __version__
from celery_stembeat.cli.errors import Verbs
from celery_stembeat.cli.params import F, now_option
from celery_stembeat.cli.session import Session, install, target_from_app, target_from_url
from celery_stembeat.config import URL_VARIABLE

#: celery's decorator, with the type celery's own code does not declare.
preload_options: Callable[[F], F] = handle_preload_options

_COMMANDS = "celery_stembeat.cli.commands"
#: Each verb, and where it is: imported only when it runs.
VERBS = {
    "list": f"{_COMMANDS}.inspect:list_entries",
    "show": f"{_COMMANDS}.inspect:show",
    "history": f"{_COMMANDS}.inspect:history",
    "dry-run": f"{_COMMANDS}.inspect:dry_run",
    "observe": f"{_COMMANDS}.observe:observe",
    "beats": f"{_COMMANDS}.observe:beats",
    "metrics": f"{_COMMANDS}.metrics:metrics",
    "apply": f"{_COMMANDS}.manage:apply_files",
    "enable": f"{_COMMANDS}.manage:enable",
    "disable": f"{_COMMANDS}.manage:disable",
    "remove": f"{_COMMANDS}.manage:remove",
    "pause": f"{_COMMANDS}.pause:pause",
    "resume": f"{_COMMANDS}.pause:resume",
    "run": f"{_COMMANDS}.run:run",
    "export": f"{_COMMANDS}.migrate:export",
    "import": f"{_COMMANDS}.migrate:import_schedules",
}


@click.group("stembeat", cls=Verbs, lazy=VERBS)
@click.option(
    "--url",
    envvar=URL_VARIABLE,
    metavar="URL",
    help=f"The store: sqlite:///PATH, postgresql://…, redis://… (default: ${URL_VARIABLE}).",
)
@now_option
@click.version_option(__version__, prog_name="stembeat")
@click.pass_context
def main(ctx: click.Context, url: str | None, now: datetime | None) -> None:
    """Manage and inspect stembeat schedules while beat runs."""
    install(ctx, Session(functools.partial(target_from_url, url), now))


@click.group("stembeat", cls=Verbs, lazy=VERBS)
@now_option
@click.pass_context
@preload_options
def celery_command(ctx: click.Context, now: datetime | None) -> None:
    """Manage and inspect the stembeat schedules of this app's store (stembeat_url)."""
    celery_context = ctx.obj
    locate = functools.partial(target_from_app, celery_context.app)
    install(ctx, Session(locate, now, color=not celery_context.no_color, app=celery_context.app))
