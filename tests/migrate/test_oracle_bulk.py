"""The oracle's bulk runs (celery's arithmetic without a look per fire) give exactly the fires of
asking celery at every fire, around every kind of clock change, and nothing is kept per fire."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from celery.schedules import crontab
from celery.schedules import schedule as schedule_class
from hypothesis import given, settings
from hypothesis import strategies as st

from celery_stembeat.migrate.dcb_rows import DcbSettings, ScheduleRow, TaskRow
from celery_stembeat.migrate.oracle import DcbOracle, Fire

UTC = timezone.utc
PROPERTY = settings(max_examples=60, deadline=None, derandomize=True, database=None)
#: Zones with every kind of offset change: none, 1 h both ways, 30 min (Lord Howe), 2 h
#: (Troll), southern seasons, odd offsets.
ZONES = (
    "UTC",
    "America/New_York",
    "Europe/London",
    "Europe/Berlin",
    "Australia/Sydney",
    "Australia/Lord_Howe",
    "Antarctica/Troll",
    "Pacific/Chatham",
    "Asia/Kathmandu",
    "America/Santiago",
)
#: Days just before 2026's clock changes, north and south.
NEAR_CHANGES = (
    datetime(2026, 3, 6, tzinfo=UTC),
    datetime(2026, 3, 27, tzinfo=UTC),
    datetime(2026, 4, 3, tzinfo=UTC),
    datetime(2026, 9, 4, tzinfo=UTC),
    datetime(2026, 9, 25, tzinfo=UTC),
    datetime(2026, 10, 23, tzinfo=UTC),
    datetime(2026, 10, 30, tzinfo=UTC),
)


def _fires(oracle: DcbOracle, row: TaskRow, start: datetime, end: datetime) -> list[Fire]:
    return list(oracle.predict(row, start, end).fires)


def _same_both_ways(
    dcb: DcbSettings, row: TaskRow, start: datetime, end: datetime, limit: int
) -> list[Fire]:
    asked = _fires(DcbOracle(dcb, bulk=0), row, start, end)
    assert _fires(DcbOracle(dcb, bulk=limit), row, start, end) == asked
    return asked


@st.composite
def windows(draw: st.DrawFn, days: float) -> tuple[datetime, datetime]:
    start = draw(st.sampled_from(NEAR_CHANGES)) + timedelta(
        seconds=draw(st.integers(0, 4 * 86400)), microseconds=draw(st.integers(0, 999_999))
    )
    return start, start + timedelta(seconds=draw(st.integers(3600, int(days * 86400))))


@st.composite
def dcb_settings(draw: st.DrawFn) -> DcbSettings:
    return DcbSettings(
        time_zone=draw(st.sampled_from(ZONES)),
        celery_timezone=draw(st.sampled_from(ZONES)),
        tz_aware=draw(st.booleans()),
    )


def _row(kind: str, values: dict[str, object], start: datetime, **fields: object) -> TaskRow:
    return TaskRow(
        1,
        "task",
        "proj.task",
        links={kind: 1},
        schedules={kind: ScheduleRow(kind, 1, values)},
        date_changed=start - timedelta(days=2),
        **fields,  # type: ignore[arg-type]
    )


@st.composite
def task_fields(draw: st.DrawFn, start: datetime, end: datetime) -> dict[str, object]:
    span = int((end - start).total_seconds())
    fields: dict[str, object] = {}
    if draw(st.booleans()):
        fields["last_run_at"] = start - timedelta(seconds=draw(st.integers(0, 3 * 86400)))
    if draw(st.integers(0, 3)) == 0:
        fields["expires"] = start + timedelta(seconds=draw(st.integers(0, span)))
    if draw(st.integers(0, 3)) == 0:
        fields["start_time"] = start + timedelta(seconds=draw(st.integers(-3600, span)))
    return fields


@PROPERTY
@given(
    dcb=dcb_settings(),
    zone=st.sampled_from(ZONES),
    minute=st.sampled_from(("*", "*/7", "0", "30", "0,30", "15-20", "59")),
    hour=st.sampled_from(("*", "2", "1,2,3", "0-3", "*/6", "23")),
    day_of_week=st.sampled_from(("*", "1-5", "0", "6", "sun,wed")),
    day_of_month=st.sampled_from(("*", "1-7", "15", "28")),
    month_of_year=st.sampled_from(("*", "3,4,9,10,11", "10-12")),
    window=windows(days=3),
    limit=st.sampled_from((1, 2, 7, 10_000)),
    data=st.data(),
)
def test_crontab_in_bulk_fires_as_celery_asked_each_time(
    dcb: DcbSettings,
    zone: str,
    minute: str,
    hour: str,
    day_of_week: str,
    day_of_month: str,
    month_of_year: str,
    window: tuple[datetime, datetime],
    limit: int,
    data: st.DataObject,
) -> None:
    start, end = window
    values = {
        "minute": minute,
        "hour": hour,
        "day_of_week": day_of_week,
        "day_of_month": day_of_month,
        "month_of_year": month_of_year,
        "timezone": zone,
    }
    row = _row("crontab", values, start, **data.draw(task_fields(start, end)))
    _same_both_ways(dcb, row, start, end, limit)


@PROPERTY
@given(
    dcb=dcb_settings(),
    every=st.sampled_from(
        (
            (7, "seconds"),
            (90, "seconds"),
            (1, "hours"),
            (25, "hours"),
            (1_800_000_000, "microseconds"),
        )
    ),
    window=windows(days=6),
    limit=st.sampled_from((1, 2, 7, 10_000)),
    data=st.data(),
)
def test_interval_in_bulk_fires_as_celery_asked_each_time(
    dcb: DcbSettings,
    every: tuple[int, str],
    window: tuple[datetime, datetime],
    limit: int,
    data: st.DataObject,
) -> None:
    start, end = window
    count, period = every
    end = min(end, start + timedelta(**{period: count * 4000}))
    row = _row(
        "interval", {"every": count, "period": period}, start, **data.draw(task_fields(start, end))
    )
    _same_both_ways(dcb, row, start, end, limit)


@pytest.mark.parametrize("zone", ["Australia/Lord_Howe", "America/New_York"])
def test_a_whole_year_of_clock_changes(zone: str) -> None:
    """Celery decides each clock change of a year and the end of each bulk run, bulk the rest."""
    start = datetime(2026, 1, 1, 0, 0, 30, tzinfo=UTC)
    row = _row("crontab", {"minute": "*/15", "timezone": zone}, start, last_run_at=start)
    fires = _same_both_ways(DcbSettings(), row, start, start + timedelta(days=365), limit=1000)
    assert len(fires) > 365 * 96 - 10


@pytest.mark.parametrize(
    ("kind", "values"),
    [
        ("crontab", {"minute": "*", "timezone": "Europe/London"}),
        ("interval", {"every": 30, "period": "seconds"}),
    ],
)
def test_celery_is_asked_a_few_times_per_bulk_run(
    kind: str, values: dict[str, object], monkeypatch: pytest.MonkeyPatch
) -> None:
    """30 days of a frequent task, over the EU clock change: a handful of looks per run."""
    looks = {"count": 0}
    for schedule in (crontab, schedule_class):
        original = schedule.is_due

        def counted(self: object, last_run_at: datetime, original: object = original) -> object:
            looks["count"] += 1
            return original(self, last_run_at)  # type: ignore[operator]

        monkeypatch.setattr(schedule, "is_due", counted)
    start = datetime(2026, 3, 14, tzinfo=UTC)
    row = _row(kind, values, start, last_run_at=start)
    fires = _fires(DcbOracle(DcbSettings()), row, start, start + timedelta(days=30))
    assert len(fires) >= 30 * 1440
    assert looks["count"] < 30
