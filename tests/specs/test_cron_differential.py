"""CronSpec against croniter and celery's crontab on thousands of generated expressions.

Expressions come from a seeded generator (``*``, values, ranges, steps, lists, names) and are
evaluated in five zones, after instants near DST changes and month/year ends. The three
implementations must agree everywhere except within an hour of a clock change, where the
DST rule of ``celery_stembeat.specs._wallclock`` is allowed to differ (see
test_cron_dst.py for exactly how). Such cases are skipped but counted, so the tests can
neither compare nothing nor hide a widespread disagreement behind the DST excuse.
"""

from __future__ import annotations

import dataclasses
import functools
import random
from dataclasses import dataclass
from datetime import datetime, timedelta

import pytest
from celery.schedules import crontab

from celery_stembeat.specs import CalendarSpec, CronSpec, Spec, parse_spec
from celery_stembeat.specs.cron import MONTH_NAMES, WEEKDAY_NAMES
from tests._celery_versions import requires_celery
from tests.specs._cron_support import (
    CELERY_MONTH_NAMES,
    UTC,
    Field,
    celery_app,
    celery_crontab,
    celery_next,
    croniter_next,
    croniter_next_cached,
    load,
    transitions,
    utc,
)

ZONES = ("UTC", "America/New_York", "Europe/London", "Australia/Lord_Howe", "Asia/Kolkata")
DST_ZONES = {"America/New_York", "Europe/London", "Australia/Lord_Howe"}
SEED = 20251102
#: Per zone; the croniter and celery comparisons share the five-field ones.
FIVE_FIELD_EXPRESSIONS = 1500
SIX_FIELD_EXPRESSIONS = 1000
AFTERS_PER_EXPRESSION = 2

DAYS_IN_MONTH = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
#: Within this distance of a clock change the DST rules may legitimately differ.
DST_MARGIN = timedelta(hours=1)


MINUTE = Field(0, 59, 0.25)
HOUR = Field(0, 23, 0.4)
DAY_OF_MONTH = Field(1, 31, 0.7)
MONTH = Field(1, 12, 0.7, MONTH_NAMES)
DAY_OF_WEEK = Field(0, 6, 0.7, WEEKDAY_NAMES)
SECOND = Field(0, 59, 0.3)


def _number(rnd: random.Random, field: Field, value: int) -> str:
    if field.names and rnd.random() < 0.4:
        name = field.names[value - field.low]
        return rnd.choice((name, name.upper(), name.title()))
    return str(value)


def _item(rnd: random.Random, field: Field) -> tuple[str, set[int]]:
    """One comma-separated item and the values it stands for."""
    span = field.high - field.low
    form = rnd.choice(("value", "value", "range", "star-step", "range-step"))
    if form == "star-step":
        step = rnd.randint(2, max(2, span // 2))
        return f"*/{step}", set(range(field.low, field.high + 1, step))
    if form == "value":
        value = rnd.randint(field.low, field.high)
        return _number(rnd, field, value), {value}
    start = rnd.randint(field.low, field.high - 1)
    end = rnd.randint(start + 1, field.high)
    text = f"{_number(rnd, field, start)}-{_number(rnd, field, end)}"
    if form == "range":
        return text, set(range(start, end + 1))
    step = rnd.randint(2, max(2, (end - start) // 2 + 1))
    return f"{text}/{step}", set(range(start, end + 1, step))


def _field(rnd: random.Random, field: Field) -> tuple[str, set[int]]:
    """A field as text, with its values (``*`` is every value)."""
    if rnd.random() < field.star:
        return "*", set(range(field.low, field.high + 1))
    items = [_item(rnd, field) for _ in range(rnd.choice((1, 1, 1, 2, 3)))]
    return ",".join(text for text, _ in items), set().union(*(values for _, values in items))


def _restricted(rnd: random.Random, field: Field) -> tuple[str, set[int]]:
    """A field that is ``*`` or names a strict subset, as cron and celery both understand it.

    A day field that lists every value (``1-31``, ``sun-sat``) would turn Vixie cron's OR into
    "every day" while celery reads it as ``*``; that is a spelling difference, not a time one.
    """
    while True:
        text, values = _field(rnd, field)
        if text == "*" or len(values) < field.high - field.low + 1:
            return text, values


def generate_five_field(rnd: random.Random) -> str:
    """A random five-field expression that celery, croniter and CronSpec all accept."""
    while True:
        minute, _ = _field(rnd, MINUTE)
        hour, _ = _field(rnd, HOUR)
        day_of_month, days = _restricted(rnd, DAY_OF_MONTH)
        month, months = _restricted(rnd, MONTH)
        day_of_week, _ = _restricted(rnd, DAY_OF_WEEK)
        if any(day <= DAYS_IN_MONTH[month - 1] for day in days for month in months):
            return f"{minute} {hour} {day_of_month} {month} {day_of_week}"


def generate_six_field(rnd: random.Random) -> str:
    """A random expression with a leading seconds field."""
    second, _ = _field(rnd, SECOND)
    return f"{second} {generate_five_field(rnd)}"


@functools.cache
def anchors(zone: str) -> tuple[tuple[datetime, ...], tuple[datetime, ...]]:
    """Clock changes in 2024-2026 (New York's for a zone without DST), and local month starts."""
    source = zone if zone in DST_ZONES else "America/New_York"
    changes = tuple(change.at for change in transitions(source, 2024, 2026))
    tz = load(zone)
    month_starts = tuple(
        datetime(year, month, 1, tzinfo=tz).astimezone(UTC)
        for year, month in [(y, m) for y in (2024, 2025, 2026) for m in range(1, 13)] + [(2027, 1)]
    )
    return changes, month_starts


def generate_after(rnd: random.Random, zone: str) -> datetime:
    """An instant near a clock change or a month/year end, at minute, second or µs precision."""
    changes, month_starts = anchors(zone)
    anchor = rnd.choice(changes if rnd.random() < 0.5 else month_starts)
    instant = anchor + timedelta(seconds=rnd.randint(-6 * 3600, 6 * 3600))
    precision = rnd.random()
    if precision < 0.4:
        return instant.replace(second=0)
    if precision < 0.7:
        return instant
    if precision < 0.85:
        return instant + timedelta(microseconds=rnd.randint(1, 999_999))
    return anchor + timedelta(microseconds=rnd.choice((-1, 0, 1)))


def near_clock_change(zone: str, instant: datetime) -> bool:
    """Whether a UTC offset change of ``zone`` lies within DST_MARGIN of ``instant``."""
    tz = load(zone)
    before = (instant - DST_MARGIN - timedelta(seconds=1)).astimezone(tz).utcoffset()
    return before != (instant + DST_MARGIN).astimezone(tz).utcoffset()


@dataclass
class Tally:
    """What one differential run compared, skipped near clock changes, and got wrong."""

    compared: int = 0
    skipped_near_dst: int = 0
    skipped_and_different: int = 0
    mismatches: list[str] = dataclasses.field(default_factory=list)

    def check(
        self, zone: str, expression: str, after: datetime, ours: datetime | None, theirs: datetime
    ) -> None:
        """Compare one answer, unless one side falls within DST_MARGIN of a clock change."""
        if ours is not None and (near_clock_change(zone, ours) or near_clock_change(zone, theirs)):
            self.skipped_near_dst += 1
            self.skipped_and_different += ours != theirs
            return
        self.compared += 1
        if ours != theirs:
            self.mismatches.append(f"{expression!r} after {after}: ours {ours}, theirs {theirs}")

    def assert_sound(self, zone: str, minimum: int) -> None:
        """No disagreement; thousands compared; DST skips only where DST exists, and rare."""
        assert not self.mismatches, "\n".join(self.mismatches[:20])
        assert self.compared >= minimum, self
        if zone in DST_ZONES:
            assert 0 < self.skipped_near_dst <= self.compared // 10, self
        else:
            assert self.skipped_near_dst == 0, self


@functools.cache
def cases(kind: str, zone: str) -> tuple[tuple[str, datetime], ...]:
    """The (expression, after) pairs for ``zone``: five- or six-field, from a fixed seed."""
    rnd = random.Random(f"{SEED}-{kind}-{zone}")
    count, generate = {
        "five": (FIVE_FIELD_EXPRESSIONS, generate_five_field),
        "six": (SIX_FIELD_EXPRESSIONS, generate_six_field),
    }[kind]
    pairs = []
    for _ in range(count):
        expression = generate(rnd)
        pairs.extend((expression, generate_after(rnd, zone)) for _ in range(AFTERS_PER_EXPRESSION))
    return tuple(pairs)


@functools.cache
def cron_spec(expression: str, zone: str) -> CronSpec:
    return CronSpec(expression, zone)


def test_generator_is_deterministic_and_varied() -> None:
    """The same seed gives the same expressions, mostly distinct, using every syntax form."""
    first, second = random.Random(SEED), random.Random(SEED)
    expressions = [generate_five_field(first) for _ in range(FIVE_FIELD_EXPRESSIONS)]
    assert expressions == [generate_five_field(second) for _ in range(FIVE_FIELD_EXPRESSIONS)]
    assert len(set(expressions)) > FIVE_FIELD_EXPRESSIONS * 0.9
    text = " ".join(expressions)
    for token in ("*/", "-", ",", "/2", "MON", "Jan", "fri", "DEC", " * * * "):
        assert token in text


@pytest.mark.parametrize("zone", ZONES)
def test_five_fields_match_croniter(zone: str) -> None:
    """CronSpec gives croniter's answer outside DST hours (Vixie OR for the day fields)."""
    tally = Tally()
    for expression, after in cases("five", zone):
        ours = cron_spec(expression, zone).next_after(after)
        theirs = croniter_next_cached(expression, zone, after)
        tally.check(zone, expression, after, ours, theirs)
    tally.assert_sound(zone, minimum=2500)


def _celery_reference(entry: crontab, expression: str, zone: str) -> Spec:
    """The spec to hold celery to: CronSpec, or the calendar spec when both days are set.

    celery requires both day fields to match (AND); Vixie cron accepts either (OR). So when
    both are restricted, celery is compared with ``parse_spec(crontab)``, a CalendarSpec.
    """
    _, _, day_of_month, _, day_of_week = expression.split()
    if day_of_month != "*" and day_of_week != "*":
        converted = parse_spec(entry)
        assert isinstance(converted, CalendarSpec), expression
        return converted
    return cron_spec(expression, zone)


@requires_celery(*CELERY_MONTH_NAMES)  # the generated expressions name months
@pytest.mark.parametrize("zone", ZONES)
def test_five_fields_match_celery_crontab(zone: str) -> None:
    """CronSpec (or CalendarSpec for two restricted days) gives celery beat's next run."""
    tally = Tally()
    both_days = 0
    for expression, after in cases("five", zone):
        entry = celery_crontab(expression, zone)
        reference = _celery_reference(entry, expression, zone)
        both_days += isinstance(reference, CalendarSpec)
        theirs = celery_next(entry, after)
        tally.check(zone, expression, after, reference.next_after(after), theirs)
    tally.assert_sound(zone, minimum=2500)
    assert both_days >= 100


@pytest.mark.parametrize("zone", ZONES)
def test_six_fields_match_croniter_seconds_first(zone: str) -> None:
    """Six-field expressions agree with croniter's ``second_at_beginning=True``."""
    tally = Tally()
    for expression, after in cases("six", zone):
        spec = cron_spec(expression, zone)
        assert spec.has_seconds
        theirs = croniter_next_cached(expression, zone, after)
        tally.check(zone, expression, after, spec.next_after(after), theirs)
    tally.assert_sound(zone, minimum=1700)


def test_cached_croniter_is_croniter_from_a_fresh_start() -> None:
    """Resetting a parsed croniter (as the tests above do, for speed) equals a fresh one."""
    rnd = random.Random(f"{SEED}-cache")
    for zone in ZONES:
        for _ in range(60):
            expression = rnd.choice((generate_five_field, generate_six_field))(rnd)
            after = generate_after(rnd, zone)
            fresh = croniter_next(expression, zone, after)
            assert croniter_next_cached(expression, zone, after) == fresh


FULL_DAY_FIELD = {"minute": 0, "hour": 9, "day_of_month": "1-31", "day_of_week": "mon"}


def test_celery_reads_a_full_day_field_as_any_day() -> None:
    """celery ANDs the day fields, so ``1-31`` + ``mon`` is every Monday (the next one below)."""
    entry = crontab(**FULL_DAY_FIELD, app=celery_app("UTC"))
    assert celery_next(entry, utc("2025-01-01 00:00")) == utc("2025-01-06 09:00")


def test_converted_crontab_with_a_full_day_field_keeps_celery_meaning() -> None:
    """parse_spec(crontab) fires when celery does, even if a day field lists every day."""
    entry = crontab(**FULL_DAY_FIELD, app=celery_app("UTC"))
    assert parse_spec(entry).next_after(utc("2025-01-01 00:00")) == utc("2025-01-06 09:00")
