"""Holiday calendars kept in the store, alike on every store."""

from __future__ import annotations

from datetime import date, datetime, timezone

import pytest

from celery_stembeat.audit import ChangeNote
from celery_stembeat.calendars import bind, rebind
from celery_stembeat.specs import SpecError, parse_spec
from celery_stembeat.stores import Store
from tests.contract.helpers import T0, make_entry

NEW_YEAR, JULY_3, XMAS = date(2026, 1, 1), date(2026, 7, 3), date(2026, 12, 25)
NOTE = ChangeNote("ops@host-1", "calendar", T0)


def test_dates_are_added_removed_and_read_back_by_calendar(store: Store) -> None:
    assert store.calendars() == {}
    store.add_calendar_dates("us-holidays", [XMAS, NEW_YEAR])
    store.add_calendar_dates("us-holidays", [JULY_3, XMAS])
    store.add_calendar_dates("de", [XMAS])
    assert store.calendars() == {"de": (XMAS,), "us-holidays": (NEW_YEAR, JULY_3, XMAS)}
    store.remove_calendar_dates("us-holidays", [JULY_3, date(2030, 1, 1)])
    assert store.calendars()["us-holidays"] == (NEW_YEAR, XMAS)
    store.remove_calendar_dates("unknown", [XMAS])
    store.remove_calendar_dates("unknown")
    assert sorted(store.calendars()) == ["de", "us-holidays"]


def test_a_calendar_without_dates_is_gone_and_may_come_back(store: Store) -> None:
    store.add_calendar_dates("de", [XMAS])
    store.remove_calendar_dates("de", [XMAS])
    assert store.calendars() == {}
    store.add_calendar_dates("de", [NEW_YEAR])
    assert store.calendars() == {"de": (NEW_YEAR,)}
    store.remove_calendar_dates("de")
    assert store.calendars() == {}


@pytest.mark.parametrize(
    ("name", "dates", "message"),
    [
        ("", [XMAS], "is not a calendar name"),
        ("a b", [XMAS], "is not a calendar name"),
        ("x" * 65, [XMAS], "is not a calendar name"),
        ("{P}", [XMAS], "is not a calendar name"),
        ("de", ["2026-12-25"], "'2026-12-25' is not a date"),
        ("de", [datetime(2026, 12, 25)], "is not a date"),
        (
            "de",
            [date(2026, 1, 1) + (date(2026, 1, 2) - date(2026, 1, 1)) * n for n in range(1001)],
            "more than 1000 dates",
        ),
    ],
)
def test_bad_names_and_dates_are_refused_and_nothing_written(
    store: Store, name: str, dates: list[object], message: str
) -> None:
    with pytest.raises(SpecError, match=message):
        store.add_calendar_dates(name, dates)  # type: ignore[arg-type]
    assert store.calendars() == {}


def test_rebind_writes_only_the_entries_whose_dates_changed(store: Store) -> None:
    """Entries naming the calendar get its dates and a new next run, recorded in the audit
    log; entries that already hold them, or name another calendar, are left alone."""
    store.add_calendar_dates("holidays", [date(2026, 3, 2)])
    spec = parse_spec(
        {"type": "cron", "expression": "0 9 * * *", "except": [{"calendar": "holidays"}]}
    )
    other = parse_spec({"type": "cron", "expression": "0 9 * * *", "except": [{"calendar": "de"}]})
    calendars = {**store.calendars(), "de": (XMAS,)}
    for entry_id, entry_spec in (("report", spec), ("other", other)):
        entry = bind(make_entry(entry_id, spec=entry_spec, next_run_at=None), calendars)
        store.upsert(entry.with_state(next_run_at=entry.first_run_after(T0)))
    assert rebind(store, ["holidays"], T0, NOTE) == []
    store.add_calendar_dates("holidays", [date(2026, 3, 3)])
    assert rebind(store, ["holidays"], T0, NOTE) == ["report"]
    report = store.get("report")
    assert report is not None
    assert report.version == 2
    assert report.state.next_run_at == datetime(2026, 3, 4, 9, tzinfo=timezone.utc)
    assert report.spec.to_dict()["except"] == [
        {"calendar": "holidays", "dates": ["2026-03-02", "2026-03-03"]}
    ]
    change = list(store.changes("report"))[-1]
    assert (change.verb, change.fields_changed()) == ("calendar", ["spec"])
    assert rebind(store, ["holidays"], T0, NOTE) == []
