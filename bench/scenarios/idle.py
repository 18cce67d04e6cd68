"""Idle pass: the cost of one scheduling pass when nothing is due, beat's RSS, bytes per entry.

Each subject holds ``n`` entries, none due for a day: celery's schedulers in ``beat_schedule``,
RedBeat and stembeat in their stores (created through their APIs, ``beat_schedule`` empty).
A repetition starts the scheduler in a fresh process, runs a few passes to warm up, times
passes for a while, then reads the process's RSS.
"""

from __future__ import annotations

import statistics
import time
from datetime import datetime, timedelta, timezone
from typing import Any

from bench import footprint, subjects
from bench.apps import intervals, make_app
from bench.context import Context
from bench.stats import Metric, rss_mb

NAME = "idle"
METRICS = (
    Metric("pass_ms", "idle pass", "ms"),
    Metric("rss_mb", "beat RSS after start", "MB"),
    Metric("bytes_per_entry", "store bytes per entry", "B"),
)
DAY = 86_400.0


def plan(ctx: Context) -> list[tuple[int, tuple[str, ...]]]:
    """Every subject at each size; stembeat's Redis and PostgreSQL stores also at 1M."""
    if ctx.quick:
        return [(1_000, subjects.SUBJECTS)]
    sizes = [(n, subjects.SUBJECTS) for n in (1_000, 10_000, 100_000)]
    return [*sizes, (1_000_000, ("stembeat-postgres", "stembeat-redis"))]


def _tag(n: int) -> str:
    return f"idle{n}"


def prepare(ctx: Context, subject: str, n: int) -> dict[str, Any]:
    """Store the entries of the subjects that keep them outside ``beat_schedule``."""
    if subject not in subjects.STORED:
        return {}
    tag = _tag(n)
    app = make_app(ctx, ctx.name(tag), {}, **subjects.settings(ctx, subject, tag))
    now = datetime.now(timezone.utc)
    before = footprint.store_bytes(ctx, subject, tag)
    subjects.store_entries(
        ctx, subject, tag, app, n, DAY, lambda i: now + timedelta(days=1, milliseconds=i)
    )
    return {"bytes_per_entry": (footprint.store_bytes(ctx, subject, tag) - before) / n}


def measure(ctx: Context, subject: str, n: int, rep: int) -> dict[str, float]:
    """Start, warm up, then time passes for ``pass_seconds`` (at least five)."""
    tag = _tag(n)
    schedule = {} if subject in subjects.STORED else intervals(n, DAY)
    app = make_app(ctx, ctx.name(tag), schedule, **subjects.settings(ctx, subject, tag))
    scheduler = subjects.start(ctx, subject, tag, app)
    one_pass = subjects.one_pass(scheduler)
    try:
        for _ in range(3):
            one_pass()
        times: list[float] = []
        deadline = time.perf_counter() + float(ctx.options["pass_seconds"])
        while len(times) < 5 or (time.perf_counter() < deadline and len(times) < 2000):
            started = time.perf_counter()
            one_pass()
            times.append(time.perf_counter() - started)
        return {"pass_ms": statistics.median(times) * 1000, "rss_mb": rss_mb()}
    finally:
        scheduler.close()


def cleanup(ctx: Context, subject: str, n: int) -> None:
    """Remove the stored entries."""
    subjects.drop(ctx, subject, _tag(n))
