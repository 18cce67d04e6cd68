"""IntervalSpec: duration text, millisecond resolution, start_at anchoring, end_at, errors."""

from __future__ import annotations

import json
import math
from datetime import datetime, timedelta, timezone

import pytest

from celery_stembeat.specs import (
    IntervalSpec,
    SpecError,
    format_duration,
    parse_duration,
    parse_spec,
)
from celery_stembeat.specs.interval import MAX_EVERY

UTC = timezone.utc
T0 = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("30s", 30.0),
        ("5m", 300.0),
        ("1h30m", 5400.0),
        ("1h 30m", 5400.0),
        ("1 h 30 m", 5400.0),
        ("30 s", 30.0),
        ("every:5m", 300.0),
        ("every 5m", 300.0),
        ("EVERY:5M", 300.0),
        ("250ms", 0.25),
        ("1.5s", 1.5),
        ("2d", 172800.0),
        ("1w", 604800.0),
        ("30", 30.0),
        ("1.5", 1.5),
    ],
)
def test_duration_text(text: str, seconds: float) -> None:
    """Every documented shorthand reads as the right number of seconds."""
    spec = parse_spec(text)
    assert isinstance(spec, IntervalSpec)
    assert spec.every == seconds
    assert spec.start_at is None
    assert spec.end_at is None


@pytest.mark.parametrize(
    ("value", "seconds"),
    [(30, 30.0), (1.5, 1.5), (timedelta(minutes=5), 300.0), (timedelta(milliseconds=250), 0.25)],
)
def test_numbers_and_timedelta(value: object, seconds: float) -> None:
    """Bare numbers are seconds; a timedelta is its total seconds; `every` is stored as float."""
    spec = parse_spec(value)
    assert isinstance(spec, IntervalSpec)
    assert spec.every == seconds
    assert isinstance(spec.every, float)


def test_dict_every_may_be_duration_text() -> None:
    """The dict form accepts `every` as text too, and equals the numeric form."""
    assert parse_spec({"type": "interval", "every": "1h30m"}) == IntervalSpec(5400)


def test_millisecond_resolution() -> None:
    """`every` is rounded to whole milliseconds; less than half a millisecond is rejected."""
    assert IntervalSpec(1.0004).every == 1.0
    assert IntervalSpec(1.0004) == IntervalSpec(1)
    assert IntervalSpec(0.001).every == 0.001
    assert IntervalSpec(2.0006).every == 2.001
    with pytest.raises(SpecError) as caught:
        IntervalSpec(0.0004)
    assert caught.value.field == "every"


def test_period_is_whole_milliseconds() -> None:
    """`period` is `every` as an exact timedelta, so k·period has no float error."""
    assert IntervalSpec(0.7).period == timedelta(milliseconds=700)
    assert IntervalSpec(5400).period == timedelta(hours=1, minutes=30)


def test_unanchored_next_is_after_plus_every() -> None:
    """Without start_at the next occurrence is exactly `every` after `after`, to the microsecond."""
    spec = IntervalSpec(0.25)
    after = datetime(2026, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)
    assert spec.next_after(after) == after + timedelta(milliseconds=250)


def test_next_after_returns_utc_for_other_zones() -> None:
    """An aware `after` in another zone gives the same instant, returned in UTC."""
    spec = IntervalSpec(60)
    after = datetime(2026, 3, 1, 21, 0, tzinfo=timezone(timedelta(hours=9)))
    found = spec.next_after(after)
    assert found == datetime(2026, 3, 1, 12, 1, tzinfo=UTC)
    assert found is not None
    assert found.utcoffset() == timedelta(0)


def test_naive_after_is_rejected() -> None:
    """next_after refuses a naive datetime instead of guessing its zone."""
    with pytest.raises(SpecError, match="no time zone"):
        IntervalSpec(30).next_after(datetime(2026, 1, 1))


def test_anchored_occurrences_never_drift() -> None:
    """With start_at, 100k successive occurrences are exactly start_at + k·every."""
    start = datetime(2026, 1, 1, 0, 0, 0, 3000, tzinfo=UTC)
    spec = IntervalSpec(0.7, start_at=start)
    step = timedelta(milliseconds=700)
    current = start - timedelta(seconds=1)
    for k in range(100_000):
        found = spec.next_after(current)
        assert found == start + k * step
        current = found
    assert current == start + timedelta(seconds=69_999.3)


def test_late_runs_do_not_shift_the_grid() -> None:
    """Asking after a late publish (anywhere inside the period) still lands on the grid."""
    spec = IntervalSpec(10, start_at=T0)
    for k in range(1, 200):
        late = T0 + timedelta(seconds=10 * k) + timedelta(milliseconds=37 * k % 10_000)
        assert spec.next_after(late) == T0 + timedelta(seconds=10 * (k + 1))


def test_after_before_start_returns_start() -> None:
    """Any instant before start_at, however far, gives start_at itself."""
    spec = IntervalSpec(30, start_at=T0)
    assert spec.next_after(T0 - timedelta(microseconds=1)) == T0
    assert spec.next_after(T0 - timedelta(days=400)) == T0


def test_after_exactly_on_an_occurrence_returns_the_next() -> None:
    """next_after is strict: on start_at or any later occurrence it moves one step on."""
    spec = IntervalSpec(30, start_at=T0)
    assert spec.next_after(T0) == T0 + timedelta(seconds=30)
    assert spec.next_after(T0 + timedelta(seconds=90)) == T0 + timedelta(seconds=120)
    assert spec.next_after(T0 + timedelta(seconds=89, microseconds=999999)) == T0 + timedelta(
        seconds=90
    )


def test_end_at_is_inclusive() -> None:
    """An occurrence exactly at end_at fires; after it there is none."""
    spec = IntervalSpec(10, start_at=T0, end_at=T0 + timedelta(seconds=30))
    found = list(spec.occurrences(T0 - timedelta(seconds=1), 10))
    assert found == [T0 + timedelta(seconds=s) for s in (0, 10, 20, 30)]
    assert spec.next_after(T0 + timedelta(seconds=30)) is None
    assert spec.next_after(T0 + timedelta(days=1)) is None


def test_end_at_off_grid() -> None:
    """end_at between grid points: the last occurrence is the grid point before it."""
    spec = IntervalSpec(10, start_at=T0, end_at=T0 + timedelta(seconds=25))
    assert spec.next_after(T0 + timedelta(seconds=15)) == T0 + timedelta(seconds=20)
    assert spec.next_after(T0 + timedelta(seconds=20)) is None


def test_end_at_without_start_at() -> None:
    """Unanchored, the end still bounds the next occurrence (inclusive)."""
    end = T0 + timedelta(hours=1)
    spec = IntervalSpec(10, end_at=end)
    assert spec.next_after(end - timedelta(seconds=10)) == end
    assert spec.next_after(end - timedelta(seconds=9)) is None


def test_end_at_equal_to_start_at_is_a_single_occurrence() -> None:
    """start_at == end_at is allowed and fires exactly once."""
    spec = IntervalSpec(10, start_at=T0, end_at=T0)
    assert list(spec.occurrences(T0 - timedelta(days=1), 5)) == [T0]


def test_end_at_before_start_at_is_rejected() -> None:
    """An end before the start is an error naming end_at."""
    with pytest.raises(SpecError) as caught:
        IntervalSpec(10, start_at=T0, end_at=T0 - timedelta(seconds=1))
    assert str(caught.value) == "interval 'end_at': 2025-12-31T23:59:59Z is before 'start_at'"
    assert caught.value.field == "end_at"


def test_start_and_end_accept_iso_text_and_normalise_to_utc() -> None:
    """start_at/end_at may be ISO text with Z or an offset; they are stored as UTC."""
    spec = IntervalSpec(60, start_at="2026-01-01T01:00:00+01:00", end_at="2026-01-02T00:00:00Z")
    assert spec.start_at == T0
    assert spec.start_at.utcoffset() == timedelta(0)
    assert spec.end_at == T0 + timedelta(days=1)
    assert spec == IntervalSpec(60, start_at=T0, end_at=T0 + timedelta(days=1))


def test_naive_start_at_is_rejected() -> None:
    """A start_at without a zone is an error whose message names start_at."""
    with pytest.raises(SpecError, match="start_at"):
        IntervalSpec(60, start_at=datetime(2026, 1, 1))
    with pytest.raises(SpecError, match="start_at"):
        IntervalSpec(60, start_at="2026-01-01T00:00:00")


@pytest.mark.parametrize(
    ("spec", "text"),
    [
        (IntervalSpec(30), "every 30s"),
        (IntervalSpec(5400), "every 1h30m"),
        (IntervalSpec(0.25), "every 250ms"),
        (IntervalSpec(1.5), "every 1.5s"),
        (IntervalSpec(300), "every 5m"),
        (IntervalSpec(86400), "every 1d"),
        (IntervalSpec(5400, start_at=T0), "every 1h30m from 2026-01-01T00:00:00Z"),
        (
            IntervalSpec(30, start_at=T0, end_at=T0 + timedelta(hours=2)),
            "every 30s from 2026-01-01T00:00:00Z until 2026-01-01T02:00:00Z",
        ),
        (IntervalSpec(30, end_at=T0), "every 30s until 2026-01-01T00:00:00Z"),
    ],
)
def test_describe(spec: IntervalSpec, text: str) -> None:
    """describe() uses the compact duration and ISO instants; str() is the same."""
    assert spec.describe() == text
    assert str(spec) == text


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0.001, "1ms"),
        (0.999, "999ms"),
        (1, "1s"),
        (1.5, "1.5s"),
        (60, "1m"),
        (61.25, "1m1.25s"),
        (5400, "1h30m"),
        (86400 + 0.001, "1d0.001s"),
    ],
)
def test_format_duration_uses_ms_only_below_one_second(seconds: float, text: str) -> None:
    """The shortest text that parses back to the same duration."""
    assert format_duration(seconds) == text
    assert parse_duration(text) == pytest.approx(seconds)


def test_dict_form() -> None:
    """to_dict is the documented shape: float seconds and ISO text or null."""
    assert IntervalSpec(30).to_dict() == {
        "type": "interval",
        "every": 30.0,
        "start_at": None,
        "end_at": None,
    }
    spec = IntervalSpec(0.25, start_at=T0 + timedelta(milliseconds=500))
    assert spec.to_dict()["start_at"] == "2026-01-01T00:00:00.500Z"
    assert parse_spec(spec.to_dict()) == spec


@pytest.mark.parametrize(
    ("every", "problem"),
    [
        (0, "0 must be at least 0.001 s"),
        (0.0, "0.0 must be at least 0.001 s"),
        (0.0004, "0.0004 must be at least 0.001 s"),
        (-1, "-1 must be at least 0.001 s"),
        (-0.5, "-0.5 must be at least 0.001 s"),
        (math.nan, "nan is not a finite number"),
        (math.inf, "inf is not a finite number"),
        (-math.inf, "-inf is not a finite number"),
        (True, "True is not a number of seconds"),
        (False, "False is not a number of seconds"),
        (None, "None is not a number of seconds"),
        ("5m", "'5m' is not a number of seconds"),
        ([30], "[30] is not a number of seconds"),
        (10**12, "1000000000000 is more than 100 years (3155760000 s)"),
        (4e9, "4000000000.0 is more than 100 years (3155760000 s)"),
    ],
)
def test_bad_every_is_rejected(every: object, problem: str) -> None:
    """Zero, negative, non-finite, too long, bool and non-numbers are SpecErrors naming
    'every' and quoting the value."""
    with pytest.raises(SpecError) as caught:
        IntervalSpec(every)  # type: ignore[arg-type]
    assert str(caught.value) == f"interval 'every': {problem}"
    assert caught.value.field == "every"
    assert isinstance(caught.value, ValueError)


@pytest.mark.parametrize(
    "text", ["", "   ", "abc", "5x", "-5s", "0s", "1h30", "s", "every:", "nan", "inf"]
)
def test_bad_duration_text_is_rejected(text: str) -> None:
    """Text that is not a positive duration is a SpecError naming 'every'."""
    with pytest.raises(SpecError, match="'every'") as caught:
        parse_spec(text)
    assert caught.value.field == "every"


def test_missing_every_in_dict() -> None:
    """A dict without `every` is an error naming it."""
    with pytest.raises(SpecError, match="'every'") as caught:
        parse_spec({"type": "interval"})
    assert caught.value.field == "every"


def test_specs_are_frozen_values() -> None:
    """Specs are immutable and hashable; equal values are equal and hash alike."""
    spec = IntervalSpec(30, start_at=T0)
    with pytest.raises(AttributeError):
        spec.every = 10  # type: ignore[misc]
    assert spec == IntervalSpec(30.0, start_at="2026-01-01T00:00:00Z")
    assert hash(spec) == hash(IntervalSpec(30.0, start_at="2026-01-01T00:00:00Z"))
    assert spec != IntervalSpec(30)
    assert spec.run_once is False


@pytest.mark.parametrize("text", ["1 30", "1 2 3 4", "every 1 30", "1. 5", "1 .5", "1\t30"])
def test_spaces_between_bare_numbers_are_not_concatenated(text: str) -> None:
    """'1 30' is not a duration (it is not 130 seconds): blanks may only sit next to a unit."""
    with pytest.raises(SpecError, match="space between two numbers") as caught:
        parse_spec(text)
    assert caught.value.field == "every"


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("1_000", "'_' digit separator"),
        ("1_000s", "'_' digit separator"),
        ("nan", "not a finite number"),
        ("NaN", "not a finite number"),
        ("inf", "not a finite number"),
        ("-infinity", "not a finite number"),
        ("1e3", "exponent"),
        ("1.5E+3", "exponent"),
        ("+30", "not a duration"),
        ("-30", "not a duration"),
        (".5", "not a duration"),
        ("5.", "not a duration"),
        ("\u0663\u0660", "not a duration"),  # Arabic-Indic digits: float() reads them, we do not
    ],
)
def test_odd_numerals_are_rejected_with_the_reason(text: str, problem: str) -> None:
    """Durations use plain decimals: separators, nan/inf, exponents and signs are refused."""
    with pytest.raises(SpecError, match=problem) as caught:
        parse_spec(text)
    assert caught.value.field == "every"


def test_a_number_in_exponent_notation_is_still_a_number() -> None:
    """Only duration *text* refuses exponents: a JSON number such as 1e3 is 1000 seconds."""
    assert parse_spec('{"type": "interval", "every": 1e3}') == IntervalSpec(1000)
    assert parse_spec(1e3) == IntervalSpec(1000)


def test_every_beyond_timedelta_range_is_a_spec_error() -> None:
    """An `every` longer than 100 years is rejected when the spec is built, naming 'every'."""
    for too_long, shown in (
        (1e14, "100000000000000.0"),
        (MAX_EVERY + 0.001, "3155760000.001"),
        (10**400, "<integer of 1329 bits>"),
    ):
        with pytest.raises(SpecError) as caught:
            IntervalSpec(too_long)
        assert str(caught.value) == (
            f"interval 'every': {shown} is more than 100 years (3155760000 s)"
        )
        assert caught.value.field == "every"
    assert IntervalSpec(MAX_EVERY).period == timedelta(days=36525)


END_OF_TIME = datetime.max.replace(tzinfo=UTC)


@pytest.mark.parametrize(
    "spec",
    [
        IntervalSpec(30),
        IntervalSpec(MAX_EVERY),
        IntervalSpec(MAX_EVERY, start_at=T0),
        IntervalSpec(0.001, start_at=T0),
    ],
    ids=str,
)
@pytest.mark.parametrize(
    "after",
    [
        END_OF_TIME,
        END_OF_TIME - timedelta(microseconds=1),
        datetime(9999, 12, 31, 20, 0, tzinfo=timezone(timedelta(hours=-5))),  # past max in UTC
    ],
)
def test_no_occurrence_past_the_end_of_datetime(spec: IntervalSpec, after: datetime) -> None:
    """When the next occurrence would pass 9999-12-31, next_after is None, never an error."""
    assert spec.next_after(after) is None


def test_occurrence_just_before_the_end_of_datetime() -> None:
    """An occurrence that still fits in a datetime is found."""
    after = END_OF_TIME - timedelta(seconds=30)
    assert IntervalSpec(30).next_after(after) == END_OF_TIME
    centuries = IntervalSpec(MAX_EVERY, start_at=T0)
    assert centuries.next_after(datetime(9900, 1, 1, tzinfo=UTC)) == T0 + 79 * centuries.period
    assert centuries.next_after(datetime(9990, 1, 1, tzinfo=UTC)) is None


def test_start_and_end_are_truncated_to_whole_milliseconds() -> None:
    """Sub-millisecond parts of start_at/end_at are dropped, so the dict form is exact."""
    spec = IntervalSpec(
        1,
        start_at=T0 + timedelta(microseconds=999),
        end_at=T0 + timedelta(seconds=5, microseconds=123_456),
    )
    assert spec.start_at == T0
    assert spec.end_at == T0 + timedelta(seconds=5, milliseconds=123)
    assert spec == IntervalSpec(1, start_at=T0, end_at=T0 + timedelta(seconds=5, milliseconds=123))
    assert parse_spec(spec.to_dict()) == spec


@pytest.mark.parametrize("name", ["start_at", "end_at"])
@pytest.mark.parametrize(
    ("value", "problem"),
    [
        (datetime(2026, 1, 1), "2026-01-01T00:00:00 has no time zone"),
        ("2026-01-01T00:00:00", "2026-01-01T00:00:00 has no time zone"),
        ("junk", "'junk' is not an ISO 8601 instant"),
        (5, "expected an ISO 8601 instant, got 5"),
    ],
)
def test_bad_instant_error_names_the_field(name: str, value: object, problem: str) -> None:
    """The SpecError for a bad start_at/end_at carries that field's name."""
    with pytest.raises(SpecError) as caught:
        IntervalSpec(30, **{name: value})  # type: ignore[arg-type]
    assert str(caught.value) == f"interval {name!r}: {problem}"
    assert caught.value.field == name


HINT = "(use e.g. 30, 30s, 5m, 1h30m, 250ms)"


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("1 30", "has a space between two numbers"),
        ("1_000s", "has a '_' digit separator"),
        (" NaN ", "is not a finite number"),
        ("Every: -infinity", "is not a finite number"),
        ("1e3", "has an exponent (write the number out)"),
        ("abc", "is not a duration"),
    ],
)
def test_duration_error_message_quotes_the_text_as_written(text: str, problem: str) -> None:
    """The message quotes the text as given (case and blanks kept), the reason and examples."""
    with pytest.raises(SpecError) as caught:
        parse_duration(text)
    assert str(caught.value) == f"interval 'every': {text!r} {problem} {HINT}"
    assert caught.value.field == "every"


def test_dict_errors_are_exact() -> None:
    """A missing `every` and an unknown key are reported word for word, naming the field."""
    with pytest.raises(SpecError) as caught:
        parse_spec({"type": "interval"})
    assert str(caught.value) == "interval 'every': missing"
    with pytest.raises(SpecError) as caught:
        parse_spec({"type": "interval", "every": 30, "foo": 1})
    assert (
        str(caught.value) == "interval: unknown field 'foo' (known: every, start_at, end_at, up_to)"
    )
    assert caught.value.field == "foo"


@pytest.mark.parametrize(
    ("seconds", "text"), [(0.9994, "999ms"), (0.9995, "1s"), (1.0004, "1s"), (1.001, "1.001s")]
)
def test_format_duration_switches_to_seconds_at_one_second(seconds: float, text: str) -> None:
    """Milliseconds are used below 1000 ms after rounding; 1000 ms and more are seconds."""
    assert format_duration(seconds) == text


def test_up_to_makes_a_random_interval_within_its_bounds() -> None:
    """Each gap is between `every` and `up_to` (inclusive), whole ms, and not all alike."""
    spec = IntervalSpec(300, up_to=600)
    gaps = set()
    current = T0
    for found in spec.occurrences(T0, 500):
        gap = found - current
        assert timedelta(seconds=300) <= gap <= timedelta(seconds=600)
        assert gap % timedelta(milliseconds=1) == timedelta(0)
        gaps.add(gap)
        current = found
    assert len(gaps) > 450


def test_a_random_gap_is_a_pure_function_of_the_spec_and_the_instant() -> None:
    """Two specs built apart (as two beats read one from a store) give the same gaps; another
    spec or another millisecond gives other gaps; a sub-millisecond part does not count."""
    first = IntervalSpec(300, up_to=600)
    second = parse_spec(json.dumps(first.to_dict()))
    assert list(first.occurrences(T0, 50)) == list(second.occurrences(T0, 50))
    other = IntervalSpec(300, up_to=601)
    assert list(first.occurrences(T0, 5)) != list(other.occurrences(T0, 5))
    gap = first.next_after(T0) - T0  # type: ignore[operator]
    same_ms = T0 + timedelta(microseconds=999)
    assert first.next_after(same_ms) == same_ms + gap
    assert first.next_after(T0 + timedelta(milliseconds=1)) != T0 + timedelta(milliseconds=1) + gap


def test_random_gaps_are_the_same_in_every_version() -> None:
    """The gaps are fixed values, not just stable within one run: beats of two versions that
    share a store agree on each next run."""
    spec = IntervalSpec(300, up_to=600)
    assert list(spec.occurrences(T0, 3)) == [
        datetime(2026, 1, 1, 0, 7, 57, 573000, tzinfo=UTC),
        datetime(2026, 1, 1, 0, 17, 28, 35000, tzinfo=UTC),
        datetime(2026, 1, 1, 0, 22, 38, 529000, tzinfo=UTC),
    ]


def test_a_random_gap_before_1970_counts_whole_milliseconds_down() -> None:
    """An instant before 1970 falls in the millisecond that starts at or before it."""
    spec = IntervalSpec(300, up_to=600)
    start = datetime(1970, 1, 1, tzinfo=UTC) - timedelta(milliseconds=1)
    inside = start + timedelta(microseconds=500)
    assert spec.next_after(start) == start + timedelta(seconds=388, milliseconds=251)
    assert spec.next_after(inside) == inside + timedelta(seconds=388, milliseconds=251)


def test_a_random_interval_starts_at_start_at_and_stops_at_end_at() -> None:
    """`start_at` is the first occurrence (no grid after it); `end_at` bounds the last."""
    end = T0 + timedelta(hours=1)
    spec = IntervalSpec(60, start_at=T0, end_at=end, up_to=120)
    found = list(spec.occurrences(T0 - timedelta(days=1), 1000))
    assert found[0] == T0
    assert found[-1] <= end
    assert 30 <= len(found) <= 61
    assert spec.next_after(found[-1]) is None


@pytest.mark.parametrize(
    ("up_to", "message"),
    [
        (300, "interval 'up_to': 300 must be more than 'every' (5m)"),
        (299.9999, "interval 'up_to': 299.9999 must be more than 'every' (5m)"),
        (100, "interval 'up_to': 100 must be more than 'every' (5m)"),
        (math.inf, "interval 'up_to': inf is not a finite number"),
        (math.nan, "interval 'up_to': nan is not a finite number"),
        (-1, "interval 'up_to': -1 must be at least 0.001 s"),
        (True, "interval 'up_to': True is not a number of seconds"),
        ([600], "interval 'up_to': [600] is not a number of seconds"),
        (4e9, "interval 'up_to': 4000000000.0 is more than 100 years (3155760000 s)"),
        (10**400, "is more than 100 years"),
        ("ten", "interval 'up_to': 'ten' is not a duration (use e.g. 30, 30s, 5m, 1h30m, 250ms)"),
        ("1e3", "interval 'up_to': '1e3' has an exponent"),
        ("x" * 1_000_000, "interval 'up_to': 'xxxxxxxxxx"),
    ],
)
def test_bad_up_to_is_one_line_naming_it(up_to: object, message: str) -> None:
    with pytest.raises(SpecError) as caught:
        parse_spec({"type": "interval", "every": 300, "up_to": up_to})
    assert message in str(caught.value)
    assert caught.value.field == "up_to"
    assert "\n" not in str(caught.value)
    assert len(str(caught.value)) < 300


def test_up_to_dict_form_and_description() -> None:
    """`up_to` is written only when set; text durations read; described as a range."""
    spec = parse_spec({"type": "interval", "every": "5m", "up_to": "10m"})
    assert spec == IntervalSpec(300, up_to=600)
    assert spec.to_dict() == {
        "type": "interval",
        "every": 300.0,
        "start_at": None,
        "end_at": None,
        "up_to": 600.0,
    }
    assert "up_to" not in IntervalSpec(300).to_dict()
    assert parse_spec({"type": "interval", "every": 300, "up_to": None}) == IntervalSpec(300)
    assert spec.describe() == "every 5-10m"
    assert IntervalSpec(90, up_to=300).describe() == "every 1m30s-5m"
    assert IntervalSpec(0.5, up_to=0.75, start_at=T0).describe() == (
        "every 500-750ms from 2026-01-01T00:00:00Z"
    )
    assert IntervalSpec(300, up_to=600.0004) == spec
    assert hash(IntervalSpec(300, up_to=600)) != hash(IntervalSpec(300))


def test_a_random_interval_on_its_start_moves_on() -> None:
    """next_after is strict for a random interval too: on start_at it draws the next gap."""
    spec = IntervalSpec(60, start_at=T0, up_to=120)
    assert spec.next_after(T0 - timedelta(microseconds=1)) == T0
    found = spec.next_after(T0)
    assert found is not None
    assert T0 + timedelta(seconds=60) <= found <= T0 + timedelta(seconds=120)
