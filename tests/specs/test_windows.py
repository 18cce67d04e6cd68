"""Blackout windows: skipped occurrences, DST, the bounded search, the dict form, hostile input."""

from __future__ import annotations

import json
import time
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from celery_stembeat.entry import Entry
from celery_stembeat.limits import MAX_WINDOW_ITEMS, shorten
from celery_stembeat.specs import (
    ClockedSpec,
    CronSpec,
    IntervalSpec,
    SpecError,
    WindowedSpec,
    bind_calendars,
    calendar_names,
    check_calendar_name,
    parse_spec,
    spec_zone,
    unwrap,
)
from celery_stembeat.specs._cover import Cover
from celery_stembeat.specs._rules import WindowRule
from celery_stembeat.specs.windows import HORIZON

UTC = timezone.utc
BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def local(zone: ZoneInfo, *fields: int) -> datetime:
    return datetime(*fields, tzinfo=zone).astimezone(UTC)


def test_a_public_holiday_is_skipped_and_the_day_after_runs() -> None:
    spec = parse_spec(
        {
            "type": "cron",
            "expression": "0 9 * * *",
            "timezone": "Europe/Berlin",
            "except": ["2026-12-25", {"months": [12], "monthdays": ["24-26"]}],
        }
    )
    after = local(BERLIN, 2026, 12, 23, 10)
    assert list(spec.occurrences(after, 2)) == [
        local(BERLIN, 2026, 12, 27, 9),
        local(BERLIN, 2026, 12, 28, 9),
    ]


def test_only_business_hours_of_weekdays() -> None:
    spec = parse_spec(
        {
            "type": "interval",
            "every": 3600,
            "start_at": "2026-01-02T00:00:00Z",
            "only": [{"weekdays": ["mon-fri"], "between": ["09:00", "17:00"]}],
        }
    )
    # Friday 2 January 2026: 09:00 to 16:00, then Monday 09:00.
    found = list(spec.occurrences(T0, 9))
    assert found[:8] == [datetime(2026, 1, 2, hour, tzinfo=UTC) for hour in range(9, 17)]
    assert found[8] == datetime(2026, 1, 5, 9, tzinfo=UTC)


def test_a_window_that_wraps_midnight_belongs_to_the_day_it_starts() -> None:
    spec = parse_spec(
        {
            "type": "cron",
            "expression": "0 * * * *",
            "except": [{"weekdays": ["fri"], "between": ["22:00", "02:00"]}],
        }
    )
    friday_night = datetime(2026, 1, 2, 21, 30, tzinfo=UTC)
    assert list(spec.occurrences(friday_night, 2)) == [
        datetime(2026, 1, 3, 2, tzinfo=UTC),
        datetime(2026, 1, 3, 3, tzinfo=UTC),
    ]
    thursday_night = datetime(2026, 1, 1, 22, 30, tzinfo=UTC)
    assert spec.next_after(thursday_night) == datetime(2026, 1, 1, 23, tzinfo=UTC)


def test_rules_are_read_in_the_spec_zone_unless_they_name_their_own() -> None:
    base = {"type": "cron", "expression": "30 2 * * *", "timezone": "America/New_York"}
    own = parse_spec({**base, "except": [{"between": ["02:00", "03:00"]}]})
    utc = parse_spec({**base, "except": [{"between": ["02:00", "03:00"], "timezone": "UTC"}]})
    after = local(NEW_YORK, 2026, 6, 1, 12)
    # Every 02:30 in New York falls in the window but the one the clocks skip: cron fires
    # that one at the end of the jump, 03:00, which is outside it.
    assert own.next_after(after) == local(NEW_YORK, 2027, 3, 14, 3)
    assert utc.next_after(after) == local(NEW_YORK, 2026, 6, 2, 2, 30)
    assert spec_zone(own) == "America/New_York"


def test_a_window_is_cut_where_the_clocks_jump() -> None:
    """Spring forward in New York (8 March 2026, 02:00 → 03:00): a window from 02:30 to 03:30
    starts at the jump, the first instant whose wall clock is past 02:30."""
    spec = parse_spec(
        {
            "type": "interval",
            "every": 60,
            "start_at": "2026-03-08T00:00:00Z",
            "except": [{"between": ["02:30", "03:30"], "timezone": "America/New_York"}],
        }
    )
    jump = local(NEW_YORK, 2026, 3, 8, 3)  # 07:00 UTC
    assert spec.next_after(jump - timedelta(minutes=2)) == jump - timedelta(minutes=1)
    assert spec.next_after(jump - timedelta(minutes=1)) == local(NEW_YORK, 2026, 3, 8, 3, 30)


def test_a_window_in_an_autumn_fold_covers_both_passes() -> None:
    """Fall back in New York (1 November 2026, 02:00 EDT → 01:00 EST): 01:00-01:30 happens
    twice, and both passes are excluded."""
    spec = parse_spec(
        {
            "type": "interval",
            "every": 900,
            "start_at": "2026-11-01T00:00:00Z",
            "except": [{"between": ["01:00", "01:30"], "timezone": "America/New_York"}],
        }
    )
    first = datetime(2026, 11, 1, 5, tzinfo=UTC)  # 01:00 EDT
    second = datetime(2026, 11, 1, 6, tzinfo=UTC)  # 01:00 EST
    found = list(spec.occurrences(first - timedelta(minutes=1), 4))
    assert found == [
        first + timedelta(minutes=30),
        first + timedelta(minutes=45),
        second + timedelta(minutes=30),
        second + timedelta(minutes=45),
    ]


def test_an_unanchored_interval_keeps_its_period_from_the_last_run() -> None:
    """The next run is a whole number of periods after the instant asked about, as firing
    and skipping one by one would give."""
    spec = parse_spec(
        {"type": "interval", "every": 3600, "except": [{"between": ["02:00", "04:00"]}]}
    )
    after = datetime(2026, 1, 1, 1, 30, tzinfo=UTC)
    assert spec.next_after(after) == datetime(2026, 1, 1, 4, 30, tzinfo=UTC)


def test_ten_years_all_excluded_is_none_quickly() -> None:
    spec = parse_spec({"type": "interval", "every": 1, "except": [{"months": ["1-12"]}]})
    started = time.perf_counter()
    assert spec.next_after(T0) is None
    assert time.perf_counter() - started < 2


def test_a_year_of_excluded_seconds_is_skipped_in_few_steps() -> None:
    """An interval of 1 s excluded for all of 2026 resumes at the first second of 2027,
    without stepping through 31 million excluded seconds."""
    holidays = [(date(2026, 1, 1) + timedelta(days=n)).isoformat() for n in range(365)]
    spec = parse_spec(
        {
            "type": "interval",
            "every": 1,
            "start_at": "2025-01-01T00:00:00Z",
            "except": [{"dates": holidays}],
        }
    )
    started = time.perf_counter()
    found = spec.next_after(datetime(2025, 12, 31, 23, 59, 59, tzinfo=UTC))
    assert found == datetime(2027, 1, 1, tzinfo=UTC)
    assert time.perf_counter() - started < 1


def test_an_occurrence_past_the_horizon_is_found_when_allowed() -> None:
    """The horizon bounds the search over excluded occurrences, not the inner spec's reach."""
    at = T0 + 2 * HORIZON
    spec = parse_spec({"type": "clocked", "at": at.isoformat(), "except": ["2026-01-01"]})
    assert spec.next_after(T0) == at
    excluded = parse_spec(
        {"type": "clocked", "at": at.isoformat(), "except": [{"months": ["1-12"]}]}
    )
    assert excluded.next_after(T0) is None


def test_only_rules_that_never_come_again_give_none() -> None:
    spec = parse_spec({"type": "cron", "expression": "0 9 * * *", "only": ["2025-06-01"]})
    assert spec.next_after(T0) is None


def test_a_clocked_one_off_keeps_run_once_and_its_instant() -> None:
    at = datetime(2026, 12, 25, 9, tzinfo=UTC)
    spec = parse_spec({"type": "clocked", "at": "2026-12-25T09:00:00Z", "except": ["2026-12-25"]})
    assert spec.run_once is True
    assert isinstance(unwrap(spec), ClockedSpec)
    assert spec.next_after(T0) is None
    allowed = parse_spec(
        {"type": "clocked", "at": "2026-12-25T09:00:00Z", "except": ["2026-12-24"]}
    )
    assert allowed.next_after(T0) == at
    assert parse_spec({"type": "interval", "every": 5, "only": ["2026-01-01"]}).run_once is False


def test_dict_form_and_describe() -> None:
    data = {
        "type": "cron",
        "expression": "0 9 * * 1-5",
        "timezone": "Europe/London",
        "except": [
            "2026-12-25",
            {"months": ["dec"], "monthdays": ["24-26"]},
            {"between": ["2:00", "04:00:00"], "timezone": "Europe/Berlin"},
        ],
        "only": [{"hours": ["9-17"]}],
    }
    spec = parse_spec(data)
    assert spec.to_dict() == {
        "type": "cron",
        "expression": "0 9 * * 1-5",
        "timezone": "Europe/London",
        "except": [
            "2026-12-25",
            {"months": [12], "monthdays": [24, 25, 26]},
            {"between": ["02:00", "04:00"], "timezone": "Europe/Berlin"},
        ],
        "only": [{"hours": list(range(9, 18))}],
    }
    assert spec.describe() == (
        "cron 0 9 * * 1-5 (Europe/London) except 2026-12-25, months=12 monthdays=24-26, "
        "02:00-04:00 (Europe/Berlin) only hours=9-17"
    )
    assert parse_spec(json.dumps(data)) == spec
    assert spec != CronSpec("0 9 * * 1-5", "Europe/London")
    assert parse_spec({"type": "interval", "every": 5, "except": None}) == IntervalSpec(5)


def test_the_parse_timezone_reaches_the_inner_spec_and_its_rules() -> None:
    spec = parse_spec(
        {"type": "cron", "expression": "0 9 * * *", "except": ["2026-01-02"]}, timezone="Asia/Tokyo"
    )
    assert isinstance(spec, WindowedSpec)
    assert spec_zone(spec) == "Asia/Tokyo"
    assert spec.next_after(datetime(2026, 1, 1, 1, tzinfo=UTC)) == local(
        ZoneInfo("Asia/Tokyo"), 2026, 1, 3, 9
    )


LONG = shorten("x" * 1_000_000)
HOSTILE = [
    ({"except": ["2026-02-30"]}, "except[0]: '2026-02-30' is not a date (YYYY-MM-DD)"),
    ({"except": ["tomorrow"]}, "except[0]: 'tomorrow' is not a date (YYYY-MM-DD)"),
    (
        {"except": [{"between": ["02:00", "25:00"]}]},
        "except[0] 'between': '25:00' is not a time of day (00:00-24:00)",
    ),
    (
        {"except": [{"between": ["24:00", "02:00"]}]},
        "except[0] 'between': '24:00' is not a time of day (00:00-23:59:59)",
    ),
    (
        {"except": [{"between": ["02:00"]}]},
        "except[0] 'between': expected [start, end], got ['02:00']",
    ),
    (
        {"except": [{"between": ["02:00", "02:00"]}]},
        "except[0] 'between': ['02:00', '02:00'] is empty or the whole day",
    ),
    (
        {"except": [{"between": ["00:00", "24:00"]}]},
        "except[0] 'between': ['00:00', '24:00'] is empty or the whole day",
    ),
    (
        {"except": [{"between": ["09:60", "10:00"]}]},
        "except[0] 'between': '09:60' is not a time of day (00:00-23:59:59)",
    ),
    (
        {"except": [{"between": ["09:00", "09:00:60"]}]},
        "except[0] 'between': '09:00:60' is not a time of day (00:00-24:00)",
    ),
    (
        {"only": [{"between": "02:00-04:00"}]},
        "only[0] 'between': expected a list, got '02:00-04:00'",
    ),
    (
        {"only": [{"between": [9, "10:00"]}]},
        "only[0] 'between': 9 is not a time of day (00:00-23:59:59)",
    ),
    ({"except": [{"months": [13]}]}, "except[0] 'months': 13 is outside 1-12"),
    (
        {"except": [{"monthdays": [31], "months": [2, 4]}]},
        "except[0]: 'months=2,4 monthdays=31' never matches a date",
    ),
    (
        {"except": [{"weekdays": ["mon"], "timezone": "Mars/Olympus"}]},
        "except[0]: unknown time zone 'Mars/Olympus'",
    ),
    (
        {"except": [{"holiday": True}]},
        "except[0]: unknown field 'holiday' "
        "(known: months, weekdays, monthdays, calendar, dates, hours, between, timezone)",
    ),
    (
        {"except": [{}]},
        "except[0]: a rule needs months, weekdays, monthdays, calendar, dates, hours or between",
    ),
    (
        {"except": [{"timezone": "UTC"}]},
        "except[0]: a rule needs months, weekdays, monthdays, calendar, dates, hours or between",
    ),
    (
        {"except": [{"dates": ["2026-01-01"], "months": [1]}]},
        "except[0]: 'dates' cannot be combined with months, weekdays, monthdays",
    ),
    (
        {"except": [{"hours": [1], "between": ["01:00", "02:00"]}]},
        "except[0]: give 'hours' or 'between', not both",
    ),
    ({"except": [42]}, "except[0]: 42 is not a date or a rule object"),
    (
        {"except": [{"calendar": "a b"}]},
        "except[0] 'calendar': 'a b' is not a calendar name (1-64 of A-Z a-z 0-9 _ . : -)",
    ),
    (
        {"except": [{"calendar": "x" * 1_000_000}]},
        f"except[0] 'calendar': {LONG} is not a calendar name (1-64 of A-Z a-z 0-9 _ . : -)",
    ),
    (
        {"only": [{"calendar": "x", "weekdays": [1]}]},
        "only[0]: 'calendar' cannot be combined with months, weekdays, monthdays",
    ),
    ({"except": "2026-12-25"}, "'except': expected a list, got '2026-12-25'"),
    ({"except": []}, "'except': empty (leave it out instead)"),
    (
        {"only": ["2026-01-01"] * (MAX_WINDOW_ITEMS + 1)},
        f"'only': more than {MAX_WINDOW_ITEMS} items",
    ),
    ({"except": ["2026-01-01"] * 10_000}, f"'except': more than {MAX_WINDOW_ITEMS} items"),
    (
        {"except": [{"dates": ["2026-01-01"] * 10_000}]},
        f"except[0] 'dates': more than {MAX_WINDOW_ITEMS} items",
    ),
    ({"except": ["x" * 1_000_000]}, f"except[0]: {LONG} is not a date (YYYY-MM-DD)"),
    (
        {"except": [{"between": ["x" * 1_000_000, "02:00"]}]},
        f"except[0] 'between': {LONG} is not a time of day (00:00-23:59:59)",
    ),
    (
        {"except": [{"timezone": "x" * 1_000_000, "hours": [1]}]},
        f"except[0]: unknown time zone {LONG}",
    ),
    (
        {"except": [[[[[[["2026-01-01"]]]]]]]},
        "except[0]: [[[[...]]]] is not a date or a rule object",
    ),
]


@pytest.mark.parametrize(("windows", "message"), HOSTILE, ids=[m[:40] for _, m in HOSTILE])
def test_hostile_windows_are_one_line_errors_naming_the_field(windows: dict, message: str) -> None:
    with pytest.raises(SpecError) as caught:
        parse_spec({"type": "interval", "every": 60, **windows})
    text = str(caught.value)
    assert text == message
    assert len(text) < 250
    assert caught.value.field == next(iter(windows))


def test_deeply_nested_json_text_is_a_spec_error() -> None:
    text = '{"type": "interval", "every": 60, "except": ' + "[" * 100_000 + "]" * 100_000 + "}"
    with pytest.raises(SpecError) as caught:
        parse_spec(text)
    assert "\n" not in str(caught.value)


def test_windows_do_not_wrap_windows() -> None:
    spec = parse_spec({"type": "interval", "every": 60, "except": ["2026-01-01"]})
    with pytest.raises(SpecError, match="not a spec without windows"):
        WindowedSpec(spec, ("2026-01-02",))


def test_an_entry_with_a_late_windowed_one_off_fires_it_unless_excluded() -> None:
    """A one-off that has never run fires even late, as without windows, unless its instant
    is excluded."""
    late = datetime(2026, 12, 26, tzinfo=UTC)
    spec = {"type": "clocked", "at": "2026-12-25T09:00:00Z"}
    allowed = Entry(id="once", task="t", spec=parse_spec({**spec, "except": ["2026-12-24"]}))
    assert allowed.run_once is True
    assert allowed.first_run_after(late) == datetime(2026, 12, 25, 9, tzinfo=UTC)
    excluded = Entry(id="once", task="t", spec=parse_spec({**spec, "except": ["2026-12-25"]}))
    assert excluded.first_run_after(late) is None


def test_a_calendar_rule_takes_the_dates_bound_into_it() -> None:
    data = {
        "type": "cron",
        "expression": "0 9 * * *",
        "except": [{"calendar": "holidays", "between": ["00:00", "12:00"]}],
    }
    unbound = parse_spec(data)
    assert unbound.describe() == "cron 0 9 * * * (UTC) except calendar=holidays 00:00-12:00"
    assert calendar_names(unbound) == {"holidays"}
    with pytest.raises(SpecError, match=r"^except\[0\]: unknown calendar 'holidays'$"):
        bind_calendars(unbound, {"other": [date(2026, 1, 2)]})
    bound = bind_calendars(unbound, {"holidays": [date(2026, 1, 2), date(2026, 1, 2)]})
    assert bound.to_dict()["except"] == [
        {"calendar": "holidays", "dates": ["2026-01-02"], "between": ["00:00", "12:00"]}
    ]
    assert parse_spec(bound.to_dict()) == bound
    assert bound != unbound
    assert bound.next_after(T0) == datetime(2026, 1, 1, 9, tzinfo=UTC)
    assert bound.next_after(datetime(2026, 1, 1, 10, tzinfo=UTC)) == datetime(
        2026, 1, 3, 9, tzinfo=UTC
    )
    assert bind_calendars(IntervalSpec(5), {}) == IntervalSpec(5)


def test_a_rule_of_several_dates_is_described_by_them() -> None:
    rule = {"dates": ["2026-12-25", "2026-12-24"], "hours": [9]}
    spec = parse_spec({"type": "interval", "every": 60, "except": [rule]})
    assert spec.describe() == "every 1m except dates=2026-12-24,2026-12-25 hours=9"


def test_an_unknown_calendar_names_the_rule_that_asked_for_it() -> None:
    """The error says which list and which rule, and names that list as its field."""
    spec = parse_spec(
        {
            "type": "interval",
            "every": 60,
            "except": [{"calendar": "known"}],
            "only": ["2026-01-02", {"calendar": "missing"}],
        }
    )
    with pytest.raises(SpecError) as caught:
        bind_calendars(spec, {"known": [date(2026, 1, 1)]})
    assert str(caught.value) == "only[1]: unknown calendar 'missing'"
    assert caught.value.field == "only"
    with pytest.raises(SpecError) as caught:
        bind_calendars(spec, {"missing": [date(2026, 1, 1)]})
    assert str(caught.value) == "except[0]: unknown calendar 'known'"
    assert caught.value.field == "except"


def test_a_calendar_name_is_checked_as_a_calendar_by_default() -> None:
    assert check_calendar_name("de-BY_2026.v1:a") == "de-BY_2026.v1:a"
    with pytest.raises(SpecError) as caught:
        check_calendar_name("a/b")
    assert str(caught.value) == (
        "calendar: 'a/b' is not a calendar name (1-64 of A-Z a-z 0-9 _ . : -)"
    )
    assert caught.value.field == "calendar"


@pytest.mark.parametrize(
    ("windows", "field", "message"),
    [
        ({"except": [{"dates": []}]}, "except", "except[0] 'dates': empty"),
        (
            {"only": [{"dates": ["2026-01-01", 42]}]},
            "only",
            "only[0] 'dates': 42 is not a date (YYYY-MM-DD)",
        ),
    ],
)
def test_a_dates_rule_error_is_exact(windows: dict, field: str, message: str) -> None:
    with pytest.raises(SpecError) as caught:
        parse_spec({"type": "interval", "every": 60, **windows})
    assert str(caught.value) == message
    assert caught.value.field == field


def test_a_calendar_rule_may_hold_no_dates_yet() -> None:
    """A calendar with no dates bound covers nothing, which is not an error."""
    rule = {"calendar": "holidays", "dates": []}
    spec = parse_spec({"type": "interval", "every": 60, "except": [rule]})
    assert spec.to_dict()["except"] == [{"calendar": "holidays"}]
    assert spec.next_after(T0) == T0 + timedelta(minutes=1)


def test_an_unanchored_interval_with_windows_ends_at_its_end() -> None:
    """Past an excluded stretch, the next occurrence on the grid is kept up to and including
    ``end_at``, and dropped after it."""
    windows = {"type": "interval", "every": 3600, "except": [{"hours": [1, 2]}]}
    ends_on = parse_spec({**windows, "end_at": "2026-01-01T03:00:00Z"})
    assert ends_on.next_after(T0) == datetime(2026, 1, 1, 3, tzinfo=UTC)
    ends_before = parse_spec({**windows, "end_at": "2026-01-01T02:30:00Z"})
    assert ends_before.next_after(T0) is None


def test_a_cover_search_from_its_limit_still_finds_the_next_change() -> None:
    """Only an instant past the limit ends the search, not the limit itself."""
    cover = Cover(UTC, (WindowRule(hours=(9,)),))
    assert cover.covered_from(T0, T0) == datetime(2026, 1, 1, 9, tzinfo=UTC)
    assert cover.covered_from(T0 + timedelta(microseconds=1), T0) is None
    nine = datetime(2026, 1, 1, 9, tzinfo=UTC)
    assert cover.uncovered_from(nine, nine) == datetime(2026, 1, 1, 10, tzinfo=UTC)
    assert cover.uncovered_from(nine + timedelta(microseconds=1), nine) is None


def test_a_cover_merges_touching_and_overlapping_spans_of_a_day() -> None:
    """Spans of several rules on one day become the fewest stretches, each start covered and
    each end not."""
    cover = Cover(
        UTC,
        (
            WindowRule(hours=(1, 2, 5)),
            WindowRule(between=(9000, 14400)),
            WindowRule(between=(10800, 12600)),
            WindowRule(between=(19800, 25200)),
        ),
    )
    hour = 3_600_000_000
    assert cover.spans(date(2026, 1, 1)) == [(hour, 4 * hour), (5 * hour, 7 * hour)]
    assert cover.covers(datetime(2026, 1, 1, 1, tzinfo=UTC))
    assert not cover.covers(datetime(2026, 1, 1, 4, tzinfo=UTC))
    assert cover.uncovered_from(datetime(2026, 1, 1, 1, tzinfo=UTC), T0) is None
    assert cover.uncovered_from(T0, T0) == T0


MONTH_LENGTHS = {
    1: 31,
    2: 29,
    3: 31,
    4: 30,
    5: 31,
    6: 30,
    7: 31,
    8: 31,
    9: 30,
    10: 31,
    11: 30,
    12: 31,
}


@pytest.mark.parametrize(("month", "length"), MONTH_LENGTHS.items())
def test_a_month_day_is_refused_only_where_no_chosen_month_has_it(month: int, length: int) -> None:
    """A rule's last day of a month matches; a day past it, in that month alone, never does."""
    spec = {"type": "interval", "every": 60}
    last = {"months": [month], "monthdays": [length]}
    assert parse_spec({**spec, "except": [last]}).to_dict()["except"] == [last]
    if length < 31:
        past = {"months": [month], "monthdays": [length + 1]}
        with pytest.raises(SpecError) as caught:
            parse_spec({**spec, "except": [past]})
        assert str(caught.value) == (
            f"except[0]: 'months={month} monthdays={length + 1}' never matches a date"
        )
        both = {"months": [month, 1], "monthdays": [length + 1]}
        assert parse_spec({**spec, "except": [both]})
    assert parse_spec({**spec, "except": [{"months": [month]}]})
    assert parse_spec({**spec, "except": [{"monthdays": [31]}]})


def test_a_window_with_seconds_keeps_them() -> None:
    rule = {"between": ["09:00:30", "17:59:59"]}
    spec = parse_spec({"type": "interval", "every": 60, "only": [rule]})
    assert spec.to_dict()["only"] == [{"between": ["09:00:30", "17:59:59"]}]
    assert spec.describe() == "every 1m only 09:00:30-17:59:59"


def test_a_cover_reaches_a_wall_time_no_further_than_the_next_clock_change() -> None:
    """Berlin's clock jumps at 01:00 UTC on 2026-03-29: a reach past it stops there."""
    cover = Cover(BERLIN, (WindowRule(hours=(1,)),))
    start = datetime(2026, 3, 29, 0, 30, tzinfo=UTC)
    assert cover._reach(start, datetime(2026, 3, 29, 4)) == datetime(2026, 3, 29, 1, tzinfo=UTC)
    assert cover._reach(start, datetime(2026, 3, 29, 1, 45)) == datetime(
        2026, 3, 29, 0, 45, tzinfo=UTC
    )


@pytest.mark.parametrize(
    "between", [["00:00", "23:00"], ["01:00", "24:00"], ["22:00", "24:00"], ["00:00", "00:00:01"]]
)
def test_a_window_from_midnight_or_to_its_end_is_not_the_whole_day(between: list[str]) -> None:
    spec = parse_spec({"type": "interval", "every": 60, "except": [{"between": between}]})
    assert spec.to_dict()["except"] == [{"between": between}]


def test_a_list_of_exactly_the_most_items_is_taken() -> None:
    days = [(date(2026, 1, 1) + timedelta(days=n)).isoformat() for n in range(MAX_WINDOW_ITEMS)]
    spec = parse_spec({"type": "interval", "every": 60, "except": days})
    assert len(spec.to_dict()["except"]) == MAX_WINDOW_ITEMS


def test_a_rule_covers_from_the_first_microsecond_of_its_day() -> None:
    """A date covers its midnight; a window across midnight covers the next midnight; a
    Sunday rule covers Sundays."""
    midnight = datetime(2026, 1, 4, tzinfo=UTC)  # a Sunday
    assert Cover(UTC, (WindowRule(dates=(date(2026, 1, 4),)),)).covers(midnight)
    assert not Cover(UTC, (WindowRule(dates=(date(2026, 1, 3),)),)).covers(midnight)
    night = WindowRule(weekdays=(6,), between=(79200, 7200))  # Saturday 22:00-02:00
    assert Cover(UTC, (night,)).covers(midnight)
    assert not Cover(UTC, (night,)).covers(midnight + timedelta(hours=2))
    assert Cover(UTC, (WindowRule(weekdays=(0,)),)).covers(midnight)
    assert not Cover(UTC, (WindowRule(weekdays=(0,)),)).covers(midnight - timedelta(seconds=1))


def test_an_only_rule_that_never_comes_again_leaves_the_others_to_answer() -> None:
    """After an excluded stretch the walk asks the `only` rules again; one with no day left
    gives no answer and the others still do."""
    spec = parse_spec(
        {
            "type": "interval",
            "every": 3600,
            "only": [{"dates": ["2020-01-01"], "timezone": "Europe/Berlin"}, {"hours": [9, 13]}],
            "except": [{"between": ["09:00", "10:00"]}],
        }
    )
    assert spec.next_after(T0) == datetime(2026, 1, 1, 13, tzinfo=UTC)


def test_windows_near_the_end_of_time_search_up_to_it() -> None:
    """Within ten years of 9999-12-31 the search ends there instead of overflowing."""
    spec = parse_spec({"type": "interval", "every": 60, "except": ["9999-06-01"]})
    after = datetime(9999, 6, 1, tzinfo=UTC)
    assert spec.next_after(after) == datetime(9999, 6, 2, tzinfo=UTC)


def test_windows_built_directly_refuse_a_bad_inner_spec_or_no_rules() -> None:
    with pytest.raises(SpecError) as caught:
        WindowedSpec("x", ("2026-01-01",))  # type: ignore[arg-type]
    assert str(caught.value) == "windows: 'x' is not a spec without windows"
    with pytest.raises(SpecError) as caught:
        WindowedSpec(IntervalSpec(5))
    assert str(caught.value) == "windows: give 'except' or 'only' rules"
    assert caught.value.field == "except"


def test_a_spec_without_a_zone_is_read_in_utc() -> None:
    assert spec_zone(IntervalSpec(5)) == "UTC"
    assert spec_zone(parse_spec({"type": "interval", "every": 5, "only": ["2026-01-01"]})) == "UTC"


def test_a_cover_counts_microseconds_at_its_edges() -> None:
    cover = Cover(UTC, (WindowRule(hours=(9,)),))
    nine = datetime(2026, 1, 1, 9, tzinfo=UTC)
    assert cover.covers(nine + timedelta(microseconds=1))
    assert not cover.covers(nine - timedelta(microseconds=1))
    assert cover.covers(nine + timedelta(hours=1) - timedelta(microseconds=1))
