"""Lateness: publish time minus scheduled time while ``n`` entries fire every second.

The ``n`` one-second entries are spread evenly over the second (entry ``i`` at ``i/n`` s), so
the load is ``n`` fires per second, steadily. The scheduler runs as ``celery beat`` runs it
(pass, sleep or wait, pass) and publishes to the Redis broker. Each send's scheduled time and
the time just after the message was handed to the broker are recorded: stembeat's own
scheduled time; for celery and RedBeat, the entry's last run plus its interval (what they
call due). The first second after the first fire is warm-up. A run is cut into
``lateness_windows`` equal windows; each window counts as one repetition.
"""

from __future__ import annotations

import math
import time
from datetime import datetime, timedelta, timezone
from typing import Any

import redis

from bench import subjects
from bench.apps import intervals, make_app
from bench.context import Context
from bench.stats import Metric, percentile

NAME = "lateness"
METRICS = (
    Metric("p50_ms", "lateness p50", "ms"),
    Metric("p99_ms", "lateness p99", "ms"),
    Metric("max_ms", "lateness max", "ms"),
    Metric("fires_per_s", "fires sent per second", "fires/s", lower_is_better=False),
)
#: Seconds from now until the first fire (time to store the entries and start), and the
#: seconds of warm-up not measured after it.
LEAD = 1.5
WARM_UP = 1.0


def plan(ctx: Context) -> list[tuple[int, tuple[str, ...]]]:
    """Every subject at 1,000 and at 100 fires per second (quick mode: 1,000 only)."""
    rates = (1_000,) if ctx.quick else (1_000, 100)
    return [(n, subjects.SUBJECTS) for n in rates]


def measure(ctx: Context, subject: str, n: int, rep: int) -> list[dict[str, float]]:
    """One run of ``lateness_seconds``; one result per window."""
    tag = f"late{n}r{rep}"
    queue = ctx.name(tag)
    stored = subject in subjects.STORED
    app = make_app(
        ctx, queue, {} if stored else intervals(n, 1.0), **subjects.settings(ctx, subject, tag)
    )
    start = time.time() + LEAD
    first = datetime.fromtimestamp(start, timezone.utc)
    if stored:
        subjects.store_entries(
            ctx, subject, tag, app, n, 1.0, lambda i: first + timedelta(seconds=i / n)
        )
    scheduler = subjects.start(ctx, subject, tag, app)
    broker = redis.Redis.from_url(ctx.broker_url)
    try:
        if not stored:
            for i, entry in enumerate(sorted(scheduler.schedule.values(), key=lambda e: e.name)):
                entry.last_run_at = first + timedelta(seconds=i / n - 1)
        sends = _record_sends(scheduler)
        end = start + WARM_UP + float(ctx.options["lateness_seconds"])
        _run_until(scheduler, end, broker, queue)
    finally:
        scheduler.close()
        broker.delete(queue)
        broker.close()
        subjects.drop(ctx, subject, tag)
    return _windows(sends, start + WARM_UP, end, int(ctx.options["lateness_windows"]))


def _run_until(scheduler: Any, end: float, broker: redis.Redis, queue: str) -> None:
    stembeat = getattr(scheduler, "engine", None) is not None
    last_trim = time.time()
    while time.time() < end:
        interval = scheduler.tick()  # stembeat waits inside its tick
        if not stembeat and interval and interval > 0:
            time.sleep(min(interval, max(end - time.time(), 0.0)))
        if time.time() - last_trim > 5:
            broker.delete(queue)  # nobody consumes: keep the broker small
            last_trim = time.time()


def _record_sends(scheduler: Any) -> list[tuple[float, float]]:
    """(scheduled, sent) epoch seconds of every message the scheduler sends."""
    sends: list[tuple[float, float]] = []
    engine = getattr(scheduler, "engine", None)
    if engine is not None:
        publisher = engine.publisher

        class Recording:
            def publish_many(self, messages: Any) -> Any:
                errors = publisher.publish_many(messages)
                sent = time.time()
                sends.extend(
                    (message.scheduled_for.timestamp(), sent)
                    for message, error in zip(messages, errors, strict=True)
                    if error is None
                )
                return errors

        engine.publisher = Recording()
        return sends
    apply_async = scheduler.apply_async
    send_task = scheduler.send_task
    due = [0.0]

    def noting(entry: Any, *args: Any, **kwargs: Any) -> Any:
        due[0] = (entry.last_run_at + entry.schedule.run_every).timestamp()
        return apply_async(entry, *args, **kwargs)

    def sending(*args: Any, **kwargs: Any) -> Any:
        result = send_task(*args, **kwargs)
        sends.append((due[0], time.time()))
        return result

    scheduler.apply_async = noting
    scheduler.send_task = sending
    return sends


def _windows(
    sends: list[tuple[float, float]], start: float, end: float, count: int
) -> list[dict[str, float]]:
    width = (end - start) / count
    results = []
    for index in range(count):
        low, high = start + index * width, start + (index + 1) * width
        late = [(sent - due) * 1000 for due, sent in sends if low <= due < high]
        results.append(
            {
                "p50_ms": percentile(late, 0.5),
                "p99_ms": percentile(late, 0.99),
                "max_ms": max(late, default=math.nan),
                "fires_per_s": sum(low <= sent < high for _, sent in sends) / width,
            }
        )
    return results
