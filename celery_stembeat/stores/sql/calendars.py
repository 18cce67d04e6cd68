"""Holiday calendars: the statements behind :meth:`SQLStore.calendars` and its writes, the same
on PostgreSQL and SQLite (the dialect only gives its ``INSERT``).

A row of ``{prefix}calendar_days`` is one date of one calendar; a calendar is its rows, so a
calendar without dates has none.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import date
from typing import Any

import sqlalchemy as sa

from celery_stembeat.stores.sql.schema import Schema


def read_calendars(conn: sa.Connection, schema: Schema) -> dict[str, tuple[date, ...]]:
    """Every calendar's dates, by name (code point order on both databases)."""
    c = schema.calendar_days.c
    found: dict[str, list[date]] = {}
    for name, day in conn.execute(sa.select(c.calendar, c.day).order_by(c.calendar, c.day)):
        found.setdefault(name, []).append(day)
    return {name: tuple(days) for name, days in found.items()}


def add_days(conn: sa.Connection, insert: Any, name: str, days: Collection[date]) -> None:
    """Insert the dates the calendar lacks (``insert``: the dialect's ``INSERT`` into
    ``{prefix}calendar_days``)."""
    rows = [{"calendar": name, "day": day} for day in days]
    conn.execute(insert.on_conflict_do_nothing(index_elements=["calendar", "day"]), rows)


def remove_days(
    conn: sa.Connection, schema: Schema, name: str, days: Collection[date] | None
) -> None:
    """Delete the given dates (``None``: every date) of the calendar."""
    c = schema.calendar_days.c
    statement = sa.delete(schema.calendar_days).where(c.calendar == name)
    if days is not None:
        statement = statement.where(c.day.in_(list(days)))
    conn.execute(statement)
