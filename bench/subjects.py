"""The schedulers under test: how each starts, runs one pass, keeps entries, and is removed.

celery's ``Scheduler`` keeps ``beat_schedule`` in memory and ``PersistentScheduler`` in a shelve
file; RedBeat keeps entries in Redis; stembeat runs on each of its stores. Entries created
outside ``beat_schedule`` (an API, a CLI) exist only for RedBeat and stembeat.
"""

from __future__ import annotations

import contextlib
import glob
import os
import time
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from types import SimpleNamespace
from typing import Any

import redis
from celery import Celery, beat

from bench.apps import TASK
from bench.context import Context

ANCHORS = ("celery", "celery-persistent", "redbeat")
STEMBEATS = ("stembeat-sqlite", "stembeat-postgres", "stembeat-redis")
SUBJECTS = ANCHORS + STEMBEATS
#: Subjects whose entries can live outside ``beat_schedule``.
STORED = ("redbeat", *STEMBEATS)
#: Entries written per store round of :func:`store_entries`.
_WRITE_BATCH = 10_000


def store_url(ctx: Context, subject: str, tag: str) -> str:
    """The stembeat store of ``subject`` for ``tag``."""
    backend = subject.removeprefix("stembeat-")
    if backend == "sqlite":
        return f"sqlite:///{ctx.path(tag)}.db"
    if backend == "postgres":
        return f"{ctx.postgres_url}?prefix={ctx.name(tag)}_"
    return f"{ctx.redis_url}?prefix={ctx.name(tag)}"


def settings(ctx: Context, subject: str, tag: str) -> dict[str, Any]:
    """The celery settings pointing ``subject`` at its storage for ``tag``."""
    if subject == "redbeat":
        return {"redbeat_redis_url": ctx.redis_url, "redbeat_key_prefix": f"{ctx.name(tag)}:"}
    if subject in STEMBEATS:
        return {"stembeat_url": store_url(ctx, subject, tag)}
    return {}


def start(ctx: Context, subject: str, tag: str, app: Celery) -> Any:
    """A started scheduler (its ``beat_schedule`` read and stored), as ``celery beat`` has it."""
    filename = str(ctx.path(tag))
    if subject == "celery":
        return beat.Scheduler(app=app)
    if subject == "celery-persistent":
        return beat.PersistentScheduler(app=app, schedule_filename=filename)
    if subject == "redbeat":
        from redbeat.schedulers import RedBeatScheduler, acquire_distributed_beat_lock

        scheduler = RedBeatScheduler(app=app)
        # What celery beat's beat_init signal does: RedBeat extends this lock on every tick.
        acquire_distributed_beat_lock(SimpleNamespace(scheduler=scheduler))
        return scheduler
    from celery_stembeat import Scheduler

    return Scheduler(app=app, schedule_filename=filename)


def one_pass(scheduler: Any) -> Callable[[], Any]:
    """One scheduling pass without the sleep after it.

    celery's and RedBeat's ``tick`` return the time to sleep; stembeat's ``tick`` also waits
    (on the store's change feed), so its pass is the engine's tick.
    """
    engine = getattr(scheduler, "engine", None)
    return engine.tick if engine is not None else scheduler.tick


def store_entries(
    ctx: Context,
    subject: str,
    tag: str,
    app: Celery,
    count: int,
    every: float,
    first_run: Callable[[int], datetime],
) -> None:
    """Create ``count`` entries through the subject's API (not ``beat_schedule``): entry ``i``
    fires every ``every`` seconds, first at ``first_run(i)``."""
    if subject == "redbeat":
        _redbeat_entries(app, count, every, first_run)
        return
    from celery_stembeat.entry import Entry
    from celery_stembeat.specs import IntervalSpec
    from celery_stembeat.stores import open_store

    spec = IntervalSpec(every)
    with open_store(store_url(ctx, subject, tag)) as store:
        for first in range(0, count, _WRITE_BATCH):
            store.upsert_many(
                Entry(id=f"job{i:07d}", task=TASK, spec=spec, args=(i,)).with_state(
                    next_run_at=first_run(i)
                )
                for i in range(first, min(count, first + _WRITE_BATCH))
            )


def _redbeat_entries(
    app: Celery, count: int, every: float, first_run: Callable[[int], datetime]
) -> None:
    from celery.schedules import schedule
    from redbeat.schedulers import RedBeatSchedulerEntry, ensure_conf

    ensure_conf(app)
    interval = schedule(run_every=timedelta(seconds=every), app=app)
    for i in range(count):
        # RedBeat keeps the last run; the next is last run + interval.
        last = first_run(i) - timedelta(seconds=every)
        RedBeatSchedulerEntry(
            f"job{i:07d}", TASK, interval, args=[i], app=app, last_run_at=last
        ).save()


def drop(ctx: Context, subject: str, tag: str) -> None:
    """Remove everything ``subject`` stored for ``tag``."""
    if subject in ("celery", "celery-persistent"):
        for path in glob.glob(f"{ctx.path(tag)}*"):
            os.unlink(path)
        return
    if subject == "redbeat":
        client = redis.Redis.from_url(ctx.redis_url)
        try:
            _unlink(client, client.scan_iter(match=f"{ctx.name(tag)}:*", count=1000))
        finally:
            client.close()
        return
    from celery_stembeat.stores import open_store

    if subject == "stembeat-sqlite":
        for path in glob.glob(f"{ctx.path(tag)}*"):
            os.unlink(path)
        return
    store: Any = open_store(store_url(ctx, subject, tag))
    with contextlib.closing(store):
        store.drop()


def _unlink(client: redis.Redis, keys: Iterable[Any]) -> None:
    batch = []
    for key in keys:
        batch.append(key)
        if len(batch) >= 1000:
            client.unlink(*batch)
            batch = []
    if batch:
        client.unlink(*batch)


def write_entries(store: Any, entries: Iterable[Any]) -> None:
    """Write ``entries`` (stembeat ``Entry`` objects) with ``write_many``,
    :data:`_WRITE_BATCH` at a time."""
    batch = []
    for entry in entries:
        batch.append(entry)
        if len(batch) == _WRITE_BATCH:
            store.write_many(batch)
            batch = []
    store.write_many(batch)


def load(
    ctx: Context,
    subject: str,
    tag: str,
    entries: Iterable[Any],
    tables: Iterable[str] = ("entries",),
    then: Callable[[Any], object] | None = None,
) -> dict[str, float]:
    """Write ``entries`` to the store of ``tag`` (then ``then(store)``), and vacuum ``tables``
    on PostgreSQL: the seconds each took."""
    from celery_stembeat.stores import open_store

    started = time.perf_counter()
    with open_store(store_url(ctx, subject, tag)) as store:
        write_entries(store, entries)
        if then is not None:
            then(store)
    took = {"load_s": time.perf_counter() - started}
    if subject == "stembeat-postgres":
        took["vacuum_s"] = vacuum(ctx, subject, tag, tables)
    return took


def vacuum(ctx: Context, subject: str, tag: str, tables: Iterable[str] = ("entries",)) -> float:
    """``VACUUM ANALYZE`` the stembeat tables of ``tag`` on PostgreSQL, as autovacuum would
    after a bulk load; the seconds it took (0 on other subjects)."""
    if subject != "stembeat-postgres":
        return 0.0
    import sqlalchemy as sa

    started = time.perf_counter()
    engine = sa.create_engine(ctx.postgres_url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            for table in tables:
                conn.execute(sa.text(f"VACUUM ANALYZE {ctx.name(tag)}_{table}"))
    finally:
        engine.dispose()
    return time.perf_counter() - started
