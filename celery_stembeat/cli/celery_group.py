"""``celery -A proj stembeat …``: the verbs as a celery subcommand, the store and grace taken
from the app's configuration (``stembeat_url``, ``stembeat_grace``) as the scheduler takes them.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import datetime

import click
from celery.bin.base import handle_preload_options

from celery_stembeat.cli import VERBS
from celery_stembeat.cli.errors import Verbs
from celery_stembeat.cli.params import F, now_option
from celery_stembeat.cli.session import Session, install, target_from_app

#: celery's decorator, with the type celery's own code does not declare.
preload_options: Callable[[F], F] = handle_preload_options


@click.group("stembeat", cls=Verbs, lazy=VERBS)
@now_option
@click.pass_context
@preload_options
def celery_command(ctx: click.Context, now: datetime | None) -> None:
    """Manage and inspect the stembeat schedules of this app's store (stembeat_url)."""
    celery_context = ctx.obj
    locate = functools.partial(target_from_app, celery_context.app)
    install(ctx, Session(locate, now, color=not celery_context.no_color, app=celery_context.app))
