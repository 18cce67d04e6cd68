"""CalendarSpec: AND of filters, cron weekday numbering and names, local time zones, errors."""

from __future__ import annotations

import pickle
from collections.abc import Callable
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from celery_stembeat.specs import CalendarSpec, CronSpec, SpecError, parse_spec

UTC = timezone.utc
NEW_YORK = ZoneInfo("America/New_York")
LONDON = ZoneInfo("Europe/London")


def days(first: date, last: date) -> list[date]:
    """Every date from ``first`` to ``last`` inclusive."""
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


def until(spec: CalendarSpec, start: datetime, end: datetime) -> list[datetime]:
    """All occurrences of ``spec`` in (start, end)."""
    found = []
    current = spec.next_after(start)
    while current is not None and current < end:
        found.append(current)
        current = spec.next_after(current)
    return found


def brute_force_minutes(
    start: datetime, end: datetime, zone: ZoneInfo, matches: Callable[[datetime], bool]
) -> list[datetime]:
    """Every whole UTC minute in (start, end) whose local wall time passes ``matches``."""
    found = []
    current = start + timedelta(minutes=1)
    while current < end:
        if matches(current.astimezone(zone)):
            found.append(current)
        current += timedelta(minutes=1)
    return found


def test_first_monday_over_two_years_matches_a_day_by_day_reference() -> None:
    """monthdays 1-7 AND weekdays mon is the first Monday of every month, at 09:00 local."""
    spec = CalendarSpec(
        weekdays=["mon"], monthdays=["1-7"], hours=[9], minutes=[0], timezone="America/New_York"
    )
    expected = [
        datetime.combine(day, time(9, 0), NEW_YORK).astimezone(UTC)
        for day in days(date(2026, 1, 1), date(2027, 12, 31))
        if day.weekday() == 0 and day.day <= 7
    ]
    assert len(expected) == 24
    found = until(spec, datetime(2026, 1, 1, tzinfo=UTC), datetime(2028, 1, 1, tzinfo=UTC))
    assert found == expected


def test_and_differs_from_cron_or() -> None:
    """The same fields as a cron string fire on the 1st-7th OR Mondays: many more days."""
    calendar = CalendarSpec(weekdays=[1], monthdays=["1-7"], hours=[9], minutes=[0])
    cron = CronSpec("0 9 1-7 * 1")
    start, end = datetime(2026, 1, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC)
    anded = until(calendar, start, end)
    ored = until(cron, start, end)
    assert len(anded) == 12
    assert set(anded) < set(ored)
    mondays = sum(1 for day in days(date(2026, 1, 1), date(2026, 12, 31)) if day.weekday() == 0)
    first_weeks = 12 * 7
    assert len(ored) == mondays + first_weeks - 12


def test_minute_by_minute_reference_across_a_dst_change() -> None:
    """Every filter at once, over March-April in London (clocks change 29 March 2026)."""
    spec = CalendarSpec(
        months=["mar", "apr"],
        weekdays=["sat", "sun"],
        monthdays=["1-15"],
        hours=[9, 17],
        minutes=["0-2", 45],
        timezone="Europe/London",
    )

    def matches(local: datetime) -> bool:
        return (
            local.month in (3, 4)
            and local.isoweekday() % 7 in (6, 0)
            and local.day <= 15
            and local.hour in (9, 17)
            and local.minute in (0, 1, 2, 45)
        )

    start = datetime(2026, 2, 28, tzinfo=UTC)
    end = datetime(2026, 5, 2, tzinfo=UTC)
    expected = brute_force_minutes(start, end, LONDON, matches)
    assert len(expected) == 9 * 2 * 4  # 1, 7, 8, 14, 15 March and 4, 5, 11, 12 April
    assert until(spec, start, end) == expected


def test_minute_by_minute_reference_in_utc_with_sunday_as_7() -> None:
    """weekdays [7] with monthdays and hours ranges, checked against every minute of 2 months."""
    spec = CalendarSpec(weekdays=[7, 3], monthdays=["10-20"], hours=["22-23"], minutes=[15, 59])

    def matches(local: datetime) -> bool:
        return (
            local.isoweekday() in (7, 3)
            and 10 <= local.day <= 20
            and local.hour in (22, 23)
            and local.minute in (15, 59)
        )

    start = datetime(2026, 5, 1, tzinfo=UTC)
    end = datetime(2026, 7, 1, tzinfo=UTC)
    expected = brute_force_minutes(start, end, ZoneInfo("UTC"), matches)
    assert expected
    assert until(spec, start, end) == expected


@pytest.mark.parametrize("sunday", [0, 7, "0", "7", "sun", "SUN", "Sun"])
def test_sunday_is_0_or_7_or_sun(sunday: object) -> None:
    """Every spelling of Sunday is the same spec, and it fires on Sundays only."""
    spec = CalendarSpec(weekdays=[sunday], hours=[12], minutes=[0])  # type: ignore[list-item]
    assert spec.weekdays == (0,)
    assert spec == CalendarSpec(weekdays=[0], hours=[12], minutes=[0])
    found = list(spec.occurrences(datetime(2026, 1, 1, tzinfo=UTC), 10))
    assert len(found) == 10
    assert {instant.isoweekday() for instant in found} == {7}


def test_weekday_range_through_7_wraps_to_sunday() -> None:
    """'5-7' is Friday, Saturday and Sunday; 0 and 7 together are one day."""
    assert CalendarSpec(weekdays=["5-7"]).weekdays == (0, 5, 6)
    assert CalendarSpec(weekdays=[0, 7]).weekdays == (0,)


def test_names_and_ranges() -> None:
    """Weekday and month names (any case) and range strings expand to sorted numbers."""
    spec = CalendarSpec(
        weekdays=["mon", "TUE", "Wed", "fri-sat"],
        months=["jan", "DEC", "mar-may"],
        monthdays=["1-3", 10, "28-31"],
        hours=["8-10"],
        minutes=["0", "30-31"],
    )
    assert spec.weekdays == (1, 2, 3, 5, 6)
    assert spec.months == (1, 3, 4, 5, 12)
    assert spec.monthdays == (1, 2, 3, 10, 28, 29, 30, 31)
    assert spec.hours == (8, 9, 10)
    assert spec.minutes == (0, 30, 31)


def test_duplicates_and_order_do_not_matter() -> None:
    """Filters are sets: order and repeats give an equal spec."""
    assert CalendarSpec(hours=[17, 9, 9]) == CalendarSpec(hours=[9, 17])
    assert CalendarSpec(hours=[17, 9, 9]).hours == (9, 17)


def test_empty_filters_mean_any() -> None:
    """With no filters the spec fires every minute, on the minute."""
    spec = CalendarSpec()
    start = datetime(2026, 2, 28, 23, 58, 30, tzinfo=UTC)
    assert list(spec.occurrences(start, 4)) == [
        datetime(2026, 2, 28, 23, 59, tzinfo=UTC),
        datetime(2026, 3, 1, 0, 0, tzinfo=UTC),
        datetime(2026, 3, 1, 0, 1, tzinfo=UTC),
        datetime(2026, 3, 1, 0, 2, tzinfo=UTC),
    ]
    assert spec == CalendarSpec(months=[], weekdays=[], monthdays=[], hours=[], minutes=[])
    assert spec == parse_spec({"type": "calendar"})


def test_hours_only_fires_every_minute_of_that_hour() -> None:
    """hours [9] alone is each minute 09:00-09:59 local (14:00-14:59Z in New York winter)."""
    spec = CalendarSpec(hours=[9], timezone="America/New_York")
    found = list(spec.occurrences(datetime(2026, 1, 15, tzinfo=UTC), 61))
    first = datetime(2026, 1, 15, 14, 0, tzinfo=UTC)
    assert found[:60] == [first + timedelta(minutes=n) for n in range(60)]
    assert found[60] == first + timedelta(days=1)


@pytest.mark.parametrize(
    ("after", "expected"),
    [
        (datetime(2026, 1, 15, tzinfo=UTC), datetime(2026, 1, 15, 14, 0, tzinfo=UTC)),
        (datetime(2026, 7, 15, tzinfo=UTC), datetime(2026, 7, 15, 13, 0, tzinfo=UTC)),
    ],
)
def test_evaluated_in_the_spec_time_zone(after: datetime, expected: datetime) -> None:
    """09:00 in New York is 14:00Z in winter and 13:00Z in summer."""
    spec = CalendarSpec(hours=[9], minutes=[0], timezone="America/New_York")
    found = spec.next_after(after)
    assert found == expected
    assert found is not None
    assert found.tzinfo == UTC


def test_weekday_is_the_local_weekday() -> None:
    """Monday 00:30 in Tokyo is Sunday 15:30Z: the weekday filter uses the local date."""
    spec = CalendarSpec(weekdays=["mon"], hours=[0], minutes=[30], timezone="Asia/Tokyo")
    found = spec.next_after(datetime(2026, 3, 1, tzinfo=UTC))
    assert found == datetime(2026, 3, 1, 15, 30, tzinfo=UTC)
    assert found.isoweekday() == 7


def test_fixed_hours_fire_once_in_a_spring_gap() -> None:
    """With hours given, 02:30 on the New York spring-forward day fires once, at 03:00 EDT."""
    spec = CalendarSpec(hours=[2], minutes=[30], timezone="America/New_York")
    found = list(spec.occurrences(datetime(2026, 3, 7, tzinfo=UTC), 3))
    assert found == [
        datetime(2026, 3, 7, 7, 30, tzinfo=UTC),
        datetime(2026, 3, 8, 7, 0, tzinfo=UTC),
        datetime(2026, 3, 9, 6, 30, tzinfo=UTC),
    ]


def test_no_hours_keeps_real_time_cadence_in_an_autumn_fold() -> None:
    """Without hours, minute 30 fires on both passes of 01:30 when New York falls back."""
    spec = CalendarSpec(minutes=[30], timezone="America/New_York")
    found = list(spec.occurrences(datetime(2026, 11, 1, 4, 0, tzinfo=UTC), 4))
    hourly = [datetime(2026, 11, 1, 4, 30, tzinfo=UTC) + timedelta(hours=n) for n in range(4)]
    assert found == hourly


def test_fixed_hours_fire_once_in_an_autumn_fold() -> None:
    """With hours given, 01:30 on the fall-back day fires on its first pass only."""
    spec = CalendarSpec(hours=[1], minutes=[30], timezone="America/New_York")
    found = list(spec.occurrences(datetime(2026, 11, 1, tzinfo=UTC), 2))
    assert found == [
        datetime(2026, 11, 1, 5, 30, tzinfo=UTC),
        datetime(2026, 11, 2, 6, 30, tzinfo=UTC),
    ]


@pytest.mark.parametrize(
    ("spec", "expression"),
    [
        (CalendarSpec(), "* * * * *"),
        (CalendarSpec(weekdays=["mon"], monthdays=["1-7"], hours=[9], minutes=[0]), "0 9 1-7 * 1"),
        (CalendarSpec(months=["jan", "dec"], weekdays=[7]), "* * * 1,12 0"),
        (CalendarSpec(minutes=[0, 1, 2, 5], hours=[1, 3]), "0-2,5 1,3 * * *"),
    ],
)
def test_expression(spec: CalendarSpec, expression: str) -> None:
    """`expression` is the cron text the filters compile to (evaluated with AND)."""
    assert spec.expression == expression


@pytest.mark.parametrize(
    ("spec", "text"),
    [
        (CalendarSpec(), "calendar every minute (UTC)"),
        (
            CalendarSpec(
                weekdays=["mon"],
                monthdays=["1-7"],
                hours=[9],
                minutes=[0],
                timezone="America/New_York",
            ),
            "calendar weekdays=mon monthdays=1-7 hours=9 minutes=0 (America/New_York)",
        ),
        (
            CalendarSpec(months=[12, 1, 2], weekdays=[7, 6], timezone="Europe/London"),
            "calendar months=12-2 weekdays=sat-sun (Europe/London)",
        ),
        (
            CalendarSpec(
                months=["nov-mar"], weekdays=["fri-mon"], monthdays=["28-3"], hours=["22-2"]
            ),
            "calendar months=11-3 weekdays=fri-mon monthdays=28-3 hours=22-2 (UTC)",
        ),
        (
            CalendarSpec(weekdays=["monday-friday"], hours=[0, 1, 5, 23], minutes=[0, 59]),
            "calendar weekdays=mon-fri hours=5,23-1 minutes=59-0 (UTC)",
        ),
        (
            CalendarSpec(weekdays=[0, 2, 4, 6], monthdays=[1, 31], hours=["0-23"]),
            "calendar weekdays=tue,thu,sat-sun monthdays=31-1 hours=0-23 (UTC)",
        ),
        (CalendarSpec(months=[1, 11]), "calendar months=1,11 (UTC)"),
        (CalendarSpec(months=[2, 12]), "calendar months=2,12 (UTC)"),
        (CalendarSpec(weekdays=["sun-sat"]), "calendar weekdays=sun-sat (UTC)"),
    ],
)
def test_describe(spec: CalendarSpec, text: str) -> None:
    """describe() lists the non-empty filters in order, weekdays by name, then the zone.

    Values run together as ranges; runs at both ends of a field join into one that wraps
    round it (``22-2``), as they were most likely written.
    """
    assert spec.describe() == text
    assert str(spec) == text


def test_dict_form_and_round_trip() -> None:
    """to_dict has every filter as a list of numbers; parse_spec and pickle give it back."""
    spec = CalendarSpec(
        weekdays=["mon"], monthdays=["1-7"], hours=[9], minutes=[0], timezone="America/New_York"
    )
    data = spec.to_dict()
    assert data == {
        "type": "calendar",
        "months": [],
        "weekdays": [1],
        "monthdays": [1, 2, 3, 4, 5, 6, 7],
        "hours": [9],
        "minutes": [0],
        "timezone": "America/New_York",
    }
    assert parse_spec(data) == spec
    assert pickle.loads(pickle.dumps(spec)) == spec
    documented = {
        "type": "calendar",
        "months": [],
        "weekdays": ["mon"],
        "monthdays": ["1-7"],
        "hours": [9],
        "minutes": [0],
        "timezone": "America/New_York",
    }
    assert parse_spec(documented) == spec


def test_timezone_names_are_normalised() -> None:
    """UTC spelled any way is stored as 'UTC'; equal specs compare equal."""
    assert CalendarSpec(timezone="utc").timezone == "UTC"
    assert CalendarSpec(timezone="Etc/UTC") == CalendarSpec()


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("hours", [25], "calendar 'hours': 25 is outside 0-23"),
        ("minutes", [60], "calendar 'minutes': 60 is outside 0-59"),
        ("months", [0], "calendar 'months': 0 is outside 1-12"),
        ("months", [13], "calendar 'months': 13 is outside 1-12"),
        ("monthdays", [0], "calendar 'monthdays': 0 is outside 1-31"),
        ("monthdays", [32], "calendar 'monthdays': 32 is outside 1-31"),
        ("weekdays", [8], "calendar 'weekdays': 8 is outside 0-7"),
        ("weekdays", ["funday"], "calendar 'weekdays': 'funday' is not a number or name"),
        ("months", ["smarch"], "calendar 'months': 'smarch' is not a number or name"),
        ("hours", [True], "calendar 'hours': True is not a number or name"),
        ("hours", [1.5], "calendar 'hours': 1.5 is not a number or name"),
        ("hours", ["22-24"], "calendar 'hours': 24 is outside 0-23"),
        ("months", ["nov-0"], "calendar 'months': 0 is outside 1-12"),
        ("weekdays", ["8-mon"], "calendar 'weekdays': 8 is outside 0-7"),
        ("weekdays", ["fri-mondays"], "calendar 'weekdays': 'mondays' is not a number or name"),
        ("months", ["april-sept"], "calendar 'months': 'sept' is not a number or name"),
        ("hours", ["5-25"], "calendar 'hours': 25 is outside 0-23"),
        ("weekdays", ["mon-funday"], "calendar 'weekdays': 'funday' is not a number or name"),
        ("hours", 1.5, "calendar 'hours': expected a list, got 1.5"),
        ("weekdays", object, "calendar 'weekdays': expected a list, got <class 'object'>"),
    ],
)
def test_bad_filter_values_name_the_filter(field: str, value: object, message: str) -> None:
    """Each bad value is a SpecError whose message and field name the filter."""
    with pytest.raises(SpecError) as caught:
        CalendarSpec(**{field: value})  # type: ignore[arg-type]
    assert str(caught.value) == message
    assert caught.value.field == field
    with pytest.raises(SpecError, match=f"calendar '{field}'"):
        parse_spec({"type": "calendar", field: value})


@pytest.mark.parametrize("key", ["hour", "weekday", "seconds", "days"])
def test_unknown_keys_are_rejected(key: str) -> None:
    """A misspelt filter is an error naming the key, not silently ignored."""
    with pytest.raises(SpecError, match=f"unknown field '{key}'") as caught:
        parse_spec({"type": "calendar", key: [1]})
    assert caught.value.field == key


def test_unknown_key_message_lists_the_known_keys() -> None:
    """The message names the kind, the bad key and the known keys in the dict form's order."""
    with pytest.raises(SpecError) as caught:
        parse_spec({"type": "calendar", "hour": [1]})
    assert str(caught.value) == (
        "calendar: unknown field 'hour' (known: months, weekdays, monthdays, hours, minutes,"
        " timezone)"
    )


def test_unknown_time_zone_is_rejected() -> None:
    """An unknown zone is an error naming the timezone field."""
    with pytest.raises(SpecError, match="Mars/Base") as caught:
        CalendarSpec(timezone="Mars/Base")
    assert caught.value.field == "timezone"


@pytest.mark.parametrize(
    ("monthdays", "months"),
    [([30], [2]), ([31], [2]), ([30, 31], [2]), ([31], [4, 6, 9, 11])],
)
def test_impossible_dates_are_rejected(monthdays: list[int], months: list[int]) -> None:
    """A day that never exists in the chosen months is rejected when the spec is built."""
    with pytest.raises(SpecError, match="never matches") as caught:
        CalendarSpec(monthdays=monthdays, months=months)
    assert caught.value.field == "monthdays"


def test_leap_day_is_possible() -> None:
    """29 February is allowed and fires in the next leap year."""
    spec = CalendarSpec(monthdays=[29], months=[2], hours=[0], minutes=[0])
    assert spec.next_after(datetime(2026, 1, 1, tzinfo=UTC)) == datetime(2028, 2, 29, tzinfo=UTC)


def test_rare_combination_decades_apart() -> None:
    """29 February on a Monday (2016, 2044, 2072) is found even decades ahead."""
    spec = CalendarSpec(monthdays=[29], months=[2], weekdays=["mon"], hours=[0], minutes=[0])
    found = list(spec.occurrences(datetime(2000, 1, 1, tzinfo=UTC), 3))
    assert found == [datetime(year, 2, 29, tzinfo=UTC) for year in (2016, 2044, 2072)]


END_OF_TIME = datetime.max.replace(tzinfo=UTC)


@pytest.mark.parametrize(
    "spec",
    [
        CalendarSpec(),
        CalendarSpec(hours=[9], minutes=[0], timezone="Asia/Tokyo"),
        CalendarSpec(monthdays=[29], months=[2], hours=[0], minutes=[0]),
        CalendarSpec(weekdays=["mon"], monthdays=["1-7"], timezone="America/New_York"),
    ],
    ids=str,
)
@pytest.mark.parametrize(
    "after",
    [
        END_OF_TIME,
        datetime(9999, 12, 31, 12, 0, tzinfo=UTC),
        datetime(9996, 3, 1, tzinfo=UTC),
        datetime(9999, 12, 31, 20, 0, tzinfo=timezone(timedelta(hours=-5))),
    ],
    ids=str,
)
def test_no_occurrence_past_the_end_of_datetime(spec: CalendarSpec, after: datetime) -> None:
    """An occurrence that would pass 9999-12-31 is None, never an error."""
    found = spec.next_after(after)
    assert found is None or after < found <= END_OF_TIME


def test_last_occurrence_before_the_end_of_datetime() -> None:
    """The last minute that fits is still found, then there is none."""
    spec = CalendarSpec(months=[12], monthdays=[31], hours=[23], minutes=[59])
    last = datetime(9999, 12, 31, 23, 59, tzinfo=UTC)
    assert spec.next_after(datetime(9999, 1, 1, tzinfo=UTC)) == last
    assert spec.next_after(last) is None


@pytest.mark.parametrize(
    ("single", "listed"),
    [
        ({"hours": 9}, {"hours": [9]}),
        ({"weekdays": "mon-fri"}, {"weekdays": [1, 2, 3, 4, 5]}),
        ({"months": "dec"}, {"months": [12]}),
    ],
)
def test_a_single_value_is_a_list_of_one(
    single: dict[str, object], listed: dict[str, object]
) -> None:
    """A filter may be one number, name or range instead of a list."""
    assert CalendarSpec(**single) == CalendarSpec(**listed)  # type: ignore[arg-type]
    assert parse_spec({"type": "calendar", **single}) == CalendarSpec(**listed)  # type: ignore[arg-type]
