"""Change propagation: from an API call that adds an entry due now, until the running beat
has published its message.

A real ``celery beat`` process runs the scheduler with an empty ``beat_schedule``; this process
makes each change through the subject's API (stembeat's store, RedBeat's entry ``save``) and
takes the message off the Redis broker queue. celery's own schedulers have no way to change a
running beat's schedule and are not part of this scenario. RedBeat learns of changes only at
its next pass: it runs here with ``beat_max_loop_interval = 5`` s (celery's default, 300 s,
would make each change wait minutes).
"""

from __future__ import annotations

import json
import time
from datetime import datetime, timedelta, timezone
from typing import Any

import redis

from bench import subjects
from bench.apps import TASK, make_app
from bench.beat_process import start_beat, stop_beats
from bench.context import Context
from bench.stats import Metric, percentile

NAME = "propagation"
METRICS = (
    Metric("p50_ms", "change propagation p50", "ms"),
    Metric("p95_ms", "change propagation p95", "ms"),
    Metric("max_ms", "change propagation max", "ms"),
)
SCHEDULERS = {"redbeat": "redbeat.RedBeatScheduler"} | dict.fromkeys(
    subjects.STEMBEATS, "celery_stembeat.Scheduler"
)
#: RedBeat's longest sleep between passes in this scenario, seconds.
REDBEAT_LOOP = 5
_READY_TIMEOUT = 60.0


def plan(ctx: Context) -> list[tuple[int, tuple[str, ...]]]:
    """RedBeat and stembeat; ``n`` is the number of changes measured per repetition."""
    return [(3 if ctx.quick else 10, subjects.STORED)]


def measure(ctx: Context, subject: str, n: int, rep: int) -> dict[str, float]:
    """Start beat, wait until a first change goes through, then time ``n`` changes."""
    tag = f"prop{rep}"
    queue = ctx.name(tag)
    settings = subjects.settings(ctx, subject, tag)
    if subject == "redbeat":
        settings["beat_max_loop_interval"] = REDBEAT_LOOP
    broker = redis.Redis.from_url(ctx.broker_url)
    broker.delete(queue)
    beat = start_beat(ctx.broker_url, SCHEDULERS[subject], ctx.path(tag), queue, settings)
    change = _changer(ctx, subject, tag, make_app(ctx, queue, {}, **settings))
    try:
        _propagate(change, broker, queue, "warm-up", _READY_TIMEOUT)
        delays = []
        for k in range(n):
            time.sleep(0.2)
            delays.append(_propagate(change, broker, queue, f"change{k}", 30.0) * 1000)
        return {
            "p50_ms": percentile(delays, 0.5),
            "p95_ms": percentile(delays, 0.95),
            "max_ms": max(delays),
        }
    finally:
        stop_beats([beat])
        broker.delete(queue)
        broker.close()
        subjects.drop(ctx, subject, tag)


def _changer(ctx: Context, subject: str, tag: str, app: Any) -> Any:
    """A function that adds entry ``name``, due now, through the subject's API."""
    if subject == "redbeat":
        from celery.schedules import schedule
        from redbeat.schedulers import RedBeatSchedulerEntry, ensure_conf

        ensure_conf(app)
        daily = schedule(run_every=timedelta(days=1), app=app)

        def redbeat_change(name: str) -> None:
            entry = RedBeatSchedulerEntry(name, TASK, daily, args=[name], app=app)
            entry.last_run_at = None  # never run: RedBeat schedules it now
            entry.save()

        return redbeat_change
    from celery_stembeat.entry import Entry
    from celery_stembeat.specs import ClockedSpec
    from celery_stembeat.stores import open_store

    store = open_store(subjects.store_url(ctx, subject, tag))

    def stembeat_change(name: str) -> None:
        now = datetime.now(timezone.utc)
        entry = Entry(id=name, task=TASK, spec=ClockedSpec(now), args=(name,))
        store.upsert(entry.with_state(next_run_at=entry.spec.at))

    return stembeat_change


def _propagate(change: Any, broker: redis.Redis, queue: str, name: str, timeout: float) -> float:
    """Make the change; the seconds until its message is in the queue."""
    started = time.time()
    change(name)
    deadline = started + timeout
    while time.time() < deadline:
        # Short waits: redis-py's default socket timeout would cut a long BLPOP.
        popped = broker.blpop([queue], timeout=1)
        if popped is None:
            continue
        arrived = time.time()
        headers = json.loads(popped[1])["headers"]
        if headers.get("argsrepr") == repr([name]) or headers.get("argsrepr") == repr((name,)):
            return arrived - started
    raise TimeoutError(f"no message for {name} within {timeout:g} s")
