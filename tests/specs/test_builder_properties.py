"""Property tests of ``every()``: each phrase is ``parse_spec`` of its dict, and a random
interval's gaps stay within its bounds and are the same however often they are computed."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from hypothesis import given, reject
from hypothesis import strategies as st

from celery_stembeat import every
from celery_stembeat.specs import IntervalSpec, Spec, SpecError, parse_spec
from tests.specs.test_properties import PROPERTY, UTC, ZONES, afters, instants

UNITS = ("seconds", "minutes", "hours", "days", "weeks")
DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday", "weekday")
#: The steps ``.at()`` takes: those that divide the unit above.
AT_STEPS = {"minutes": (1, 2, 3, 5, 10, 15, 30), "hours": (1, 2, 3, 4, 6, 8, 12)}


@st.composite
def clock_texts(draw: st.DrawFn, unit: str) -> str:
    """An ``.at()`` text for ``unit`` (days and day words take hours)."""
    minute, second = draw(st.integers(0, 59)), draw(st.integers(0, 59))
    if unit == "minutes":
        return f":{second:02d}"
    if unit == "hours":
        return draw(st.sampled_from([f":{minute:02d}", f"{minute:02d}:{second:02d}"]))
    hour = draw(st.integers(0, 23))
    return draw(st.sampled_from([f"{hour:02d}:{minute:02d}", f"{hour}:{minute:02d}:{second:02d}"]))


@st.composite
def phrases(draw: st.DrawFn) -> Any:
    """Any phrase the builder accepts: intervals (random or bounded too) and cron phrases."""
    kind = draw(st.sampled_from(["interval", "at", "day"]))
    zone = draw(st.sampled_from(ZONES))
    if kind == "day":
        day = getattr(every(), draw(st.sampled_from(DAYS)))
        return day.at(draw(clock_texts("days")), tz=zone) if draw(st.booleans()) else day
    if kind == "at":
        unit = draw(st.sampled_from(["minutes", "hours", "days"]))
        step = draw(st.sampled_from(AT_STEPS.get(unit, (1,))))
        return getattr(every(step), unit).at(draw(clock_texts(unit)), tz=zone)
    count = draw(st.one_of(st.integers(1, 1000), st.floats(0.01, 500).map(lambda v: round(v, 2))))
    start = every(count)
    if draw(st.booleans()):
        start = start.to(count + draw(st.integers(1, 1000)))
    try:
        phrase = getattr(start, draw(st.sampled_from(UNITS)))
    except SpecError:
        reject()  # shorter than a millisecond, or longer than 100 years
    if draw(st.booleans()):
        phrase = phrase.starting(draw(instants))
    if draw(st.booleans()):
        begin = phrase.start_at or draw(instants)
        phrase = phrase.until(begin + timedelta(seconds=draw(st.integers(0, 10**8))))
    return phrase


@PROPERTY
@given(phrase=phrases(), after=afters)
def test_a_phrase_is_parse_spec_of_its_dict(phrase: Spec, after: datetime) -> None:
    """Equal to parse_spec of its dict (and of that dict's JSON text), with the same dict and
    the same occurrences."""
    data = phrase.to_dict()
    for plain in (parse_spec(data), parse_spec(json.dumps(data))):
        assert plain == phrase
        assert plain.to_dict() == data
        assert hash(plain) == hash(phrase)
        assert list(plain.occurrences(after, 5)) == list(phrase.occurrences(after, 5))


@st.composite
def random_intervals(draw: st.DrawFn) -> IntervalSpec:
    """Random intervals from 1 ms to about 12 days, with a spread of 1 ms up to 10⁹ ms."""
    every_ms = draw(st.one_of(st.integers(1, 1000), st.integers(1, 10**9)))
    spread_ms = draw(st.one_of(st.integers(1, 1000), st.integers(1, 10**9)))
    start = draw(st.one_of(st.none(), instants))
    return IntervalSpec(every_ms / 1000, start_at=start, up_to=(every_ms + spread_ms) / 1000)


@PROPERTY
@given(spec=random_intervals(), after=afters)
def test_random_gaps_stay_in_bounds_and_repeat(spec: IntervalSpec, after: datetime) -> None:
    """Each occurrence is every..up_to after the previous one (start_at first, when later),
    and a second evaluation, also of the spec read back from JSON, gives the same ones."""
    assert spec.up_to is not None
    low, high = timedelta(seconds=spec.every), timedelta(seconds=spec.up_to)
    found = list(spec.occurrences(after, 8))
    assert len(found) == 8
    previous = after.astimezone(UTC)
    for occurrence in found:
        if spec.start_at is not None and previous < spec.start_at:
            assert occurrence == spec.start_at
        else:
            assert low <= occurrence - previous <= high
        previous = occurrence
    assert list(spec.occurrences(after, 8)) == found
    assert list(parse_spec(json.dumps(spec.to_dict())).occurrences(after, 8)) == found
