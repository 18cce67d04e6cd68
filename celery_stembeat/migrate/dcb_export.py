"""Writing entries back into django-celery-beat's tables: the back-out plan.

Each entry becomes (or updates) the periodic task of the same name, with a schedule row that
django-celery-beat runs exactly as stembeat ran the entry (the inverse of :mod:`.convert`),
and its run state (last run, run count; for a task that never ran, ``date_changed`` is set so
that django-celery-beat's first run is the entry's next run). A task that already runs as its
entry (read back, it is the same entry, its instants compared to the millisecond) is left as
it is; for the others the result names what changes, as the import report does. An entry the
tables cannot express is not written and the result says why. django-celery-beat's change
marker is touched, so a running beat reloads.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from typing import Any

import sqlalchemy as sa

from celery_stembeat.changes import Changes, changed_fields
from celery_stembeat.entry import Entry
from celery_stembeat.migrate.convert import TASK_NAME_HEADER, convert_task, same_instant
from celery_stembeat.migrate.dcb_rows import KINDS, DcbSettings, TaskRow, read_tasks
from celery_stembeat.migrate.dcb_schema import DcbSchema
from celery_stembeat.migrate.expressible import (
    Inexpressible,
    after_expire,
    check_celery_rules,
    crontab_fields,
    interval_period,
    left_out,
    without_left_out,
)
from celery_stembeat.migrate.importer import RUN_STATE, same_run_state
from celery_stembeat.specs import (
    CalendarSpec,
    ClockedSpec,
    CronSpec,
    IntervalSpec,
    SolarSpec,
    format_instant,
    load_zone,
)

_JSON_COLUMNS = ("args", "kwargs", "headers")
#: The message options django-celery-beat has columns for (``expires`` as seconds).
_OPTION_COLUMNS = ("queue", "exchange", "routing_key", "priority", "headers", "expires")


@dataclass(frozen=True)
class DcbTask:
    """One entry as django-celery-beat's rows: task columns, schedule kind and columns."""

    name: str
    columns: Mapping[str, Any]
    kind: str
    schedule: Mapping[str, Any]
    #: For a task that never ran: the ``date_changed`` from which django-celery-beat computes
    #: its first run (it stands in for the last run), so that run is the entry's next one.
    changed: datetime | None = None


def _stand_in(entry: Entry) -> datetime | None:
    """The instant after which the entry's spec gives its stored next run, for a task that
    never ran; ``None`` when the entry ran (its last run decides) or has no next run."""
    upcoming = entry.state.next_run_at
    if entry.state.last_run_at is not None or upcoming is None or not entry.enabled:
        return None
    if isinstance(entry.spec, IntervalSpec) and entry.spec.start_at is None:
        return upcoming - entry.spec.period
    return upcoming - timedelta(milliseconds=1)


@dataclass
class ExportResult(Changes):
    """What an export wrote, by entry id; ``updated`` names the definition fields, then
    :data:`RUN_STATE`."""

    #: id → what the target cannot express.
    skipped: dict[str, str] = field(default_factory=dict)
    #: id → the fields of an entry written without them (django-celery-beat has no tags and
    #: no blackout windows).
    left_out: dict[str, list[str]] = field(default_factory=dict)


def _schedule(entry: Entry) -> tuple[str, dict[str, Any], datetime | None]:
    spec = entry.spec
    if isinstance(spec, IntervalSpec):
        if spec.up_to is not None:
            raise Inexpressible(f"a random interval ({spec.describe()})")
        if spec.end_at is not None:
            raise Inexpressible(f"end_at {format_instant(spec.end_at)} (use expire_at)")
        every, period = interval_period(spec.every)
        return "interval", {"every": every, "period": period}, spec.start_at
    if isinstance(spec, (CronSpec, CalendarSpec)):
        return "crontab", {**crontab_fields(spec), "timezone": spec.timezone}, None
    if isinstance(spec, SolarSpec):
        if spec.offset:
            raise Inexpressible(f"solar offset {spec.offset:g} s")
        values = {"event": spec.event, "latitude": spec.latitude, "longitude": spec.longitude}
        return "solar", values, None
    assert isinstance(spec, ClockedSpec)
    return "clocked", {"clocked_time": spec.at}, None


def to_dcb(entry: Entry) -> DcbTask:
    """The rows for ``entry``; :class:`Inexpressible` says what they cannot hold."""
    check_celery_rules(entry)
    kind, schedule, start_time = _schedule(entry)
    stand_in = _stand_in(entry)
    if start_time is None and stand_in is not None:
        upcoming = entry.state.next_run_at
        if upcoming is not None and entry.spec.next_after(stand_in) != upcoming:
            # A first run off the schedule (an imported start_time): a start_time again.
            start_time = upcoming
    options = {name: value for name, value in entry.options.items() if value is not None}
    extra = sorted(set(options) - set(_OPTION_COLUMNS))
    if extra:
        raise Inexpressible(f"options.{extra[0]} (django-celery-beat has no column for it)")
    headers = dict(options.get("headers") or {})
    if headers.get(TASK_NAME_HEADER) == entry.id:
        del headers[TASK_NAME_HEADER]
    expire_seconds = options.get("expires")
    if isinstance(expire_seconds, str):
        raise Inexpressible(f"options.expires {expire_seconds} is an instant, not seconds")
    if expire_seconds is not None and entry.expire_at is not None:
        raise Inexpressible("both expire_at and options.expires (django-celery-beat takes one)")
    if expire_seconds is not None and expire_seconds != int(expire_seconds):
        raise Inexpressible(f"options.expires {expire_seconds:g} s is not whole seconds")
    columns = {
        "task": entry.task,
        "args": list(entry.args),
        "kwargs": dict(entry.kwargs),
        "headers": headers,
        "queue": options.get("queue"),
        "exchange": options.get("exchange"),
        "routing_key": options.get("routing_key"),
        "priority": options.get("priority"),
        "expires": after_expire(entry.expire_at) if entry.expire_at else None,
        "expire_seconds": int(expire_seconds) if expire_seconds is not None else None,
        "one_off": entry.run_once,
        "start_time": start_time,
        "enabled": entry.enabled,
        # django-celery-beat clears the last run of a disabled task when saving it.
        "last_run_at": entry.state.last_run_at if entry.enabled else None,
        "total_run_count": entry.state.total_run_count,
        "description": entry.description,
    }
    return DcbTask(entry.id, columns, kind, schedule, stand_in)


class _Writer:
    """Writes rows on one connection, in the database's own way of keeping instants."""

    def __init__(self, connection: sa.Connection, schema: DcbSchema, settings: DcbSettings) -> None:
        self.connection = connection
        self.schema = schema
        self.settings = settings
        self.aware = connection.dialect.name == "postgresql"

    def instant(self, value: datetime | None) -> datetime | None:
        if value is None or self.aware:
            return value
        zone = timezone.utc if self.settings.use_tz else load_zone(self.settings.time_zone)
        return value.astimezone(zone).replace(tzinfo=None)

    def value(self, name: str, value: Any) -> Any:
        if name in _JSON_COLUMNS:
            return json.dumps(value)
        if isinstance(value, datetime):
            return self.instant(value)
        return value

    def check_columns(self, task: DcbTask) -> None:
        for name, value in task.columns.items():
            if value not in (None, False, "", 0) and not self.schema.has("task", name):
                raise Inexpressible(f"this schema has no periodictask.{name} column")
        if not self.schema.has("task", f"{task.kind}_id") or task.kind not in self.schema.tables:
            raise Inexpressible(f"this schema has no {task.kind} schedules")

    def schedule_id(self, task: DcbTask) -> int:
        table = self.schema.table(task.kind)
        values = {
            name: self.value(name, value)
            for name, value in task.schedule.items()
            if name in table.c
        }
        if task.kind == "clocked" and "enabled" in table.c:
            values["enabled"] = True
        query = sa.select(table.c.id).where(
            *(table.c[name] == value for name, value in values.items() if name != "enabled")
        )
        found = self.connection.execute(query.order_by(table.c.id).limit(1)).scalar()
        if found is not None:
            return int(found)
        inserted = self.connection.execute(sa.insert(table).values(values))
        key = inserted.inserted_primary_key
        assert key is not None
        return int(key[0])

    def write(self, task: DcbTask, existing: int | None, now: datetime) -> None:
        table = self.schema.table("task")
        values = {
            name: self.value(name, value) for name, value in task.columns.items() if name in table.c
        }
        for kind in KINDS:
            if f"{kind}_id" in table.c:
                values[f"{kind}_id"] = None
        values[f"{task.kind}_id"] = self.schedule_id(task)
        values["date_changed"] = self.instant(task.changed or now)
        if existing is None:
            values["name"] = task.name
            self.connection.execute(sa.insert(table).values(values))
        else:
            self.connection.execute(sa.update(table).where(table.c.id == existing).values(values))

    def touch(self, now: datetime) -> None:
        """django-celery-beat's change marker: a running beat reloads its schedule."""
        if "changes" not in self.schema.tables:
            return
        table = self.schema.table("changes")
        when = self.instant(now)
        updated = self.connection.execute(
            sa.update(table).where(table.c.ident == 1).values(last_update=when)
        )
        if updated.rowcount == 0:
            self.connection.execute(sa.insert(table).values(ident=1, last_update=when))


#: What an update changes when the existing task cannot be read back as an entry.
UNREADABLE = "all fields: the task there cannot run"


def _differences(entry: Entry, row: TaskRow, settings: DcbSettings, now: datetime) -> list[str]:
    """What writing ``entry`` over the existing task changes: the definition fields the task
    reads back with other values, then :data:`RUN_STATE`; empty when it already runs as
    ``entry``."""
    back = convert_task(row, settings, now).entry
    if back is None:
        return [UNREADABLE]
    fields = changed_fields(back, entry)
    # django-celery-beat clears the last run of a disabled task when saving it; a task that
    # never ran has its next run from date_changed.
    state = entry.state if entry.enabled else replace(entry.state, last_run_at=None)
    moved = not same_run_state(back.state, state) or (
        entry.enabled
        and back.state.last_run_at is None
        and not same_instant(back.state.next_run_at, state.next_run_at)
    )
    return [*fields, RUN_STATE] if moved else fields


def export_entries(
    connection: sa.Connection,
    schema: DcbSchema,
    settings: DcbSettings,
    entries: Iterable[Entry],
    now: datetime,
    *,
    dry_run: bool = False,
) -> ExportResult:
    """Write ``entries`` as periodic tasks (by name) in one transaction on ``connection``."""
    result = ExportResult()
    existing = {row.name: row for row in read_tasks(connection, schema, settings)}
    writer = _Writer(connection, schema, settings)
    for whole in entries:
        entry = without_left_out(whole)
        try:
            task = to_dcb(entry)
            writer.check_columns(task)
        except Inexpressible as exc:
            result.skipped[entry.id] = str(exc)
            continue
        if names := left_out(whole):
            result.left_out[entry.id] = names
        row = existing.get(entry.id)
        if row is None:
            result.added.append(entry.id)
        elif differences := _differences(entry, row, settings, now):
            result.updated[entry.id] = differences
        else:
            result.unchanged.append(entry.id)
            continue
        if not dry_run:
            writer.write(task, None if row is None else row.id, now)
    if (result.added or result.updated) and not dry_run:
        writer.touch(now)
    return result
