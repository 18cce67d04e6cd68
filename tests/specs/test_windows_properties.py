"""Blackout windows against a brute-force oracle: the inner spec's occurrences, one by one,
filtered by rules read straight from their dict form, in zones with DST."""

from __future__ import annotations

import json
import pickle
from datetime import date, datetime, time, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

from hypothesis import given, reject, settings
from hypothesis import strategies as st

from celery_stembeat.specs import (
    Spec,
    SpecError,
    WindowedSpec,
    parse_spec,
    spec_zone,
)
from celery_stembeat.specs.solar import EVENTS, SolarSpec
from tests.specs.test_properties import ZONES, afters, calendars, clockeds, crons, intervals

UTC = timezone.utc
#: Fixed seeds, as the other property tests; fewer examples, as each walks years of rules.
PROPERTY = settings(max_examples=75, deadline=None, derandomize=True, database=None)
#: How many inner occurrences the oracle examines before it stops looking.
ORACLE_STEPS = 1000
#: Times of day around DST changes (01:00-03:00 local in most zones) and midnight.
TIMES = ["00:00", "00:30", "01:00", "01:30", "02:00", "02:30", "03:00", "09:00", "17:30", "22:00"]


def _zone(name: str) -> ZoneInfo | timezone:
    return UTC if name == "UTC" else ZoneInfo(name)


def _day_matches(rule: str | dict[str, Any], day: date) -> bool:
    if isinstance(rule, str):
        return day == date.fromisoformat(rule)
    if "dates" in rule:
        return day.isoformat() in rule["dates"]
    weekday = (day.weekday() + 1) % 7  # 0 = Sunday, as cron counts
    return (
        day.month in rule.get("months", [day.month])
        and day.day in rule.get("monthdays", [day.day])
        and weekday in [day % 7 for day in rule.get("weekdays", [weekday])]
    )


def _clock(text: str) -> time | None:
    """A ``between`` bound; ``None`` for ``24:00``, the end of the day."""
    return None if text == "24:00" else time.fromisoformat(text)


def covered(rule: str | dict[str, Any], instant: datetime, default_zone: str) -> bool:
    """Whether ``rule`` covers ``instant``: its local wall time, read in the rule's zone."""
    zone_name = rule.get("timezone", default_zone) if isinstance(rule, dict) else default_zone
    local = instant.astimezone(_zone(zone_name))
    day, wall = local.date(), local.time().replace(tzinfo=None)
    if isinstance(rule, dict) and "between" in rule:
        start, end = (_clock(text) for text in rule["between"])
        assert start is not None
        before_end = end is None or wall < end
        if end is None or start < end:
            return _day_matches(rule, day) and start <= wall and before_end
        yesterday = day - timedelta(days=1)
        return (_day_matches(rule, day) and wall >= start) or (
            _day_matches(rule, yesterday) and before_end
        )
    if isinstance(rule, dict) and "hours" in rule:
        return _day_matches(rule, day) and local.hour in rule["hours"]
    return _day_matches(rule, day)


def allowed(data: dict[str, Any], instant: datetime, zone: str) -> bool:
    """The rules of a windowed spec's dict form, applied to one occurrence."""
    if any(covered(rule, instant, zone) for rule in data.get("except", [])):
        return False
    only = data.get("only")
    return not only or any(covered(rule, instant, zone) for rule in only)


def oracle(spec: WindowedSpec, after: datetime) -> tuple[datetime | None, datetime | None]:
    """(the first allowed inner occurrence, or ``None``; the last one examined)."""
    data, zone = spec.to_dict(), spec_zone(spec)
    last = None
    for found in spec.inner.occurrences(after, ORACLE_STEPS):
        if allowed(data, found, zone):
            return found, found
        last = found
    return None, last


def _near_dates(after: datetime) -> st.SearchStrategy[list[str]]:
    start = after.date()
    return st.lists(
        st.integers(-1, 10).map(lambda days: (start + timedelta(days=days)).isoformat()),
        min_size=1,
        max_size=4,
    )


@st.composite
def rules(draw: st.DrawFn, after: datetime, only: bool = False) -> str | dict[str, Any]:
    """A bare date, or a rule object with a day part, a time part and maybe a zone (an
    ``only`` rule seldom names dates, which would leave little to allow)."""
    if not only and draw(st.integers(0, 5)) == 0:
        return draw(_near_dates(after))[0]
    rule: dict[str, Any] = {}
    day_parts = ["none", "filters", "filters", "none"] + ([] if only else ["dates"])
    day_part = draw(st.sampled_from(day_parts))
    if day_part == "filters":
        for name, values in (("months", (1, 12)), ("weekdays", (0, 7)), ("monthdays", (1, 31))):
            if draw(st.booleans()):
                rule[name] = draw(st.lists(st.integers(*values), min_size=1, max_size=5))
    elif day_part == "dates":
        rule["dates"] = draw(_near_dates(after))
    time_part = draw(st.sampled_from(["day", "hours", "between"]))
    if time_part == "hours":
        rule["hours"] = draw(st.lists(st.integers(0, 23), min_size=1, max_size=8))
    elif time_part == "between" or not rule:
        start = draw(st.sampled_from(TIMES))
        end = draw(st.sampled_from([*TIMES, "24:00"]).filter(lambda end: end != start))
        rule["between"] = [start, end]
    if draw(st.booleans()):
        rule["timezone"] = draw(st.sampled_from(ZONES))
    return rule


#: Solar events away from the poles (where a search for the next one walks a year of days).
solars = st.builds(
    SolarSpec,
    event=st.sampled_from(EVENTS),
    latitude=st.floats(-60, 60),
    longitude=st.floats(-180, 180),
    offset=st.integers(-7200, 7200),
)
#: Inner specs whose occurrences come at most a few thousand a day, so the oracle sees far.
inner_specs = st.one_of(
    crons(),
    calendars(),
    intervals().filter(lambda spec: spec.every >= 60),
    solars,
    crons(),
    calendars(),
    clockeds,
)


@st.composite
def windowed(draw: st.DrawFn, after: datetime) -> WindowedSpec:
    data = draw(inner_specs).to_dict()
    lists = draw(st.sampled_from([("except",), ("only",), ("except", "only")]))
    for name in lists:
        data[name] = draw(st.lists(rules(after, name == "only"), min_size=1, max_size=3))
    try:
        spec = parse_spec(data)
    except SpecError:
        reject()
    assert isinstance(spec, WindowedSpec)
    return spec


@st.composite
def cases(draw: st.DrawFn) -> tuple[WindowedSpec, datetime]:
    after = draw(afters)
    return draw(windowed(after)), after


def check_against_oracle(spec: WindowedSpec, after: datetime) -> None:
    """``next_after`` is the first inner occurrence the oracle allows."""
    expected, last = oracle(spec, after)
    found = spec.next_after(after)
    if expected is not None or last is None:
        assert found == expected, spec.describe()
    else:  # the oracle gave up: the answer lies past what it examined, or there is none
        assert found is None or found > last, spec.describe()


@PROPERTY
@given(case=cases())
def test_next_after_is_the_first_allowed_inner_occurrence(
    case: tuple[WindowedSpec, datetime],
) -> None:
    check_against_oracle(*case)


@PROPERTY
@given(case=cases())
def test_successive_occurrences_are_each_allowed(case: tuple[WindowedSpec, datetime]) -> None:
    spec, after = case
    data, zone = spec.to_dict(), spec_zone(spec)
    previous = after
    for found in spec.occurrences(after, 4):
        assert found > previous
        assert found.tzinfo == UTC
        assert allowed(data, found, zone), (spec.describe(), found)
        previous = found


@PROPERTY
@given(case=cases())
def test_dict_json_round_trip(case: tuple[WindowedSpec, datetime]) -> None:
    spec: Spec = case[0]
    text = json.dumps(spec.to_dict())
    assert parse_spec(json.loads(text)) == spec
    assert parse_spec(text) == spec
    assert pickle.loads(pickle.dumps(spec)) == spec
    assert parse_spec(spec.to_dict()).describe() == spec.describe()


@st.composite
def dense_cases(draw: st.DrawFn) -> tuple[WindowedSpec, datetime]:
    """Frequent inner occurrences and rules that cover much of each day: most searches skip."""
    after = draw(afters)
    zone = draw(st.sampled_from(ZONES))
    if draw(st.booleans()):
        minute, step = draw(st.integers(0, 59)), draw(st.integers(1, 6))
        data: dict[str, Any] = {
            "type": "cron",
            "expression": f"{minute} */{step} * * *",
            "timezone": zone,
        }
    else:
        data = draw(intervals().filter(lambda spec: 600 <= spec.every <= 7200)).to_dict()
    rule = st.one_of(
        st.fixed_dictionaries({"hours": st.lists(st.integers(0, 23), min_size=4, max_size=16)}),
        st.fixed_dictionaries(
            {"between": st.tuples(st.sampled_from(TIMES), st.sampled_from(TIMES)).map(list)}
        ),
        st.fixed_dictionaries({"weekdays": st.lists(st.integers(0, 6), min_size=1, max_size=3)}),
    ).map(lambda item: {**item, "timezone": zone} if zone != "UTC" else item)
    data["except"] = draw(st.lists(rule, min_size=1, max_size=3))
    if draw(st.booleans()):
        data["only"] = [{"weekdays": ["mon-fri"], "between": ["06:00", "23:00"]}]
    try:
        spec = parse_spec(data)
    except SpecError:
        reject()
    assert isinstance(spec, WindowedSpec)
    return spec, after


@PROPERTY
@given(case=dense_cases())
def test_dense_rules_skip_as_the_oracle_does(case: tuple[WindowedSpec, datetime]) -> None:
    check_against_oracle(*case)
