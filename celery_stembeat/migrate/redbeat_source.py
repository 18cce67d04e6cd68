"""RedBeat's schedules, read from Redis with its own key layout, as store entries.

RedBeat keeps each entry in a hash ``<prefix><name>`` (prefix ``redbeat:`` unless
``redbeat_key_prefix`` says otherwise) with two JSON fields: ``definition`` (name, task,
schedule, args, kwargs, options, enabled) and ``meta`` (``last_run_at``, ``total_run_count``).
Every entry's key is a member of the sorted set ``<prefix>:schedule``. Its JSON marks
datetimes, intervals and crontabs with ``"__type__"``; crontabs run in the app's time zone.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

import redis
from celery.schedules import crontab

from celery_stembeat.celery_schedules import from_celery
from celery_stembeat.entry import Entry, EntryError, RunState
from celery_stembeat.migrate.convert import Conversion
from celery_stembeat.migrate.errors import MigrateError
from celery_stembeat.options import OPTION_KEYS
from celery_stembeat.specs import IntervalSpec, Spec, SpecError, load_zone
from celery_stembeat.stores import StoreURLError, check_url, mask_url

DEFAULT_PREFIX = "redbeat:"


@dataclass(frozen=True)
class RedBeatRecord:
    """One RedBeat entry: its key and its decoded ``definition`` and ``meta``."""

    key: str
    definition: Mapping[str, Any]
    meta: Mapping[str, Any]


def _decode(value: dict[str, Any]) -> Any:
    kind = value.get("__type__")
    if kind == "datetime":
        fields = {
            name: value[name]
            for name in ("year", "month", "day", "hour", "minute", "second", "microsecond")
        }
        zone = value.get("timezone", "UTC")
        tz = (
            timezone(timedelta(seconds=zone))
            if isinstance(zone, (int, float))
            else load_zone(str(zone))
        )
        return datetime(**fields, tzinfo=tz)
    return value


def decode(text: str | bytes | None) -> dict[str, Any]:
    """A ``definition`` or ``meta`` field, with datetimes decoded (schedules stay as dicts)."""
    if not text:
        return {}
    data = json.loads(text, object_hook=_decode)
    if not isinstance(data, dict):
        raise ValueError("expected a JSON object")
    return data


def read_records(url: str, prefix: str = DEFAULT_PREFIX) -> Iterator[RedBeatRecord]:
    """Every entry of the RedBeat schedule at ``url``, in key order."""
    check_url(url, "RedBeat URL")
    try:
        client = redis.Redis.from_url(url, decode_responses=True)
    except (ValueError, TypeError) as exc:
        # The message may quote parts of the URL: show only the masked form.
        raise StoreURLError(f"RedBeat URL {mask_url(url)}: {type(exc).__name__}") from None
    try:
        members: list[Any] = client.zrange(f"{prefix}:schedule", 0, -1)
        keys = sorted(str(member) for member in members)
        for key in keys:
            definition, meta = client.hmget(key, ["definition", "meta"])
            if definition is None:
                continue
            try:
                yield RedBeatRecord(key, decode(definition), decode(meta))
            except (ValueError, KeyError, TypeError) as exc:
                yield RedBeatRecord(key, {"__error__": str(exc)}, {})
    except redis.RedisError as exc:
        raise MigrateError(f"RedBeat at {mask_url(url)}: {exc}") from None
    finally:
        client.close()


def _spec(schedule: Any, zone: str) -> tuple[Spec, list[str]]:
    if not isinstance(schedule, Mapping):
        raise SpecError(f"schedule {schedule!r} is not one RedBeat writes")
    kind = schedule.get("__type__")
    if kind == "interval":
        changes = ["relative=True is read as a plain interval"] if schedule.get("relative") else []
        return IntervalSpec(float(schedule["every"])), changes
    if kind == "crontab":
        fields = {name: value for name, value in schedule.items() if name != "__type__"}
        try:
            converted = from_celery(crontab(**fields), timezone=zone)
        except (ValueError, TypeError) as exc:
            raise SpecError(f"crontab {fields}: celery refuses it: {exc}") from None
        assert converted is not None
        return converted, []
    raise SpecError(f"a {kind!r} schedule has no stembeat equivalent")


def convert_record(record: RedBeatRecord, zone: str, now: datetime) -> Conversion:
    """One RedBeat entry as a store entry, keeping its last run and run count."""
    definition = record.definition
    name = str(definition.get("name") or record.key)
    if "__error__" in definition:
        return Conversion(
            name, None, skipped=f"cannot decode {record.key}: {definition['__error__']}"
        )
    try:
        spec, changes = _spec(definition.get("schedule"), zone)
        options = dict(definition.get("options") or {})
        dropped = sorted(set(options) - set(OPTION_KEYS))
        for key in dropped:
            changes.append(f"option {key}={options.pop(key)!r} is not carried")
        last_run_at = record.meta.get("last_run_at")
        enabled = bool(definition.get("enabled", True))
        next_run_at = None
        if enabled:
            next_run_at = spec.next_after(last_run_at) if last_run_at else now
        entry = Entry(
            id=name,
            task=definition.get("task"),  # type: ignore[arg-type]
            spec=spec,
            args=tuple(definition.get("args") or ()),
            kwargs=dict(definition.get("kwargs") or {}),
            options=options,
            enabled=enabled,
            state=RunState(
                next_run_at=next_run_at,
                last_run_at=last_run_at,
                total_run_count=int(record.meta.get("total_run_count") or 0),
                created_at=now,
                updated_at=now,
            ),
        )
    except (SpecError, EntryError, ValueError, TypeError, KeyError) as exc:
        return Conversion(name, None, skipped=str(exc))
    return Conversion(name, entry, tuple(changes))
