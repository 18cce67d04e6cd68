"""CronSpec known answers: syntax, day-field semantics, time zones, dict form, errors."""

from __future__ import annotations

import itertools
import json
import pickle
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from celery_stembeat.specs import CronSpec, SpecError, load_zone, parse_spec, zone_name
from tests.specs._cron_support import utc


def upcoming(expression: str, after: str, count: int, zone: str = "UTC") -> list[datetime]:
    """The next ``count`` occurrences of ``expression`` in ``zone`` after the UTC ``after``."""
    return list(CronSpec(expression, zone).occurrences(utc(after), count))


def instants(*texts: str) -> list[datetime]:
    return [utc(text) for text in texts]


# --- syntax --------------------------------------------------------------------------------

SYNTAX_CASES = [
    pytest.param(
        "*/15 * * * *",
        "2025-01-01 00:07",
        ["2025-01-01 00:15", "2025-01-01 00:30", "2025-01-01 00:45", "2025-01-01 01:00"],
        id="minute-step",
    ),
    pytest.param(
        "0 9 * * 1-5",
        "2025-01-03 09:00",  # a Friday, exactly on an occurrence
        ["2025-01-06 09:00", "2025-01-07 09:00", "2025-01-08 09:00"],
        id="weekday-range",
    ),
    pytest.param(
        "5,10,50 8-12/2 * * *",
        "2025-01-01 09:00",
        ["2025-01-01 10:05", "2025-01-01 10:10", "2025-01-01 10:50", "2025-01-01 12:05"],
        id="list-and-range-step",
    ),
    pytest.param(
        "30 4 1 jan-mar/2 *",
        "2025-01-01 00:00",
        ["2025-01-01 04:30", "2025-03-01 04:30", "2026-01-01 04:30"],
        id="month-name-range-step",
    ),
    pytest.param(
        "0 0 1 JAN *",
        "2025-01-01 00:00",
        ["2026-01-01 00:00", "2027-01-01 00:00"],
        id="month-name",
    ),
    pytest.param(
        "0 0 * * 7",
        "2025-01-01 00:00",
        ["2025-01-05 00:00", "2025-01-12 00:00"],
        id="seven-is-sunday",
    ),
    pytest.param(
        "0 12 ? * SUN",
        "2025-01-01 00:00",
        ["2025-01-05 12:00", "2025-01-12 12:00"],
        id="question-mark-day-of-month",
    ),
    pytest.param(
        "0 0 1 * ?",
        "2025-01-01 00:00",
        ["2025-02-01 00:00", "2025-03-01 00:00"],
        id="question-mark-day-of-week",
    ),
    pytest.param(
        "0 0 L * *",
        "2024-01-15 00:00",
        ["2024-01-31 00:00", "2024-02-29 00:00", "2024-03-31 00:00", "2024-04-30 00:00"],
        id="last-day-of-month",
    ),
    pytest.param(
        "0 0 L 2 *",
        "2023-03-01 00:00",
        ["2024-02-29 00:00", "2025-02-28 00:00"],
        id="last-day-of-february",
    ),
    pytest.param(
        "0 0 L,15 * *",
        "2025-01-01 00:00",
        ["2025-01-15 00:00", "2025-01-31 00:00", "2025-02-15 00:00", "2025-02-28 00:00"],
        id="last-day-in-a-list",
    ),
    pytest.param(
        "0 0 * * FRI#2",
        "2025-01-01 00:00",
        ["2025-01-10 00:00", "2025-02-14 00:00", "2025-03-14 00:00"],
        id="second-friday",
    ),
    pytest.param(
        "0 0 * * 5#5",
        "2025-01-01 00:00",
        ["2025-01-31 00:00", "2025-05-30 00:00", "2025-08-29 00:00"],
        id="fifth-friday-skips-months-without-one",
    ),
    pytest.param(
        "0 9 * * 1#1,5#3",
        "2025-01-01 00:00",
        ["2025-01-06 09:00", "2025-01-17 09:00", "2025-02-03 09:00", "2025-02-21 09:00"],
        id="nth-weekday-list",
    ),
    pytest.param(
        "0 0 29 2 *",
        "2025-03-01 00:00",
        ["2028-02-29 00:00", "2032-02-29 00:00"],
        id="leap-day",
    ),
    pytest.param(
        "59 23 31 12 *",
        "2025-12-31 23:59",
        ["2026-12-31 23:59", "2027-12-31 23:59"],
        id="year-end",
    ),
    pytest.param(
        "*/20 * * * * *",
        "2025-01-01 00:00:00",
        ["2025-01-01 00:00:20", "2025-01-01 00:00:40", "2025-01-01 00:01:00"],
        id="six-fields-second-step",
    ),
    pytest.param(
        "30 0 9 * * *",
        "2025-01-01 00:00",
        ["2025-01-01 09:00:30", "2025-01-02 09:00:30"],
        id="six-fields-leading-seconds",
    ),
]


@pytest.mark.parametrize(("expression", "after", "expected"), SYNTAX_CASES)
def test_syntax_known_answers(expression: str, after: str, expected: list[str]) -> None:
    """Each syntax form fires exactly at the hand-checked instants (UTC)."""
    assert upcoming(expression, after, len(expected)) == instants(*expected)


@pytest.mark.parametrize(
    ("macro", "after", "expected"),
    [
        ("@yearly", "2025-06-01 00:00", ["2026-01-01 00:00", "2027-01-01 00:00"]),
        ("@annually", "2025-06-01 00:00", ["2026-01-01 00:00", "2027-01-01 00:00"]),
        ("@monthly", "2025-06-15 00:00", ["2025-07-01 00:00", "2025-08-01 00:00"]),
        ("@weekly", "2025-06-01 00:00", ["2025-06-08 00:00", "2025-06-15 00:00"]),  # Sundays
        ("@daily", "2025-06-01 12:00", ["2025-06-02 00:00", "2025-06-03 00:00"]),
        ("@midnight", "2025-06-01 12:00", ["2025-06-02 00:00", "2025-06-03 00:00"]),
        ("@hourly", "2025-06-01 12:30", ["2025-06-01 13:00", "2025-06-01 14:00"]),
        ("@DAILY", "2025-06-01 12:00", ["2025-06-02 00:00", "2025-06-03 00:00"]),
    ],
)
def test_macros(macro: str, after: str, expected: list[str]) -> None:
    """Every macro (in any case) fires as its five-field expansion does."""
    assert upcoming(macro, after, len(expected)) == instants(*expected)


@pytest.mark.parametrize(
    ("spelled", "plain"),
    [
        ("0 9 * * MON-FRI", "0 9 * * 1-5"),
        ("0 9 * * mon-fri", "0 9 * * 1-5"),
        ("0 9 * * Mon-Fri", "0 9 * * 1-5"),
        ("0 0 1 jan,JUL *", "0 0 1 1,7 *"),
        ("0 0 * * SUN", "0 0 * * 0"),
        ("0 0 * * 0-7", "0 0 * * *"),
        ("@weekly", "0 0 * * 0"),
        ("@yearly", "0 0 1 1 *"),
    ],
)
def test_equivalent_spellings_fire_alike(spelled: str, plain: str) -> None:
    """Names (any case), 7 for Sunday and macros mean the same times as plain numbers."""
    start = utc("2024-12-20 00:00")
    assert list(CronSpec(spelled).occurrences(start, 30)) == list(
        CronSpec(plain).occurrences(start, 30)
    )


@pytest.mark.parametrize("spelled", ["5-5 9-9 * * *", "0 0 * * fri-fri"])
def test_a_range_of_one_value_is_accepted(spelled: str) -> None:
    """A range whose ends are equal is valid (it does not run backwards)."""
    assert CronSpec(spelled).expression == spelled


@pytest.mark.parametrize(
    ("spelled", "plain"),
    [
        ("5-5 9-9 * * *", "5 9 * * *"),
        ("0 0 * * fri-fri", "0 0 * * 5"),
        ("0 0 * * Fri-FRI", "0 0 * * 5"),
        ("0 0 1-1 * *", "0 0 1 * *"),
        ("5-5/2 * * * *", "5 * * * *"),
        ("1-1,30 * * * *", "1,30 * * * *"),
        ("0 0 * jan-jan *", "0 0 * 1 *"),
        ("30 0-0 0 * * *", "30 0 0 * * *"),
    ],
)
def test_a_range_of_one_value_fires_as_that_value(spelled: str, plain: str) -> None:
    """A range whose ends are equal means that one value."""
    start = utc("2024-12-20 00:00")
    assert list(CronSpec(spelled).occurrences(start, 30)) == list(
        CronSpec(plain).occurrences(start, 30)
    )


def test_whitespace_is_normalised() -> None:
    """Runs of blanks collapse to single spaces in the stored expression."""
    spec = CronSpec("  0   9 *\t* 1-5 ")
    assert spec.expression == "0 9 * * 1-5"
    assert spec == CronSpec("0 9 * * 1-5")


def test_seconds_field_is_detected() -> None:
    """Six fields mean a leading seconds field; five fields mean none."""
    assert CronSpec("0 0 9 * * *").has_seconds
    assert not CronSpec("0 9 * * *").has_seconds
    assert not CronSpec("@hourly").has_seconds


# --- day-of-month and day-of-week ----------------------------------------------------------


def test_both_day_fields_restricted_fire_on_either() -> None:
    """Vixie cron's OR: the 13th (here a Sunday) and every Friday both fire."""
    assert upcoming("0 0 13 * 5", "2025-07-01 00:00", 4) == instants(
        "2025-07-04 00:00", "2025-07-11 00:00", "2025-07-13 00:00", "2025-07-18 00:00"
    )
    assert upcoming("0 0 1 * 1", "2025-09-01 00:00", 5) == instants(
        "2025-09-08 00:00", "2025-09-15 00:00", "2025-09-22 00:00", "2025-09-29 00:00",
        "2025-10-01 00:00",
    )  # fmt: skip


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("0 0 13 * *", ["2025-07-13 00:00", "2025-08-13 00:00", "2025-09-13 00:00"]),
        ("0 0 * * 5", ["2025-07-04 00:00", "2025-07-11 00:00", "2025-07-18 00:00"]),
        ("0 0 13 * ?", ["2025-07-13 00:00", "2025-08-13 00:00", "2025-09-13 00:00"]),
        ("0 0 ? * 5", ["2025-07-04 00:00", "2025-07-11 00:00", "2025-07-18 00:00"]),
    ],
)
def test_one_unrestricted_day_field_leaves_the_other_alone(
    expression: str, expected: list[str]
) -> None:
    """With ``*`` or ``?`` in one day field, only the other day field decides."""
    assert upcoming(expression, "2025-07-01 00:00", 3) == instants(*expected)


def test_star_step_day_field_takes_part_in_the_or() -> None:
    """``*/2`` counts as a restricted day field, as croniter reads it: odd days OR Mondays.

    Vixie/ISC cron decide on the field's first character (``*`` sets DOM_STAR), which would
    make this odd-numbered Mondays only. The DST rule, by contrast, does use the first
    character of the hour field. Pinned here so that a change is deliberate.
    """
    assert upcoming("0 0 */2 * 1", "2025-01-01 00:00", 6) == instants(
        "2025-01-03 00:00", "2025-01-05 00:00", "2025-01-06 00:00",
        "2025-01-07 00:00", "2025-01-09 00:00", "2025-01-11 00:00",
    )  # fmt: skip


def test_last_weekday_of_month() -> None:
    """``5L`` is the last Friday of the month, as the validator's ``L`` suffix intends."""
    assert upcoming("0 0 * * 5L", "2025-01-01 00:00", 2) == instants(
        "2025-01-31 00:00", "2025-02-28 00:00"
    )


@pytest.mark.parametrize("friday", ["5L", "5l", "FRIL", "fril", "L5", "l5"])
def test_every_spelling_of_last_friday(friday: str) -> None:
    """Quartz/Spring's ``5L``/``FRIL`` and croniter's ``L5`` are all the last Friday."""
    expression = f"0 9 * * {friday}"
    spec = CronSpec(expression, "Europe/London")
    assert spec.expression == expression  # kept as written; only croniter sees ``L5``
    assert parse_spec(spec.to_dict()) == spec
    found = spec.next_after(utc("2025-05-01 00:00"))
    assert found == utc("2025-05-30 08:00")  # 09:00 BST on the last Friday of May 2025
    assert list(spec.occurrences(found, 3)) == instants(
        "2025-06-27 08:00", "2025-07-25 08:00", "2025-08-29 08:00"
    )


@pytest.mark.parametrize("sunday", ["0L", "7L", "SUNL", "L0", "L7"])
def test_last_sunday_is_zero_or_seven(sunday: str) -> None:
    """Sunday is 0 or 7 in the last-weekday form too."""
    assert upcoming(f"0 1 * * {sunday}", "2025-03-01 00:00", 2) == instants(
        "2025-03-30 01:00", "2025-04-27 01:00"
    )


def test_last_and_nth_weekdays_in_one_list() -> None:
    """``#`` and ``L`` items combine in a list (croniter's own example: 3rd and last Friday)."""
    assert upcoming("0 0 * * 5#3,5L", "2025-01-01 00:00", 4) == instants(
        "2025-01-17 00:00", "2025-01-31 00:00", "2025-02-21 00:00", "2025-02-28 00:00"
    )
    assert upcoming("0 9 ? * MON#1,FRIL", "2025-01-01 00:00", 3) == instants(
        "2025-01-06 09:00", "2025-01-31 09:00", "2025-02-03 09:00"
    )


@pytest.mark.parametrize(
    ("minute", "expected"),
    [
        ("*/59", ["2025-01-01 00:59", "2025-01-01 01:00", "2025-01-01 01:59"]),
        ("30/29", ["2025-01-01 00:30", "2025-01-01 00:59", "2025-01-01 01:30"]),
    ],
)
def test_largest_useful_step(minute: str, expected: list[str]) -> None:
    """A step up to the field's span still matches more than its first value."""
    assert upcoming(f"{minute} * * * *", "2025-01-01 00:00", 3) == instants(*expected)


# --- time zones ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("zone", "winter", "summer"),
    [
        ("UTC", "2025-01-10 09:00", "2025-07-10 09:00"),
        ("Europe/London", "2025-01-10 09:00", "2025-07-10 08:00"),
        ("America/New_York", "2025-01-10 14:00", "2025-07-10 13:00"),
        ("Asia/Kolkata", "2025-01-10 03:30", "2025-07-10 03:30"),
        ("Australia/Lord_Howe", "2025-01-10 22:00", "2025-07-10 22:30"),
    ],
)
def test_expression_is_read_in_the_entry_time_zone(zone: str, winter: str, summer: str) -> None:
    """``0 9 * * *`` is 09:00 on the zone's wall clock, whatever its offset that day."""
    assert upcoming("0 9 * * *", "2025-01-10 00:00", 1, zone) == [utc(winter)]
    assert upcoming("0 9 * * *", "2025-07-10 00:00", 1, zone) == [utc(summer)]


def test_same_expression_in_two_zones_is_two_specs() -> None:
    """The zone is part of the value: equality, hash and dict form all see it."""
    london, paris = CronSpec("0 9 * * *", "Europe/London"), CronSpec("0 9 * * *", "Europe/Paris")
    assert london != paris
    assert london.to_dict() != paris.to_dict()
    assert hash(london) == hash(CronSpec("0 9 * * *", "Europe/London"))


@pytest.mark.parametrize("alias", ["UTC", "utc", "Etc/UTC", "Z", "", "  "])
def test_utc_aliases_are_stored_as_utc(alias: str) -> None:
    """Every spelling of UTC (and no zone at all) is stored as ``UTC``."""
    assert CronSpec("0 9 * * *", alias).timezone == "UTC"


def test_zoneinfo_object_is_stored_by_name() -> None:
    """A ZoneInfo is accepted and kept as its IANA key."""
    spec = CronSpec("0 9 * * *", ZoneInfo("Asia/Kolkata"))  # type: ignore[arg-type]
    assert spec.timezone == "Asia/Kolkata"
    assert spec == CronSpec("0 9 * * *", "Asia/Kolkata")


@pytest.mark.parametrize(
    ("value", "name"),
    [
        (" Europe/London ", "Europe/London"),
        (timezone.utc, "UTC"),
        (ZoneInfo("UTC"), "UTC"),
        (ZoneInfo("Etc/UTC"), "UTC"),
        (ZoneInfo("Asia/Tokyo"), "Asia/Tokyo"),
        ("etc/utc", "UTC"),
        ("z", "UTC"),
    ],
)
def test_zone_name(value: object, name: str) -> None:
    """zone_name: names are trimmed, UTC spellings and objects are ``UTC``, others their key."""
    assert zone_name(value) == name


@pytest.mark.parametrize("name", ["UTC", "utc", "Etc/UTC", "etc/utc", "Z", "z"])
def test_load_zone_reads_utc_spellings_as_utc(name: str) -> None:
    """Every spelling of UTC loads as the fixed UTC zone."""
    assert load_zone(name) is timezone.utc


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("Mars/Base", "unknown time zone 'Mars/Base'"),
        ("Europe", "unknown time zone 'Europe'"),
        ("../etc/passwd", "unknown time zone '../etc/passwd'"),
        ("a\x00b", "unknown time zone 'a\\x00b'"),
        (timezone(timedelta(hours=1)), "unknown time zone 'UTC+01:00'"),
        (5, "timezone: expected an IANA zone name, got 5"),
        (None, "timezone: expected an IANA zone name, got None"),
    ],
)
def test_bad_zones_are_spec_errors(value: object, message: str) -> None:
    """A name that is no IANA zone, or a value that is no zone, is a SpecError on `timezone`."""
    with pytest.raises(SpecError) as caught:
        zone_name(value)
    assert str(caught.value) == message
    assert caught.value.field == "timezone"
    if isinstance(value, str):
        with pytest.raises(SpecError) as caught:
            load_zone(value)
        assert str(caught.value) == message
        assert caught.value.field == "timezone"


# --- dict form, parse_spec, describe ---------------------------------------------------------

ROUND_TRIP = [
    ("0 9 * * 1-5", "Europe/London"),
    ("*/5 * * * *", "UTC"),
    ("30 */10 * * * *", "Asia/Kolkata"),
    ("@daily", "Australia/Lord_Howe"),
    ("0 0 L * *", "America/New_York"),
    ("0 12 ? * MON#2", "UTC"),
]


@pytest.mark.parametrize(("expression", "zone"), ROUND_TRIP)
def test_dict_round_trip(expression: str, zone: str) -> None:
    """``to_dict`` is exact, JSON-able, and ``parse_spec`` of it gives the spec back."""
    spec = CronSpec(expression, zone)
    data = spec.to_dict()
    assert data == {"type": "cron", "expression": expression, "timezone": zone}
    assert parse_spec(data) == spec
    assert parse_spec(json.dumps(data)) == spec
    assert pickle.loads(pickle.dumps(spec)) == spec


def test_parse_spec_reads_cron_text_and_defaults_to_utc() -> None:
    """Cron text takes the given zone; a dict without one is UTC."""
    london = parse_spec("0 9 * * 1-5", timezone="Europe/London")
    assert london == CronSpec("0 9 * * 1-5", "Europe/London")
    assert parse_spec("*/10 * * * * *") == CronSpec("*/10 * * * * *", "UTC")
    assert parse_spec("@hourly") == CronSpec("@hourly")
    assert parse_spec({"type": "cron", "expression": "0 9 * * *"}) == CronSpec("0 9 * * *")


@pytest.mark.parametrize(
    ("spec", "text"),
    [
        (CronSpec("0 9 * * 1-5", "Europe/London"), "cron 0 9 * * 1-5 (Europe/London)"),
        (CronSpec("*/5 * * * *"), "cron */5 * * * * (UTC)"),
        (CronSpec("0 */10 * * * *", "Asia/Kolkata"), "cron 0 */10 * * * * (Asia/Kolkata)"),
        (CronSpec("@daily", "America/New_York"), "cron @daily (America/New_York)"),
    ],
)
def test_describe(spec: CronSpec, text: str) -> None:
    """``describe()`` (and ``str()``) is ``cron <expression> (<zone>)``."""
    assert spec.describe() == text
    assert str(spec) == text


# --- bad input -------------------------------------------------------------------------------

BAD_EXPRESSIONS = [
    ("0 25 * * *", "hour", "cron field 'hour': 25 is outside 0-23"),
    ("60 * * * *", "minute", "cron field 'minute': 60 is outside 0-59"),
    ("* * 0 * *", "day-of-month", "cron field 'day-of-month': 0 is outside 1-31"),
    ("* * 32 * *", "day-of-month", "cron field 'day-of-month': 32 is outside 1-31"),
    ("* * * 13 *", "month", "cron field 'month': 13 is outside 1-12"),
    ("* * * * 8", "day-of-week", "cron field 'day-of-week': 8 is outside 0-7"),
    ("61 * * * * *", "second", "cron field 'second': 61 is outside 0-59"),
    ("abc * * * *", "minute", "cron field 'minute': 'abc' is not a number or name"),
    ("1234567890 * * * *", "minute", "cron field 'minute': 1234567890 is outside 0-59"),
    ("12345678901 * * * *", "minute", "cron field 'minute': '12345678901' is outside 0-59"),
    (
        "*/1234567890 * * * *",
        "minute",
        "cron field 'minute': step 1234567890 is more than 59, "
        "so it would only ever match its first value",
    ),
    (
        "*/12345678901 * * * *",
        "minute",
        "cron field 'minute': step '12345678901' is more than 59, "
        "so it would only ever match its first value",
    ),
    ("* * * * 1#0", "day-of-week", "cron field 'day-of-week': '1#0': the week must be 1-5"),
    ("* * * FOO *", "month", "cron field 'month': 'FOO' is not a number or name"),
    ("* * * * FUNDAY", "day-of-week", "cron field 'day-of-week': 'FUNDAY' is not a number or name"),
    ("*/0 * * * *", "minute", "cron field 'minute': step '0' must be a positive number"),
    ("1-5/0 * * * *", "minute", "cron field 'minute': step '0' must be a positive number"),
    ("*/x * * * *", "minute", "cron field 'minute': step 'x' must be a positive number"),
    ("0 22-25 * * *", "hour", "cron field 'hour': 25 is outside 0-23"),
    ("0 24-2 * * *", "hour", "cron field 'hour': 24 is outside 0-23"),
    ("50-60/2 * * * *", "minute", "cron field 'minute': 60 is outside 0-59"),
    ("* * 0-3 * *", "day-of-month", "cron field 'day-of-month': 0 is outside 1-31"),
    ("* * * dec-13 *", "month", "cron field 'month': 13 is outside 1-12"),
    ("* * * * 8-2", "day-of-week", "cron field 'day-of-week': 8 is outside 0-7"),
    (
        "* * * * FRI-MONDAYS",
        "day-of-week",
        "cron field 'day-of-week': 'MONDAYS' is not a number or name",
    ),
    ("* * * * fri-monx", "day-of-week", "cron field 'day-of-week': 'monx' is not a number or name"),
    ("* * * sept *", "month", "cron field 'month': 'sept' is not a number or name"),
    ("* * * * thurs", "day-of-week", "cron field 'day-of-week': 'thurs' is not a number or name"),
    ("* * * monday *", "month", "cron field 'month': 'monday' is not a number or name"),
    ("* * * * june", "day-of-week", "cron field 'day-of-week': 'june' is not a number or name"),
    (
        "* * * * fridayl,1",
        "day-of-week",
        "cron field 'day-of-week': 'fridayl,1' mixes '#' or 'L' items with plain days",
    ),
    ("1-2-3 * * * *", "minute", "cron field 'minute': '1-2-3' is not valid"),
    ("1,,2 * * * *", "minute", "cron field 'minute': '' is not valid"),
    ("? * * * *", "minute", "cron field 'minute': '?' is only for day fields"),
    ("* * * * 1#6", "day-of-week", "cron field 'day-of-week': '1#6': the week must be 1-5"),
    ("* * * * 8L", "day-of-week", "cron field 'day-of-week': 8 is outside 0-7"),
    ("* * * * L8", "day-of-week", "cron field 'day-of-week': 8 is outside 0-7"),
    ("* * * * LFRI", "day-of-week", "cron field 'day-of-week': 'LFRI' is not a number or name"),
    ("* * * * XL", "day-of-week", "cron field 'day-of-week': 'X' is not a number or name"),
    ("* * * * L", "day-of-week", "cron field 'day-of-week': 'L' is not a number or name"),
    (
        "* * * * 5L,1",
        "day-of-week",
        "cron field 'day-of-week': '5L,1' mixes '#' or 'L' items with plain days",
    ),
    (
        "* * * * MON,FRI#2",
        "day-of-week",
        "cron field 'day-of-week': 'MON,FRI#2' mixes '#' or 'L' items with plain days",
    ),
    (
        "* * 1 * 5L",
        "day-of-week",
        "cron field 'day-of-week': '5L' needs '*' or '?' in day-of-month, not '1'",
    ),
    (
        "0 * * 13 * FRI#2",
        "day-of-week",
        "cron field 'day-of-week': 'FRI#2' needs '*' or '?' in day-of-month, not '13'",
    ),
    *(
        (
            expression,
            field,
            f"cron field '{field}': step {step} is more than {limit}, "
            "so it would only ever match its first value",
        )
        for expression, field, step, limit in [
            ("*/60 * * * *", "minute", 60, 59),
            ("5/60 * * * *", "minute", 60, 59),
            ("0-30/75 * * * *", "minute", 75, 59),
            ("0 */24 * * *", "hour", 24, 23),
            ("0 0 */31 * *", "day-of-month", 31, 30),
            ("0 0 1 */12 *", "month", 12, 11),
            ("0 0 * * */7", "day-of-week", 7, 6),
            ("*/60 * * * * *", "second", 60, 59),
        ]
    ),
    (
        "* * * *",
        "expression",
        "cron expression '* * * *': expected 5 fields (6 with leading seconds), got 4",
    ),
    (
        "* * * * * * *",
        "expression",
        "cron expression '* * * * * * *': expected 5 fields (6 with leading seconds), got 7",
    ),
    ("", "expression", "cron expression: empty"),
    (
        "@fortnightly",
        "expression",
        "cron expression: unknown macro '@fortnightly' "
        "(use @annually, @daily, @hourly, @midnight, @monthly, @weekly, @yearly)",
    ),
    ("0 0 30 2 *", "expression", "cron expression '0 0 30 2 *': never matches a date"),
    ("0 0 31 4,6 *", "expression", "cron expression '0 0 31 4,6 *': never matches a date"),
]


@pytest.mark.parametrize(("expression", "field", "message"), BAD_EXPRESSIONS)
def test_bad_expression_names_field_and_value(expression: str, field: str, message: str) -> None:
    """A bad expression raises SpecError (a ValueError) naming the field and the bad value."""
    with pytest.raises(SpecError) as caught:
        CronSpec(expression)
    assert isinstance(caught.value, ValueError)
    assert str(caught.value) == message
    assert caught.value.field == field


def test_croniter_refusals_name_the_expression() -> None:
    """What croniter refuses after our checks (a step on '?') is a SpecError on the expression."""
    with pytest.raises(SpecError) as caught:
        CronSpec("0 0 ?/2 * *")
    assert str(caught.value).startswith("cron expression '0 0 ?/2 * *': ")
    assert "Question mark" in str(caught.value)
    assert caught.value.field == "expression"


def test_parse_spec_reports_the_same_errors() -> None:
    """Going through parse_spec (text or dict) gives the same message."""
    with pytest.raises(SpecError, match=r"^cron field 'hour': 25 is outside 0-23$"):
        parse_spec("0 25 * * *")
    with pytest.raises(SpecError, match=r"^cron field 'hour': 25 is outside 0-23$"):
        parse_spec({"type": "cron", "expression": "0 25 * * *", "timezone": "UTC"})


def test_unknown_time_zone() -> None:
    """An unknown zone names itself, on the ``timezone`` field."""
    with pytest.raises(SpecError) as caught:
        CronSpec("0 9 * * *", "Mars/Base")
    assert str(caught.value) == "unknown time zone 'Mars/Base'"
    assert caught.value.field == "timezone"
    with pytest.raises(SpecError, match=r"^unknown time zone 'Mars/Base'$"):
        parse_spec({"type": "cron", "expression": "0 9 * * *", "timezone": "Mars/Base"})


def test_non_text_expression_and_missing_expression() -> None:
    """A number is not an expression; a dict without one says so."""
    with pytest.raises(SpecError, match=r"^cron expression: expected text, got 5$") as caught:
        CronSpec(5)  # type: ignore[arg-type]
    assert caught.value.field == "expression"
    with pytest.raises(SpecError, match=r"^cron 'expression': missing$") as caught:
        CronSpec.from_dict({"type": "cron", "timezone": "UTC"})
    assert caught.value.field == "expression"


def test_unknown_key_is_exact() -> None:
    """A misspelt key names the kind, the key and the known keys."""
    with pytest.raises(SpecError) as caught:
        parse_spec({"type": "cron", "expression": "* * * * *", "zone": "UTC"})
    assert str(caught.value) == "cron: unknown field 'zone' (known: expression, timezone)"
    assert caught.value.field == "zone"


# --- next_after ------------------------------------------------------------------------------


def test_naive_after_is_refused() -> None:
    """``next_after`` needs an aware datetime."""
    with pytest.raises(SpecError, match=r"^next_after: 2025-01-01T00:00:00 has no time zone$"):
        CronSpec("* * * * *").next_after(datetime(2025, 1, 1))


def test_result_is_aware_utc_whatever_the_zones() -> None:
    """The answer is in UTC even when both the spec and ``after`` use other zones."""
    spec = CronSpec("0 9 * * *", "Asia/Kolkata")
    after = datetime(2025, 1, 10, 12, 0, tzinfo=ZoneInfo("America/New_York"))
    found = spec.next_after(after)
    assert found == utc("2025-01-11 03:30")
    assert found is not None
    assert found.tzinfo is timezone.utc


def test_after_in_any_zone_means_the_same_instant() -> None:
    """``after`` is an instant: its own zone does not matter, only when it is."""
    spec = CronSpec("0 9 * * 1-5", "Europe/London")
    as_utc = utc("2025-01-06 08:30")
    as_paris = as_utc.astimezone(ZoneInfo("Europe/Paris"))
    as_offset = as_utc.astimezone(timezone(timedelta(hours=-5)))
    assert spec.next_after(as_utc) == spec.next_after(as_paris) == spec.next_after(as_offset)
    assert spec.next_after(as_utc) == utc("2025-01-06 09:00")


def test_strictly_after() -> None:
    """An ``after`` exactly on an occurrence gives the next one; just before gives it."""
    spec = CronSpec("0 9 * * *")
    assert spec.next_after(utc("2025-01-06 09:00")) == utc("2025-01-07 09:00")
    assert spec.next_after(utc("2025-01-06 08:59:59.999999")) == utc("2025-01-06 09:00")
    assert spec.next_after(utc("2025-01-06 09:00:00.000001")) == utc("2025-01-07 09:00")


def test_microsecond_after_with_seconds_field() -> None:
    """Sub-second ``after`` values round up to the next matching whole second."""
    every_second = CronSpec("* * * * * *")
    assert every_second.next_after(utc("2025-01-01 12:00:00")) == utc("2025-01-01 12:00:01")
    assert every_second.next_after(utc("2025-01-01 12:00:00.999999")) == utc("2025-01-01 12:00:01")
    assert every_second.next_after(utc("2025-01-01 11:59:59.000001")) == utc("2025-01-01 12:00:00")
    every_minute = CronSpec("* * * * *")
    assert every_minute.next_after(utc("2025-01-01 12:00:59.999999")) == utc("2025-01-01 12:01")


def test_occurrences_chain_next_after() -> None:
    """Successive occurrences are each the next_after of the previous one, increasing."""
    spec = CronSpec("*/7 9-10 * * 1,3", "Europe/London")
    times = list(spec.occurrences(utc("2025-03-01 00:00"), 40))
    assert len(times) == 40
    assert all(later > earlier for earlier, later in itertools.pairwise(times))
    assert all(spec.next_after(a) == b for a, b in itertools.pairwise(times))


END_OF_TIME = datetime.max.replace(tzinfo=timezone.utc)
NEAR_THE_END = [
    END_OF_TIME,
    utc("9999-12-31 23:00"),
    utc("9999-12-31 00:00"),
    utc("9999-12-01 00:00"),
    datetime(9999, 12, 31, 20, 0, tzinfo=timezone(timedelta(hours=-5))),  # past the end in UTC
]


@pytest.mark.parametrize(
    ("expression", "zone"),
    [
        ("0 0 1 1 *", "UTC"),  # croniter itself steps into year 10000
        ("* * * * *", "UTC"),
        ("* * * * * *", "UTC"),
        ("0 0 * * 5L", "UTC"),
        ("0 9 * * *", "Asia/Tokyo"),  # local wall time runs past 9999 before UTC does
        ("0 9 * * *", "Pacific/Kiritimati"),
        ("0 9 1 * *", "America/New_York"),
    ],
)
@pytest.mark.parametrize("after", NEAR_THE_END, ids=str)
def test_no_occurrence_past_the_end_of_datetime(
    expression: str, zone: str, after: datetime
) -> None:
    """Whatever the zone, an occurrence that would pass 9999-12-31 is None, never an error."""
    found = CronSpec(expression, zone).next_after(after)
    assert found is None or after < found <= END_OF_TIME


def test_last_occurrences_before_the_end_of_datetime() -> None:
    """Occurrences that still fit are found; the first that does not is None."""
    assert upcoming("59 23 31 12 *", "9999-12-30 00:00", 2) == instants("9999-12-31 23:59")
    assert upcoming("0 9 * * *", "9999-12-30 00:00", 2, "Asia/Tokyo") == instants(
        "9999-12-31 00:00"
    )
    assert upcoming("* * * * *", "9999-12-31 23:58:30", 2, "America/New_York") == instants(
        "9999-12-31 23:59"
    )
    assert CronSpec("0 0 29 2 *").next_after(utc("9996-03-01 00:00")) is None
    assert CronSpec("* * * * *").next_after(utc("9999-12-31 23:58:30")) == END_OF_TIME.replace(
        second=0, microsecond=0
    )
