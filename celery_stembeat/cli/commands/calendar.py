"""``calendar add / list / remove``: the store's holiday calendars, which spec rules name
(``{"calendar": "us-holidays"}`` in ``except`` or ``only``).

A change reaches the entries at once: the entries whose rules name the calendar are bound to
its new dates and their next runs moved (see :mod:`celery_stembeat.calendars`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

import click

from celery_stembeat import calendars as holidays
from celery_stembeat.cli import render
from celery_stembeat.cli.errors import BadInput, Command, Failed
from celery_stembeat.cli.params import json_option
from celery_stembeat.cli.session import Session, current
from celery_stembeat.limits import shorten
from celery_stembeat.specs import SpecError, check_calendar_name
from celery_stembeat.stores import Store

#: The audit log's verb for entries a calendar change rebinds.
REBIND = "calendar"


def _name(name: str) -> str:
    try:
        return check_calendar_name(name, "NAME")
    except SpecError as exc:
        raise BadInput(str(exc)) from None


def _dates(texts: Sequence[str]) -> list[date]:
    days = []
    for text in texts:
        try:
            days.append(date.fromisoformat(text.strip()))
        except ValueError:
            raise BadInput(f"DATE: {shorten(text)} is not a date (YYYY-MM-DD)") from None
    return days


def _rebind(session: Session, store: Store, name: str) -> list[str]:
    return holidays.rebind(store, [name], session.now(), session.note(REBIND))


def _report(name: str, store: Store, moved: list[str], as_json: bool) -> None:
    dates = store.calendars().get(name, ())
    if as_json:
        render.echo_json(
            {"name": name, "dates": [day.isoformat() for day in dates], "rebound": moved}
        )
        return
    click.echo(f"calendar {name}: {len(dates)} date{'' if len(dates) == 1 else 's'}")
    for entry_id in moved:
        click.echo(f"rebound    {entry_id}")


@click.group("calendar")
def calendar() -> None:
    """Holiday calendars: named lists of dates that spec rules name."""


@calendar.command("add", cls=Command)
@click.argument("name")
@click.argument("dates", metavar="DATE…", nargs=-1, required=True)
@json_option
@click.pass_context
def add(ctx: click.Context, name: str, dates: tuple[str, ...], as_json: bool) -> None:
    """Add dates (YYYY-MM-DD) to calendar NAME, creating it.

    The entries whose rules name NAME skip the new dates from now on: their next runs move.
    """
    session = current(ctx)
    name, days = _name(name), _dates(dates)
    with session.store() as store:
        known = store.calendars().get(name, ())
        if len({*known, *days}) > holidays.MAX_DATES:
            raise BadInput(f"calendar {name!r}: more than {holidays.MAX_DATES} dates")
        store.add_calendar_dates(name, days)
        moved = _rebind(session, store, name)
        _report(name, store, moved, as_json)


@calendar.command("list", cls=Command)
@click.argument("name", required=False)
@json_option
@click.pass_context
def list_calendars(ctx: click.Context, name: str | None, as_json: bool) -> None:
    """List the calendars, or the dates of calendar NAME, with the entries that name them."""
    session = current(ctx)
    with session.store() as store:
        found = store.calendars()
        entries = store.list_entries()
    if name is not None:
        name = _name(name)
        if name not in found:
            raise Failed(f"no calendar {name!r}")
        found = {name: found[name]}
    rows = [
        {
            "name": calendar_name,
            "dates": [day.isoformat() for day in days],
            "entries": holidays.users(entries, [calendar_name]),
        }
        for calendar_name, days in found.items()
    ]
    if as_json:
        render.echo_json(rows[0] if name is not None else {"calendars": rows})
    elif name is not None:
        for day in rows[0]["dates"]:
            click.echo(day)
    else:
        for row in rows:
            dates, users = row["dates"], row["entries"]
            span = f"{dates[0]} … {dates[-1]}" if len(dates) > 1 else dates[0]
            click.echo(f"{row['name']}\t{len(dates)} dates\t{span}\tused by {len(users)}")


@calendar.command("remove", cls=Command)
@click.argument("name")
@click.argument("dates", metavar="[DATE…]", nargs=-1)
@json_option
@click.pass_context
def remove(ctx: click.Context, name: str, dates: tuple[str, ...], as_json: bool) -> None:
    """Remove dates from calendar NAME, or without DATE the whole calendar.

    A calendar that entries' rules name cannot lose its last date: change those entries first.
    """
    session = current(ctx)
    name, days = _name(name), _dates(dates)
    with session.store() as store:
        known = set(store.calendars().get(name, ()))
        if not known:
            raise Failed(f"no calendar {name!r}")
        if not days or known <= set(days):
            users = holidays.users(store.list_entries(), [name])
            if users:
                named = ", ".join(map(repr, users[:5])) + (" …" if len(users) > 5 else "")
                raise Failed(f"calendar {name!r} is named by {named}: it keeps at least one date")
        store.remove_calendar_dates(name, days or None)
        moved = _rebind(session, store, name)
        _report(name, store, moved, as_json)
