"""parse_spec: every accepted form, every error path, the timezone keyword, and round trips."""

from __future__ import annotations

import json
import pickle
from datetime import datetime, timedelta, timezone

import pytest
from celery import Celery
from celery.schedules import crontab, schedule, solar

from celery_stembeat.specs import (
    CalendarSpec,
    ClockedSpec,
    CronSpec,
    IntervalSpec,
    SolarSpec,
    Spec,
    SpecError,
    parse_spec,
    to_celery,
)

UTC = timezone.utc
T0 = datetime(2026, 1, 1, tzinfo=UTC)

#: One or more specs of every kind, from the plainest to every field set.
SPECS: list[Spec] = [
    IntervalSpec(30),
    IntervalSpec(0.25),
    IntervalSpec(5400, start_at=T0, end_at=T0 + timedelta(days=7)),
    IntervalSpec(1.5, start_at=T0 + timedelta(milliseconds=123)),
    CronSpec("*/5 * * * *"),
    CronSpec("0 9 * * 1-5", "Europe/London"),
    CronSpec("*/10 * * * * *", "Asia/Tokyo"),
    CronSpec("@daily", "America/New_York"),
    SolarSpec("sunrise", 40.71, -74.01),
    SolarSpec("dusk_nautical", -33.8688, 151.2093, offset=-900),
    ClockedSpec(T0),
    ClockedSpec(T0 + timedelta(milliseconds=5)),
    CalendarSpec(),
    CalendarSpec(
        weekdays=["mon"], monthdays=["1-7"], hours=[9], minutes=[0], timezone="America/New_York"
    ),
    CalendarSpec(months=[1, 12], weekdays=[0, 6], timezone="Europe/London"),
]
SPEC_IDS = [spec.describe() for spec in SPECS]


@pytest.mark.parametrize("spec", SPECS, ids=SPEC_IDS)
def test_spec_objects_pass_through(spec: Spec) -> None:
    """A Spec is returned as it is, even with a timezone keyword."""
    assert parse_spec(spec) is spec
    assert parse_spec(spec, timezone="Asia/Tokyo") is spec


@pytest.mark.parametrize("spec", SPECS, ids=SPEC_IDS)
def test_dict_round_trip(spec: Spec) -> None:
    """parse_spec(spec.to_dict()) == spec, and the dict names its type."""
    data = spec.to_dict()
    assert data["type"] == spec.kind
    rebuilt = parse_spec(data)
    assert type(rebuilt) is type(spec)
    assert rebuilt == spec
    assert hash(rebuilt) == hash(spec)


@pytest.mark.parametrize("spec", SPECS, ids=SPEC_IDS)
def test_json_round_trip(spec: Spec) -> None:
    """to_dict is JSON-able, and both the JSON text and the decoded dict parse back."""
    text = json.dumps(spec.to_dict())
    assert parse_spec(text) == spec
    assert parse_spec(json.loads(text)) == spec
    assert parse_spec("  \n" + text + "\n") == spec


@pytest.mark.parametrize("spec", SPECS, ids=SPEC_IDS)
def test_pickle_round_trip(spec: Spec) -> None:
    """Pickling gives an equal spec that computes the same occurrences."""
    restored = pickle.loads(pickle.dumps(spec))
    assert restored == spec
    after = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
    assert list(restored.occurrences(after, 3)) == list(spec.occurrences(after, 3))


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"type": "interval", "every": 30}, IntervalSpec(30)),
        ({"type": "interval", "every": "5m", "start_at": None}, IntervalSpec(300)),
        (
            {"type": "interval", "every": 30.0, "start_at": "2026-01-01T00:00:00Z"},
            IntervalSpec(30, start_at=T0),
        ),
        ({"type": "cron", "expression": "0 9 * * 1-5"}, CronSpec("0 9 * * 1-5", "UTC")),
        (
            {"type": "cron", "expression": "0 9 * * 1-5", "timezone": "Europe/London"},
            CronSpec("0 9 * * 1-5", "Europe/London"),
        ),
        (
            {"type": "solar", "event": "sunrise", "latitude": 40.71, "longitude": -74.01},
            SolarSpec("sunrise", 40.71, -74.01, 0),
        ),
        ({"type": "clocked", "at": "2026-01-01T00:00:00Z"}, ClockedSpec(T0)),
        ({"type": "calendar", "hours": [9]}, CalendarSpec(hours=[9])),
    ],
)
def test_documented_dict_forms(data: dict[str, object], expected: Spec) -> None:
    """Each documented dict form, with optional keys left out, reads as the expected spec."""
    assert parse_spec(data) == expected
    assert parse_spec(json.dumps(data)) == expected


@pytest.mark.parametrize(
    ("text", "expression"),
    [
        ("*/5 * * * *", "*/5 * * * *"),
        ("0 9 * * 1-5", "0 9 * * 1-5"),
        ("  0   9 * *   MON-FRI ", "0 9 * * MON-FRI"),
        ("0 0 L * *", "0 0 L * *"),
    ],
)
def test_five_field_cron_text(text: str, expression: str) -> None:
    """Five fields read as a cron spec in UTC, whitespace normalised."""
    spec = parse_spec(text)
    assert isinstance(spec, CronSpec)
    assert spec.expression == expression
    assert spec.timezone == "UTC"
    assert not spec.has_seconds


def test_six_field_cron_text_has_leading_seconds() -> None:
    """Six fields have a leading seconds field: */10 fires every ten seconds."""
    spec = parse_spec("*/10 * * * * *")
    assert isinstance(spec, CronSpec)
    assert spec.has_seconds
    start = datetime(2026, 1, 1, 0, 0, 3, tzinfo=UTC)
    assert list(spec.occurrences(start, 3)) == [
        datetime(2026, 1, 1, 0, 0, s, tzinfo=UTC) for s in (10, 20, 30)
    ]


@pytest.mark.parametrize(
    ("macro", "first"),
    [
        ("@yearly", datetime(2027, 1, 1, tzinfo=UTC)),
        ("@annually", datetime(2027, 1, 1, tzinfo=UTC)),
        ("@monthly", datetime(2026, 4, 1, tzinfo=UTC)),
        ("@weekly", datetime(2026, 3, 22, tzinfo=UTC)),
        ("@daily", datetime(2026, 3, 18, tzinfo=UTC)),
        ("@midnight", datetime(2026, 3, 18, tzinfo=UTC)),
        ("@hourly", datetime(2026, 3, 17, 13, 0, tzinfo=UTC)),
    ],
)
def test_cron_macros(macro: str, first: datetime) -> None:
    """Every @macro reads as a cron spec with its documented meaning."""
    spec = parse_spec(macro)
    assert isinstance(spec, CronSpec)
    assert spec.next_after(datetime(2026, 3, 17, 12, 30, tzinfo=UTC)) == first


@pytest.mark.parametrize(
    ("value", "every"),
    [
        ("30s", 30.0),
        ("5m", 300.0),
        ("every:5m", 300.0),
        ("1h30m", 5400.0),
        ("250ms", 0.25),
        ("45", 45.0),
        (45, 45.0),
        (0.5, 0.5),
        (timedelta(hours=1), 3600.0),
    ],
)
def test_interval_forms(value: object, every: float) -> None:
    """Interval text, numbers and timedeltas read as an unanchored IntervalSpec."""
    assert parse_spec(value) == IntervalSpec(every)


def test_celery_objects() -> None:
    """celery's schedule, crontab and solar, and our own wrapper, read as specs."""
    app = Celery(set_as_current=False)
    assert parse_spec(schedule(timedelta(seconds=90), app=app)) == IntervalSpec(90)
    assert parse_spec(crontab(minute=0, hour=9, app=app)) == CronSpec("0 9 * * *")
    assert parse_spec(solar("sunset", 51.5, -0.12, app=app)) == SolarSpec("sunset", 51.5, -0.12)
    spec = CronSpec("0 9 * * *", "Europe/London")
    assert parse_spec(to_celery(spec)) is spec


@pytest.mark.parametrize("kind", ["bogus", "Interval", "", None, 3])
def test_unknown_type(kind: object) -> None:
    """A dict whose type is not a known kind is an error listing the kinds."""
    with pytest.raises(
        SpecError, match="is not one of interval, cron, solar, clocked, calendar"
    ) as caught:
        parse_spec({"type": kind, "every": 30})
    assert caught.value.field == "type"


def test_missing_type() -> None:
    """A dict without `type` is an error naming it, even when the rest looks like a spec."""
    with pytest.raises(SpecError, match="'type'") as caught:
        parse_spec({"every": 30})
    assert caught.value.field == "type"


@pytest.mark.parametrize(
    "text", ['{"type": "interval", "every": }', '{"type":', "{", "{'type': 'interval'}"]
)
def test_malformed_json(text: str) -> None:
    """Broken JSON text is a SpecError that says JSON and where."""
    with pytest.raises(SpecError, match=r"JSON.*line 1 column \d+"):
        parse_spec(text)


@pytest.mark.parametrize(
    ("value", "type_name"),
    [
        ([30], "list"),
        ([{"type": "interval", "every": 30}], "list"),
        ((1, 2), "tuple"),
        (None, "NoneType"),
        (True, "bool"),
        (False, "bool"),
        (b"30s", "bytes"),
        (object(), "object"),
    ],
)
def test_unreadable_objects(value: object, type_name: str) -> None:
    """Anything that is no schedule is a SpecError naming its type; bools are not numbers."""
    with pytest.raises(SpecError, match=f"cannot read a schedule from {type_name}"):
        parse_spec(value)


def test_unreadable_object_is_quoted_after_its_type() -> None:
    with pytest.raises(SpecError) as raised:
        parse_spec((1, 2))
    assert str(raised.value) == "spec: cannot read a schedule from tuple (1, 2)"


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ("@reboot", "expression"),
        ("1 2 3 4 5 6 7", "expression"),
        ("60 * * * *", "minute"),
        ("* 24 * * *", "hour"),
        ("soon", "every"),
        ("", "every"),
    ],
)
def test_bad_text(text: str, field: str) -> None:
    """Text that is neither cron nor a duration is a SpecError naming the field at fault."""
    with pytest.raises(SpecError) as caught:
        parse_spec(text)
    assert caught.value.field == field


def test_spec_error_is_a_value_error() -> None:
    """Callers may catch ValueError."""
    with pytest.raises(ValueError, match="not one of"):
        parse_spec({"type": "nope"})


@pytest.mark.parametrize(
    "value",
    [
        "0 9 * * *",
        "@daily",
        {"type": "cron", "expression": "0 9 * * *"},
        {"type": "cron", "expression": "0 9 * * *", "timezone": None},
        {"type": "cron", "expression": "0 9 * * *", "timezone": ""},
        '{"type": "cron", "expression": "0 9 * * *"}',
    ],
)
def test_timezone_keyword_applies_to_cron_without_a_zone(value: object) -> None:
    """timezone= is the zone of cron text and of cron dicts that name none."""
    spec = parse_spec(value, timezone="Europe/Paris")
    assert isinstance(spec, CronSpec)
    assert spec.timezone == "Europe/Paris"
    assert parse_spec(value).timezone == "UTC"  # type: ignore[attr-defined]


def test_timezone_keyword_applies_to_calendar_without_a_zone() -> None:
    """timezone= is the zone of a calendar dict that names none: 09:00 Paris is 08:00Z."""
    spec = parse_spec({"type": "calendar", "hours": [9], "minutes": [0]}, timezone="Europe/Paris")
    assert isinstance(spec, CalendarSpec)
    assert spec.timezone == "Europe/Paris"
    assert spec.next_after(T0) == datetime(2026, 1, 1, 8, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    "value",
    [
        {"type": "cron", "expression": "0 9 * * *", "timezone": "Asia/Tokyo"},
        {"type": "calendar", "hours": [9], "timezone": "Asia/Tokyo"},
        '{"type": "cron", "expression": "0 9 * * *", "timezone": "Asia/Tokyo"}',
    ],
)
def test_timezone_keyword_does_not_override_an_explicit_zone(value: object) -> None:
    """A zone written in the spec wins over the timezone= keyword."""
    spec = parse_spec(value, timezone="Europe/Paris")
    assert spec.timezone == "Asia/Tokyo"  # type: ignore[attr-defined]


def test_timezone_keyword_does_not_override_explicit_utc() -> None:
    """An explicit "UTC" is a choice, not a default: the keyword leaves it alone."""
    spec = parse_spec(
        {"type": "cron", "expression": "0 9 * * *", "timezone": "UTC"}, timezone="Europe/Paris"
    )
    assert spec.timezone == "UTC"  # type: ignore[attr-defined]


def test_timezone_keyword_ignored_for_zoneless_kinds() -> None:
    """Interval and clocked specs have no zone; the keyword changes nothing for them."""
    assert parse_spec("30s", timezone="Europe/Paris") == IntervalSpec(30)
    at = {"type": "clocked", "at": "2026-01-01T00:00:00Z"}
    assert parse_spec(at, timezone="Europe/Paris") == ClockedSpec(T0)


def test_unknown_timezone_keyword_is_rejected() -> None:
    """A bad timezone= keyword is a SpecError naming the timezone."""
    with pytest.raises(SpecError, match="Mars/Base") as caught:
        parse_spec("0 9 * * *", timezone="Mars/Base")
    assert caught.value.field == "timezone"


@pytest.mark.parametrize("text", ['[{"type": "interval", "every": 30}]', "[1,2]", "  [ ]  "])
def test_json_array_text_says_json(text: str) -> None:
    """JSON text that is an array, not an object, is reported as a JSON problem."""
    with pytest.raises(SpecError, match="spec JSON: a spec must be a JSON object") as caught:
        parse_spec(text)
    assert "interval" not in str(caught.value)


def test_malformed_json_array_says_json() -> None:
    """Broken JSON that starts like an array is a JSON error too, not an interval error."""
    with pytest.raises(SpecError, match=r"spec JSON: .* line 1 column \d+"):
        parse_spec("[1, 2")


@pytest.mark.parametrize("text", ["1 2 3 4", "* * * *", "0 9 *"])
def test_four_field_cron_typo_is_rejected(text: str) -> None:
    """A cron string missing a field is an error, not an interval of concatenated digits."""
    with pytest.raises(SpecError, match="a cron expression has 5 fields"):
        parse_spec(text)


def test_interval_start_at_with_microseconds_round_trips() -> None:
    """parse_spec(spec.to_dict()) == spec and pickling hold for any start_at."""
    spec = IntervalSpec(30, start_at=T0 + timedelta(microseconds=123_456))
    assert parse_spec(spec.to_dict()) == spec
    assert pickle.loads(pickle.dumps(spec)) == spec


@pytest.mark.parametrize(
    ("data", "key"),
    [
        ({"type": "cron", "expression": "0 9 * * *", "tz": "Europe/London"}, "tz"),
        ({"type": "interval", "every": 30, "start": "2026-01-01T00:00:00Z"}, "start"),
        (
            {"type": "solar", "event": "sunrise", "latitude": 1, "longitude": 2, "offest": 60},
            "offest",
        ),
        ({"type": "clocked", "at": "2026-01-01T00:00:00Z", "when": "now"}, "when"),
        ({"type": "calendar", "hour": [9]}, "hour"),
    ],
)
def test_unknown_keys_are_rejected_for_every_kind(data: dict[str, object], key: str) -> None:
    """A misspelt key is an error naming it (and the known keys), for every kind."""
    with pytest.raises(SpecError, match=f"unknown field '{key}' \\(known: ") as caught:
        parse_spec(data)
    assert caught.value.field == key
    with pytest.raises(SpecError, match=f"unknown field '{key}'"):
        parse_spec(json.dumps(data))


KINDS = "interval, cron, solar, clocked, calendar"
EXAMPLES = "(use e.g. 30, 30s, 5m, 1h30m, 250ms)"
CRON_HINT = "; a cron expression has 5 fields (6 with leading seconds)"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({"type": "bogus"}, f"spec 'type': 'bogus' is not one of {KINDS}"),
        ({"type": 3}, f"spec 'type': 3 is not one of {KINDS}"),
        ({"every": 30}, f"spec 'type': None is not one of {KINDS}"),
        ("[1, 2]", "spec JSON: a spec must be a JSON object with a 'type', not an array"),
        ("abc", f"interval 'every': 'abc' is not a duration {EXAMPLES}"),
        ("1 30", f"interval 'every': '1 30' has a space between two numbers {EXAMPLES}{CRON_HINT}"),
        ("soon later", f"interval 'every': 'soon later' is not a duration {EXAMPLES}{CRON_HINT}"),
    ],
)
def test_error_messages_are_exact(value: object, message: str) -> None:
    """Errors are word for word; text of two to four words also says what cron looks like."""
    with pytest.raises(SpecError) as caught:
        parse_spec(value)
    assert str(caught.value) == message
