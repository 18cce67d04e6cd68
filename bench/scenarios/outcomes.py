"""What ``track_outcomes`` adds to a worker's cost per task, with the store up and down.

``n`` tasks run through celery's own tracer (``Task.apply``: the same signals a worker sends
around each task), each carrying the headers of an occurrence whose run record the beat wrote.
The cost per task is the median time of a task with tracking minus the median without (both
measured in the same child, one task at a time). "Store up" reports to the subject's store and
checks afterwards that every outcome landed; "store down" reports to a server nobody listens
on. Only stembeat has this, so the anchors' columns stay empty.
"""

from __future__ import annotations

import socket
import statistics
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

from bench import subjects
from bench.context import Context
from bench.stats import Metric

NAME = "outcomes"
METRICS = (
    Metric("up_us", "worker-side cost per task, store up", "µs"),
    Metric("down_us", "worker-side cost per task, store down", "µs"),
)


def plan(ctx: Context) -> list[tuple[int, tuple[str, ...]]]:
    """Each stembeat store, ``n`` tasks (at most the history a store keeps per entry)."""
    return [(200 if ctx.quick else 1_000, subjects.STEMBEATS)]


def _unreachable(subject: str) -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    if subject == "stembeat-redis":
        return f"redis://127.0.0.1:{port}/0?socket_connect_timeout=1"
    return f"postgresql+psycopg://postgres@127.0.0.1:{port}/test?connect_timeout=1"


def _occurrences(url: str, entry_id: str, n: int) -> list[dict[str, str]]:
    """Write ``n`` published runs of ``entry_id``; the headers of their messages."""
    from celery_stembeat.entry import Entry
    from celery_stembeat.specs import IntervalSpec, format_instant
    from celery_stembeat.stores import PUBLISHED, Outcome, RunRecord, open_store

    start = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(seconds=n)
    headers = []
    with open_store(url) as store:
        entry = Entry(id=entry_id, task="bench.noop", spec=IntervalSpec(1))
        store.upsert(entry.with_state(next_run_at=start))
        for _ in range(n):
            (claim,) = store.claim_due(
                start + timedelta(seconds=n), 1, "bench", timedelta(minutes=5)
            )
            assert claim.entry_id == entry_id
            at = claim.scheduled_for
            run = RunRecord(entry_id, at, PUBLISHED, published_at=at, owner="bench")
            last = len(headers) == n - 1  # the entry is then done: no later claim meets it
            following = None if last else at + timedelta(seconds=1)
            assert store.complete(claim, Outcome(following, (run,)))
            headers.append(
                {"stembeat_entry": entry_id, "stembeat_scheduled_for": format_instant(at)}
            )
    return headers


def _task_times(run: Callable[[dict[str, str]], Any], headers: list[dict[str, str]]) -> float:
    """The median seconds of one task, over one run per set of headers."""
    times = []
    for one in headers:
        started = time.perf_counter()
        run(one)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def measure(ctx: Context, subject: str, n: int, rep: int) -> dict[str, float]:
    """Untracked, tracked with the store up, tracked with it down; µs per task added."""
    from celery import Celery

    from celery_stembeat.outcomes import track_outcomes
    from celery_stembeat.stores import open_store

    base = subjects.store_url(ctx, subject, "outcomes")
    # Every report must find its run in history (or it is not counted): keep all n runs.
    url = f"{base}{'&' if '?' in base else '?'}history_limit={n}"
    results: dict[str, float] = {}
    baseline = 0.0
    for phase in ("none", "up", "down"):
        app = Celery(f"bench-outcomes-{phase}", set_as_current=False)

        @app.task(name="bench.noop")
        def noop() -> None:
            return None

        headers = _occurrences(url, f"job-{rep}-{phase}", n)
        tracker = None
        if phase != "none":
            target = url if phase == "up" else _unreachable(subject)
            tracker = track_outcomes(app, url=target)
        _task_times(lambda one: noop.apply(headers=one), headers[:20])  # warm up
        median = _task_times(lambda one: noop.apply(headers=one), headers)
        if tracker is None:
            baseline = median
        else:
            results[f"{phase}_us"] = (median - baseline) * 1e6
            tracker.disconnect()
            tracker.buffer.close(timeout=30 if phase == "up" else 0)
        if phase == "up":
            with open_store(url) as store:
                landed = store.get(f"job-{rep}-{phase}")
                assert landed is not None
                assert landed.state.success_count == n, landed.state.success_count
    return results


def cleanup(ctx: Context, subject: str, n: int) -> None:
    """Remove the store's entries."""
    subjects.drop(ctx, subject, "outcomes")
