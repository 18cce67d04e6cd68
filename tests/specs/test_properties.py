"""Property tests over every spec kind: ordered UTC occurrences, round trips, filters hold."""

from __future__ import annotations

import json
import pickle
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from hypothesis import given, reject, settings
from hypothesis import strategies as st

from celery_stembeat.specs import (
    CalendarSpec,
    ClockedSpec,
    CronSpec,
    IntervalSpec,
    SolarSpec,
    Spec,
    SpecError,
    parse_spec,
)
from celery_stembeat.specs.solar import EVENTS

UTC = timezone.utc
#: Fixed seeds keep the suite deterministic; the examples still cover every kind widely.
PROPERTY = settings(max_examples=150, deadline=None, derandomize=True, database=None)
ZONES = [
    "UTC",
    "America/New_York",
    "Europe/London",
    "Australia/Lord_Howe",
    "America/Santiago",
    "Pacific/Chatham",
    "Asia/Kolkata",
]


#: Instants to the microsecond, in UTC, 1990-2090 (specs keep whole milliseconds of them).
instants = st.datetimes(
    min_value=datetime(1990, 1, 1), max_value=datetime(2090, 1, 1), timezones=st.just(UTC)
)

#: Any aware instant 2000-2060, in UTC or an IANA zone, to the microsecond.
afters = st.datetimes(
    min_value=datetime(2000, 1, 1),
    max_value=datetime(2060, 1, 1),
    timezones=st.sampled_from([UTC, *(ZoneInfo(name) for name in ZONES[1:])]),
)


@st.composite
def intervals(draw: st.DrawFn, anchored: bool | None = None) -> IntervalSpec:
    """Interval specs from 1 ms to ~28 h, optionally anchored and bounded."""
    every_ms = draw(st.one_of(st.integers(1, 1000), st.integers(1, 100_000_000)))
    start = draw(instants) if (anchored or (anchored is None and draw(st.booleans()))) else None
    end = None
    if draw(st.booleans()):
        base = start if start is not None else draw(instants)
        end = base + timedelta(milliseconds=draw(st.integers(0, 10**11)))
    return IntervalSpec(every_ms / 1000, start_at=start, end_at=end)


@st.composite
def crons(draw: st.DrawFn) -> CronSpec:
    """Cron specs built field by field, with and without seconds, in zones with DST."""
    fields = [
        draw(st.sampled_from(["*", "*/7", "0", "5,35", "0-10", "59"])),
        draw(st.sampled_from(["*", "*/3", "9", "1-3", "2", "0,12", "23"])),
        draw(st.sampled_from(["*", "1", "15", "L", "1-7", "31"])),
        draw(st.sampled_from(["*", "1-6", "*/4", "3,10", "2"])),
        draw(st.sampled_from(["*", "1-5", "0", "6,0", "7", "FRI#2"])),
    ]
    if draw(st.booleans()):
        fields.insert(0, draw(st.sampled_from(["0", "*/15", "30", "*"])))
    try:
        return CronSpec(" ".join(fields), draw(st.sampled_from(ZONES)))
    except SpecError:
        reject()


solars = st.builds(
    SolarSpec,
    event=st.sampled_from(EVENTS),
    latitude=st.floats(-89.9, 89.9),
    longitude=st.floats(-180, 180),
    offset=st.integers(-7200, 7200),
)

clockeds = st.builds(ClockedSpec, at=instants)


@st.composite
def calendars(draw: st.DrawFn) -> CalendarSpec:
    """Calendar specs with random filters (impossible dates are skipped) in zones with DST."""
    try:
        return CalendarSpec(
            months=draw(st.lists(st.integers(1, 12), max_size=4)),
            weekdays=draw(st.lists(st.integers(0, 7), max_size=3)),
            monthdays=draw(st.lists(st.integers(1, 31), max_size=4)),
            hours=draw(st.lists(st.integers(0, 23), max_size=3)),
            minutes=draw(st.lists(st.integers(0, 59), max_size=3)),
            timezone=draw(st.sampled_from(ZONES)),
        )
    except SpecError:
        reject()


any_spec = st.one_of(intervals(), crons(), solars, clockeds, calendars())


def is_utc(value: datetime) -> bool:
    return value.tzinfo is UTC or value.tzinfo == UTC


def assert_none_missing(spec: Spec, after: datetime, found: list[datetime], asked: int) -> None:
    """A spec without an end gives every occurrence asked for; one with an end stops only
    where its next occurrence would pass it."""
    if isinstance(spec, ClockedSpec):
        assert len(found) == (1 if spec.at > after else 0)
    elif isinstance(spec, IntervalSpec) and spec.end_at is not None and len(found) < asked:
        last = found[-1] if found else after.astimezone(UTC)
        assert last + spec.period > spec.end_at
    else:
        assert len(found) == asked, spec


@PROPERTY
@given(spec=any_spec, after=afters)
def test_occurrences_strictly_increase_in_utc(spec: Spec, after: datetime) -> None:
    """Each occurrence is after the previous (and after `after`), aware, and in UTC."""
    occurrences = list(spec.occurrences(after, 6))
    assert_none_missing(spec, after, occurrences, 6)
    previous = after
    for found in occurrences:
        assert is_utc(found), found
        assert found > previous
        previous = found


@PROPERTY
@given(spec=any_spec, after=afters)
def test_no_occurrence_is_skipped(spec: Spec, after: datetime) -> None:
    """Asking just before an occurrence gives that occurrence back (grid-bound kinds)."""
    if isinstance(spec, IntervalSpec) and spec.start_at is None:
        return  # unanchored: the next is `every` after whatever instant is asked
    occurrences = list(spec.occurrences(after, 4))
    assert_none_missing(spec, after, occurrences, 4)
    for found in occurrences:
        assert spec.next_after(found - timedelta(microseconds=1)) == found


@PROPERTY
@given(spec=any_spec)
def test_dict_json_round_trip(spec: Spec) -> None:
    """to_dict → JSON text → parse_spec gives an equal spec, also via pickle."""
    text = json.dumps(spec.to_dict())
    assert parse_spec(json.loads(text)) == spec
    assert parse_spec(text) == spec
    assert pickle.loads(pickle.dumps(spec)) == spec


@PROPERTY
@given(spec=intervals(anchored=True), after=afters)
def test_interval_is_anchored(spec: IntervalSpec, after: datetime) -> None:
    """next_after(x) is start_at + k·every, at most one period after x (or start_at itself)."""
    assert spec.start_at is not None
    after = after.astimezone(UTC)  # instant arithmetic, not wall-clock arithmetic
    found = spec.next_after(after)
    if found is None:
        assert spec.end_at is not None
        assert spec.end_at < after + spec.period
        return
    assert (found - spec.start_at) % spec.period == timedelta(0)
    assert found > after
    if after >= spec.start_at:
        assert found - after <= spec.period
    else:
        assert found == spec.start_at
    assert spec.end_at is None or found <= spec.end_at


@PROPERTY
@given(spec=intervals(anchored=False), after=afters)
def test_unanchored_interval_is_one_period_later(spec: IntervalSpec, after: datetime) -> None:
    """Without start_at, next_after(x) is x + every unless that passes end_at."""
    after = after.astimezone(UTC)  # instant arithmetic, not wall-clock arithmetic
    found = spec.next_after(after)
    if spec.end_at is not None and after + spec.period > spec.end_at:
        assert found is None
    else:
        assert found == after + spec.period


def in_spring_gap(instant: datetime, zone: ZoneInfo) -> bool:
    """Whether ``instant`` is the end of a forward jump (a DST gap) in ``zone``."""
    before = (instant - timedelta(microseconds=1)).astimezone(zone).utcoffset()
    after = instant.astimezone(zone).utcoffset()
    return before is not None and after is not None and after > before


@PROPERTY
@given(spec=calendars(), after=afters)
def test_calendar_occurrences_pass_every_filter(spec: CalendarSpec, after: datetime) -> None:
    """In the spec's zone, every occurrence is on a whole minute that passes each filter.

    The one documented exception: with `hours` given, a time inside a spring-forward gap fires
    at the end of the gap, whose wall clock is past the filtered hour and minute.
    """
    zone = ZoneInfo(spec.timezone) if spec.timezone != "UTC" else ZoneInfo("UTC")
    occurrences = list(spec.occurrences(after, 5))
    assert len(occurrences) == 5  # every calendar accepted names dates that exist
    for found in occurrences:
        local = found.astimezone(zone)
        assert (local.second, local.microsecond) == (0, 0)
        assert not spec.months or local.month in spec.months
        assert not spec.monthdays or local.day in spec.monthdays
        assert not spec.weekdays or local.isoweekday() % 7 in spec.weekdays
        time_matches = (not spec.hours or local.hour in spec.hours) and (
            not spec.minutes or local.minute in spec.minutes
        )
        assert time_matches or (spec.hours and in_spring_gap(found, zone)), local
