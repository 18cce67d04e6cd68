"""``parse_spec``: every accepted way of writing a schedule, turned into a Spec."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from celery_stembeat.limits import shorten
from celery_stembeat.specs.base import Spec
from celery_stembeat.specs.calendar import CalendarSpec
from celery_stembeat.specs.clocked import ClockedSpec
from celery_stembeat.specs.cron import CronSpec
from celery_stembeat.specs.errors import SpecError
from celery_stembeat.specs.interval import IntervalSpec, parse_duration
from celery_stembeat.specs.solar import SolarSpec
from celery_stembeat.specs.windows import WINDOW_KEYS, with_windows

SPEC_TYPES: dict[str, Any] = {
    cls.kind: cls for cls in (IntervalSpec, CronSpec, SolarSpec, ClockedSpec, CalendarSpec)
}


def _from_dict(data: Mapping[str, Any], timezone: str | None) -> Spec:
    kind = data.get("type")
    if not isinstance(kind, str) or kind not in SPEC_TYPES:
        known = ", ".join(SPEC_TYPES)
        raise SpecError(f"spec 'type': {shorten(kind)} is not one of {known}", "type")
    fields = {key: value for key, value in data.items() if key not in WINDOW_KEYS}
    if timezone and kind in ("cron", "calendar") and not fields.get("timezone"):
        fields["timezone"] = timezone
    spec: Spec = SPEC_TYPES[kind].from_dict(fields)
    return with_windows(spec, data)


def _from_text(text: str, timezone: str | None) -> Spec:
    stripped = text.strip()
    if stripped.startswith(("{", "[")):
        try:
            data = json.loads(stripped)
        except json.JSONDecodeError as exc:
            raise SpecError(
                f"spec JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
            ) from None
        except RecursionError:
            raise SpecError("spec JSON: nested too deeply") from None
        if not isinstance(data, dict):
            raise SpecError("spec JSON: a spec must be a JSON object with a 'type', not an array")
        return _from_dict(data, timezone)
    fields = len(stripped.split())
    if stripped.startswith("@") or fields >= 5:
        return CronSpec(stripped, timezone or "UTC")
    try:
        return IntervalSpec(parse_duration(stripped))
    except SpecError as exc:
        if fields > 1:
            hint = "; a cron expression has 5 fields (6 with leading seconds)"
            raise SpecError(f"{exc}{hint}", exc.field) from None
        raise


def parse_spec(value: object, *, timezone: str | None = None) -> Spec:
    """Turn any accepted schedule form into a Spec.

    Accepts a Spec, a spec dict (``{"type": ...}``) or its JSON text, a cron string (five
    fields, six with leading seconds, or ``@daily``…), an interval string (``30s``, ``5m``,
    ``1h30m``, ``every:5m``), a number of seconds, a ``timedelta``, and celery's
    ``schedule``/``crontab``/``solar`` objects. ``timezone`` is the zone for cron text and
    celery crontabs that do not name one.
    """
    if isinstance(value, Spec):
        return value
    if isinstance(value, Mapping):
        return _from_dict(value, timezone)
    if isinstance(value, str):
        return _from_text(value, timezone)
    if isinstance(value, timedelta):
        return IntervalSpec(value.total_seconds())
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return IntervalSpec(value)
    # celery's own schedule objects: the bridge above this layer, imported only for them.
    from celery_stembeat.celery_schedules import from_celery

    converted = from_celery(value, timezone=timezone)
    if converted is None:
        raise SpecError(
            f"spec: cannot read a schedule from {type(value).__name__} {shorten(value)}"
        )
    return converted
