"""``calendar add / list / remove`` on every store, and ``apply`` of rules that name one."""

from __future__ import annotations

import json
from datetime import date, datetime, timezone
from pathlib import Path

import pytest

from celery_stembeat.stores import Store
from tests.cli.conftest import Invoke, usage_error
from tests.cli.files import write

UTC = timezone.utc
#: NOW (the CLI's clock) is Monday 2 March 2026, 09:00 UTC.
REPORT = {
    "id": "report",
    "task": "tasks.report",
    "spec": {"type": "cron", "expression": "0 10 * * *", "except": [{"calendar": "holidays"}]},
}


def next_run(store: Store, entry_id: str = "report") -> datetime | None:
    entry = store.get(entry_id)
    assert entry is not None
    return entry.state.next_run_at


def test_dates_added_and_removed_move_the_next_run_of_entries_naming_the_calendar(
    cli: Invoke, store: Store, tmp_path: Path
) -> None:
    added = cli("calendar", "add", "holidays", "2026-03-02", "2026-12-25")
    assert added.exit_code == 0, added.output
    assert added.stdout == "calendar holidays: 2 dates\n"
    assert cli("apply", str(write(tmp_path / "jobs.json", [REPORT]))).exit_code == 0
    assert next_run(store) == datetime(2026, 3, 3, 10, tzinfo=UTC)

    more = cli("calendar", "add", "holidays", "2026-03-03", "--json")
    assert json.loads(more.stdout) == {
        "name": "holidays",
        "dates": ["2026-03-02", "2026-03-03", "2026-12-25"],
        "rebound": ["report"],
    }
    assert next_run(store) == datetime(2026, 3, 4, 10, tzinfo=UTC)
    fewer = cli("calendar", "remove", "holidays", "2026-03-02", "2026-03-03")
    assert fewer.stdout == "calendar holidays: 1 date\nrebound    report\n"
    assert next_run(store) == datetime(2026, 3, 2, 10, tzinfo=UTC)
    assert store.calendars() == {"holidays": (date(2026, 12, 25),)}

    again = cli("apply", str(write(tmp_path / "jobs.json", [REPORT])))
    assert again.stdout.splitlines()[-1] == "0 added, 0 changed, 1 unchanged, 0 removed"


def test_list_shows_calendars_their_dates_and_the_entries_naming_them(
    cli: Invoke, store: Store, tmp_path: Path
) -> None:
    cli("calendar", "add", "holidays", "2026-12-25", "2026-01-01")
    cli("calendar", "add", "de", "2026-10-03")
    cli("apply", str(write(tmp_path / "jobs.json", [REPORT])))
    listed = cli("calendar", "list")
    assert listed.stdout.splitlines() == [
        "de\t1 dates\t2026-10-03\tused by 0",
        "holidays\t2 dates\t2026-01-01 … 2026-12-25\tused by 1",
    ]
    assert cli("calendar", "list", "holidays").stdout == "2026-01-01\n2026-12-25\n"
    document = json.loads(cli("calendar", "list", "--json").stdout)
    assert document == {
        "calendars": [
            {"name": "de", "dates": ["2026-10-03"], "entries": []},
            {"name": "holidays", "dates": ["2026-01-01", "2026-12-25"], "entries": ["report"]},
        ]
    }
    missing = cli("calendar", "list", "nope")
    assert (missing.exit_code, missing.stderr) == (1, "Error: no calendar 'nope'\n")


def test_a_calendar_named_by_entries_keeps_a_date(
    cli: Invoke, store: Store, tmp_path: Path
) -> None:
    cli("calendar", "add", "holidays", "2026-12-25")
    cli("apply", str(write(tmp_path / "jobs.json", [REPORT])))
    for args in (("holidays",), ("holidays", "2026-12-25")):
        refused = cli("calendar", "remove", *args)
        assert refused.exit_code == 1
        assert refused.stderr == (
            "Error: calendar 'holidays' is named by 'report': it keeps at least one date\n"
        )
    assert store.calendars() == {"holidays": (date(2026, 12, 25),)}
    assert cli("remove", "report").exit_code == 0
    assert cli("calendar", "remove", "holidays").exit_code == 0
    assert store.calendars() == {}


def test_apply_refuses_an_unknown_calendar_and_writes_nothing(
    cli: Invoke, store: Store, tmp_path: Path
) -> None:
    good = {"id": "good", "task": "t", "spec": "5m"}
    error = usage_error(cli("apply", str(write(tmp_path / "jobs.json", [good, REPORT]))))
    assert error.endswith("item 2: entry 'report': 'spec': except[0]: unknown calendar 'holidays'")
    assert store.list_entries() == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("add", "bad name", "2026-01-01"), "NAME: 'bad name' is not a calendar name"),
        (("add", "x" * 1_000_000, "2026-01-01"), "NAME: 'xxxxxxxx"),
        (("add", "holidays", "2026-02-30"), "DATE: '2026-02-30' is not a date (YYYY-MM-DD)"),
        (("add", "holidays", "x" * 1_000_000), "DATE: 'xxxxxxxx"),
        (("add", "holidays", *["2026-01-01"] * 10_000, "tomorrow"), "DATE: 'tomorrow'"),
        (
            (
                "add",
                "holidays",
                *[str(date(2000, 1, 1).fromordinal(730120 + n)) for n in range(1001)],
            ),
            "calendar 'holidays': more than 1000 dates",
        ),
        (("remove", "{P}"), "NAME: '{P}' is not a calendar name"),
    ],
    ids=["space", "name-1mb", "feb-30", "date-1mb", "10000-dates", "1001-dates", "braces"],
)
def test_hostile_calendar_input_is_one_line_exit_2_and_nothing_written(
    cli: Invoke, store: Store, args: tuple[str, ...], message: str
) -> None:
    error = usage_error(cli("calendar", *args))
    assert message in error
    assert store.calendars() == {}
