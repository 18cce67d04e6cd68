"""Start-up: from constructing the scheduler with ``n`` entries in ``beat_schedule`` until its
first pass has run, on fresh storage (first start) and again on what that left (restart).

The schedule mixes intervals and crontabs (see :func:`bench.apps.mixed`); it is built before
the clock starts. Each step runs in a fresh process.
"""

from __future__ import annotations

import time

import redis

from bench import subjects
from bench.apps import make_app, mixed
from bench.context import Context
from bench.stats import Metric

NAME = "startup"
METRICS = (
    Metric("first_s", "start-up, first start", "s"),
    Metric("restart_s", "start-up, restart", "s"),
)
#: Each repetition: a first start, then a restart on what it stored.
STEPS = ("first", "restart")


def plan(ctx: Context) -> list[tuple[int, tuple[str, ...]]]:
    """Every subject at each size."""
    sizes = (1_000,) if ctx.quick else (1_000, 10_000, 100_000)
    return [(n, subjects.SUBJECTS) for n in sizes]


def _start(ctx: Context, subject: str, n: int, rep: int) -> float:
    tag = f"start{n}r{rep}"
    app = make_app(ctx, ctx.name(tag), mixed(n), **subjects.settings(ctx, subject, tag))
    started = time.perf_counter()
    scheduler = subjects.start(ctx, subject, tag, app)
    subjects.one_pass(scheduler)()
    elapsed = time.perf_counter() - started
    scheduler.close()
    return elapsed


def first(ctx: Context, subject: str, n: int, rep: int) -> dict[str, float]:
    """Start on storage nobody used yet."""
    return {"first_s": _start(ctx, subject, n, rep)}


def restart(ctx: Context, subject: str, n: int, rep: int) -> dict[str, float]:
    """Start again on what :func:`first` left, then remove it (and what the first passes
    sent: a scheduler may find entries due at once)."""
    tag = f"start{n}r{rep}"
    try:
        return {"restart_s": _start(ctx, subject, n, rep)}
    finally:
        subjects.drop(ctx, subject, tag)
        broker = redis.Redis.from_url(ctx.broker_url)
        broker.delete(ctx.name(tag))
        broker.close()
