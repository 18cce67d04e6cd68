"""Schedule specs: pure, exact time math for every kind of schedule."""

from celery_stembeat.specs._time import format_instant, load_zone, parse_instant, zone_name
from celery_stembeat.specs.base import Spec
from celery_stembeat.specs.calendar import CalendarSpec
from celery_stembeat.specs.celery_compat import SpecSchedule, from_celery, to_celery
from celery_stembeat.specs.clocked import ClockedSpec
from celery_stembeat.specs.cron import CronSpec
from celery_stembeat.specs.errors import SpecError
from celery_stembeat.specs.interval import IntervalSpec, format_duration, parse_duration
from celery_stembeat.specs.parse import parse_spec
from celery_stembeat.specs.solar import SolarSpec

__all__ = [
    "CalendarSpec",
    "ClockedSpec",
    "CronSpec",
    "IntervalSpec",
    "SolarSpec",
    "Spec",
    "SpecError",
    "SpecSchedule",
    "format_duration",
    "format_instant",
    "from_celery",
    "load_zone",
    "parse_duration",
    "parse_instant",
    "parse_spec",
    "to_celery",
    "zone_name",
]
