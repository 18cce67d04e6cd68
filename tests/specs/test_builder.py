"""``every()``: the table in docs/schedules.md, the phrases as specs, and what is refused."""

from __future__ import annotations

import doctest
import json
import pickle
from collections.abc import Callable
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

import celery_stembeat
from celery_stembeat import every
from celery_stembeat.config_entries import entry_from_config, item_digest
from celery_stembeat.entry import Entry
from celery_stembeat.specs import CronSpec, IntervalSpec, Spec, SpecError, builder, parse_spec

UTC = timezone.utc
DOCS = Path(__file__).parents[2] / "docs" / "schedules.md"
TABLE_HEADER = "| `schedule` library | stembeat builder | JSON spec | cron |"


def documented_rows() -> list[tuple[str, str, str]]:
    """The builder table of docs/schedules.md: (builder, JSON spec, cron or "—")."""
    lines = DOCS.read_text().splitlines()
    start = lines.index(TABLE_HEADER) + 2
    rows = []
    for line in lines[start:]:
        if not line.startswith("| "):
            break
        _, built, spec, cron = (cell.strip().strip("`") for cell in line.split(" | "))
        rows.append((built, spec, cron.rstrip(" |").strip("`")))
    return rows


def build(text: str) -> Spec:
    """The phrase ``text`` (a cell of the docs' table), built."""
    spec = eval(text, {"every": every})  # the docs' own cells, nothing else
    assert isinstance(spec, Spec)
    return spec


ROWS = documented_rows()


@pytest.mark.parametrize(("built", "spec", "cron"), ROWS, ids=[row[0] for row in ROWS])
def test_each_documented_row(built: str, spec: str, cron: str) -> None:
    """The phrase gives the row's JSON spec, and the row's cron text (— for an interval)."""
    phrase = build(built)
    assert phrase.to_dict() == json.loads(spec)
    assert phrase == parse_spec(json.loads(spec))
    if cron == "—":
        assert isinstance(phrase, IntervalSpec)
    else:
        assert isinstance(phrase, CronSpec)
        assert phrase.expression == cron


def test_the_table_has_every_phrase_of_the_issue() -> None:
    """The words the docs promise are rows, so each is tested above."""
    phrases = {built for built, _, _ in ROWS}
    assert len(phrases) >= 20
    for needed in (
        'every().day.at("03:00", tz="Europe/Berlin")',
        'every().weekday.at("09:00")',
        "every(5).to(10).minutes",
        'every().minute.at(":15")',
    ):
        assert needed in phrases


def test_docstring_examples_run() -> None:
    """The builder module's examples are doctests."""
    result = doctest.testmod(builder, optionflags=doctest.ELLIPSIS)
    assert result.attempted >= 8
    assert result.failed == 0


def test_every_is_offered_by_the_package_on_first_use() -> None:
    assert celery_stembeat.every is builder.every
    assert "every" in celery_stembeat.__all__


PHRASES: list[Callable[[], Spec]] = [
    lambda: every(10).minutes,
    lambda: every(5).to(10).minutes.until("2027-01-01T00:00:00Z"),
    lambda: every().day.at("03:00", tz="Europe/Berlin"),
    lambda: every().weekday.at("09:00:30"),
    lambda: every(3).days.starting(datetime(2026, 1, 1, 10, tzinfo=UTC)),
]


@pytest.mark.parametrize("make", PHRASES)
def test_a_phrase_is_the_spec_parse_spec_makes(make: Callable[[], Spec]) -> None:
    """Same class (a subclass), equal both ways, same hash, repr and description; pickles and
    round-trips through its dict form to the plain spec."""
    phrase = make()
    plain = parse_spec(phrase.to_dict())
    assert isinstance(phrase, type(plain))
    assert phrase == plain
    assert plain == phrase
    assert (phrase != plain) is False
    assert hash(phrase) == hash(plain)
    assert repr(phrase) == repr(plain)
    assert phrase.describe() == plain.describe()
    assert parse_spec(phrase) is phrase
    for copy in (pickle.loads(pickle.dumps(phrase)), parse_spec(json.dumps(phrase.to_dict()))):
        assert type(copy) is type(plain)
        assert copy == phrase
    after = datetime(2026, 3, 29, 0, 30, tzinfo=UTC)
    assert list(phrase.occurrences(after, 20)) == list(plain.occurrences(after, 20))


def test_a_phrase_in_beat_schedule_is_synced_as_its_spec() -> None:
    """A beat_schedule item's "schedule" may be a phrase; the entry holds an equal spec."""
    item = {"task": "proj.backup", "schedule": every().day.at("03:00", tz="Europe/Berlin")}
    entry = entry_from_config("nightly", item, "UTC")
    assert entry.spec == CronSpec("0 3 * * *", "Europe/Berlin")
    assert entry.to_dict()["spec"] == {
        "type": "cron",
        "expression": "0 3 * * *",
        "timezone": "Europe/Berlin",
    }
    assert item_digest("nightly", item, "UTC") == item_digest(
        "nightly", {**item, "schedule": every().day.at("03:00", tz="Europe/Berlin")}, "UTC"
    )
    assert Entry.from_dict(entry.to_dict()) == entry


def test_a_copy_made_by_dataclasses_replace_is_still_its_spec() -> None:
    """``replace()`` skips the builder: the copy is still a valid, comparable spec."""
    from dataclasses import replace

    start = datetime(2026, 1, 1, tzinfo=UTC)
    copy = replace(every(10).minutes, start_at=start)
    assert copy == IntervalSpec(600, start_at=start)
    assert hash(copy) == hash(IntervalSpec(600, start_at=start))
    with pytest.raises(SpecError, match="at"):
        copy.at("10:00")


def refused(make: Callable[[], Any], field: str, message: str) -> SpecError:
    """The SpecError ``make`` raises, checked to name ``field`` and say ``message`` on one
    line."""
    with pytest.raises(SpecError) as caught:
        make()
    error = caught.value
    assert message in str(error)
    assert error.field == field
    assert "\n" not in str(error)
    return error


@pytest.mark.parametrize(
    ("make", "field", "message"),
    [
        (lambda: every(-1), "every", "every(): -1 must be more than 0"),
        (lambda: every(0), "every", "every(): 0 must be more than 0"),
        (lambda: every(1e309), "every", "every(): inf is not a finite number"),
        (lambda: every(float("nan")), "every", "every(): nan is not a finite number"),
        (lambda: every("x"), "every", "every(): 'x' is not a number"),  # type: ignore[arg-type]
        (lambda: every(True), "every", "every(): True is not a number"),
        (lambda: every("x" * 1_000_000), "every", "every(): 'xxxxxxxxxx"),  # type: ignore[arg-type]
        (lambda: every(10**400).minutes, "every", "minutes is more than 100 years"),
        (lambda: every(1e300).days, "every", "every: 1e+300 days is more than 100 years"),
        (lambda: every(0.0001).seconds, "every", "interval 'every': 0.0001 must be at least"),
        (lambda: every(5).to(5), "up_to", "to(): 5 must be more than every()'s 5"),
        (lambda: every(5).to(-1), "up_to", "to(): -1 must be more than 0"),
        (lambda: every(5).to("10"), "up_to", "to(): '10' is not a number"),  # type: ignore[arg-type]
        (lambda: every(5).to(10).to(20), "up_to", "to(): given twice"),
        (lambda: every(5).to(1e300).minutes, "up_to", "up_to: 1e+300 minutes is more than 100"),
        (lambda: every().day.at("25:00"), "at", "at(): '25:00': hour 25 is outside 0-23"),
        (lambda: every().hour.at(":99"), "at", "at(): ':99': minute 99 is outside 0-59"),
        (lambda: every().minute.at(":60"), "at", "at(): ':60': second 60 is outside 0-59"),
        (lambda: every().day.at("03:00:61"), "at", "second 61 is outside 0-59"),
        (lambda: every().day.at("3"), "at", "at(): '3' is not a time of the form 'HH:MM'"),
        (lambda: every().hour.at("03:00:00"), "at", "not a time of the form ':MM' or 'MM:SS'"),
        (lambda: every().minute.at("10:00"), "at", "not a time of the form ':SS'"),
        (lambda: every().day.at("\u0663:00"), "at", "is not a time of the form"),
        (lambda: every().day.at(3), "at", "at(): expected text such as 'HH:MM'"),  # type: ignore[arg-type]
        (lambda: every().day.at("x" * 1_000_000), "at", "at(): 'xxxxxxxxxx"),
        (
            lambda: every().day.at("03:00", tz="Mars/Base"),
            "timezone",
            "at(): tz: unknown time zone 'Mars/Base'",
        ),
        (lambda: every().day.at("03:00", tz="x" * 1_000_000), "timezone", "unknown time zone"),
        (lambda: every().monday.at("24:00"), "at", "hour 24 is outside 0-23"),
    ],
)
def test_hostile_input_is_one_line_naming_the_field(
    make: Callable[[], Any], field: str, message: str
) -> None:
    assert len(str(refused(make, field, message))) < 300


@pytest.mark.parametrize(
    ("make", "field", "message"),
    [
        (
            lambda: every(3).days.at("10:00"),
            "at",
            "every 3 days at a time is not a cron schedule (a 3-day step restarts each month); "
            "use every(3).days.starting('2026-01-01T10:00:00Z')",
        ),
        (
            lambda: every(2).monday,
            "every",
            "every(2).monday: a cron spec cannot say every 2 Mondays; "
            "use every(2).weeks.starting('2026-01-05T00:00:00Z') (a Monday)",
        ),
        (lambda: every(2).weekday, "every", ".weekday runs every week (n must be 1)"),
        (lambda: every(5).to(10).monday, "up_to", "a random interval has no day of the week"),
        (lambda: every(2).minute, "every", "every(2).minute: .minute is for one; use .minutes"),
        (lambda: every(1).to(2).day, "every", ".day is for one; use .days"),
        (lambda: every(30).seconds.at(":10"), "at", "at(): not for every(30).seconds"),
        (lambda: every().week.at("10:00"), "at", "at(): not for every().week"),
        (lambda: every(7).hours.at(":00"), "at", "a step of 7 hours does not divide a day"),
        (lambda: every(7).minutes.at(":00"), "at", "a step of 7 minutes does not divide an hour"),
        (lambda: every(1.5).hours.at(":30"), "at", "a step of 1.5 hours does not divide a day"),
        (
            lambda: every(5).to(10).minutes.at(":10"),
            "at",
            "every(5).to(10).minutes is a random interval; a cron spec cannot say it",
        ),
        (
            lambda: every().day.until("2027-01-01T00:00:00Z").at("10:00"),
            "at",
            "has a start or an end, which a cron spec has not",
        ),
        (lambda: every().monday.at("10:00").at("11:00"), "at", "already has its time"),
        (
            lambda: every().day.at("03:00").until("2027-01-01T00:00:00Z"),
            "until",
            "until(): every().day.at('03:00') is a cron spec, which has no end; "
            "set the entry's expire_at instead",
        ),
        (lambda: every().monday.starting("2026-01-05T00:00:00Z"), "starting", "has no start"),
        (lambda: every(10).minutes.until(date(2027, 1, 1)), "until", "a date has no time of day"),  # type: ignore[arg-type]
        (
            lambda: every(10).minutes.until(timedelta(days=1)),  # type: ignore[arg-type]
            "until",
            "a timedelta counts from now",
        ),
        (lambda: every(10).minutes.starting(time(10)), "starting", "a time counts from now"),  # type: ignore[arg-type]
        (lambda: every(10).minutes.until(12), "until", "until(): 12 is not an instant"),  # type: ignore[arg-type]
        (lambda: every(10).minutes.until(datetime(2027, 1, 1)), "end_at", "has no time zone"),
        (lambda: every(10).minutes.until("2027-01-01"), "end_at", "has no time zone"),
        (lambda: every(10).minutes.until("soon"), "end_at", "'soon' is not an ISO 8601 instant"),
        (
            lambda: every(10).minutes.starting("2027-01-01T00:00:00Z").until("2026-01-01T00:00Z"),
            "end_at",
            "is before 'start_at'",
        ),
    ],
)
def test_what_a_spec_cannot_say_exactly_is_refused(
    make: Callable[[], Any], field: str, message: str
) -> None:
    """Refused when the phrase is built, on one line that says what and names the field."""
    refused(make, field, message)


def test_steps_that_divide_the_cycle_are_cron_steps() -> None:
    """Hours dividing a day and minutes dividing an hour count from midnight / the full hour."""
    for hours in (1, 2, 3, 4, 6, 8, 12):
        step = "*" if hours == 1 else f"*/{hours}"
        assert every(hours).hours.at(":05") == CronSpec(f"5 {step} * * *")
    for minutes in (1, 2, 3, 4, 5, 6, 10, 12, 15, 20, 30):
        step = "*" if minutes == 1 else f"*/{minutes}"
        assert every(minutes).minutes.at(":05") == CronSpec(f"5 {step} * * * *")
    assert every(2.0).hours.at(":30") == CronSpec("30 */2 * * *")


@pytest.mark.parametrize(
    ("day", "field"),
    [
        ("monday", "1"),
        ("tuesday", "2"),
        ("wednesday", "3"),
        ("thursday", "4"),
        ("friday", "5"),
        ("saturday", "6"),
        ("sunday", "0"),
        ("weekday", "1-5"),
    ],
)
def test_every_day_of_the_week(day: str, field: str) -> None:
    """Each day word is cron's day-of-week; alone at 00:00, with .at() at that time."""
    assert getattr(every(), day) == CronSpec(f"0 0 * * {field}")
    assert getattr(every(), day).at("07:45:10", tz="Asia/Kolkata") == CronSpec(
        f"10 45 7 * * {field}", "Asia/Kolkata"
    )


def test_the_berlin_row_fires_at_three_local_across_the_change() -> None:
    """`every().day.at("03:00", tz=...)` follows the zone's clock: 02:00 UTC in summer."""
    spec = every().day.at("03:00", tz="Europe/Berlin")
    found = list(spec.occurrences(datetime(2026, 3, 27, tzinfo=UTC), 3))
    assert found == [
        datetime(2026, 3, 27, 2, tzinfo=UTC),
        datetime(2026, 3, 28, 2, tzinfo=UTC),
        datetime(2026, 3, 29, 1, tzinfo=UTC),
    ]


def test_until_and_starting_bound_an_interval() -> None:
    """`starting` anchors the grid at its instant; `until` ends it (inclusive)."""
    start = datetime(2026, 1, 1, 10, tzinfo=UTC)
    spec = every(3).days.starting(start).until(start + timedelta(days=6))
    assert list(spec.occurrences(start - timedelta(days=1), 5)) == [
        start,
        start + timedelta(days=3),
        start + timedelta(days=6),
    ]
    berlin = datetime(2026, 1, 1, 11, tzinfo=timezone(timedelta(hours=1)))
    assert every(3).days.starting(berlin) == IntervalSpec(259200, start_at=start)


@pytest.mark.parametrize(
    ("make", "field", "message"),
    [
        (
            lambda: every(10).minutes.until(date(2027, 1, 1)),  # type: ignore[arg-type]
            "until",
            "until(): a date has no time of day or zone; "
            "give an instant such as '2026-01-01T00:00:00Z'",
        ),
        (
            lambda: every().monday.starting("2026-01-05T00:00:00Z"),
            "starting",
            "starting(): every().monday is a cron spec, which has no start; "
            "add the entry when it should begin",
        ),
        (
            lambda: every().monday.at("10:00").until("2027-01-01T00:00:00Z"),
            "until",
            "until(): every().monday.at('10:00') is a cron spec, which has no end; "
            "set the entry's expire_at instead",
        ),
        (
            lambda: every(10).minutes.until("2027-01-01T00:00:00Z").at("10:00"),
            "at",
            "at(): every(10).minutes.until(...) has a start or an end, which a cron spec has not",
        ),
        (
            lambda: every(10).minutes.starting("2026-01-01T00:00:00Z").at("10:00"),
            "at",
            "at(): every(10).minutes.starting(...) has a start or an end, "
            "which a cron spec has not",
        ),
        (
            lambda: every().day.at(3),  # type: ignore[arg-type]
            "at",
            "at(): expected text such as 'HH:MM' or 'HH:MM:SS', got 3",
        ),
        (lambda: every(5).to(10).to(20), "up_to", "to(): given twice"),
        (
            lambda: every(52596001).minutes,
            "every",
            "every: 52596001 minutes is more than 100 years",
        ),
    ],
)
def test_the_whole_message_says_the_phrase_as_written(
    make: Callable[[], Any], field: str, message: str
) -> None:
    """The message repeats the phrase in the builder's words, however far it got."""
    assert str(refused(make, field, message)) == message


def test_a_random_interval_keeps_its_range_when_bounded() -> None:
    """`until` and `starting` keep what the phrase had before them."""
    start = datetime(2026, 1, 1, tzinfo=UTC)
    end = datetime(2027, 1, 1, tzinfo=UTC)
    ranged = every(5).to(10).minutes
    assert ranged.until(end) == IntervalSpec(300, end_at=end, up_to=600)
    assert ranged.until(end).starting(start) == IntervalSpec(300, start, end, 600)
    assert ranged.starting(start).until(end) == IntervalSpec(300, start, end, 600)


def test_a_hundred_years_is_the_longest_phrase() -> None:
    assert every(52596000).minutes == IntervalSpec(100 * 365.25 * 86400)


def test_a_zero_second_is_written_out() -> None:
    """`.at()` with seconds gives cron's seconds field, even for 0."""
    assert every().minute.at(":00").expression == "0 * * * * *"
    assert every().hour.at("00:00").expression == "0 0 * * * *"
    assert every().day.at("03:00:00").expression == "0 0 3 * * *"
    assert every().monday.at("03:00:00").expression == "0 0 3 * * 1"
    assert every().day.at("03:00").expression == "0 3 * * *"


@pytest.mark.parametrize(
    ("phrase", "expression"),
    [
        (lambda: every().day.at("23:59:59"), "59 59 23 * * *"),
        (lambda: every().hour.at("59:59"), "59 59 * * * *"),
        (lambda: every().minute.at(":59"), "59 * * * * *"),
    ],
)
def test_the_last_hour_minute_and_second_are_times(
    phrase: Callable[[], Any], expression: str
) -> None:
    assert phrase().to_dict()["expression"] == expression
