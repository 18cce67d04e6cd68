"""Option types and options shared by several verbs."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

import click

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


def now_option(function: F) -> F:
    """The hidden ``--now INSTANT``: fixes the CLI's clock, for tests and reproducible docs."""
    return instant_option("--now", hidden=True)(function)
