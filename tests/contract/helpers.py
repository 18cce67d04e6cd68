"""Building blocks for the contract suite: entries, instants, completions and store URLs."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from celery_stembeat.entry import Entry, RunState
from celery_stembeat.specs import ClockedSpec, IntervalSpec, Spec
from celery_stembeat.stores import PUBLISHED, Claim, Outcome, RunRecord, Store, VersionConflict

if TYPE_CHECKING:
    from celery_stembeat.stores.redis import RedisStore

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)
LEASE = timedelta(seconds=30)


def at(seconds: float) -> datetime:
    """``T0`` plus ``seconds``."""
    return T0 + timedelta(seconds=seconds)


def make_entry(
    entry_id: str,
    *,
    next_run_at: datetime | None = T0,
    spec: Spec | None = None,
    **fields: object,
) -> Entry:
    """An enabled entry due at ``next_run_at`` (every 60 s unless ``spec`` says otherwise)."""
    return Entry(
        id=entry_id,
        task="tasks.ping",
        spec=spec or IntervalSpec(60),
        state=RunState(next_run_at=next_run_at, created_at=T0, updated_at=T0),
        **fields,  # type: ignore[arg-type]
    )


def one_off(entry_id: str, when: datetime) -> Entry:
    """A clocked entry that fires once at ``when``."""
    return make_entry(entry_id, next_run_at=when, spec=ClockedSpec(when))


def published(claim: Claim, *, drift: float = 0.0, owner: str = "beat-1") -> Outcome:
    """The outcome of publishing ``claim`` on time plus ``drift``, moving to the next slot."""
    scheduled = claim.scheduled_for
    run = RunRecord(
        entry_id=claim.entry_id,
        scheduled_for=scheduled,
        outcome=PUBLISHED,
        published_at=scheduled + timedelta(seconds=drift),
        drift=drift,
        owner=owner,
        task_id=f"{claim.entry_id}@{scheduled.isoformat()}",
    )
    return Outcome(
        next_run_at=claim.entry.spec.next_after(scheduled),
        runs=(run,),
    )


def drain(store: object, owner: str, now: datetime, start: object) -> list[tuple[str, str]]:
    """Claim and complete everything due at ``now``; the occurrences this caller got."""
    from celery_stembeat.stores import Store

    assert isinstance(store, Store)
    start.wait()  # type: ignore[attr-defined]
    got: list[tuple[str, str]] = []
    while True:
        claims = store.claim_due(now, limit=7, owner=owner, lease=timedelta(minutes=5))
        if not claims:
            return got
        for claim in claims:
            got.append((claim.entry_id, claim.scheduled_for.isoformat()))
        assert all(store.complete_many((claim, published(claim)) for claim in claims))
        time.sleep(0.001)  # let the other claimers in: threads of one process take turns


def drain_in_process(url: str, owner: str, now: datetime, start: object, results: object) -> None:
    """:func:`drain` in a child process on its own store connection."""
    from celery_stembeat.stores import open_store

    store = open_store(url)
    try:
        results.put(drain(store, owner, now, start))  # type: ignore[attr-defined]
    finally:
        store.close()


def redis_server_url(request: pytest.FixtureRequest, backend: str, prefix: str) -> str:
    """The URL of the Redis server holding ``prefix``'s keys on ``backend``: the test server, or
    the cluster's primary serving the prefix's slot."""
    if backend == "redis":
        return str(request.getfixturevalue("redis_url"))
    port = request.getfixturevalue("redis_cluster").primary_of("{" + prefix + "}:due")
    return f"redis://127.0.0.1:{port}/0"


def drop_store(store: Store, backend: str) -> None:
    """Remove what a test store created on a server (PostgreSQL tables, Redis keys), then close
    it; SQLite and memory stores vanish with their file or process."""
    try:
        if backend in ("postgres", "redis", "cluster"):
            store.drop()
    finally:
        store.close()


def with_option(url: str, name: str, value: object) -> str:
    """``url`` with ``name=value`` added to its query."""
    return f"{url}{'&' if '?' in url else '?'}{name}={value}"


def private_store_url(backend: str, request: pytest.FixtureRequest, path: Path, prefix: str) -> str:
    """A URL that opens a fresh store of its own on ``backend``: in memory under ``prefix``, an
    SQLite file at ``path``, or ``prefix`` on the test PostgreSQL or Redis server or on the
    private Redis Cluster."""
    if backend == "memory":
        return f"memory://{prefix}"
    if backend == "sqlite":
        return f"sqlite:///{path}"
    if backend == "cluster":
        return with_option(request.getfixturevalue("redis_cluster").url, "prefix", prefix)
    base = request.getfixturevalue("postgres_url" if backend == "postgres" else "redis_url")
    return with_option(base, "prefix", prefix)


def race(actions: Sequence[Callable[[], str]]) -> list[str]:
    """Run ``actions`` together, a thread each, released at once; what each returned, or
    ``"lost"`` for each that met a :class:`VersionConflict`, in the order they ended."""
    outcomes: list[str] = []
    gate = threading.Barrier(len(actions))

    def run(action: Callable[[], str]) -> None:
        gate.wait()
        try:
            outcomes.append(action())
        except VersionConflict:
            outcomes.append("lost")

    threads = [threading.Thread(target=run, args=(action,)) for action in actions]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return outcomes


def redis_store_at(url: str) -> Iterator[RedisStore]:
    """For a fixture: the Redis store at ``url``, its prefix dropped afterwards."""
    from celery_stembeat.stores import open_store
    from celery_stembeat.stores.redis import RedisStore

    opened = open_store(url)
    assert isinstance(opened, RedisStore)
    yield opened
    opened.drop()
    opened.close()
