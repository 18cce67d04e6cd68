"""Bulk writes on SQLite: a statement compiled once for the driver, and rows as tuples of driver
values made by the columns' own bind processors, so that ``executemany`` runs inside the driver
(binding each parameter through SQLAlchemy costs more than SQLite's whole insert)."""

from __future__ import annotations

import dataclasses
import operator
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from celery_stembeat.stores.base import StoreError


@dataclasses.dataclass(frozen=True)
class DriverStatement:
    """A statement compiled for the driver: its SQL, how to take a row's column values in
    parameter order, the bind processors by position, and the statement's own constants (which
    come after the columns)."""

    sql: str
    columns: Callable[[Mapping[str, Any]], tuple[Any, ...]]
    processors: list[tuple[int, Callable[[Any], Any]]]
    constants: tuple[Any, ...]


def driver_statement(engine: sa.Engine, statement: Any, table: sa.Table) -> DriverStatement:
    """``statement``, which writes rows of ``table``, compiled once for rows of driver values."""
    dialect = engine.dialect
    compiled = statement.compile(dialect=dialect)
    columns = table.c
    names = [name for name in compiled.positiontup or () if name in columns]
    constants = (compiled.positiontup or ())[len(names) :]
    if any(name in columns for name in constants):
        raise StoreError(f"a write of {table.name} binds its constants before its columns")
    processors = []
    for index, name in enumerate(names):
        process = columns[name].type.dialect_impl(dialect).bind_processor(dialect)
        if process is not None:
            processors.append((index, process))
    return DriverStatement(
        compiled.string,
        operator.itemgetter(*names),
        processors,
        tuple(compiled.params[name] for name in constants),
    )


def driver_rows(
    driver: DriverStatement, rows: Sequence[Mapping[str, Any]]
) -> list[tuple[Any, ...]]:
    """``rows`` as tuples of driver values for ``driver`` (made by the columns' own bind
    processors)."""
    values = []
    # Rows written together mostly share their instants (one stamp, a first run per
    # schedule): each column formats each distinct instant once.
    instants: dict[tuple[int, datetime], Any] = {}
    for row in rows:
        items = list(driver.columns(row))
        for index, process in driver.processors:
            value = items[index]
            if value is None:  # NULL whatever the type (JSON is NOT NULL)
                continue
            if type(value) is datetime:
                key = (index, value)
                if (done := instants.get(key)) is None:
                    done = instants[key] = process(value)
                items[index] = done
            else:
                items[index] = process(value)
        values.append((*items, *driver.constants))
    return values
