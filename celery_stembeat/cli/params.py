"""Option types and options shared by several verbs."""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar, cast

import click

from celery_stembeat.cli.session import current
from celery_stembeat.cli.tables import LAYOUTS, Layout, Output
from celery_stembeat.limits import shorten
from celery_stembeat.specs import SpecError, parse_instant, zone_name
from celery_stembeat.stores.base import checked_selection

F = TypeVar("F", bound=Callable[..., Any])


def _instant(ctx: click.Context, param: click.Parameter, value: str | None) -> datetime | None:
    """An aware ISO 8601 instant (``2026-03-02T09:00:00Z`` or with an offset)."""
    try:
        return None if value is None else parse_instant(value, "instant")
    except SpecError as exc:
        raise click.BadParameter(str(exc), ctx, param) from None


def _zone(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """An IANA time zone name (``Europe/London``, ``UTC``)."""
    try:
        return None if value is None else zone_name(value)
    except SpecError as exc:
        raise click.BadParameter(str(exc), ctx, param) from None


class Choice(click.Choice[str]):
    """A choice whose error quotes little of a bad value (click's quotes all of it)."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        try:
            return super().convert(value, param, ctx)
        except click.BadParameter:
            choices = ", ".join(map(str, self.choices))
            self.fail(f"{shorten(value)} is not one of {choices}", param, ctx)


def _tags(ctx: click.Context, param: click.Parameter, value: tuple[str, ...]) -> tuple[str, ...]:
    """Tag names (none given: no selection by tag)."""
    try:
        return checked_selection(value) if value else ()
    except ValueError as exc:
        raise click.BadParameter(str(exc), ctx, param) from None


def tag_option(function: F) -> F:
    """``--tag T`` (repeatable): only the entries holding every tag given."""
    option = click.option(
        "--tag",
        "tags",
        metavar="TAG",
        multiple=True,
        callback=_tags,
        help="Only entries with this tag; repeat to require several (all of them).",
    )
    return option(function)


def instant_option(*names: str, **attrs: Any) -> Callable[[F], F]:
    """An option whose value is an aware instant."""
    return click.option(*names, metavar="INSTANT", callback=_instant, **attrs)


def zone_option(*names: str, **attrs: Any) -> Callable[[F], F]:
    """An option whose value is an IANA zone name."""
    return click.option(*names, metavar="ZONE", callback=_zone, **attrs)


def json_option(function: F) -> F:
    """``--json``: machine-readable output instead of tables."""
    option = click.option(
        "--json", "as_json", is_flag=True, help="Print JSON for scripts instead of a table."
    )
    return option(function)


def output_options(function: F) -> F:
    """``--json``, ``-o wide|tsv`` and ``--no-headers``: how a verb that prints a table prints.

    ``-o`` and ``--no-headers`` reach the renderer through the session; the verb sees only
    ``as_json``.
    """

    @functools.wraps(function)
    def run(*args: Any, layout: Layout | None, no_headers: bool, **kwargs: Any) -> Any:
        if layout is not None and kwargs.get("as_json"):
            raise click.BadOptionUsage("layout", "--output and --json cannot be combined")
        current(click.get_current_context()).output = Output(layout, headers=not no_headers)
        return function(*args, **kwargs)

    output = click.option(
        "-o",
        "--output",
        "layout",
        type=Choice(LAYOUTS),
        help="wide: every column in full; tsv: tab-separated rows (the default when stdout "
        "is not a terminal).",
    )
    no_headers = click.option(
        "--no-headers", is_flag=True, help="Leave out the heading line and the title."
    )
    decorated: Callable[..., Any] = run
    for option in (no_headers, output, json_option):
        decorated = option(decorated)
    return cast(F, decorated)


def now_option(function: F) -> F:
    """The hidden ``--now INSTANT``: fixes the CLI's clock, for tests and reproducible docs."""
    return instant_option("--now", hidden=True)(function)


def verbosity_options(quiet_help: str) -> Callable[[F], F]:
    """``--verbose/-v`` (list every entry a report names, unchanged ones too) and
    ``--quiet/-q`` (``quiet_help`` says what it still prints)."""

    def decorate(function: F) -> F:
        from celery_stembeat.changes import LISTED_CHANGES

        function = click.option("--quiet", "-q", is_flag=True, help=quiet_help)(function)
        return click.option(
            "--verbose",
            "-v",
            is_flag=True,
            help="List every entry, unchanged ones too (by default only changes, up to "
            f"{LISTED_CHANGES}).",
        )(function)

    return decorate
