"""``stembeat observe`` as a user runs it, on a store of ``n`` entries, a thousand unhealthy.

Of the ``n`` entries, 500 are missed (due an hour ago) and 500 failing to send (three send
failures in a row), spread over the ids; 200 of the others ran five times each in the last
hour (history and the run counter hold their runs); the rest are due tomorrow. ``prepare``
completes the runs first, then writes the entries with ``write_many`` and, on PostgreSQL, runs
``VACUUM ANALYZE`` on the entries table, as autovacuum would after a bulk load. Each
repetition runs the whole command in a new process under ``/usr/bin/time``: wall time (process
start included) and peak RSS, after one warm-up run; the printed counts are checked. Only
stembeat has this, so the anchors' columns stay empty.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from bench import subjects
from bench.apps import TASK
from bench.context import Context
from bench.stats import Metric

NAME = "observe"
METRICS = (
    Metric("observe_s", "stembeat observe, wall time", "s"),
    Metric("observe_json_s", "stembeat observe --json, wall time", "s"),
    Metric("observe_rss_mb", "stembeat observe, peak RSS", "MB"),
)
#: Unhealthy entries of each kind (missed, failing to send).
PROBLEMS = 500
#: Entries that ran in the last hour, and their runs each.
ACTIVE, RUNS_EACH = 200, 5
_WRITE_BATCH = 10_000
_TIME = "/usr/bin/time"


def plan(ctx: Context) -> list[tuple[int, tuple[str, ...]]]:
    """Each stembeat store at a hundred thousand entries (ten thousand in quick mode)."""
    return [(10_000 if ctx.quick else 100_000, subjects.STEMBEATS)]


def _active(n: int) -> list[int]:
    """The numbers of the entries that ran: a quarter of the way between two problems."""
    step = n // PROBLEMS
    return list(range(step // 4, n, step))[:ACTIVE]


def _entries(n: int, now: datetime) -> Iterator[Any]:
    """The entries but the active ones."""
    from celery_stembeat.entry import Entry
    from celery_stembeat.specs import IntervalSpec

    spec = IntervalSpec(86_400)
    step = n // PROBLEMS
    active = set(_active(n))
    tomorrow = now + timedelta(days=1)
    earlier = now - timedelta(hours=1)
    for i in range(n):
        entry = Entry(id=f"job{i:07d}", task=TASK, spec=spec)
        if i in active:
            continue
        if i % step == 0:
            yield entry.with_state(next_run_at=earlier)
        elif i % step == step // 2:
            yield entry.with_state(
                next_run_at=tomorrow,
                last_scheduled_for=earlier,
                failure_count=3,
                consecutive_failures=3,
                last_error="OperationalError: broker unreachable",
            )
        else:
            yield entry.with_state(next_run_at=tomorrow)


def _run_active(store: Any, n: int, now: datetime) -> None:
    """Write the active entries, claim them and record five runs each in the last hour."""
    from celery_stembeat.entry import Entry
    from celery_stembeat.specs import IntervalSpec
    from celery_stembeat.stores import PUBLISHED, Outcome, RunRecord

    started = now - timedelta(minutes=50)
    store.write_many(
        Entry(id=f"job{i:07d}", task=TASK, spec=IntervalSpec(600)).with_state(next_run_at=started)
        for i in _active(n)
    )
    claims = store.claim_due(now, ACTIVE, "bench", timedelta(minutes=5))
    pairs = []
    for claim in claims:
        times = [started + timedelta(minutes=10 * k) for k in range(RUNS_EACH)]
        runs = tuple(
            RunRecord(claim.entry_id, at, PUBLISHED, published_at=at, drift=0.0, owner="bench")
            for at in times
        )
        pairs.append((claim, Outcome(now + timedelta(days=1), runs)))
    if not all(store.complete_many(pairs)) or len(pairs) != ACTIVE:
        raise AssertionError("the active entries were not all completed")


def prepare(ctx: Context, subject: str, n: int) -> dict[str, float]:
    """Run the active entries, write the others and a beat; vacuum on PostgreSQL."""
    from celery_stembeat.stores import BeatInfo, open_store

    url = subjects.store_url(ctx, subject, NAME)
    now = datetime.now(timezone.utc).replace(microsecond=0)
    started = time.perf_counter()
    with open_store(url) as store:
        _run_active(store, n, now)
        subjects.write_entries(store, _entries(n, now))
        store.record_beat(BeatInfo("bench", "localhost", 1, "bench", now, now))
    took = {"load_s": time.perf_counter() - started}
    subjects.vacuum(ctx, subject, NAME)
    return took


def _observe(url: str, *options: str) -> tuple[str, float, float]:
    """Run ``stembeat observe`` in a new process: its output, wall seconds, peak RSS (MB)."""
    command = Path(sys.executable).with_name("stembeat")
    done = subprocess.run(
        [_TIME, "-f", "%e %M", str(command), "--url", url, "observe", *options],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "COLUMNS": "120"},
    )
    wall, peak_kb = done.stderr.splitlines()[-1].split()
    return done.stdout, float(wall), int(peak_kb) / 1024


def measure(ctx: Context, subject: str, n: int, rep: int) -> dict[str, float]:
    """Time ``observe`` (wide table) and ``observe --json``; check the counts printed."""
    url = subjects.store_url(ctx, subject, NAME)
    _observe(url, "--json")  # warm the database's and the file system's caches
    shown, wall, peak = _observe(url, "-o", "wide")
    if not shown.startswith(f"{n} entries, {n} enabled, {PROBLEMS} due now"):
        raise AssertionError(f"observe printed {shown[:200]!r}")
    printed, json_wall, _ = _observe(url, "--json")
    seen = json.loads(printed)
    expected = (PROBLEMS, PROBLEMS, ACTIVE * RUNS_EACH, 2 * PROBLEMS)
    found = (seen["overdue"], seen["failing"], seen["runs_last_hour"], len(seen["rows"]))
    if found != expected:
        raise AssertionError(f"observe --json found {found}, not {expected}")
    return {"observe_s": wall, "observe_json_s": json_wall, "observe_rss_mb": peak}


def cleanup(ctx: Context, subject: str, n: int) -> None:
    """Remove the store."""
    subjects.drop(ctx, subject, NAME)
