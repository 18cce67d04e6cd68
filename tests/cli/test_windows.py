"""Entries with blackout windows through the CLI: apply, list, show and dry-run tell the truth,
and a bad window refuses the whole file, on every store."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import pytest

from celery_stembeat.specs import IntervalSpec
from celery_stembeat.stores import Store
from tests.cli.conftest import Invoke, usage_error
from tests.cli.files import write
from tests.cli.scenario import NOW, entry

UTC = timezone.utc
#: NOW is Monday 2 March 2026 09:00 UTC; the next two weekdays at 10:00 are excluded.
NIGHTLY = {
    "id": "nightly",
    "task": "tasks.report",
    "spec": {
        "type": "cron",
        "expression": "0 10 * * *",
        "timezone": "UTC",
        "except": ["2026-03-02", "2026-03-03", {"weekdays": ["sat-sun"]}],
    },
}


def test_apply_stores_the_next_allowed_run_and_every_view_shows_it(
    cli: Invoke, store: Store, tmp_path: Path
) -> None:
    result = cli("apply", str(write(tmp_path / "jobs.json", [NIGHTLY])))
    assert result.exit_code == 0, result.output
    stored = store.get("nightly")
    assert stored is not None
    assert stored.state.next_run_at == datetime(2026, 3, 4, 10, tzinfo=UTC)
    assert stored.spec.to_dict()["except"] == ["2026-03-02", "2026-03-03", {"weekdays": [0, 6]}]

    described = "cron 0 10 * * * (UTC) except 2026-03-02, 2026-03-03, weekdays=sat-sun"
    (row,) = json.loads(cli("list", "--json").stdout)
    assert row["state"]["next_run_at"] == "2026-03-04T10:00:00Z"
    assert f"{described}\ttasks.report\t2026-03-04T10:00:00Z" in cli("list").stdout
    assert described in cli("show", "nightly").stdout
    planned = json.loads(cli("dry-run", "nightly", "--count", "3", "--json").stdout)
    assert planned["schedule"] == described
    assert [item["utc"] for item in planned["occurrences"]] == [
        "2026-03-04T10:00:00Z",
        "2026-03-05T10:00:00Z",
        "2026-03-06T10:00:00Z",
    ]


@pytest.mark.parametrize(
    ("windows", "message"),
    [
        ({"except": [{"between": ["02:00", "25:00"]}]}, "'25:00' is not a time of day"),
        ({"except": ["2026-13-01"]}, "except[0]: '2026-13-01' is not a date"),
        ({"only": [{"weekdays": ["mon"], "timezone": "Nowhere/City"}]}, "unknown time zone"),
        ({"except": ["2026-01-01"] * 10_000}, "'except': more than 1000 items"),
    ],
)
def test_a_bad_window_refuses_the_file_with_exit_2(
    cli: Invoke, store: Store, tmp_path: Path, windows: dict[str, object], message: str
) -> None:
    store.upsert(entry("existing", IntervalSpec(60), NOW))
    before = [stored.to_dict() for stored in store.list_entries()]
    bad = {"id": "bad", "task": "tasks.bad", "spec": {"type": "interval", "every": 60, **windows}}
    path = write(tmp_path / "jobs.json", [{"id": "good", "task": "t", "spec": "5m"}, bad])
    error = usage_error(cli("apply", str(path)))
    assert message in error
    assert "item 2" in error
    assert [stored.to_dict() for stored in store.list_entries()] == before
