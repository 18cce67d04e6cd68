"""django-celery-beat's rows, read with SQLAlchemy alone (no Django), as plain values.

Each periodic task comes with the schedule rows its foreign keys point to, in one query. Values
are normalised only as far as their meaning is not in question: instants become aware UTC (a
naive value is read the way Django wrote it, see :class:`DcbSettings`), SQLite's REAL
coordinates are rounded to the six decimal places of the column, booleans are booleans. Text
that django-celery-beat parses itself (cron fields, JSON arguments) is left as it was stored.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from celery_stembeat.migrate.dcb_schema import DcbSchema
from celery_stembeat.specs import load_zone, zone_name

UTC = timezone.utc
#: The schedule kinds a periodic task may point to, in the order django-celery-beat tries them.
KINDS = ("interval", "crontab", "solar", "clocked")
_SCHEDULE_COLUMNS = {
    "interval": ("every", "period"),
    "crontab": ("minute", "hour", "day_of_week", "day_of_month", "month_of_year", "timezone"),
    "solar": ("event", "latitude", "longitude"),
    "clocked": ("clocked_time", "enabled"),
}
_TASK_COLUMNS = (
    "id",
    "name",
    "task",
    "args",
    "kwargs",
    "headers",
    "queue",
    "exchange",
    "routing_key",
    "priority",
    "expires",
    "expire_seconds",
    "one_off",
    "start_time",
    "enabled",
    "last_run_at",
    "total_run_count",
    "date_changed",
    "description",
)
#: How many rows one round trip fetches.
BATCH = 1000


@dataclass(frozen=True)
class DcbSettings:
    """The Django and django-celery-beat settings that live outside the database.

    Defaults are those of a project that ``django-admin startproject`` created on Django 5
    or later, with django-celery-beat's own defaults.
    """

    #: Django's ``USE_TZ``: naive instants in the database are UTC (else ``time_zone``).
    use_tz: bool = True
    #: Django's ``TIME_ZONE``: the zone of naive instants when ``use_tz`` is off.
    time_zone: str = "UTC"
    #: celery's ``timezone`` (``CELERY_TIMEZONE``): the app's zone.
    celery_timezone: str = "UTC"
    #: ``DJANGO_CELERY_BEAT_TZ_AWARE``: crontabs run in their row's zone (else the app's).
    tz_aware: bool = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "time_zone", zone_name(self.time_zone))
        object.__setattr__(self, "celery_timezone", zone_name(self.celery_timezone))

    def aware(self, value: object) -> datetime | None:
        """An instant from the database as aware UTC; naive values are read as Django wrote them."""
        if value is None:
            return None
        if isinstance(value, str):
            value = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        if not isinstance(value, datetime):
            raise TypeError(f"expected a datetime, got {value!r}")
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC if self.use_tz else load_zone(self.time_zone))
        return value.astimezone(UTC)


@dataclass(frozen=True)
class ScheduleRow:
    """One row of a schedule table: its kind, id and columns by name (absent ones left out)."""

    kind: str
    id: int
    values: Mapping[str, Any]

    def get(self, name: str, default: Any = None) -> Any:
        """A column's value, ``default`` when the column is absent or NULL."""
        value = self.values.get(name)
        return default if value is None else value


@dataclass(frozen=True)
class TaskRow:
    """A periodic task with the schedule rows it points to."""

    id: int
    name: str
    task: str
    args: str | None = None
    kwargs: str | None = None
    headers: str | None = None
    queue: str | None = None
    exchange: str | None = None
    routing_key: str | None = None
    priority: int | None = None
    expires: datetime | None = None
    expire_seconds: int | None = None
    one_off: bool = False
    start_time: datetime | None = None
    enabled: bool = True
    last_run_at: datetime | None = None
    total_run_count: int = 0
    date_changed: datetime | None = None
    description: str = ""
    #: Foreign keys set on the row: kind → id (whether or not the row exists).
    links: Mapping[str, int] = field(default_factory=dict)
    #: The schedule rows those keys point to, by kind.
    schedules: Mapping[str, ScheduleRow] = field(default_factory=dict)

    @property
    def linked_kinds(self) -> list[str]:
        """Kinds whose foreign key is set, in django-celery-beat's order."""
        return [kind for kind in KINDS if kind in self.links]


def _coordinate(value: object) -> object:
    if isinstance(value, (float, Decimal)):
        return round(float(value), 6)
    return value


def _schedule_values(kind: str, raw: Mapping[Any, Any], settings: DcbSettings) -> dict[str, Any]:
    values = {
        name: raw[f"{kind}__{name}"] for name in _SCHEDULE_COLUMNS[kind] if f"{kind}__{name}" in raw
    }
    if kind == "solar":
        for name in ("latitude", "longitude"):
            values[name] = _coordinate(values.get(name))
    if kind == "clocked":
        values["clocked_time"] = settings.aware(values.get("clocked_time"))
        if values.get("enabled") is not None:
            values["enabled"] = bool(values["enabled"])
    if kind == "crontab" and values.get("timezone") is not None:
        values["timezone"] = str(values["timezone"])
    return values


def _task(raw: Mapping[Any, Any], kinds: list[str], settings: DcbSettings) -> TaskRow:
    values = {name: raw[name] for name in _TASK_COLUMNS if name in raw and raw[name] is not None}
    for name in ("expires", "start_time", "last_run_at", "date_changed"):
        if name in values:
            values[name] = settings.aware(values[name])
    for name in ("one_off", "enabled"):
        if name in values:
            values[name] = bool(values[name])
    links: dict[str, int] = {}
    schedules: dict[str, ScheduleRow] = {}
    for kind in kinds:
        link = raw.get(f"{kind}_id")
        if link is None:
            continue
        links[kind] = int(link)
        if raw.get(f"{kind}__id") is not None:
            schedules[kind] = ScheduleRow(kind, int(link), _schedule_values(kind, raw, settings))
    return TaskRow(**values, links=links, schedules=schedules)


def _query(schema: DcbSchema) -> tuple[sa.Select[Any], list[str]]:
    tasks = schema.table("task")
    columns: list[Any] = [tasks.c[name] for name in _TASK_COLUMNS if name in tasks.c]
    joined: Any = tasks
    kinds = []
    for kind in KINDS:
        if f"{kind}_id" not in tasks.c:
            continue
        kinds.append(kind)
        columns.append(tasks.c[f"{kind}_id"])
        if kind not in schema.tables:
            continue
        table = schema.table(kind)
        joined = joined.outerjoin(table, tasks.c[f"{kind}_id"] == table.c.id)
        columns.append(table.c.id.label(f"{kind}__id"))
        columns += [
            table.c[name].label(f"{kind}__{name}")
            for name in _SCHEDULE_COLUMNS[kind]
            if name in table.c
        ]
    return sa.select(*columns).select_from(joined).order_by(tasks.c.id), kinds


def count_tasks(connection: sa.Connection, schema: DcbSchema) -> int:
    """How many periodic task rows there are."""
    query = sa.select(sa.func.count()).select_from(schema.table("task"))
    return int(connection.execute(query).scalar_one())


def read_tasks(
    connection: sa.Connection, schema: DcbSchema, settings: DcbSettings
) -> Iterator[TaskRow]:
    """Every periodic task, ordered by id, fetched :data:`BATCH` rows at a time.

    The batching is an option of this one statement: set on the connection, it would stream
    every later statement too, and PostgreSQL cannot declare a cursor for an INSERT.
    """
    query, kinds = _query(schema)
    result = connection.execute(query.execution_options(yield_per=BATCH))
    for raw in result.mappings():
        yield _task(raw, kinds, settings)
