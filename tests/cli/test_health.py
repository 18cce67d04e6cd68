"""``observe --check`` and ``beats``: the health probe and the beats' heartbeats."""

from __future__ import annotations

import json
import re
from datetime import timedelta

from celery_stembeat.specs import IntervalSpec
from celery_stembeat.stores import BeatInfo, Store, TaskReport
from tests.cli.conftest import Invoke
from tests.cli.scenario import NOW, entry, minutes, seed


def beat_info(owner: str, silent_for: float) -> BeatInfo:
    return BeatInfo(
        owner=owner,
        host=owner.split(":")[0],
        pid=int(owner.split(":")[1]),
        version="0.1.0",
        started_at=NOW - timedelta(hours=2),
        last_pass_at=NOW - timedelta(seconds=silent_for),
        store_latency=0.0012,
        clock_offset=-0.004,
    )


def test_check_says_ok_and_exits_0_when_all_is_well(cli: Invoke, store: Store) -> None:
    store.upsert(entry("fine", IntervalSpec(60), minutes(1)))
    store.record_beat(beat_info("web-1:42", 5))
    result = cli("observe", "--check")
    assert (result.exit_code, result.stdout) == (
        0,
        "ok: health: 1 ok, 0 late, 0 failing, 0 missed, 0 stuck, 0 disabled; 1 live beat\n",
    )


def test_check_names_each_problem_and_exits_1(cli: Invoke, store: Store) -> None:
    """No live beat, a task failing three times in a row, an occurrence nobody sent."""
    seed(store)
    store.record_beat(beat_info("web-1:42", 61))
    reports = [
        TaskReport("heartbeat", minutes(at), "failure", minutes(at + 1), error="ValueError: boom")
        for at in (-45, -25, -5)
    ]
    assert store.record_outcomes(reports) == [True, True, True]
    result = cli("observe", "--check")
    assert result.exit_code == 1
    assert result.stdout.splitlines() == [
        "no-beat: no beat heard from in the last 1m",
        "failing heartbeat: 3 failures in a row: ValueError: boom",
        "missed sync: due 4m ago, not sent",
    ]
    seen = json.loads(cli("observe", "--json").stdout)
    assert seen["health"] == {
        "ok": 4,
        "late": 0,
        "failing": 1,
        "missed": 1,
        "stuck": 0,
        "disabled": 1,
    }
    assert seen["live_beats"] == 0
    rows = {row["id"]: row for row in seen["rows"]}
    assert set(rows) == {"heartbeat", "sync"}  # the problems only
    assert (rows["sync"]["health"], rows["sync"]["reason"]) == ("missed", "due 4m ago, not sent")
    assert rows["heartbeat"]["consecutive_task_failures"] == 3


def test_check_thresholds_are_options(cli: Invoke, store: Store) -> None:
    seed(store)
    store.record_beat(beat_info("web-1:42", 61))
    relaxed = cli("observe", "--check", "--grace", "600", "--beat-silence", "120")
    assert (relaxed.exit_code, relaxed.stdout.split(";")[0]) == (
        0,
        "ok: health: 6 ok, 0 late, 0 failing, 0 missed, 0 stuck, 1 disabled",
    )


def test_beats_lists_live_and_silent_beats(cli: Invoke, store: Store) -> None:
    store.record_beat(beat_info("web-1:42", 3))
    store.record_beat(beat_info("web-2:7", 600))
    table = cli("beats", "-o", "wide")
    assert table.exit_code == 0, table.output
    lines = table.stdout.splitlines()
    assert re.split(r"\s{3,}", lines[0]) == [
        "OWNER", "HOST", "PID", "VERSION", "STARTED", "LAST PASS", "STORE LATENCY",
        "CLOCK OFFSET", "LIVE",
    ]  # fmt: skip
    assert lines[1].split() == [
        "web-1:42", "web-1", "42", "0.1.0", "2h", "ago", "3s", "ago", "0.001s", "-0.004s", "yes",
    ]  # fmt: skip
    assert lines[2].split()[-1] == "no"
    piped = cli("beats").stdout.splitlines()
    assert piped[1].split("\t") == [
        "web-1:42", "web-1", "42", "0.1.0", "2026-03-02T07:00:00Z", "2026-03-02T08:59:57Z",
        "0.001s", "-0.004s", "yes",
    ]  # fmt: skip
    listed = json.loads(cli("beats", "--json").stdout)
    assert [(beat["owner"], beat["live"]) for beat in listed] == [
        ("web-1:42", True),
        ("web-2:7", False),
    ]
    assert BeatInfo.from_dict({k: v for k, v in listed[0].items() if k != "live"}) == beat_info(
        "web-1:42", 3
    )


def test_beats_on_an_empty_store(cli: Invoke) -> None:
    assert cli("beats", "-o", "wide").stdout == "no beats recorded\n"
    assert json.loads(cli("beats", "--json").stdout) == []
