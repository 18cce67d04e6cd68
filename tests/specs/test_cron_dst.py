"""The DST rule of CronSpec, as exact known answers, and where croniter and celery differ.

The rule (``celery_stembeat/specs/_wallclock.py``), after ISC/Vixie cron:

* a *fixed* expression (the hour field names hours, e.g. ``30 2``, ``0 1-3``, ``0 0-23``)
  fires once per matching wall-clock time: a time in a spring-forward gap fires once, at the
  first instant after the gap; a time in an autumn fold fires once, on its first pass;
* any other expression (hour field ``*`` or ``*/n``) fires at every instant whose wall clock
  matches: gap times are skipped, fold times fire on both passes.

Clock changes used (2025; every instant below is UTC, local times in the comments):

====================  ======================================  ============================
zone                  spring forward (gap)                    fall back (fold)
====================  ======================================  ============================
America/New_York      03-09 07:00Z, 02:00→03:00 EST→EDT       11-02 06:00Z, 01:00-02:00 twice
Europe/London         03-30 01:00Z, 01:00→02:00 GMT→BST       10-26 01:00Z, 01:00-02:00 twice
Australia/Lord_Howe   10-04 15:30Z, 02:00→02:30 (+10:30→+11)  04-05 15:00Z, 01:30-02:00 twice
Australia/Sydney      10-04 16:00Z, 02:00→03:00 (+10→+11)     04-05 16:00Z, 02:00-03:00 twice
America/Santiago      09-07 04:00Z, 00:00→01:00 (-04→-03)     04-06 03:00Z, 23:00-24:00 twice
====================  ======================================  ============================

In a fold the first pass is the earlier offset: New York 01:30 is 05:30Z (EDT), then 06:30Z.
"""

from __future__ import annotations

import bisect
import itertools
import os
import time as time_module
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

import pytest

from celery_stembeat.specs import CronSpec
from tests._celery_versions import requires_celery
from tests.specs._cron_support import (
    UTC,
    celery_crontab,
    celery_next,
    croniter_next,
    load,
    transitions,
    utc,
)


@dataclass(frozen=True)
class Case:
    zone: str
    expression: str
    after: str
    expected: tuple[str, ...]


def case(zone: str, expression: str, after: str, *expected: str, id: str) -> object:
    return pytest.param(Case(zone, expression, after, expected), id=id)


def assert_fires(known: Case) -> None:
    spec = CronSpec(known.expression, known.zone)
    found = list(spec.occurrences(utc(known.after), len(known.expected)))
    assert found == [utc(text) for text in known.expected]
    assert all(instant.tzinfo is UTC for instant in found)


# --- fixed hours: once per wall-clock time ---------------------------------------------------

FIXED_IN_GAP = [
    # New York: 02:30 does not exist on 03-09; it fires once at 03:00 EDT, then 02:30 EDT.
    case("America/New_York", "30 2 * * *", "2025-03-08 12:00",
         "2025-03-09 07:00", "2025-03-10 06:30", id="new-york-30-2"),
    # 02:00, 02:20 and 02:40 all collapse into one fire at 03:00 EDT.
    case("America/New_York", "*/20 2 * * *", "2025-03-09 05:00",
         "2025-03-09 07:00", "2025-03-10 06:00", "2025-03-10 06:20", id="new-york-every-20-in-2"),
    # 02:00 (in the gap) and 03:00 (the gap's end) are the same instant: one fire, not two.
    case("America/New_York", "0 2-3 * * *", "2025-03-09 05:00",
         "2025-03-09 07:00", "2025-03-10 06:00", "2025-03-10 07:00", id="new-york-hours-2-3"),
    # Six fields: every 30 s of hour 2 collapses into one fire at 03:00:00 EDT.
    case("America/New_York", "*/30 * 2 * * *", "2025-03-09 06:00",
         "2025-03-09 07:00", "2025-03-10 06:00", id="new-york-six-fields-hour-2"),
    # London: 01:30 GMT does not exist on 03-30; it fires at 02:00 BST (01:00Z).
    case("Europe/London", "30 1 * * *", "2025-03-29 12:00",
         "2025-03-30 01:00", "2025-03-31 00:30", id="london-30-1"),
    case("Europe/London", "*/15 1 * * *", "2025-03-30 00:30",
         "2025-03-30 01:00", "2025-03-31 00:00", id="london-every-15-in-1"),
    # Lord Howe's gap is 30 minutes (02:00-02:30): 02:15 fires at 02:30 +11.
    case("Australia/Lord_Howe", "15 2 * * *", "2025-10-04 00:00",
         "2025-10-04 15:30", "2025-10-05 15:15", id="lord-howe-15-2"),
    # 02:00, 02:10, 02:20 collapse into 02:30, which also matches itself: still one fire.
    case("Australia/Lord_Howe", "*/10 2 * * *", "2025-10-04 15:00",
         "2025-10-04 15:30", "2025-10-04 15:40", "2025-10-04 15:50", id="lord-howe-every-10-in-2"),
    # Sydney: 02:30 AEST does not exist on 10-05; it fires at 03:00 AEDT.
    case("Australia/Sydney", "30 2 * * *", "2025-10-04 00:00",
         "2025-10-04 16:00", "2025-10-05 15:30", id="sydney-30-2"),
    case("Australia/Sydney", "*/20 2 * * *", "2025-10-04 15:50",
         "2025-10-04 16:00", "2025-10-05 15:00", "2025-10-05 15:20", id="sydney-every-20-in-2"),
    # Santiago skips midnight: a daily job fires at 01:00 -03 that day.
    case("America/Santiago", "0 0 * * *", "2025-09-06 12:00",
         "2025-09-07 04:00", "2025-09-08 03:00", id="santiago-midnight"),
    case("America/Santiago", "@daily", "2025-09-06 12:00",
         "2025-09-07 04:00", "2025-09-08 03:00", id="santiago-daily-macro"),
]  # fmt: skip


@pytest.mark.parametrize("known", FIXED_IN_GAP)
def test_fixed_time_in_gap_fires_once_at_gap_end(known: Case) -> None:
    """Wall times in a spring-forward gap fire once, at the first instant after the gap."""
    assert_fires(known)


FIXED_IN_FOLD = [
    # New York 01:30 happens at 05:30Z (EDT) and 06:30Z (EST): it fires at 05:30Z only.
    case("America/New_York", "30 1 * * *", "2025-11-01 12:00",
         "2025-11-02 05:30", "2025-11-03 06:30", id="new-york-day-before"),
    case("America/New_York", "30 1 * * *", "2025-11-02 04:10",  # 00:10 EDT, hour before fold
         "2025-11-02 05:30", "2025-11-03 06:30", id="new-york-hour-before-fold"),
    case("America/New_York", "30 1 * * *", "2025-11-02 05:10",  # 01:10 EDT, first pass
         "2025-11-02 05:30", "2025-11-03 06:30", id="new-york-first-pass-before"),
    case("America/New_York", "30 1 * * *", "2025-11-02 05:45",  # 01:45 EDT, first pass
         "2025-11-03 06:30", id="new-york-first-pass-after"),
    case("America/New_York", "30 1 * * *", "2025-11-02 06:10",  # 01:10 EST, second pass
         "2025-11-03 06:30", id="new-york-second-pass"),
    case("America/New_York", "*/20 1 * * *", "2025-11-02 04:30",
         "2025-11-02 05:00", "2025-11-02 05:20", "2025-11-02 05:40", "2025-11-03 06:00",
         id="new-york-every-20-in-1"),
    case("America/New_York", "0 30 1 * * *", "2025-11-02 06:10",
         "2025-11-03 06:30", id="new-york-six-fields-second-pass"),
    # Every second of hour 1, from 01:30 EST: the 1,800 repeated seconds left are all skipped.
    case("America/New_York", "* * 1 * * *", "2025-11-02 06:30",
         "2025-11-03 06:00", "2025-11-03 06:00:01", id="new-york-every-second-second-pass"),
    # London 01:30 happens at 00:30Z (BST) and 01:30Z (GMT).
    case("Europe/London", "30 1 * * *", "2025-10-25 12:00",
         "2025-10-26 00:30", "2025-10-27 01:30", id="london-day-before"),
    case("Europe/London", "30 1 * * *", "2025-10-26 00:10",  # 01:10 BST, first pass
         "2025-10-26 00:30", "2025-10-27 01:30", id="london-first-pass"),
    case("Europe/London", "30 1 * * *", "2025-10-26 01:10",  # 01:10 GMT, second pass
         "2025-10-27 01:30", id="london-second-pass"),
    # Lord Howe repeats only 01:30-02:00: 01:45 happens at 14:45Z (+11) and 15:15Z (+10:30).
    case("Australia/Lord_Howe", "45 1 * * *", "2025-04-05 00:00",
         "2025-04-05 14:45", "2025-04-06 15:15", id="lord-howe-day-before"),
    case("Australia/Lord_Howe", "45 1 * * *", "2025-04-05 14:10",  # 01:10 +11, before the fold
         "2025-04-05 14:45", "2025-04-06 15:15", id="lord-howe-hour-before-fold"),
    case("Australia/Lord_Howe", "45 1 * * *", "2025-04-05 15:05",  # 01:35 +10:30, second pass
         "2025-04-06 15:15", id="lord-howe-second-pass"),
    # 01:00 and 01:20 are not repeated; 01:40 is repeated and fires on its first pass only.
    case("Australia/Lord_Howe", "*/20 1 * * *", "2025-04-05 14:00",
         "2025-04-05 14:20", "2025-04-05 14:40", "2025-04-06 14:30", id="lord-howe-every-20-in-1"),
    # Sydney repeats 02:00-03:00: 02:30 happens at 15:30Z (AEDT) and 16:30Z (AEST).
    case("Australia/Sydney", "30 2 * * *", "2025-04-05 12:00",
         "2025-04-05 15:30", "2025-04-06 16:30", id="sydney-day-before"),
    case("Australia/Sydney", "30 2 * * *", "2025-04-05 16:10",  # 02:10 AEST, second pass
         "2025-04-06 16:30", id="sydney-second-pass"),
    # Santiago repeats 23:00-24:00 on 04-05: 23:30 fires at 02:30Z (-03) only.
    case("America/Santiago", "30 23 * * *", "2025-04-05 12:00",
         "2025-04-06 02:30", "2025-04-07 03:30", id="santiago-23-30"),
]  # fmt: skip


@pytest.mark.parametrize("known", FIXED_IN_FOLD)
def test_fixed_time_in_fold_fires_once_on_first_pass(known: Case) -> None:
    """Wall times in an autumn fold fire on the first pass only, from wherever ``after`` is."""
    assert_fires(known)


# --- wildcard hours: real-time cadence ------------------------------------------------------

WILDCARD = [
    # New York spring: 02:30 does not exist, so the half-hours run 01:30 EST, 03:30 EDT.
    case("America/New_York", "30 * * * *", "2025-03-09 05:00",
         "2025-03-09 05:30", "2025-03-09 06:30", "2025-03-09 07:30", "2025-03-09 08:30",
         id="new-york-gap-30-every-hour"),
    case("America/New_York", "*/15 * * * *", "2025-03-09 06:40",
         "2025-03-09 06:45", "2025-03-09 07:00", "2025-03-09 07:15", id="new-york-gap-every-15"),
    # 02:00 is skipped and 03:00 is not an even hour: next is 04:00 EDT.
    case("America/New_York", "0 */2 * * *", "2025-03-09 05:00",
         "2025-03-09 08:00", "2025-03-09 10:00", id="new-york-gap-every-2-hours"),
    case("America/New_York", "* * * * * *", "2025-03-09 06:59:58",
         "2025-03-09 06:59:59", "2025-03-09 07:00:00", "2025-03-09 07:00:01",
         id="new-york-gap-every-second"),
    # New York autumn: 01:30 fires at 05:30Z and again at 06:30Z.
    case("America/New_York", "30 * * * *", "2025-11-02 04:10",  # hour before the fold
         "2025-11-02 04:30", "2025-11-02 05:30", "2025-11-02 06:30", "2025-11-02 07:30",
         id="new-york-fold-30-every-hour"),
    case("America/New_York", "30 * * * *", "2025-11-02 05:45",  # 01:45 EDT, first pass
         "2025-11-02 06:30", "2025-11-02 07:30", id="new-york-fold-first-pass"),
    case("America/New_York", "30 * * * *", "2025-11-02 06:10",  # 01:10 EST, second pass
         "2025-11-02 06:30", "2025-11-02 07:30", id="new-york-fold-second-pass"),
    case("America/New_York", "*/15 * * * *", "2025-11-02 05:40",
         "2025-11-02 05:45", "2025-11-02 06:00", "2025-11-02 06:15", "2025-11-02 06:30",
         "2025-11-02 06:45", "2025-11-02 07:00", id="new-york-fold-every-15"),
    case("America/New_York", "0 * * * *", "2025-11-02 04:30",
         "2025-11-02 05:00", "2025-11-02 06:00", "2025-11-02 07:00", id="new-york-fold-hourly"),
    case("America/New_York", "* * * * * *", "2025-11-02 05:59:58",
         "2025-11-02 05:59:59", "2025-11-02 06:00:00", "2025-11-02 06:00:01",
         id="new-york-fold-every-second"),
    # London spring: 01:xx GMT does not exist.
    case("Europe/London", "30 * * * *", "2025-03-30 00:00",
         "2025-03-30 00:30", "2025-03-30 01:30", "2025-03-30 02:30", id="london-gap-30"),
    case("Europe/London", "*/15 * * * *", "2025-03-30 00:40",
         "2025-03-30 00:45", "2025-03-30 01:00", "2025-03-30 01:15", id="london-gap-every-15"),
    # London autumn: 01:30 fires at 00:30Z (BST) and 01:30Z (GMT).
    case("Europe/London", "30 * * * *", "2025-10-25 23:45",  # 00:45 BST, hour before the fold
         "2025-10-26 00:30", "2025-10-26 01:30", "2025-10-26 02:30", id="london-fold-30"),
    case("Europe/London", "30 * * * *", "2025-10-26 00:45",  # 01:45 BST, first pass
         "2025-10-26 01:30", "2025-10-26 02:30", id="london-fold-first-pass"),
    case("Europe/London", "30 * * * *", "2025-10-26 01:10",  # 01:10 GMT, second pass
         "2025-10-26 01:30", "2025-10-26 02:30", id="london-fold-second-pass"),
    # Lord Howe spring: 02:00 and 02:15 are skipped; real time keeps a 15-minute beat.
    case("Australia/Lord_Howe", "*/15 * * * *", "2025-10-04 15:05",
         "2025-10-04 15:15", "2025-10-04 15:30", "2025-10-04 15:45", id="lord-howe-gap-every-15"),
    case("Australia/Lord_Howe", "0 * * * *", "2025-10-04 14:45",
         "2025-10-04 16:00", "2025-10-04 17:00", id="lord-howe-gap-hourly"),
    case("Australia/Lord_Howe", "0 */2 * * *", "2025-10-04 13:30",
         "2025-10-04 17:00", "2025-10-04 19:00", id="lord-howe-gap-every-2-hours"),
    # Lord Howe autumn: 01:30 and 01:45 each fire twice, half an hour apart.
    case("Australia/Lord_Howe", "30 * * * *", "2025-04-05 14:00",
         "2025-04-05 14:30", "2025-04-05 15:00", "2025-04-05 16:00", id="lord-howe-fold-30"),
    case("Australia/Lord_Howe", "30 * * * *", "2025-04-05 14:40",  # 01:40 +11, first pass
         "2025-04-05 15:00", "2025-04-05 16:00", id="lord-howe-fold-first-pass"),
    case("Australia/Lord_Howe", "*/15 * * * *", "2025-04-05 14:40",
         "2025-04-05 14:45", "2025-04-05 15:00", "2025-04-05 15:15", "2025-04-05 15:30",
         id="lord-howe-fold-every-15"),
    # Sydney autumn: 02:00 fires in both passes.
    case("Australia/Sydney", "0 */2 * * *", "2025-04-05 14:30",
         "2025-04-05 15:00", "2025-04-05 16:00", "2025-04-05 18:00", id="sydney-fold-every-2h"),
    case("Australia/Sydney", "30 * * * *", "2025-04-05 14:45",
         "2025-04-05 15:30", "2025-04-05 16:30", "2025-04-05 17:30", id="sydney-fold-30"),
    # Sydney spring: 02:00 and 02:30 are skipped.
    case("Australia/Sydney", "0 */2 * * *", "2025-10-04 14:30",
         "2025-10-04 17:00", "2025-10-04 19:00", id="sydney-gap-every-2-hours"),
    case("Australia/Sydney", "*/30 * * * *", "2025-10-04 15:10",
         "2025-10-04 15:30", "2025-10-04 16:00", "2025-10-04 16:30", id="sydney-gap-every-30"),
    # Santiago autumn: 23:00 on 04-05 fires at 02:00Z and 03:00Z.
    case("America/Santiago", "0 * * * *", "2025-04-06 01:30",
         "2025-04-06 02:00", "2025-04-06 03:00", "2025-04-06 04:00", id="santiago-fold-hourly"),
]  # fmt: skip


@pytest.mark.parametrize("known", WILDCARD)
def test_wildcard_hours_keep_real_time_cadence(known: Case) -> None:
    """With hour ``*``/``*/n``, gap times are skipped and fold times fire on both passes."""
    assert_fires(known)


@pytest.fixture(params=["Australia/Lord_Howe", "America/Santiago"])
def machine_zone(request: pytest.FixtureRequest) -> Iterator[str]:
    """The process's local time zone (``TZ``) set to a zone with clock changes of its own."""
    before = os.environ.get("TZ")
    os.environ["TZ"] = request.param
    time_module.tzset()
    yield request.param
    if before is None:
        del os.environ["TZ"]
    else:
        os.environ["TZ"] = before
    time_module.tzset()


@pytest.mark.parametrize(
    "known",
    [
        *FIXED_IN_GAP,
        *FIXED_IN_FOLD,
        *WILDCARD,
        case("UTC", "*/20 2 * * *", "2025-03-09 02:10",
             "2025-03-09 02:20", "2025-03-09 02:40", id="utc-every-20-in-2"),
    ],
)  # fmt: skip
def test_answers_do_not_depend_on_the_machines_time_zone(machine_zone: str, known: Case) -> None:
    """Every instant is computed in the spec's zone and returned in UTC, whatever ``TZ`` says."""
    assert_fires(known)


def test_hour_range_counts_as_fixed_but_star_step_does_not() -> None:
    """``0-23`` names hours (once per wall time); ``*`` and ``*/1`` do not (both passes)."""
    after = utc("2025-11-02 04:30")  # 00:30 EDT
    once = ["2025-11-02 05:00", "2025-11-02 07:00", "2025-11-02 08:00"]
    twice = ["2025-11-02 05:00", "2025-11-02 06:00", "2025-11-02 07:00"]
    for expression, expected in [
        ("0 0-23 * * *", once),
        ("0 * * * *", twice),
        ("0 */1 * * *", twice),
    ]:
        spec = CronSpec(expression, "America/New_York")
        assert list(spec.occurrences(after, 3)) == [utc(text) for text in expected], expression


# --- an executable reading of the rule, checked around every clock change -------------------


def _values(field: str, low: int, high: int) -> list[int]:
    """Numbers of one cron field written with ``*``, values, ranges, steps and lists."""
    chosen: set[int] = set()
    for item in field.split(","):
        base, _, step = item.partition("/")
        start, _, end = (f"{low}-{high}" if base == "*" else base).partition("-")
        chosen.update(range(int(start), int(end or start) + 1, int(step or 1)))
    return sorted(chosen)


def reference_fires(expression: str, zone: str, start: datetime, end: datetime) -> list[datetime]:
    """Every fire in ``[start, end]`` by the documented rule, from wall times up.

    Independent of the package: each matching wall time is turned into the instants showing
    it (none in a gap, two in a fold), then the rule picks among them. Day fields must be
    ``*``.
    """
    fields = expression.split()
    if len(fields) == 5:
        fields.insert(0, "0")
    assert fields[3:] == ["*", "*", "*"], "the reference model handles time-of-day only"
    fixed = not fields[2].startswith("*")
    tz = load(zone)
    changes = transitions(zone, start.year, end.year)
    lowest = (start.astimezone(tz) - timedelta(hours=2)).replace(tzinfo=None)
    highest = (end.astimezone(tz) + timedelta(hours=2)).replace(tzinfo=None)
    fires = set()
    for day_number in range(lowest.date().toordinal(), highest.date().toordinal() + 1):
        day = date.fromordinal(day_number)
        for hour in _values(fields[2], 0, 23):
            top = datetime.combine(day, time(hour))
            if top + timedelta(hours=1) <= lowest or top > highest:
                continue
            for minute, second in itertools.product(
                _values(fields[1], 0, 59), _values(fields[0], 0, 59)
            ):
                wall = top.replace(minute=minute, second=second)
                shown = sorted(
                    {
                        instant
                        for fold in (0, 1)
                        if (instant := wall.replace(tzinfo=tz, fold=fold).astimezone(UTC))
                        .astimezone(tz)
                        .replace(tzinfo=None)
                        == wall
                    }
                )
                if not shown:  # a gap: the first instant after it is the clock change itself
                    if fixed:
                        before_gap = wall.replace(tzinfo=tz, fold=1).astimezone(UTC)
                        fires.add(min(c.at for c in changes if c.at > before_gap))
                elif fixed:
                    fires.add(shown[0])
                else:
                    fires.update(shown)
    return sorted(fire for fire in fires if start <= fire <= end)


REFERENCE_EXPRESSIONS = [
    "30 2 * * *", "30 1 * * *", "45 1 * * *", "0 2 * * *", "15 2 * * *", "*/20 1,2 * * *",
    "0 1-3 * * *", "0 0-23 * * *", "0 0 * * *", "30 23 * * *", "59 */3 * * *",
    "30 * * * *", "*/15 * * * *", "0 */2 * * *", "* * * * *", "*/7 * * * *",
]  # fmt: skip
REFERENCE_SIX_FIELDS = ["* * * * * *", "*/20 * * * * *", "15 * 2 * * *", "0 30 1,2 * * *"]
REFERENCE_ZONES = [
    "America/New_York",
    "Europe/London",
    "Australia/Lord_Howe",
    "Australia/Sydney",
    "America/Santiago",
]


def _compare_with_reference(
    expression: str, zone: str, change: datetime, span: timedelta, step: timedelta
) -> int:
    """Check next_after at many instants within ``span`` of ``change``; return how many."""
    spec = CronSpec(expression, zone)
    fields = expression.split()
    # Far enough for a daily job; every-second jobs need little and cost much.
    busy = len(fields) == 6 and fields[2].startswith("*")
    horizon = change + span + (timedelta(hours=1) if busy else timedelta(days=1))
    fires = reference_fires(expression, zone, change - span, horizon)
    checked = 0
    after = change - span
    while after < change + span:
        for nudge in (timedelta(0), timedelta(microseconds=1), timedelta(seconds=29.5)):
            instant = after + nudge
            expected = fires[bisect.bisect_right(fires, instant)]
            assert spec.next_after(instant) == expected, (expression, instant)
            checked += 1
        after += step
    return checked


@pytest.mark.parametrize("zone", REFERENCE_ZONES)
def test_rule_matches_reference_model_around_clock_changes(zone: str) -> None:
    """Around both 2025 changes, next_after equals a literal reading of the rule."""
    checked = 0
    for change in transitions(zone, 2025, 2025):
        for expression in REFERENCE_EXPRESSIONS:
            checked += _compare_with_reference(
                expression, zone, change.at, timedelta(hours=3), timedelta(minutes=10)
            )
    assert checked == 2 * len(REFERENCE_EXPRESSIONS) * 36 * 3


@pytest.mark.parametrize("zone", REFERENCE_ZONES)
def test_six_field_rule_matches_reference_model(zone: str) -> None:
    """The same for expressions with seconds, at a finer grain."""
    checked = 0
    for change in transitions(zone, 2025, 2025):
        for expression in REFERENCE_SIX_FIELDS:
            checked += _compare_with_reference(
                expression, zone, change.at, timedelta(hours=1, minutes=30), timedelta(minutes=3)
            )
    assert checked == 2 * len(REFERENCE_SIX_FIELDS) * 60 * 3


def test_reference_model_knows_the_rule() -> None:
    """The model itself gives the textbook answers, so it cannot agree by being vacuous."""
    start, end = utc("2025-11-02 04:00"), utc("2025-11-02 08:00")
    assert reference_fires("30 1 * * *", "America/New_York", start, end) == [
        utc("2025-11-02 05:30")
    ]
    assert reference_fires("30 * * * *", "America/New_York", start, end) == [
        utc(f"2025-11-02 0{hour}:30") for hour in (4, 5, 6, 7)
    ]
    start, end = utc("2025-03-09 05:00"), utc("2025-03-09 09:00")
    assert reference_fires("*/20 2 * * *", "America/New_York", start, end) == [
        utc("2025-03-09 07:00")
    ]
    assert reference_fires("0 */2 * * *", "America/New_York", start, end) == [
        utc("2025-03-09 05:00"), utc("2025-03-09 08:00")
    ]  # fmt: skip


# --- documented differences from croniter and celery ----------------------------------------


@dataclass(frozen=True)
class Difference:
    """At ``after``, the library's next time is ``theirs`` while CronSpec's is ``ours``."""

    zone: str
    expression: str
    after: str
    theirs: str
    ours: str


def difference(
    zone: str,
    expression: str,
    after: str,
    theirs: str,
    ours: str,
    *,
    id: str,
    marks: Any = (),
) -> object:
    return pytest.param(Difference(zone, expression, after, theirs, ours), id=id, marks=marks)


#: The DST-fold rows pin celery's crontab answers from 5.5 on; celery 5.3 and 5.4 computed a
#: fold otherwise (their answers there are not pinned).
FOLD_SINCE_5_5 = requires_celery((5, 5), "crontab's answers in a DST fold changed in celery 5.5")


CRONITER_DIFFERENCES = [
    # Fixed hour in a fold: croniter fires on both passes; we fire on the first only.
    difference("America/New_York", "30 1 * * *", "2025-11-02 05:30",
               "2025-11-02 06:30", "2025-11-03 06:30", id="new-york-fold-second-pass"),
    difference("America/New_York", "30 1 * * *", "2025-11-02 06:10",
               "2025-11-02 06:30", "2025-11-03 06:30", id="new-york-fold-after-in-second-pass"),
    difference("Europe/London", "30 1 * * *", "2025-10-26 00:30",
               "2025-10-26 01:30", "2025-10-27 01:30", id="london-fold-second-pass"),
    difference("Australia/Lord_Howe", "45 1 * * *", "2025-04-05 14:45",
               "2025-04-05 15:15", "2025-04-06 15:15", id="lord-howe-fold-second-pass"),
    difference("Australia/Sydney", "30 2 * * *", "2025-04-05 15:30",
               "2025-04-05 16:30", "2025-04-06 16:30", id="sydney-fold-second-pass"),
    difference("America/Santiago", "30 23 * * *", "2025-04-06 03:10",
               "2025-04-06 03:30", "2025-04-07 03:30", id="santiago-fold-second-pass"),
    difference("America/New_York", "0 30 1 * * *", "2025-11-02 05:40",
               "2025-11-02 06:30", "2025-11-03 06:30", id="new-york-six-fields-fold"),
    # croniter reads an hour list covering the day (0-23) as '*': both passes, gaps skipped.
    difference("America/New_York", "0 0-23 * * *", "2025-11-02 05:00",
               "2025-11-02 06:00", "2025-11-02 07:00", id="new-york-full-hour-range-fold"),
    difference("Australia/Lord_Howe", "0 0-23 * * *", "2025-10-04 14:30",
               "2025-10-04 16:00", "2025-10-04 15:30", id="lord-howe-full-hour-range-gap"),
    # Wildcard hour in a gap: croniter moves the missing 02:00 to the gap's end; we skip it.
    difference("America/New_York", "0 */2 * * *", "2025-03-09 05:00",
               "2025-03-09 07:00", "2025-03-09 08:00", id="new-york-gap-every-2-hours"),
    difference("Australia/Lord_Howe", "0 */2 * * *", "2025-10-04 13:30",
               "2025-10-04 15:30", "2025-10-04 17:00", id="lord-howe-gap-every-2-hours"),
    difference("Australia/Sydney", "0 */2 * * *", "2025-10-04 14:30",
               "2025-10-04 16:00", "2025-10-04 17:00", id="sydney-gap-every-2-hours"),
    difference("Australia/Lord_Howe", "0 0 */2 * * *", "2025-10-04 13:30",
               "2025-10-04 15:30", "2025-10-04 17:00", id="lord-howe-six-fields-gap"),
    # Seconds in a gap: croniter shifts 02:00:15 by the hour to 03:00:15; we fire at 03:00:00.
    difference("America/New_York", "15 * 2 * * *", "2025-03-09 05:00",
               "2025-03-09 07:00:15", "2025-03-09 07:00", id="new-york-six-fields-gap"),
]  # fmt: skip


@pytest.mark.parametrize("known", CRONITER_DIFFERENCES)
def test_croniter_differs_here(known: Difference) -> None:
    """croniter (aware start, ``get_next``) and CronSpec disagree exactly like this."""
    assert known.theirs != known.ours
    after = utc(known.after)
    assert croniter_next(known.expression, known.zone, after) == utc(known.theirs)
    assert CronSpec(known.expression, known.zone).next_after(after) == utc(known.ours)


CELERY_DIFFERENCES = [
    # Fixed time in a gap: celery adds the shift to the wall time (02:30 → 03:30 EDT).
    difference("America/New_York", "30 2 * * *", "2025-03-08 12:00",
               "2025-03-09 07:30", "2025-03-09 07:00", id="new-york-gap-30-2"),
    difference("Europe/London", "30 1 * * *", "2025-03-29 12:00",
               "2025-03-30 01:30", "2025-03-30 01:00", id="london-gap-30-1"),
    difference("Australia/Lord_Howe", "15 2 * * *", "2025-10-04 00:00",
               "2025-10-04 15:45", "2025-10-04 15:30", id="lord-howe-gap-15-2"),
    difference("Australia/Sydney", "30 2 * * *", "2025-10-04 00:00",
               "2025-10-04 16:30", "2025-10-04 16:00", id="sydney-gap-30-2"),
    # Wildcard hour in a gap: celery fires at the shifted missing time; we skip it.
    difference("America/New_York", "0 */2 * * *", "2025-03-09 05:00",
               "2025-03-09 07:00", "2025-03-09 08:00", id="new-york-gap-every-2-hours"),
    difference("Australia/Lord_Howe", "0 * * * *", "2025-10-04 14:45",
               "2025-10-04 15:30", "2025-10-04 16:00", id="lord-howe-gap-hourly"),
    difference("Australia/Sydney", "0 */2 * * *", "2025-10-04 14:30",
               "2025-10-04 16:00", "2025-10-04 17:00", id="sydney-gap-every-2-hours"),
    # Wildcard hour in a fold, last run in the first pass: celery skips the second pass.
    difference("America/New_York", "30 * * * *", "2025-11-02 05:30",
               "2025-11-02 07:30", "2025-11-02 06:30", id="new-york-fold-30",
               marks=FOLD_SINCE_5_5),
    difference("America/New_York", "* * * * *", "2025-11-02 05:59",
               "2025-11-02 07:00", "2025-11-02 06:00", id="new-york-fold-every-minute",
               marks=FOLD_SINCE_5_5),
    difference("Europe/London", "0 * * * *", "2025-10-26 00:00",
               "2025-10-26 02:00", "2025-10-26 01:00", id="london-fold-hourly",
               marks=FOLD_SINCE_5_5),
    difference("Australia/Lord_Howe", "*/15 * * * *", "2025-04-05 14:45",
               "2025-04-05 15:30", "2025-04-05 15:00", id="lord-howe-fold-every-15",
               marks=FOLD_SINCE_5_5),
    difference("Australia/Sydney", "0 */2 * * *", "2025-04-05 15:00",
               "2025-04-05 18:00", "2025-04-05 16:00", id="sydney-fold-every-2-hours",
               marks=FOLD_SINCE_5_5),
    difference("America/Santiago", "0 * * * *", "2025-04-06 02:30",
               "2025-04-06 04:00", "2025-04-06 03:00", id="santiago-fold-hourly",
               marks=FOLD_SINCE_5_5),
    # Last run in the second pass: celery's next time is on the first pass, i.e. in the past,
    # so beat runs the entry again at once (for a daily job: a second run that day).
    difference("America/New_York", "30 * * * *", "2025-11-02 06:10",
               "2025-11-02 05:30", "2025-11-02 06:30", id="new-york-second-pass-30",
               marks=FOLD_SINCE_5_5),
    difference("America/New_York", "30 1 * * *", "2025-11-02 06:10",
               "2025-11-02 05:30", "2025-11-03 06:30", id="new-york-second-pass-daily",
               marks=FOLD_SINCE_5_5),
    difference("Europe/London", "30 1 * * *", "2025-10-26 01:10",
               "2025-10-26 00:30", "2025-10-27 01:30", id="london-second-pass-daily",
               marks=FOLD_SINCE_5_5),
    difference("Australia/Lord_Howe", "45 1 * * *", "2025-04-05 15:05",
               "2025-04-05 14:45", "2025-04-06 15:15", id="lord-howe-second-pass-daily",
               marks=FOLD_SINCE_5_5),
    difference("America/Santiago", "30 23 * * *", "2025-04-06 03:10",
               "2025-04-06 02:30", "2025-04-07 03:30", id="santiago-second-pass-daily",
               marks=FOLD_SINCE_5_5),
]  # fmt: skip


@pytest.mark.parametrize("known", CELERY_DIFFERENCES)
def test_celery_crontab_differs_here(known: Difference) -> None:
    """celery's crontab (app timezone = zone, last run at ``after``) and CronSpec disagree so."""
    assert known.theirs != known.ours
    after = utc(known.after)
    entry = celery_crontab(known.expression, known.zone)
    assert celery_next(entry, after) == utc(known.theirs)
    assert CronSpec(known.expression, known.zone).next_after(after) == utc(known.ours)


@FOLD_SINCE_5_5
def test_celery_is_due_on_every_tick_during_the_second_pass() -> None:
    """celery drops the fold when it computes the next run, so from a last run in the
    repeated hour every ``is_due`` says "due now, check again in 0 s" until the hour ends.

    Times are given as beat gives them: ``app.now()``, in the app's time zone.
    """
    entry = celery_crontab("* * * * *", "America/New_York")
    now = utc("2025-11-02 06:10").astimezone(entry.tz)  # 01:10 EST, second pass
    assert now.fold == 1
    for _ in range(3):
        entry.nowfun = lambda now=now: now
        assert tuple(entry.is_due(now)) == (True, 0)  # last run: this very moment
        now = (now.astimezone(UTC) + timedelta(milliseconds=10)).astimezone(entry.tz)
    later = utc("2025-11-02 07:00:01").astimezone(entry.tz)  # 02:00:01 EST, after the fold
    entry.nowfun = lambda: later
    assert tuple(entry.is_due(later)) == (False, 59.0)
    assert CronSpec("* * * * *", "America/New_York").next_after(now) == utc("2025-11-02 06:11")


@pytest.mark.parametrize(
    ("zone", "expression", "after", "expected"),
    [
        ("America/New_York", "*/20 2 * * *", "2025-03-09 05:00", "2025-03-09 07:00"),
        ("America/New_York", "30 * * * *", "2025-03-09 06:40", "2025-03-09 07:30"),
        ("America/Santiago", "0 0 * * *", "2025-09-06 12:00", "2025-09-07 04:00"),
        ("Europe/London", "*/15 * * * *", "2025-03-30 00:50", "2025-03-30 01:00"),
    ],
)
def test_all_three_agree_on_these_dst_answers(
    zone: str, expression: str, after: str, expected: str
) -> None:
    """A control: some DST answers are the same everywhere, so the tables above are real."""
    instant = utc(after)
    assert CronSpec(expression, zone).next_after(instant) == utc(expected)
    assert croniter_next(expression, zone, instant) == utc(expected)
    assert celery_next(celery_crontab(expression, zone), instant) == utc(expected)
