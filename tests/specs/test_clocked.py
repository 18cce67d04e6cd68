"""ClockedSpec: one instant, strictly-after semantics, run-once, UTC normalisation."""

from __future__ import annotations

import pickle
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone, tzinfo
from zoneinfo import ZoneInfo

import pytest

from celery_stembeat.specs import (
    CalendarSpec,
    ClockedSpec,
    CronSpec,
    IntervalSpec,
    SolarSpec,
    Spec,
    SpecError,
    format_instant,
    parse_instant,
    parse_spec,
)

UTC = timezone.utc
AT = datetime(2025, 1, 1, 9, 0, tzinfo=UTC)


def test_next_after_is_at_only_when_strictly_after() -> None:
    """Before `at` gives `at`; at or after it gives None."""
    spec = ClockedSpec(AT)
    assert spec.next_after(AT - timedelta(microseconds=1)) == AT
    assert spec.next_after(AT - timedelta(days=3650)) == AT
    assert spec.next_after(AT) is None
    assert spec.next_after(AT + timedelta(microseconds=1)) is None
    assert spec.next_after(AT + timedelta(days=1)) is None


def test_next_after_compares_instants_across_zones() -> None:
    """An `after` written in another zone is compared as an instant, not a wall time."""
    spec = ClockedSpec(AT)
    tokyo = ZoneInfo("Asia/Tokyo")
    assert spec.next_after(datetime(2025, 1, 1, 17, 59, tzinfo=tokyo)) == AT
    assert spec.next_after(datetime(2025, 1, 1, 18, 0, tzinfo=tokyo)) is None


def test_occurrences_yield_exactly_one() -> None:
    """Asked for many occurrences, a clocked spec yields one."""
    assert list(ClockedSpec(AT).occurrences(AT - timedelta(hours=1), 10)) == [AT]


def test_only_clocked_is_run_once() -> None:
    """run_once is True for clocked and False for every repeating kind."""
    assert ClockedSpec(AT).run_once is True
    assert ClockedSpec.run_once is True
    repeating = [
        IntervalSpec(30),
        CronSpec("* * * * *"),
        CalendarSpec(),
        SolarSpec("sunrise", 0, 0),
    ]
    assert [spec.run_once for spec in repeating] == [False] * len(repeating)


@pytest.mark.parametrize("value", [datetime(2025, 1, 1, 9, 0), "2025-01-01T09:00:00"])
def test_naive_at_is_rejected_naming_the_field(value: object) -> None:
    """A naive datetime or ISO text without an offset is an error whose message names 'at'."""
    with pytest.raises(SpecError, match=r"clocked 'at'.*no time zone"):
        ClockedSpec(value)  # type: ignore[arg-type]


@pytest.mark.parametrize("value", ["junk", "2025-13-01T00:00:00Z", 12345, None, ""])
def test_unreadable_at_is_rejected(value: object) -> None:
    """Anything that is not an aware instant is a SpecError naming 'at'."""
    with pytest.raises(SpecError, match="'at'"):
        ClockedSpec(value)  # type: ignore[arg-type]


def test_missing_at_in_dict() -> None:
    """A dict without `at` is an error naming it."""
    with pytest.raises(SpecError, match="'at'") as caught:
        parse_spec({"type": "clocked"})
    assert caught.value.field == "at"


@pytest.mark.parametrize(
    "text",
    [
        "2025-01-01T09:00:00Z",
        "2025-01-01T09:00:00z",
        "2025-01-01 09:00:00Z",
        "2025-01-01T09:00:00+00:00",
        "2025-01-01T10:00:00+01:00",
        "2025-01-01T04:00:00-05:00",
        "2025-01-01T14:30:00+05:30",
        "2024-12-31T23:00:00-10:00",
    ],
)
def test_iso_text_is_normalised_to_utc(text: str) -> None:
    """Z and any offset read as the same instant, stored with UTC as its zone."""
    spec = ClockedSpec(text)  # type: ignore[arg-type]
    assert spec.at == AT
    assert spec.at.tzinfo == UTC
    assert spec == ClockedSpec(AT)
    assert hash(spec) == hash(ClockedSpec(AT))
    assert spec.to_dict() == {"type": "clocked", "at": "2025-01-01T09:00:00Z"}


def test_aware_datetime_in_another_zone_is_normalised() -> None:
    """An aware datetime in an IANA zone is stored as the same instant in UTC."""
    spec = ClockedSpec(datetime(2025, 1, 1, 4, 0, tzinfo=ZoneInfo("America/New_York")))
    assert spec.at == AT
    assert spec.at.tzinfo == UTC


def test_describe() -> None:
    """describe() is `once` and the ISO instant in UTC with Z; milliseconds only when set."""
    assert ClockedSpec(AT).describe() == "once 2025-01-01T09:00:00Z"
    assert str(ClockedSpec("2025-01-01T10:00:00+01:00")) == "once 2025-01-01T09:00:00Z"
    with_ms = ClockedSpec(AT + timedelta(milliseconds=250))
    assert with_ms.describe() == "once 2025-01-01T09:00:00.250Z"


def test_round_trips() -> None:
    """Dict, JSON-able dict and pickle all give back an equal spec."""
    spec = ClockedSpec(AT + timedelta(milliseconds=5))
    assert parse_spec(spec.to_dict()) == spec
    assert pickle.loads(pickle.dumps(spec)) == spec


def test_naive_after_is_rejected() -> None:
    """next_after refuses a naive `after`."""
    with pytest.raises(SpecError, match="no time zone"):
        ClockedSpec(AT).next_after(datetime(2024, 1, 1))


def test_sub_millisecond_at_round_trips() -> None:
    """parse_spec(spec.to_dict()) == spec and pickling hold even for microsecond instants."""
    spec = ClockedSpec(AT + timedelta(microseconds=123_456))
    assert parse_spec(spec.to_dict()) == spec
    assert pickle.loads(pickle.dumps(spec)) == spec


@pytest.mark.parametrize(
    ("micros", "kept"),
    [(123_456, 123_000), (999_999, 999_000), (999, 0), (5_000, 5_000)],
)
def test_at_is_truncated_to_whole_milliseconds(micros: int, kept: int) -> None:
    """`at` keeps whole milliseconds (truncated, never rounded up into the next second)."""
    spec = ClockedSpec(AT + timedelta(microseconds=micros))
    assert spec.at == AT + timedelta(microseconds=kept)
    assert spec == ClockedSpec(AT + timedelta(microseconds=kept))
    assert spec.next_after(AT) == (AT + timedelta(microseconds=kept) if kept else None)


@pytest.mark.parametrize("value", [datetime(2025, 1, 1, 9, 0), "junk", None])
def test_bad_at_error_names_the_field(value: object) -> None:
    """The SpecError for a bad `at` carries field 'at'."""
    with pytest.raises(SpecError) as caught:
        ClockedSpec(value)  # type: ignore[arg-type]
    assert caught.value.field == "at"


def test_after_before_the_start_of_datetime_is_not_silently_none() -> None:
    """An `after` that is before 0001-01-01 in UTC cannot be converted, and says so.

    Near 9999-12-31 an overflow means "no occurrence" and next_after answers None; at the
    start of datetime a later occurrence does exist, so None would be a wrong answer.
    """
    before_utc_begins = datetime(1, 1, 1, 2, 0, tzinfo=timezone(timedelta(hours=5)))
    with pytest.raises(OverflowError):
        ClockedSpec(AT).next_after(before_utc_begins)
    assert ClockedSpec(AT).next_after(datetime(1, 1, 1, tzinfo=UTC)) == AT
    assert (
        ClockedSpec(AT).next_after(datetime(9999, 12, 31, 20, tzinfo=timezone(-timedelta(hours=5))))
        is None
    )


@pytest.mark.parametrize(
    ("data", "message", "field"),
    [
        ({"type": "clocked"}, "clocked 'at': missing", "at"),
        (
            {"type": "clocked", "at": "junk"},
            "clocked 'at': 'junk' is not an ISO 8601 instant",
            "at",
        ),
        ({"type": "clocked", "at": 5}, "clocked 'at': expected an ISO 8601 instant, got 5", "at"),
        (
            {"type": "clocked", "at": "2026-01-01T00:00:00Z", "y": 1},
            "clocked: unknown field 'y' (known: at)",
            "y",
        ),
    ],
)
def test_dict_errors_are_exact(data: dict[str, object], message: str, field: str) -> None:
    """Errors in the dict form are reported word for word, naming the field."""
    with pytest.raises(SpecError) as caught:
        parse_spec(data)
    assert str(caught.value) == message
    assert caught.value.field == field


# --- instants: parse_instant and format_instant -------------------------------------------------


class _NoOffset(tzinfo):
    """A tzinfo that does not know its offset (datetime treats the value as naive)."""

    def utcoffset(self, dt: datetime | None) -> timedelta | None:
        return None


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (5, "what: expected an ISO 8601 instant, got 5"),
        (None, "what: expected an ISO 8601 instant, got None"),
        ("junk", "what: 'junk' is not an ISO 8601 instant"),
        ("2026-01-01T00:00:00", "what: 2026-01-01T00:00:00 has no time zone"),
        (datetime(2026, 1, 1), "what: 2026-01-01T00:00:00 has no time zone"),
        (datetime(2026, 1, 1, tzinfo=_NoOffset()), "what: 2026-01-01T00:00:00 has no time zone"),
    ],
)
def test_parse_instant_errors_are_exact(value: object, message: str) -> None:
    """A value that is no aware instant is refused, naming what was read and the field."""
    with pytest.raises(SpecError) as caught:
        parse_instant(value, "what", "field")
    assert str(caught.value) == message
    assert caught.value.field == "field"


@pytest.mark.parametrize(
    "text",
    [
        "2026-01-01T09:00:00Z",
        "2026-01-01T09:00:00z",
        " 2026-01-01T09:00:00Z ",
        "2026-01-01T18:00:00+09:00",
        "2026-01-01 09:00:00+00:00",
    ],
)
def test_parse_instant_reads_iso_text_as_utc(text: str) -> None:
    """Z or z or an offset, blanks around: the instant, in UTC."""
    found = parse_instant(text, "what")
    assert found == datetime(2026, 1, 1, 9, tzinfo=UTC)
    assert found.tzinfo is UTC


@pytest.mark.usefixtures("local_zone_far_from_utc")
def test_parse_instant_is_utc_whatever_the_local_zone() -> None:
    """An aware datetime is converted to UTC, not to the machine's zone."""
    found = parse_instant(datetime(2026, 1, 1, 18, tzinfo=ZoneInfo("Asia/Tokyo")), "what")
    assert found.utcoffset() == timedelta(0)
    assert ClockedSpec(found).at.utcoffset() == timedelta(0)


@pytest.fixture
def local_zone_far_from_utc(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The process's local time zone set to Pacific/Kiritimati (UTC+14) for one test."""
    monkeypatch.setenv("TZ", "Pacific/Kiritimati")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (datetime(2026, 1, 1, 9, tzinfo=UTC), "2026-01-01T09:00:00Z"),
        (datetime(2026, 1, 1, 9, 0, 0, 1000, tzinfo=UTC), "2026-01-01T09:00:00.001Z"),
        (datetime(2026, 1, 1, 9, 0, 0, 999, tzinfo=UTC), "2026-01-01T09:00:00Z"),
        (datetime(2026, 1, 1, 9, 0, 0, 2999, tzinfo=UTC), "2026-01-01T09:00:00.002Z"),
        (datetime(2026, 1, 1, 18, tzinfo=ZoneInfo("Asia/Tokyo")), "2026-01-01T09:00:00Z"),
    ],
)
@pytest.mark.usefixtures("local_zone_far_from_utc")
def test_format_instant(value: datetime, text: str) -> None:
    """ISO 8601 in UTC with a Z (whatever the local zone); milliseconds only when there are any."""
    assert format_instant(value) == text


@pytest.mark.parametrize("micros", [0, 1, 999, 1000, 1001, 500_000, 999_999])
def test_format_instant_reads_back_to_the_same_text(micros: int) -> None:
    """The text of an instant parsed back formats the same: occurrence ids computed from a
    ``stembeat_scheduled_for`` header match the ones beat sent, even with microseconds."""
    text = format_instant(datetime(2026, 3, 1, 9, 0, 0, micros, tzinfo=UTC))
    assert format_instant(parse_instant(text, "at")) == text


@pytest.mark.parametrize(
    "spec",
    [
        ClockedSpec(AT),
        IntervalSpec(30),
        CronSpec("0 9 * * *"),
        SolarSpec("sunrise", 0, 0),
        CalendarSpec(hours=[9]),
    ],
)
@pytest.mark.parametrize(("after", "got"), [("2025-01-01T00:00:00Z", "str"), (None, "NoneType")])
def test_next_after_refuses_what_is_no_datetime(spec: Spec, after: object, got: str) -> None:
    """Every kind's next_after wants a datetime, and says what it got instead."""
    with pytest.raises(SpecError) as caught:
        spec.next_after(after)  # type: ignore[arg-type]
    assert str(caught.value) == f"next_after: expected a datetime, got {got}"
    assert caught.value.field is None
