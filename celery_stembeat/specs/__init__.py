"""Schedule specs: pure, exact time math for every kind of schedule.

Importing this package loads no celery. The celery bridge (``SpecSchedule``, ``from_celery``,
``to_celery``) lives in :mod:`celery_stembeat.celery_schedules`; its names are still offered
here, imported from there on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from celery_stembeat.specs._rules import check_calendar_name
from celery_stembeat.specs._time import format_instant, load_zone, parse_instant, zone_name
from celery_stembeat.specs.base import Spec
from celery_stembeat.specs.calendar import CalendarSpec
from celery_stembeat.specs.clocked import ClockedSpec
from celery_stembeat.specs.cron import CronSpec
from celery_stembeat.specs.errors import SpecError
from celery_stembeat.specs.interval import IntervalSpec, format_duration, parse_duration
from celery_stembeat.specs.parse import parse_spec
from celery_stembeat.specs.solar import SolarSpec
from celery_stembeat.specs.windows import (
    WindowedSpec,
    bind_calendars,
    calendar_names,
    spec_zone,
    unwrap,
)

if TYPE_CHECKING:
    from celery_stembeat.celery_schedules import SpecSchedule, from_celery, to_celery

#: Names this package offers from :mod:`celery_stembeat.celery_schedules`, loaded on first use.
_CELERY_NAMES = ("SpecSchedule", "from_celery", "to_celery")


def __getattr__(name: str) -> Any:
    if name in _CELERY_NAMES:
        from celery_stembeat import celery_schedules

        return getattr(celery_schedules, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "CalendarSpec",
    "ClockedSpec",
    "CronSpec",
    "IntervalSpec",
    "SolarSpec",
    "Spec",
    "SpecError",
    "SpecSchedule",
    "WindowedSpec",
    "bind_calendars",
    "calendar_names",
    "check_calendar_name",
    "format_duration",
    "format_instant",
    "from_celery",
    "load_zone",
    "parse_duration",
    "parse_instant",
    "parse_spec",
    "spec_zone",
    "to_celery",
    "unwrap",
    "zone_name",
]
