"""A real ``celery beat -S celery_stembeat.Scheduler`` and a real worker, on every store."""

from __future__ import annotations

import itertools
import json
import signal
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from celery_stembeat.entry import Entry
from celery_stembeat.publisher import occurrence_task_id
from celery_stembeat.specs import IntervalSpec, parse_instant
from tests.e2e.conftest import Harness, running, wait_for

pytestmark = pytest.mark.services

SCHEDULE = {
    "every-second": {"task": "e2e.record", "schedule": "1s", "args": [1, "a"]},
    "cron-2s": {
        "task": "e2e.record",
        "schedule": {"type": "cron", "expression": "*/2 * * * * *", "timezone": "Europe/Paris"},
        "kwargs": {"k": "v"},
    },
}


def scheduled(row: dict[str, object]) -> datetime:
    return parse_instant(row["scheduled_for"], "scheduled_for")


def assert_exact(harness: Harness, entry_id: str, spacing: float) -> list[dict[str, object]]:
    """The entry's runs: unique occurrence ids, consecutive slots, none skipped."""
    rows = harness.runs_of(entry_id)
    ids = Counter(row["id"] for row in rows)
    assert max(ids.values()) == 1, f"duplicates: {ids.most_common(3)}"
    times = sorted(scheduled(row) for row in rows)
    for row in rows:
        assert row["id"] == occurrence_task_id(entry_id, scheduled(row))
    gaps = {round((b - a).total_seconds(), 3) for a, b in itertools.pairwise(times)}
    assert gaps <= {spacing}, f"{entry_id}: gaps {sorted(gaps)}"
    return rows


def test_beat_fires_on_time_and_records_runs(harness: Harness) -> None:
    """Second-resolution interval and cron entries reach the worker, with args and counters."""
    harness.beat_schedule = SCHEDULE
    harness.worker()
    beat = harness.beat()
    wait_for(
        lambda: len(harness.runs_of("every-second")) >= 4 and len(harness.runs_of("cron-2s")) >= 3,
        30,
        "runs of both entries\n" + harness.logs(),
    )
    assert beat.stop() == 0
    every = assert_exact(harness, "every-second", 1.0)
    cron = assert_exact(harness, "cron-2s", 2.0)
    assert every[0]["args"] == [1, "a"]
    assert cron[0]["kwargs"] == {"k": "v"}
    assert all(scheduled(row).second % 2 == 0 for row in cron)
    assert all(row["queue"] == harness.queue for row in every)
    with harness.open_store() as store:
        for entry_id, rows in (("every-second", every), ("cron-2s", cron)):
            entry = store.get(entry_id)
            assert entry is not None
            assert entry.source == "config"
            assert entry.state.total_run_count >= len(rows)
            assert entry.state.last_drift is not None
            assert 0 <= entry.state.last_drift < 1.0
            assert len(store.history(entry_id)) == entry.state.total_run_count
    assert "stembeat: sent every-second" in beat.output()


def test_message_options_reach_the_worker(harness: Harness) -> None:
    """queue, routing key, priority, headers, expires and the rest of celery's options
    (countdown, time limits, shadow, compression, retry policy) travel with the message."""
    harness.beat_schedule = {
        "optioned": {
            "task": "e2e.record",
            "schedule": "1s",
            "options": {
                "queue": harness.queue,
                "routing_key": harness.queue,
                "priority": 7,
                "headers": {"x-team": "ops"},
                "expires": 120,
                "countdown": 0.5,
                "time_limit": 30,
                "soft_time_limit": 20,
                "shadow": "nick",
                "ignore_result": True,
                "compression": "zlib",
                "retry": True,
                "retry_policy": {"max_retries": 2, "interval_start": 0},
            },
        }
    }
    ends = datetime.now(timezone.utc).replace(microsecond=0) + timedelta(seconds=45)
    harness.beat_schedule["ending"] = {
        "task": "e2e.record",
        "schedule": "1s",
        "expire_at": ends.isoformat(),
        "options": {"expires": 3600},
    }
    harness.worker()
    harness.beat()
    (row, *_) = wait_for(lambda: harness.runs_of("optioned"), 30, "a run\n" + harness.logs())
    assert (row["queue"], row["priority"], row["header"]) == (harness.queue, 7, "ops")
    assert (row["timelimit"], row["shadow"], row["ignore_result"]) == ([30, 20], "nick", True)
    assert 0.5 <= (parse_instant(row["eta"], "eta") - scheduled(row)).total_seconds() < 2
    expires = parse_instant(row["expires"], "expires")
    assert 100 < (expires - scheduled(row)).total_seconds() <= 121
    # expire_at is also the message's deadline when it comes before options.expires.
    (ending, *_) = wait_for(lambda: harness.runs_of("ending"), 30, "a run of 'ending'")
    assert parse_instant(ending["expires"], "expires") == ends


def test_changes_made_while_beat_runs_are_obeyed(harness: Harness) -> None:
    """An entry added through the store fires; one disabled stops; no restart needed."""
    harness.beat_schedule = {"clock": SCHEDULE["every-second"]}
    harness.worker()
    harness.beat()
    wait_for(lambda: harness.runs_of("clock"), 30, "beat to start\n" + harness.logs())
    now = datetime.now(timezone.utc)
    with harness.open_store() as store:
        added = Entry(id="added-live", task="e2e.record", spec=IntervalSpec(0.5), args=("live",))
        store.upsert(added.with_state(next_run_at=now + timedelta(seconds=0.5)))
        wait_for(lambda: len(harness.runs_of("added-live")) >= 2, 10, "the added entry to fire")
        store.set_enabled("clock", False, datetime.now(timezone.utc))
        disabled_at = datetime.now(timezone.utc)
        # The live entry keeps time: four more of its runs span two seconds.
        seen = len(harness.runs_of("added-live"))
        wait_for(lambda: len(harness.runs_of("added-live")) >= seen + 4, 10, "more live runs")
    late = [row for row in harness.runs_of("clock") if scheduled(row) > disabled_at]
    assert late == []
    assert harness.runs_of("added-live")[0]["args"] == ["live"]
    assert_exact(harness, "added-live", 0.5)


def test_restart_keeps_counters_and_never_repeats_an_occurrence(harness: Harness) -> None:
    """Stop beat, start it again: counters continue, no occurrence is sent twice."""
    harness.beat_schedule = {"every-second": SCHEDULE["every-second"]}
    harness.worker()
    first = harness.beat("beat-1")
    wait_for(lambda: len(harness.runs_of("every-second")) >= 3, 30, "first runs\n" + harness.logs())
    assert first.stop() == 0
    with harness.open_store() as store:
        before = store.get("every-second")
        assert before is not None
    harness.beat("beat-2")
    count = before.state.total_run_count
    wait_for(
        lambda: len(harness.runs_of("every-second")) >= count + 3, 30, "runs after the restart"
    )
    rows = harness.runs_of("every-second")
    assert max(Counter(row["id"] for row in rows).values()) == 1
    with harness.open_store() as store:
        after = store.get("every-second")
        assert after is not None
        assert after.state.total_run_count > count
        assert after.state.created_at == before.state.created_at
        assert after.version == before.version  # an unchanged beat_schedule writes nothing


def test_entry_removed_from_beat_schedule_is_disabled_not_deleted(harness: Harness) -> None:
    """The sync disables what left beat_schedule and never touches entries made in the store.

    (The third entry added is celery's own ``celery.backend_cleanup``, as celery beat adds it.)
    """
    with harness.open_store() as store:
        made = Entry(id="from-cli", task="e2e.record", spec=IntervalSpec(3600))
        store.upsert(made.with_state(next_run_at=datetime.now(timezone.utc) + timedelta(hours=1)))
    harness.beat_schedule = {"keep": SCHEDULE["every-second"], "drop": SCHEDULE["every-second"]}
    beat = harness.beat("beat-1")
    wait_for(lambda: "beat_schedule: 3 added" in beat.output(), 30, "sync\n" + harness.logs())
    assert beat.stop() == 0
    harness.beat_schedule = {"keep": SCHEDULE["every-second"], "from-cli": SCHEDULE["cron-2s"]}
    beat = harness.beat("beat-2")
    wait_for(lambda: "1 disabled" in beat.output(), 30, "second sync\n" + harness.logs())
    assert beat.stop() == 0
    with harness.open_store() as store:
        dropped, kept, cli = store.get("drop"), store.get("keep"), store.get("from-cli")
        assert dropped is not None
        assert dropped.enabled is False
        assert kept is not None
        assert kept.enabled is True
        assert cli is not None
        assert cli.source == "store"
        assert cli.spec == IntervalSpec(3600)
    assert "'from-cli' is ignored" in beat.output()


def test_short_alias_and_sigterm_shutdown(harness: Harness) -> None:
    """``-S stembeat`` names the scheduler; SIGTERM ends beat cleanly."""
    harness.beat_schedule = {"every-second": SCHEDULE["every-second"]}
    harness.worker()
    beat = harness.beat(scheduler="stembeat")
    wait_for(lambda: harness.runs_of("every-second"), 30, "a run\n" + harness.logs())
    assert beat.stop(signal.SIGTERM) == 0
    assert "celery_stembeat.scheduler.Scheduler" in beat.output()
    assert "Traceback" not in beat.output()


def test_beat_over_rabbitmq(amqp_url: str, redis_url: str, tmp_path: Path) -> None:
    """The same beat publishes over AMQP (embedded SQLite store)."""
    store_url = f"sqlite:///{tmp_path / 'amqp.db'}"
    with running(store_url, amqp_url, redis_url, tmp_path) as harness:
        harness.beat_schedule = {"every-second": SCHEDULE["every-second"]}
        harness.worker()
        harness.beat()
        wait_for(lambda: len(harness.runs_of("every-second")) >= 3, 60, "runs\n" + harness.logs())
        assert_exact(harness, "every-second", 1.0)


def test_readme_demo_fires_and_takes_a_schedule_from_the_cli(tmp_path: Path) -> None:
    """The README's quick start: ``make demo``'s worker with embedded beat on no servers, then
    ``celery -A examples.demo stembeat apply examples/entries.json`` while it runs."""
    import os
    import subprocess

    from tests.e2e.conftest import CELERY, ROOT

    env = {**os.environ, "STEMBEAT_DEMO_DIR": str(tmp_path), "PYTHONPATH": str(ROOT)}
    env.pop("STEMBEAT_URL", None)
    log = tmp_path / "demo.log"
    with log.open("wb") as output:
        demo = subprocess.Popen(
            [CELERY, "-A", "examples.demo", "worker", "-B", "--scheduler", "stembeat", "-P",
             "solo", "-l", "info"],
            cwd=ROOT, env=env, stdout=output, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        wait_for(lambda: "heartbeat for" in log.read_text(), 40, "a heartbeat")
        applied = subprocess.run(
            [CELERY, "-A", "examples.demo", "stembeat", "apply", "examples/entries.json"],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert applied.returncode == 0, applied.stderr
        wait_for(lambda: "say: hello from the CLI" in log.read_text(), 30, "the CLI's entry")

        def outcomes() -> set[str]:
            listed = subprocess.run(
                [CELERY, "-A", "examples.demo", "stembeat", "history", "hello", "--json"],
                cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
            )  # fmt: skip
            return {run["outcome"] for run in json.loads(listed.stdout or "[]")}

        wait_for(lambda: "success" in outcomes(), 30, "the worker's report on hello")
    finally:
        demo.send_signal(signal.SIGTERM)
        demo.wait(30)
    assert (tmp_path / "celerybeat-schedule-stembeat.db").exists()
