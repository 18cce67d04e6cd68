"""The operator's CLI: ``stembeat …`` and ``celery -A proj stembeat …``.

One set of verbs, two ways to find the store: the standalone ``stembeat`` reads ``--url`` or
``$STEMBEAT_URL``; the celery subcommand reads the app's configuration (``stembeat_url``,
``stembeat_grace``) like the scheduler does.
"""

from __future__ import annotations

import functools
from datetime import datetime
from typing import Any

import click

from celery_stembeat import __version__
from celery_stembeat.cli.errors import Verbs
from celery_stembeat.cli.params import now_option
from celery_stembeat.cli.session import Session, install, target_from_url
from celery_stembeat.setting import URL_VARIABLE

_COMMANDS = "celery_stembeat.cli.commands"
#: Each verb, and where it is: imported only when it runs.
VERBS = {
    "list": f"{_COMMANDS}.inspect:list_entries",
    "show": f"{_COMMANDS}.inspect:show",
    "history": f"{_COMMANDS}.inspect:history",
    "dry-run": f"{_COMMANDS}.inspect:dry_run",
    "observe": f"{_COMMANDS}.observe:observe",
    "beats": f"{_COMMANDS}.observe:beats",
    "log": f"{_COMMANDS}.log:log",
    "metrics": f"{_COMMANDS}.metrics:metrics",
    "apply": f"{_COMMANDS}.manage:apply_files",
    "calendar": f"{_COMMANDS}.calendar:calendar",
    "enable": f"{_COMMANDS}.manage:enable",
    "disable": f"{_COMMANDS}.manage:disable",
    "remove": f"{_COMMANDS}.manage:remove",
    "pause": f"{_COMMANDS}.pause:pause",
    "resume": f"{_COMMANDS}.pause:resume",
    "run": f"{_COMMANDS}.run:run",
    "rollback": f"{_COMMANDS}.rollback:rollback",
    "export": f"{_COMMANDS}.export:export",
    "import": f"{_COMMANDS}.migrate:import_schedules",
    "web": f"{_COMMANDS}.web:web",
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


def __getattr__(name: str) -> Any:
    # ``celery_command`` (celery's entry point) imports celery's CLI: only when celery asks.
    if name == "celery_command":
        from celery_stembeat.cli.celery_group import celery_command

        return celery_command
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
