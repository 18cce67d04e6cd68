"""``export``: the store's entries as a file for apply, or (``--to``) in another scheduler's
form. The file export imports nothing of the migration verbs (celery, the converters and
django-celery-beat's tables load only with ``--to``)."""

from __future__ import annotations

from typing import Any

import click

from celery_stembeat.cli.commands.dcb_options import DCB, dcb_settings_options
from celery_stembeat.cli.commands.manage import export as export_file
from celery_stembeat.cli.errors import Command
from celery_stembeat.cli.files import FORMATS
from celery_stembeat.cli.params import tag_option
from celery_stembeat.cli.session import current

TARGETS = (DCB, "celery")


@click.command("export", cls=Command)
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="json", show_default=True)
@click.option(
    "--to",
    "target",
    type=click.Choice(TARGETS),
    help=f"Write to {DCB}'s tables (--db-url) or print a celery beat_schedule module.",
)
@click.option("--db-url", metavar="URL", help=f"The {DCB} database (SQLAlchemy URL).")
@dcb_settings_options
@click.option("--dry-run", is_flag=True, help=f"With --to {DCB}: report, write nothing.")
@click.option("--allow-skips", is_flag=True, help="Exit 0 even when some entries were skipped.")
@tag_option
@click.pass_context
def export(
    ctx: click.Context,
    /,
    fmt: str,
    tags: tuple[str, ...],
    target: str | None,
    db_url: str | None,
    dry_run: bool,
    allow_skips: bool,
    **dcb_options: Any,
) -> None:
    """Print the store's entries as a file for apply, or export them to another scheduler.

    Without --to: definitions only, no run state; entries of beat_schedule are left out. With
    --to, run state goes along where the target keeps it, and what it cannot express is
    named; exit 1 when an entry was left out (unless --allow-skips).
    """
    if target is None:
        ctx.invoke(export_file, fmt=fmt, tags=tags)
        return
    from celery_stembeat.cli.commands.migrate import export_to

    export_to(current(ctx), target, tags, db_url, dry_run, allow_skips, dcb_options)
