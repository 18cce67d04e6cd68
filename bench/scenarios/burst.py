"""Burst: ``n`` entries due at once, drained through to a real Redis broker, and again with
the publish step stubbed out so that the schedulers' own costs compare like for like.

Each run gets fresh storage and a fresh queue; fires per second is the entries sent divided by
the time from the first pass until the last was sent (or until ``burst_seconds`` ran out, for
a scheduler too slow to finish). With publishing, the messages in the queue are counted.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone
from typing import Any

import redis

from bench import subjects
from bench.apps import intervals, make_app
from bench.context import Context
from bench.stats import Metric

NAME = "burst"
METRICS = (
    Metric("published_per_s", "burst, published to Redis", "fires/s", lower_is_better=False),
    Metric("stubbed_per_s", "burst, publish stubbed", "fires/s", lower_is_better=False),
)
EVERY = 3_600.0


def plan(ctx: Context) -> list[tuple[int, tuple[str, ...]]]:
    """Every subject, 10,000 entries (1,000 in quick mode)."""
    return [(1_000 if ctx.quick else 10_000, subjects.SUBJECTS)]


def measure(ctx: Context, subject: str, n: int, rep: int) -> dict[str, float]:
    """Both runs, each on storage of its own."""
    published, sent, queued = _run(ctx, subject, n, f"burst{rep}p", stub=False)
    if queued != sent:
        raise AssertionError(f"{subject}: sent {sent} messages, but {queued} are in the queue")
    stubbed, _, _ = _run(ctx, subject, n, f"burst{rep}s", stub=True)
    return {"published_per_s": published, "stubbed_per_s": stubbed, "queued": queued}


def _run(ctx: Context, subject: str, n: int, tag: str, *, stub: bool) -> tuple[float, int, int]:
    """Fires per second, messages sent, messages in the queue."""
    queue = ctx.name(tag)
    broker = redis.Redis.from_url(ctx.broker_url)
    broker.delete(queue)
    stored = subject in subjects.STORED
    app = make_app(
        ctx, queue, {} if stored else intervals(n, EVERY), **subjects.settings(ctx, subject, tag)
    )
    due = datetime.now(timezone.utc) - timedelta(seconds=1)
    if stored:
        subjects.store_entries(ctx, subject, tag, app, n, EVERY, lambda i: due)
    scheduler = subjects.start(ctx, subject, tag, app)
    try:
        if not stored:
            # celery's entries start as just run: make every one due now.
            for entry in scheduler.schedule.values():
                entry.last_run_at = due - timedelta(seconds=EVERY)
        sent = _count_sends(scheduler, stub)
        one_pass = subjects.one_pass(scheduler)
        started = time.perf_counter()
        deadline = started + float(ctx.options["burst_seconds"])
        while sent[0] < n and time.perf_counter() < deadline:
            one_pass()
        rate = sent[0] / (time.perf_counter() - started)
        return rate, sent[0], int(broker.llen(queue))
    finally:
        scheduler.close()
        broker.delete(queue)
        broker.close()
        subjects.drop(ctx, subject, tag)


def _count_sends(scheduler: Any, stub: bool) -> list[int]:
    """Count the messages the scheduler sends (and with ``stub``, send nothing)."""
    sent = [0]
    engine = getattr(scheduler, "engine", None)
    if engine is not None:
        publisher = engine.publisher

        def publish_many(messages: Any) -> list[None]:
            errors = [None] * len(messages) if stub else publisher.publish_many(messages)
            sent[0] += sum(error is None for error in errors)
            return errors

        engine.publisher = _Publisher(publish_many)
        return sent
    # celery's Scheduler.apply_async (RedBeat's too) advances the entry, then sends through
    # the scheduler's send_task: the publish step alone.
    send_task = scheduler.send_task

    def counted(*args: Any, **kwargs: Any) -> Any:
        result = None if stub else send_task(*args, **kwargs)
        sent[0] += 1
        return result

    scheduler.send_task = counted
    return sent


class _Publisher:
    """A stembeat publisher made of one function."""

    def __init__(self, publish_many: Any) -> None:
        self.publish_many = publish_many
