"""Entries as a ``beat_schedule`` module for celery's own scheduler: the other back-out plan.

celery's ``crontab`` runs in the app's time zone, so a cron or calendar entry in another zone
cannot be written; nor can what celery's scheduler lacks (one-off instants, solar offsets,
run-once, expiry, jitter, catch-up policies). Disabled entries are left out.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from celery_stembeat.entry import Entry
from celery_stembeat.migrate.expressible import (
    Inexpressible,
    check_celery_rules,
    crontab_fields,
    left_out,
    without_left_out,
)
from celery_stembeat.specs import (
    CalendarSpec,
    ClockedSpec,
    CronSpec,
    IntervalSpec,
    SolarSpec,
    format_instant,
)


@dataclass
class CeleryModule:
    """The module's text and the entries it could not hold."""

    text: str
    written: list[str] = field(default_factory=list)
    #: id → what celery's scheduler cannot express.
    skipped: dict[str, str] = field(default_factory=dict)
    #: id → the fields of an entry written without them (celery's entries have no tags and no
    #: blackout windows).
    left_out: dict[str, list[str]] = field(default_factory=dict)


def _schedule(entry: Entry, timezone: str) -> str:
    spec = entry.spec
    if isinstance(spec, IntervalSpec):
        if spec.up_to is not None:
            raise Inexpressible(f"a random interval ({spec.describe()})")
        if spec.start_at or spec.end_at:
            raise Inexpressible("an interval with start_at or end_at")
        return f"timedelta(seconds={spec.every!r})"
    if isinstance(spec, (CronSpec, CalendarSpec)):
        if spec.timezone != timezone:
            raise Inexpressible(f"runs in {spec.timezone}; the app's timezone is {timezone}")
        fields = crontab_fields(spec)
        return "crontab(" + ", ".join(f"{name}={value!r}" for name, value in fields.items()) + ")"
    if isinstance(spec, SolarSpec):
        if spec.offset:
            raise Inexpressible(f"solar offset {spec.offset:g} s")
        return f"solar({spec.event!r}, {spec.latitude!r}, {spec.longitude!r})"
    assert isinstance(spec, ClockedSpec)
    raise Inexpressible(f"a one-off at {format_instant(spec.at)}")


def _item(entry: Entry, timezone: str) -> str:
    check_celery_rules(entry)
    if entry.run_once:
        raise Inexpressible("run_once")
    if entry.expire_at is not None:
        raise Inexpressible(f"expire_at {format_instant(entry.expire_at)}")
    lines = [
        f"    {entry.id!r}: {{",
        f"        'task': {entry.task!r},",
        f"        'schedule': {_schedule(entry, timezone)},",
    ]
    if entry.args:
        lines.append(f"        'args': {list(entry.args)!r},")
    if entry.kwargs:
        lines.append(f"        'kwargs': {dict(sorted(entry.kwargs.items()))!r},")
    if entry.options:
        lines.append(f"        'options': {dict(sorted(entry.options.items()))!r},")
    lines.append("    },")
    return "\n".join(lines)


def beat_schedule_module(entries: Iterable[Entry], timezone: str, now: datetime) -> CeleryModule:
    """A Python module defining ``timezone`` and ``beat_schedule`` for ``entries``."""
    module = CeleryModule("")
    items = []
    for entry in entries:
        if not entry.enabled:
            module.skipped[entry.id] = "disabled"
            continue
        try:
            items.append(_item(without_left_out(entry), timezone))
        except Inexpressible as exc:
            module.skipped[entry.id] = str(exc)
            continue
        module.written.append(entry.id)
        if names := left_out(entry):
            module.left_out[entry.id] = names
    header = [
        f'"""beat_schedule exported by stembeat at {format_instant(now)}."""',
        "",
        "from datetime import timedelta",
        "",
        "from celery.schedules import crontab, solar",
        "",
        f"timezone = {timezone!r}",
        "",
    ]
    for entry_id, why in module.skipped.items():
        header.append(f"# not exported: {entry_id}: {why}")
    for entry_id, names in module.left_out.items():
        header.append(f"# left out of {entry_id}: {', '.join(names)}")
    notes = module.skipped or module.left_out
    body = ["beat_schedule = {", *items, "}"]
    module.text = "\n".join([*header, *([""] if notes else []), *body]) + "\n"
    return module
