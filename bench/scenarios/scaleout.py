"""Scale-out: ``n`` entries due at once on one store, shared by 1, 2 and 3 real ``celery beat``
processes that publish to one Redis broker queue.

Each run gets a fresh store and queue. The beats start first and are ready once each has
recorded its heartbeat in the store. The store is then paused (``Store.pause``, as ``stembeat
pause`` does), the entries written, all due at the instant of the pause, and the store resumed:
its change feed wakes every beat at once, and none of the write or the start-up is measured.
Fires per second is ``n`` divided by the time from the resume (the beats' first pass) until the
last send (the newest ``last_run_at`` the store recorded). Then the beats stop and every
message in the queue is read: each occurrence (the entry and scheduled time in its headers)
must be there exactly once, under a task id of its own. A duplicate or a loss fails the
scenario.

celery's schedulers keep the schedule inside the one beat process, and RedBeat lets one beat at
a time run under its lock: neither can share a burst between beats.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections import Counter
from collections.abc import Iterable
from datetime import datetime, timezone
from typing import Any

import redis

from bench import subjects
from bench.apps import make_app
from bench.beat_process import cpu_seconds, start_beat, stop_beats
from bench.context import Context
from bench.stats import Metric

NAME = "scaleout"
#: The numbers of beats sharing the store, in the order of the first repetition.
BEATS = (1, 2, 3)
METRICS = (
    *(
        Metric(
            f"beats{k}_per_s",
            f"scale-out, {k} beat{'s' * (k > 1)}",
            "fires/s",
            lower_is_better=False,
        )
        for k in BEATS
    ),
    *(
        Metric(f"speedup{k}", f"scale-out, {k} beats ÷ 1 beat", "x", lower_is_better=False)
        for k in BEATS[1:]
    ),
    *(
        Metric(f"cpu{k}_us", f"scale-out, beats' CPU per fire, {k} beat{'s' * (k > 1)}", "µs")
        for k in BEATS
    ),
    Metric("duplicates", "scale-out, duplicate messages at the broker", "messages"),
    Metric("lost", "scale-out, occurrences missing at the broker", "occurrences"),
)
SUBJECTS = ("stembeat-postgres", "stembeat-redis")
#: What the table says for the subjects not run, instead of "n/a".
NOT_RUN = dict.fromkeys(subjects.ANCHORS[:2], "one beat only") | {
    "redbeat": "one beat at a time (lock)",
    "stembeat-sqlite": "not run",
}
EVERY = 3_600.0
_READY_TIMEOUT = 60.0


def plan(ctx: Context) -> list[tuple[int, tuple[str, ...]]]:
    """stembeat on PostgreSQL and Redis, 10,000 entries (1,000 in quick mode)."""
    return [(1_000 if ctx.quick else 10_000, SUBJECTS)]


def measure(ctx: Context, subject: str, n: int, rep: int) -> dict[str, float]:
    """One run per number of beats (which goes first rotates with ``rep``); fails on any
    duplicate or loss."""
    shift = rep % len(BEATS)
    rates: dict[int, float] = {}
    cpu: dict[int, float] = {}
    found = Counter[str]()
    for beats in BEATS[shift:] + BEATS[:shift]:
        rates[beats], cpu[beats], duplicates, lost = _run(
            ctx, subject, n, beats, f"scale{beats}r{rep}"
        )
        found.update(duplicates=duplicates, lost=lost)
    if found["duplicates"] or found["lost"]:
        raise AssertionError(
            f"{subject}: {found['duplicates']} duplicate message(s) and {found['lost']} lost "
            f"occurrence(s) at the broker (rates: {rates})"
        )
    result = {f"beats{k}_per_s": rate for k, rate in rates.items()}
    result |= {f"speedup{k}": rates[k] / rates[1] for k in BEATS[1:]}
    result |= {f"cpu{k}_us": seconds / n * 1e6 for k, seconds in cpu.items()}
    return result | {"duplicates": found["duplicates"], "lost": found["lost"]}


def _run(ctx: Context, subject: str, n: int, count: int, tag: str) -> tuple[float, float, int, int]:
    """Fires per second, the beats' CPU seconds from the resume until the queue was full,
    duplicate messages and lost occurrences of one run of ``count`` beats."""
    queue = ctx.name(tag)
    settings = subjects.settings(ctx, subject, tag)
    broker = redis.Redis.from_url(ctx.broker_url)
    broker.delete(queue)
    beats: list[subprocess.Popen[bytes]] = []
    try:
        beats = [
            start_beat(
                ctx.broker_url, "celery_stembeat.Scheduler", ctx.path(f"{tag}b{i}"), queue, settings
            )
            for i in range(count)
        ]
        _wait_ready(ctx, subject, tag, beats)
        app = make_app(ctx, queue, {}, **settings)
        due, resumed, cpu_before = _burst(ctx, subject, tag, app, n, beats)
        _wait_queued(broker, queue, n, beats)
        cpu = cpu_seconds(beats) - cpu_before
        stop_beats(beats)
        last_send = _last_send(ctx, subject, tag)
        duplicates, lost = tally(broker.lrange(queue, 0, -1), _occurrences(n, due))
        return n / (last_send - resumed).total_seconds(), cpu, duplicates, lost
    finally:
        stop_beats(beats)
        broker.delete(queue, *kombu_bindings(queue))
        broker.close()
        subjects.drop(ctx, subject, tag)


def _wait_ready(ctx: Context, subject: str, tag: str, beats: list[subprocess.Popen[bytes]]) -> None:
    """Until every beat has run its first pass (its heartbeat is in the store)."""
    from celery_stembeat.stores import open_store

    pids = {beat.pid for beat in beats}
    deadline = time.monotonic() + _READY_TIMEOUT
    with open_store(subjects.store_url(ctx, subject, tag)) as store:
        while not pids <= {info.pid for info in store.beats()}:
            _check_running(beats)
            if time.monotonic() > deadline:
                raise TimeoutError(f"{len(beats)} beat(s) not ready after {_READY_TIMEOUT:g} s")
            time.sleep(0.05)


def _burst(
    ctx: Context, subject: str, tag: str, app: Any, n: int, beats: list[subprocess.Popen[bytes]]
) -> tuple[datetime, datetime, float]:
    """Pause the store, write ``n`` entries due at the pause, and resume: the instants they
    are due and the store was resumed, and the CPU seconds the ``beats`` had used by then."""
    from celery_stembeat.stores import Pause, open_store

    with open_store(subjects.store_url(ctx, subject, tag)) as store:
        due = datetime.now(timezone.utc).replace(microsecond=0)
        store.pause(Pause(since=due, reason="scale-out benchmark"))
        subjects.store_entries(ctx, subject, tag, app, n, EVERY, lambda i: due)
        cpu = cpu_seconds(beats)
        resumed = datetime.now(timezone.utc)
        store.resume()
    return due, resumed, cpu


def _wait_queued(
    broker: redis.Redis, queue: str, n: int, beats: list[subprocess.Popen[bytes]]
) -> None:
    """Until ``n`` messages are in ``queue``; on time out the count shows what was lost."""
    deadline = time.monotonic() + max(30.0, n / 100)
    while broker.llen(queue) < n and time.monotonic() < deadline:
        _check_running(beats)
        time.sleep(0.01)


def _check_running(beats: list[subprocess.Popen[bytes]]) -> None:
    exited = [beat.returncode for beat in beats if beat.poll() is not None]
    if exited:
        raise RuntimeError(f"{len(exited)} beat(s) exited early, exit codes {exited}")


def _last_send(ctx: Context, subject: str, tag: str) -> datetime:
    """When the last message was sent: the newest publish time the store recorded."""
    from celery_stembeat.stores import open_store

    with open_store(subjects.store_url(ctx, subject, tag)) as store:
        sent = [entry.state.last_run_at for entry in store.iter_entries()]
    return max(when for when in sent if when is not None)


def kombu_bindings(queue: str) -> tuple[str, str]:
    """The keys in which kombu's Redis transport records ``queue``'s binding to its exchange
    (celery names the exchange after the queue)."""
    return f"_kombu.binding.{queue}", f"_kombu.binding_permanent.{queue}"


def _occurrences(n: int, due: datetime) -> set[tuple[str, datetime]]:
    """The occurrences the run must publish, as (entry id, scheduled time)."""
    return {(f"job{i:07d}", due) for i in range(n)}


def tally(messages: Iterable[bytes | str], expected: set[tuple[str, datetime]]) -> tuple[int, int]:
    """(duplicates, lost) among the broker's ``messages`` (kombu's JSON envelopes):
    messages beyond the first for one occurrence or one task id, or for an occurrence not
    ``expected``; and ``expected`` occurrences no message carries."""
    from celery_stembeat.specs import parse_instant

    occurrences = Counter[tuple[str, datetime]]()
    task_ids = Counter[str]()
    for raw in messages:
        headers = json.loads(raw)["headers"]
        scheduled_for = parse_instant(headers["stembeat_scheduled_for"], "scheduled_for")
        occurrences[(headers["stembeat_entry"], scheduled_for)] += 1
        task_ids[headers["id"]] += 1
    sent = sum(occurrences.values())
    unexpected = sum(occurrences[key] for key in occurrences.keys() - expected)
    duplicates = max(sent - len(occurrences), sent - len(task_ids)) + unexpected
    return duplicates, len(expected - occurrences.keys())
