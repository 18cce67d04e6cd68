"""``list``, ``show``, ``history``, ``dry-run`` and ``observe`` on a store with history."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from celery_stembeat.cli.commands import observe as observe_module
from celery_stembeat.specs import IntervalSpec
from celery_stembeat.stores import Store, open_store
from celery_stembeat.stores.sql import SQLStore
from tests.cli.conftest import Invoke
from tests.cli.scenario import NOW, OWNER, beat, entry, minutes, seed

GOLDEN = Path(__file__).with_name("golden")


def golden(name: str) -> str:
    return (GOLDEN / name).read_text(encoding="utf-8")


@pytest.fixture
def seeded(sqlite_store: Store) -> Store:
    seed(sqlite_store)
    return sqlite_store


@pytest.mark.usefixtures("seeded")
@pytest.mark.parametrize(
    ("args", "name"),
    [
        (("list", "-o", "wide"), "list.txt"),
        (("list",), "list.tsv"),
        (("observe", "-o", "wide"), "observe.txt"),
        (("observe",), "observe.tsv"),
    ],
)
def test_output_matches_the_golden_output(
    sqlite_cli: Invoke, args: tuple[str, ...], name: str
) -> None:
    """Wide: every column, one line per entry; piped (the runner is no terminal): TSV."""
    result = sqlite_cli(*args)
    assert result.exit_code == 0, result.output
    assert result.stdout == golden(name)


@pytest.mark.usefixtures("seeded")
@pytest.mark.parametrize(
    ("options", "ids"),
    [
        ((), ["cleanup", "heartbeat", "lights", "new-year", "ping", "report", "sync"]),
        (("--disabled",), ["new-year"]),
        (("--enabled", "--prefix", "p"), ["ping"]),
        (("--prefix", "nothing"), []),
    ],
)
def test_list_filters(sqlite_cli: Invoke, options: tuple[str, ...], ids: list[str]) -> None:
    result = sqlite_cli("list", "--json", *options)
    assert result.exit_code == 0, result.output
    assert [item["id"] for item in json.loads(result.stdout)] == ids


@pytest.mark.parametrize(
    ("options", "ids"),
    [
        (
            ("--sort", "next"),
            ["sync", "ping", "heartbeat", "report", "lights", "cleanup", "new-year"],
        ),
        (("--sort", "last", "--limit", "3"), ["heartbeat", "report", "new-year"]),
        (("--sort", "runs", "--limit", "2"), ["heartbeat", "new-year"]),
        (
            ("--sort", "drift"),
            ["report", "new-year", "heartbeat", "cleanup", "lights", "ping", "sync"],
        ),
        (("--task", "tasks.ping"), ["ping"]),
        (("--task", "tasks.nothing"), []),
        (("--enabled", "--sort", "runs", "--limit", "1"), ["heartbeat"]),
        (("--state", "missed"), ["sync"]),
        (("--state", "disabled"), ["new-year"]),
        (("--state", "ok", "--sort", "next", "--limit", "2"), ["ping", "heartbeat"]),
        (("--state", "failing"), []),
    ],
)
def test_list_sorts_filters_by_task_and_state_and_limits(
    cli: Invoke, store: Store, options: tuple[str, ...], ids: list[str]
) -> None:
    """Next: soonest first; last: latest first; runs and drift: most first; entries without
    a value last, ties by id."""
    seed(store)
    result = cli("list", "--json", *options)
    assert result.exit_code == 0, result.output
    assert [item["id"] for item in json.loads(result.stdout)] == ids


@pytest.mark.usefixtures("seeded")
@pytest.mark.parametrize(
    ("options", "count"),
    [
        ((), "7"),
        (("--disabled",), "1"),
        (("--task", "tasks.sync"), "1"),
        (("--limit", "2"), "7"),
        (("--state", "ok"), "5"),
    ],
)
def test_list_count_prints_only_how_many_match(
    sqlite_cli: Invoke, options: tuple[str, ...], count: str
) -> None:
    result = sqlite_cli("list", "--count", *options)
    assert (result.exit_code, result.stdout) == (0, f"{count}\n")


@pytest.mark.parametrize(("option", "value"), [("--sort", "name"), ("--limit", "0")])
def test_list_refuses_an_unknown_sort_or_a_limit_below_one(
    sqlite_cli: Invoke, option: str, value: str
) -> None:
    result = sqlite_cli("list", option, value)
    assert result.exit_code == 2
    assert f"Invalid value for '{option}'" in result.output


def test_list_of_an_empty_store(sqlite_cli: Invoke) -> None:
    result = sqlite_cli("list", "-o", "wide")
    assert (result.exit_code, result.stdout) == (0, "no entries\n")
    piped = sqlite_cli("list")
    assert piped.stdout == "ID\tON\tSCHEDULE\tTASK\tNEXT RUN\tLAST RUN\tRUNS\tOUTCOME\n"
    assert piped.stderr == "no entries\n"


@pytest.mark.usefixtures("seeded")
def test_show_prints_definition_options_and_run_state_in_the_entrys_zone(
    sqlite_cli: Invoke,
) -> None:
    result = sqlite_cli("show", "report")
    assert result.exit_code == 0, result.output
    lines = {
        line.split(None, 1)[0]: line.split(None, 1)[1].strip()
        for line in result.stdout.splitlines()
    }
    assert lines["schedule"] == "cron 0 9 * * 1-5 (America/New_York)"
    assert lines["options"] == '{"queue": "reports", "priority": 5}'
    assert lines["kwargs"] == '{"to": "ops@example.com"}'
    assert lines["next_run_at"] == "2026-03-02 09:00:00 EST (in 5h)"
    assert lines["last_run_at"] == "2026-02-27 09:00:02 EST (2d18h ago)"
    assert lines["total_run_count"] == "1"
    assert lines["source"] == "store"


@pytest.mark.usefixtures("seeded")
def test_show_json_is_the_stored_entry(sqlite_cli: Invoke, seeded: Store) -> None:
    result = sqlite_cli("show", "sync", "--json")
    stored = seeded.get("sync")
    assert stored is not None
    assert json.loads(result.stdout) == stored.to_dict()


@pytest.mark.usefixtures("seeded")
def test_history_shows_runs_newest_first(sqlite_cli: Invoke) -> None:
    result = sqlite_cli("history", "sync")
    assert result.exit_code == 0, result.output
    assert result.stderr == "sync: 2 runs, newest first, times in UTC\n"
    heading, *rows = result.stdout.splitlines()
    assert heading.split("\t") == [
        "SCHEDULED FOR", "PUBLISHED AT", "DRIFT", "JITTER", "OUTCOME", "RUNTIME", "ERROR", "OWNER",
    ]  # fmt: skip
    assert [row.split("\t") for row in rows] == [
        [at, "-", "-", "0.000s", "failed", "-", "OperationalError: broker unreachable", OWNER]
        for at in ("2026-03-02T08:51:00Z", "2026-03-02T08:46:00Z")
    ]


@pytest.mark.usefixtures("seeded")
def test_history_json_and_limit(sqlite_cli: Invoke) -> None:
    result = sqlite_cli("history", "heartbeat", "--limit", "2", "--json")
    runs = json.loads(result.stdout)
    assert [(run["scheduled_for"], run["drift"], run["outcome"]) for run in runs] == [
        ("2026-03-02T08:55:00Z", 0.008, "published"),
        ("2026-03-02T08:35:00Z", 0.25, "published"),
    ]


@pytest.mark.usefixtures("seeded")
def test_dry_run_of_an_entry_in_its_zone(sqlite_cli: Invoke) -> None:
    result = sqlite_cli("dry-run", "report", "--count", "2", "-o", "wide")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[0] == (
        "cron 0 9 * * 1-5 (America/New_York): 2 occurrences after 2026-03-02T09:00:00Z"
    )
    assert result.stdout.splitlines()[2].split() == [
        "1",
        "2026-03-02T14:00:00Z",
        "2026-03-02",
        "09:00:00",
        "EST",
        "Mon",
    ]
    piped = sqlite_cli("dry-run", "report", "--count", "2")
    assert piped.stdout.splitlines() == [
        "#\tUTC\tAMERICA/NEW_YORK\tDAY",
        "1\t2026-03-02T14:00:00Z\t2026-03-02T09:00:00-05:00\tMon",
        "2\t2026-03-03T14:00:00Z\t2026-03-03T09:00:00-05:00\tTue",
    ]


@pytest.mark.usefixtures("seeded")
def test_dry_run_of_an_entry_starts_at_its_stored_next_run(sqlite_cli: Invoke) -> None:
    """An interval runs on from its stored next run (here 10 s overdue), not from now; with
    --after, the spec's own times after that instant."""
    coming = json.loads(sqlite_cli("dry-run", "ping", "--count", "2", "--json").stdout)
    assert [item["utc"] for item in coming["occurrences"]] == [
        "2026-03-02T08:59:50Z",
        "2026-03-02T09:00:50Z",
    ]
    after = sqlite_cli(
        "dry-run", "ping", "--count", "1", "--json", "--after", "2026-03-02T10:00:00Z"
    )
    assert [item["utc"] for item in json.loads(after.stdout)["occurrences"]] == [
        "2026-03-02T10:01:00Z"
    ]


@pytest.mark.parametrize(
    ("spec", "options", "local"),
    [
        # a cron string takes --tz as its zone: 09:00 London, in BST after 29 March
        ("0 9 * * *", ("--tz", "Europe/London", "--after", "2026-03-28T12:00:00Z"),
         ["2026-03-29 09:00:00 BST", "2026-03-30 09:00:00 BST"]),
        ("every:5m", ("--after", "2026-03-02T09:00:00Z"),
         ["2026-03-02 09:05:00 UTC", "2026-03-02 09:10:00 UTC"]),
        ("5m", ("--tz", "Asia/Tokyo"), ["2026-03-02 18:05:00 JST", "2026-03-02 18:10:00 JST"]),
        ('{"type": "clocked", "at": "2026-03-02T10:00:00Z"}', (), ["2026-03-02 10:00:00 UTC"]),
        ('{"type": "cron", "expression": "30 2 * * *", "timezone": "America/New_York"}',
         ("--after", "2026-03-07T12:00:00Z"),
         ["2026-03-08 03:00:00 EDT", "2026-03-09 02:30:00 EDT"]),
    ],
)  # fmt: skip
def test_dry_run_of_a_spec(
    sqlite_cli: Invoke, spec: str, options: tuple[str, ...], local: list[str]
) -> None:
    result = sqlite_cli("dry-run", "--spec", spec, "--count", "2", "--json", *options)
    assert result.exit_code == 0, result.output
    assert [item["local"] for item in json.loads(result.stdout)["occurrences"]] == local


def test_dry_run_when_nothing_is_left(sqlite_cli: Invoke) -> None:
    spec = '{"type": "clocked", "at": "2026-01-01T00:00:00Z"}'
    result = sqlite_cli("dry-run", "--spec", spec, "-o", "wide")
    assert result.exit_code == 0, result.output
    assert result.stdout == (
        "once 2026-01-01T00:00:00Z: 0 occurrences after 2026-03-02T09:00:00Z\n"
    )


EXPECTED_OBSERVATION = {
    "now": "2026-03-02T09:00:00Z",
    "grace": 30.0,
    "entries": 7,
    "enabled": 6,
    "due_now": 2,
    "overdue": 1,
    "runs_last_hour": 5,
    "failing": 1,
    "health": {"ok": 5, "late": 0, "failing": 0, "missed": 1, "stuck": 0, "disabled": 1},
    "live_beats": 0,
    "beats": [],
    "cut": False,
    "paused": None,
}


def test_observe_is_the_same_on_every_store(cli: Invoke, store: Store) -> None:
    seed(store)
    if isinstance(store, SQLStore):
        store.maintain()  # history trimmed, and PostgreSQL's statistics of it current
    result = cli("observe", "--json")
    assert result.exit_code == 0, result.output
    seen = json.loads(result.stdout)
    rows = seen.pop("rows")
    history = seen.pop("history")
    assert seen == EXPECTED_OBSERVATION
    held = sum(len(store.history(entry.id, limit=1000)) for entry in store.list_entries())
    assert history == {"runs": held, "bytes": history["bytes"], "estimated": history["estimated"]}
    # PostgreSQL alone knows the bytes, and sizes history from the statistics its VACUUM keeps.
    assert history["estimated"] == (history["bytes"] is not None)
    assert rows == [  # the entries that are not healthy only
        {
            "id": "sync",
            "enabled": True,
            "health": "missed",
            "reason": "due 4m ago, not sent",
            "total_run_count": rows[0]["total_run_count"],
            "last_drift": rows[0]["last_drift"],
            "drift_mean": rows[0]["drift_mean"],
            "drift_max": rows[0]["drift_max"],
            "next_run_at": "2026-03-02T08:56:00Z",
            "consecutive_failures": 2,
            "last_error": "OperationalError: broker unreachable",
            "last_outcome": None,
            "consecutive_task_failures": 0,
        }
    ]


@pytest.mark.usefixtures("seeded")
def test_observe_grace_option_changes_what_is_overdue(sqlite_cli: Invoke) -> None:
    seen = json.loads(sqlite_cli("observe", "--json", "--grace", "300").stdout)
    assert (seen["grace"], seen["due_now"], seen["overdue"]) == (300.0, 2, 0)
    seen = json.loads(sqlite_cli("observe", "--json", "--grace", "5").stdout)
    assert seen["overdue"] == 2


def test_runs_in_the_last_hour_are_counted_from_the_stores_counter(
    sqlite_cli: Invoke, sqlite_store: Store
) -> None:
    """Every run recorded since the minute an hour ago, however long history is; a run
    history no longer holds still counts."""
    sqlite_store.upsert(entry("fast", IntervalSpec(10), minutes(-70)))
    for step in range(70 * 6):  # one run every 10 s for 70 minutes
        assert beat(sqlite_store, minutes(-70) + timedelta(seconds=10 * step)) == ["fast"]
    seen = json.loads(sqlite_cli("observe", "--json").stdout)
    assert seen["runs_last_hour"] == 360
    assert sqlite_store.delete("fast")
    seen = json.loads(sqlite_cli("observe", "--json").stdout)
    assert (seen["entries"], seen["runs_last_hour"]) == (0, 360)


def watched(lines: list[str]) -> list[dict[str, Any]]:
    return [json.loads(line) for line in lines if line]


def test_observe_watch_refreshes_after_each_change(
    sqlite_cli: Invoke, sqlite_store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    def two_refreshes(store: Store, interval: float) -> Iterator[list[str]]:
        yield []
        sqlite_store.upsert(entry("added-live", IntervalSpec(60), minutes(-10)))  # missed
        yield ["added-live"]

    monkeypatch.setattr(observe_module, "refreshes", two_refreshes)
    result = sqlite_cli("observe", "--watch", "--json")
    assert result.exit_code == 0, result.output
    first, second = watched(result.stdout.splitlines())
    assert (first["entries"], second["entries"]) == (0, 1)
    assert second["rows"][0]["id"] == "added-live"


def test_observe_watch_draws_a_live_table_and_stops_on_ctrl_c(
    sqlite_cli: Invoke, seeded: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    def interrupted(store: Store, interval: float) -> Iterator[list[str]]:
        yield []
        raise KeyboardInterrupt

    monkeypatch.setattr(observe_module, "refreshes", interrupted)
    result = sqlite_cli("observe", "--watch", "-o", "wide")
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == golden("observe.txt").strip()


def test_refreshes_wake_on_a_change_from_another_process(
    sqlite_store: Store, sqlite_url: str
) -> None:
    with open_store(sqlite_url) as watching:
        updates = observe_module.refreshes(watching, interval=60)
        assert next(updates) == []
        sqlite_store.upsert(entry("changed", IntervalSpec(60), NOW))
        assert next(updates) == ["changed"]
        updates.close()


def test_observe_says_when_the_survey_was_cut(sqlite_cli: Invoke, sqlite_store: Store) -> None:
    """More suspects than a survey reads: the table says so, and so does ``cut``."""
    sqlite_store.upsert_many(
        entry(f"late{number:04d}", IntervalSpec(60), minutes(-10)) for number in range(1001)
    )
    seen = json.loads(sqlite_cli("observe", "--json").stdout)
    assert (seen["cut"], seen["overdue"], len(seen["rows"])) == (True, 1001, 1000)
    lines = sqlite_cli("observe", "-o", "wide").stdout.splitlines()
    cut = "more: over 1000 entries may be unhealthy; only the first 1000 suspects were read"
    assert lines[2] == cut
