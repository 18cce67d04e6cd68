"""Migration verbs: ``import`` from django-celery-beat, celery or RedBeat (with ``--verify``),
and ``export --to`` django-celery-beat or a celery module, beside the entry-file export."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import timedelta
from typing import Any, TypeVar

import click
from celery.app.utils import find_app
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from celery_stembeat.cli import render
from celery_stembeat.cli.commands.dcb_options import DCB, dcb_settings_options
from celery_stembeat.cli.errors import BadInput, Command, Failed, changed_meanwhile, translated
from celery_stembeat.cli.params import json_option, verbosity_options
from celery_stembeat.cli.progress import verify_progress
from celery_stembeat.cli.session import Session, current
from celery_stembeat.engine import EngineSettings
from celery_stembeat.entry import Entry
from celery_stembeat.migrate.celery_export import beat_schedule_module
from celery_stembeat.migrate.celery_source import convert_beat_schedule
from celery_stembeat.migrate.convert import convert_task
from celery_stembeat.migrate.dcb_export import export_entries
from celery_stembeat.migrate.dcb_rows import DcbSettings, TaskRow, count_tasks, read_tasks
from celery_stembeat.migrate.dcb_schema import opened, reflect
from celery_stembeat.migrate.errors import MigrateError
from celery_stembeat.migrate.importer import ImportResult, import_conversions
from celery_stembeat.migrate.oracle import DcbOracle
from celery_stembeat.migrate.redbeat_source import DEFAULT_PREFIX, convert_record, read_records
from celery_stembeat.migrate.report import (
    SWITCH_NOTE,
    export_lines,
    import_lines,
    left_out_line,
    skipped_line,
    verification_dict,
    verification_lines,
)
from celery_stembeat.migrate.verify import verify
from celery_stembeat.selection import stored
from celery_stembeat.specs import SpecError, parse_duration
from celery_stembeat.stores import VersionConflict

SOURCES = (DCB, "celery", "redbeat")
#: The longest verification window.
MAX_WINDOW = timedelta(days=366)
#: Rows from which an import shows a progress bar (on a terminal).
PROGRESS_FROM = 1000

T = TypeVar("T")


def _window(ctx: click.Context, param: click.Parameter, value: str | None) -> timedelta | None:
    """A window such as ``24h`` or ``7d``."""
    if value is None:
        return None
    try:
        window = timedelta(seconds=parse_duration(value))
    except SpecError as exc:
        raise click.BadParameter(str(exc), ctx, param) from None
    if not timedelta(0) < window <= MAX_WINDOW:
        raise click.BadParameter(f"{value!r} must be more than 0 and at most 366d", ctx, param)
    return window


def dcb_settings(options: dict[str, Any]) -> DcbSettings:
    """The settings the options of :func:`dcb_settings_options` give."""
    return DcbSettings(
        use_tz=options["use_tz"],
        time_zone=options["time_zone"],
        celery_timezone=options["celery_timezone"],
        tz_aware=options["tz_aware"],
    )


def _progress(items: Iterable[T], total: int, label: str) -> Iterator[T]:
    """``items``, with a progress bar on stderr when it is a terminal and the job is large."""
    columns = (TextColumn(label), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(
        *columns,
        console=Console(stderr=True),
        transient=True,
        disable=total < PROGRESS_FROM,
    ) as progress:
        yield from progress.track(items, total=total)


def _celery_app(ctx: click.Context, name: str | None) -> Any:
    if name:
        try:
            return find_app(name)
        except (ImportError, AttributeError) as exc:
            raise BadInput(f"--app {name!r}: {exc}") from None
    app = getattr(ctx.find_root().obj, "app", None)
    if app is None:
        raise click.UsageError("--from celery needs --app MODULE (or celery -A MODULE stembeat)")
    return app


def _require(value: str | None, option: str, source: str) -> str:
    if not value:
        raise click.UsageError(f"--from {source} needs {option}")
    return value


def _read_dcb(url: str, settings: DcbSettings) -> tuple[str, list[TaskRow]]:
    with opened(url) as connection:
        schema = reflect(connection)
        total = count_tasks(connection, schema)
        rows = list(_progress(read_tasks(connection, schema, settings), total, "reading"))
    return schema.describe(), rows


def _echo_import(result: ImportResult, dry_run: bool, header: list[str], verbose: bool) -> None:
    click.echo("\n".join([*header, *import_lines(result, dry_run, verbose)]))


def _switch_note(source: str, dry_run: bool) -> None:
    """After a real import from django-celery-beat: stembeat will not read its tables again."""
    if source == DCB and not dry_run:
        click.echo(SWITCH_NOTE, err=True)


@click.command("import", cls=Command)
@click.option("--from", "source", type=click.Choice(SOURCES), required=True, help="Where from.")
@click.option("--db-url", metavar="URL", help=f"The {DCB} database (SQLAlchemy URL).")
@click.option("--app", "app_name", metavar="MODULE", help="The celery app (--from celery).")
@click.option("--redis-url", metavar="URL", help="RedBeat's Redis (--from redbeat).")
@click.option(
    "--key-prefix",
    default=DEFAULT_PREFIX,
    show_default=True,
    help="RedBeat's redbeat_key_prefix.",
)
@dcb_settings_options
@click.option("--dry-run", is_flag=True, help="Report what would change; write nothing.")
@click.option(
    "--verify",
    "window",
    metavar="WINDOW",
    callback=_window,
    help=f"Predict every fire in the next WINDOW (24h, 7d) both ways and compare ({DCB}).",
)
@click.option("--allow-skips", is_flag=True, help="Exit 0 even when some rows were skipped.")
@verbosity_options("Print nothing but errors (and skipped tasks).")
@json_option
@click.pass_context
def import_schedules(
    ctx: click.Context,
    /,
    source: str,
    db_url: str | None,
    app_name: str | None,
    redis_url: str | None,
    key_prefix: str,
    dry_run: bool,
    window: timedelta | None,
    allow_skips: bool,
    verbose: bool,
    quiet: bool,
    as_json: bool,
    **dcb_options: Any,
) -> None:
    """Import schedules from django-celery-beat, a celery app or RedBeat.

    Idempotent: importing again writes only what changed at the source, keeping run state.
    Exits 1 when a row was skipped (unless --allow-skips) or --verify found a divergence.
    """
    session = current(ctx)
    now = session.now()
    settings = dcb_settings(dcb_options)
    rows: list[TaskRow] = []
    header: list[str] = []
    if window is not None and source != DCB:
        raise click.UsageError(f"--verify compares with {DCB}: use it with --from {DCB}")
    oracle = None if window is None else DcbOracle(settings)
    with translated():
        try:
            if source == DCB:
                url = _require(db_url, "--db-url", source)
                described, rows = _read_dcb(url, settings)
                header.append(f"source: {described}")
                if oracle is not None:
                    oracle.check_libraries(rows)
                conversions = [convert_task(row, settings, now) for row in rows]
            elif source == "celery":
                app = _celery_app(ctx, app_name)
                zone = str(app.conf.timezone or "UTC")
                conversions = convert_beat_schedule(app.conf.beat_schedule or {}, zone, now)
            else:
                url = _require(redis_url, "--redis-url", source)
                conversions = [
                    convert_record(record, settings.celery_timezone, now)
                    for record in read_records(url, key_prefix)
                ]
        except MigrateError as exc:
            raise Failed(str(exc)) from None
        with session.store() as store:
            try:
                result = import_conversions(
                    store,
                    _progress(conversions, len(conversions), "importing"),
                    now,
                    dry_run=dry_run,
                    note=session.note("import"),
                )
            except VersionConflict as conflict:
                raise changed_meanwhile(
                    conflict.entry_id, "importing", "nothing more written"
                ) from None
            entries = (
                result.entries
                if dry_run or oracle is None
                else {entry.id: entry for entry in store.get_many(result.entries)}
            )
    verification = None
    if oracle is not None and window is not None:
        engine = EngineSettings(grace=session.target.grace)
        imported = {name: entries[name] for name in result.entries if name in entries}
        with verify_progress(len(rows)) as progress:
            verification = verify(
                rows, imported, oracle, now, now + window, engine, result.skipped, progress
            )
    if as_json:
        data: dict[str, Any] = {**result.to_dict(), "dry_run": dry_run}
        if verification is not None:
            data["verify"] = verification_dict(verification)
        render.echo_json(data)
        _switch_note(source, dry_run)
    elif quiet:
        for name, why in result.skipped.items():
            click.echo(skipped_line(name, why), err=True)
    else:
        _echo_import(result, dry_run, header, verbose)
        _switch_note(source, dry_run)
        for line in verification_lines(verification) if verification else ():
            click.echo(line)
    if verification is not None and not verification.safe:
        raise Failed(f"{verification.divergence_count} divergence(s): not safe to switch")
    if result.skipped and not allow_skips:
        raise Failed(
            f"{len(result.skipped)} task(s) skipped (see above); --allow-skips accepts that"
        )


def _store_entries(session: Session, tags: tuple[str, ...]) -> list[Entry]:
    with session.store() as store:
        return [entry for entry in stored(store, tags=tags) if entry.source == "store"]


def export_to(
    session: Session,
    target: str,
    tags: tuple[str, ...],
    db_url: str | None,
    dry_run: bool,
    allow_skips: bool,
    dcb_options: dict[str, Any],
) -> None:
    """``export --to``: the store's entries written to django-celery-beat's tables or printed
    as a celery ``beat_schedule`` module."""
    entries = _store_entries(session, tags)
    settings = dcb_settings(dcb_options)
    if target == "celery":
        module = beat_schedule_module(entries, settings.celery_timezone, session.now())
        click.echo(module.text, nl=False)
        for name, fields in module.left_out.items():
            click.echo(left_out_line(name, fields), err=True)
        skipped = module.skipped
    else:
        url = _require(db_url, "--db-url", f"--to {DCB}")
        try:
            with translated(), opened(url) as connection, connection.begin():
                schema = reflect(connection)
                result = export_entries(
                    connection, schema, settings, entries, session.now(), dry_run=dry_run
                )
        except MigrateError as exc:
            raise Failed(str(exc)) from None
        for line in export_lines(result, dry_run):
            click.echo(line)
        skipped = result.skipped
    for name, why in skipped.items():
        click.echo(skipped_line(name, why), err=True)
    if skipped and not allow_skips:
        raise Failed(f"{len(skipped)} entr(ies) not exported; --allow-skips accepts that")
