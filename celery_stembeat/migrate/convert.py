"""A django-celery-beat periodic task as a stembeat entry that fires exactly when it did.

Every field keeps its meaning (see ``docs/migrating.md`` for the table). What cannot be kept
exactly is done the nearest faithful way and said in :attr:`Conversion.changes`; a row that
django-celery-beat itself cannot run is not converted, and :attr:`Conversion.skipped` says why.
"""

from __future__ import annotations

import ast
import functools
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from celery.schedules import crontab

from celery_stembeat.celery_schedules import from_celery
from celery_stembeat.entry import Entry, EntryError, RunState
from celery_stembeat.migrate.dcb_rows import KINDS, DcbSettings, ScheduleRow, TaskRow
from celery_stembeat.specs import (
    ClockedSpec,
    IntervalSpec,
    SolarSpec,
    Spec,
    SpecError,
    format_duration,
    format_instant,
)

PERIODS = ("days", "hours", "minutes", "seconds", "microseconds")
#: The header django-celery-beat adds to every message it sends.
TASK_NAME_HEADER = "periodic_task_name"
_MS = timedelta(milliseconds=1)
_US = timedelta(microseconds=1)


@dataclass(frozen=True)
class Conversion:
    """One source schedule as an entry, or why it could not be one."""

    name: str
    entry: Entry | None
    #: What the entry had to express differently, one sentence each.
    changes: tuple[str, ...] = ()
    #: Why there is no entry; ``None`` when there is one.
    skipped: str | None = None


class Skip(Exception):
    """The row cannot become an entry; the message says why."""


def floor_ms(instant: datetime) -> datetime:
    """``instant`` truncated to whole milliseconds (the resolution of entry files and stores)."""
    return instant.replace(microsecond=instant.microsecond // 1000 * 1000)


def same_instant(first: datetime | None, second: datetime | None) -> bool:
    """Whether two instants agree to the millisecond, the precision stembeat keeps (Django
    keeps microseconds, the Redis store and entry files milliseconds); ``None`` is only the
    same as ``None``."""
    if first is None or second is None:
        return first is second
    return floor_ms(first) == floor_ms(second)


def last_instant_before(deadline: datetime) -> datetime:
    """The last whole millisecond strictly before ``deadline``.

    django-celery-beat stops a task once ``now >= expires``; stembeat runs occurrences up to
    and including ``expire_at``. This instant makes the two rules select the same occurrences.
    """
    return floor_ms(deadline - _US)


def json_value(text: str | None, name: str, kind: type, default: Any) -> Any:
    """The JSON text of an ``args``/``kwargs``/``headers`` column, checked for its type."""
    if text is None or not text.strip():
        return default
    try:
        value = json.loads(text)
    except ValueError:
        try:
            ast.literal_eval(text)
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            why = "is not JSON"
        else:
            why = "is Python repr text, not JSON"
        raise Skip(f"{name} {text!r} {why}: django-celery-beat cannot load it either") from None
    if not isinstance(value, kind):
        expected = "a JSON list" if kind is list else "a JSON object"
        raise Skip(f"{name} {text!r} is not {expected}")
    return value


def _interval(row: ScheduleRow, changes: list[str]) -> IntervalSpec:
    every, period = row.get("every"), row.get("period")
    if period not in PERIODS:
        raise Skip(f"interval {row.id}: period {period!r} is not one of {', '.join(PERIODS)}")
    if not isinstance(every, int) or every < 1:
        raise Skip(f"interval {row.id}: every {every!r} is not a whole number >= 1")
    seconds = timedelta(**{period: every}).total_seconds()
    if seconds < 0.001:
        raise Skip(f"interval {row.id}: every {every} {period} is shorter than stembeat's 1 ms")
    spec = IntervalSpec(seconds)
    if spec.every != seconds:
        changes.append(
            f"interval of {every} {period} rounded to {format_duration(spec.every)} "
            "(stembeat keeps whole milliseconds)"
        )
    return spec


def crontab_zone(row: ScheduleRow, settings: DcbSettings) -> str:
    """The zone a crontab row runs in: its own with TZ_AWARE (the default), else the app's."""
    if settings.tz_aware and row.get("timezone"):
        return str(row.get("timezone"))
    return settings.celery_timezone


def crontab_fields(row: ScheduleRow) -> dict[str, str]:
    """The five cron fields of a crontab row, as celery's ``crontab`` names them."""
    names = ("minute", "hour", "day_of_week", "day_of_month", "month_of_year")
    return {name: str(row.get(name, "*")) for name in names}


@functools.lru_cache(maxsize=4096)
def _crontab_spec(fields: tuple[tuple[str, str], ...], zone: str) -> Spec:
    """celery's crontab for ``fields`` as a spec in ``zone`` (many tasks share one crontab)."""
    try:
        schedule = crontab(**dict(fields))
    except (ValueError, TypeError) as exc:
        raise Skip(f"celery refuses it: {exc}") from None
    try:
        spec = from_celery(schedule, timezone=zone)
    except SpecError as exc:
        raise Skip(str(exc)) from None
    assert spec is not None  # a crontab always converts
    return spec


def _crontab(row: ScheduleRow, settings: DcbSettings, changes: list[str]) -> Spec:
    fields = crontab_fields(row)
    text = " ".join(fields[name] for name in ("minute", "hour", "day_of_month", "month_of_year"))
    text += f" {fields['day_of_week']}"
    zone = crontab_zone(row, settings)
    own = row.get("timezone")
    if not settings.tz_aware and own and str(own) != zone:
        changes.append(
            f"crontab zone {own} is not used (DJANGO_CELERY_BEAT_TZ_AWARE is off): runs in {zone}"
        )
    try:
        return _crontab_spec(tuple(fields.items()), zone)
    except Skip as skip:
        raise Skip(f"crontab {row.id} ({text}): {skip}") from None


def _solar(row: ScheduleRow) -> SolarSpec:
    try:
        return SolarSpec(row.get("event"), row.get("latitude"), row.get("longitude"))
    except SpecError as exc:
        raise Skip(f"solar {row.id}: {exc}") from None


def _clocked(row: ScheduleRow, task: TaskRow, changes: list[str]) -> ClockedSpec:
    if not task.one_off:
        raise Skip(
            f"clocked {row.id} with one_off=False: django-celery-beat refuses it, and its beat "
            "would send it again at every schedule sync"
        )
    at = row.get("clocked_time")
    if at is None:
        raise Skip(f"clocked {row.id}: clocked_time is empty")
    if row.get("enabled") is False:
        changes.append(
            "clockedschedule.enabled=False is ignored, as django-celery-beat's scheduler "
            "ignores it (migration 0014 removed the column)"
        )
    return ClockedSpec(at)


def schedule_row(task: TaskRow) -> ScheduleRow:
    """The one schedule row of ``task``; :class:`Skip` when there is none or more than one."""
    kinds = task.linked_kinds
    if not kinds:
        raise Skip(f"no schedule: exactly one of {', '.join(KINDS)} must be set")
    if len(kinds) > 1:
        links = ", ".join(f"{kind} {task.links[kind]}" for kind in kinds)
        raise Skip(
            f"more than one schedule ({links}): django-celery-beat refuses this, "
            "so which one it means is unknown"
        )
    kind = kinds[0]
    if kind not in task.schedules:
        raise Skip(f"{kind}_id {task.links[kind]} points to no {kind} row")
    return task.schedules[kind]


def _spec(task: TaskRow, settings: DcbSettings, changes: list[str]) -> Spec:
    row = schedule_row(task)
    if row.kind == "interval":
        return _interval(row, changes)
    if row.kind == "crontab":
        return _crontab(row, settings, changes)
    if row.kind == "solar":
        return _solar(row)
    return _clocked(row, task, changes)


def _options(task: TaskRow, changes: list[str]) -> dict[str, Any]:
    options: dict[str, Any] = {}
    for name in ("queue", "exchange", "routing_key"):
        value = getattr(task, name)
        if value:
            options[name] = value
    if task.priority is not None:
        options["priority"] = task.priority
    headers = json_value(task.headers, "headers", dict, {})
    options["headers"] = {**headers, TASK_NAME_HEADER: task.name}
    if task.expires is not None:
        if task.expire_seconds:
            changes.append(
                f"expire_seconds {task.expire_seconds} is not used: expires is set, and "
                "django-celery-beat then sends expires instead"
            )
    elif task.expire_seconds:
        options["expires"] = float(task.expire_seconds)
    return options


def _start_pending(task: TaskRow) -> bool:
    """Whether ``start_time`` still holds the task back: it has not run since that time."""
    return task.start_time is not None and (
        task.last_run_at is None or task.last_run_at < task.start_time
    )


def _with_start(spec: Spec, task: TaskRow, changes: list[str]) -> Spec:
    if task.start_time is None:
        return spec
    when = format_instant(task.start_time)
    if not _start_pending(task):
        changes.append(f"start_time {when} passed before the last run: it no longer matters")
    elif isinstance(spec, IntervalSpec) and task.last_run_at is None:
        return IntervalSpec(spec.every, start_at=task.start_time)
    else:
        changes.append(
            f"start_time {when} is kept as the first run only: stembeat has no start time "
            f"for this kind of schedule"
        )
    return spec


def first_run(task: TaskRow, spec: Spec, now: datetime) -> datetime | None:
    """When the entry next runs, as django-celery-beat would next run the task.

    After the last run, or, for a task that never ran, after the moment it was last changed
    (django-celery-beat's stand-in for a last run); never before a pending ``start_time``.
    A one-off clocked task that has not run fires at its instant, however late.
    """
    if isinstance(spec, ClockedSpec):
        natural: datetime | None = spec.at
    elif _start_pending(task) and task.last_run_at is None:
        natural = None
    else:
        natural = spec.next_after(task.last_run_at or task.date_changed or now)
    if _start_pending(task):
        assert task.start_time is not None
        return task.start_time if natural is None else max(natural, task.start_time)
    return natural


def convert_task(task: TaskRow, settings: DcbSettings, now: datetime) -> Conversion:
    """One periodic task as an entry (``source="store"``), with its run state."""
    changes: list[str] = []
    try:
        spec = _with_start(_spec(task, settings, changes), task, changes)
        args = json_value(task.args, "args", list, [])
        kwargs = json_value(task.kwargs, "kwargs", dict, {})
        options = _options(task, changes)
        enabled = task.enabled
        run_once = task.one_off or spec.run_once
        if enabled and run_once and task.total_run_count > 0:
            changes.append("a one-off that already ran: imported disabled, as it would be")
            enabled = False
        expire_at = last_instant_before(task.expires) if task.expires else None
        state = RunState(
            next_run_at=first_run(task, spec, now) if enabled else None,
            last_run_at=task.last_run_at,
            total_run_count=task.total_run_count,
            created_at=now,
            updated_at=now,
        )
        entry = Entry(
            id=task.name,
            task=task.task,
            spec=spec,
            args=tuple(args),
            kwargs=kwargs,
            options=options,
            enabled=enabled,
            run_once=run_once,
            expire_at=expire_at,
            description=task.description,
            state=state,
        )
    except Skip as skip:
        return Conversion(task.name, None, skipped=str(skip))
    except (EntryError, SpecError) as exc:
        return Conversion(task.name, None, skipped=str(exc))
    return Conversion(task.name, entry, tuple(changes))
