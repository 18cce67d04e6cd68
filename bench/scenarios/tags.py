"""Selecting entries by tag (``Store.ids_tagged``, what ``--tag`` runs) on a store of ``n``
entries.

Entry ``i`` holds ``team:<i % 10>``, the even ones ``nightly`` too, and one in a thousand
``rare``: a rare tag selects ``n / 1000`` ids, a team ``n / 10``, and the AND of ``team:4`` and
``nightly`` (every ``team:4`` entry is even) ``n / 10`` from two sets of ``n / 10`` and
``n / 2``. ``prepare`` writes them with ``write_many`` (timing the load, which keeps the tag
index) and, on PostgreSQL, runs ``VACUUM ANALYZE``, as autovacuum would after a bulk load. Each
repetition checks the three answers, then times each selection, one call at a time. Only
stembeat has tags, so the anchors' columns stay empty.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime, timedelta, timezone
from typing import Any

from bench import subjects
from bench.apps import TASK
from bench.context import Context
from bench.stats import Metric

NAME = "tags"
METRICS = (
    Metric("rare_ms", "ids_tagged, n/1000 ids, median", "ms"),
    Metric("team_ms", "ids_tagged, n/10 ids, median", "ms"),
    Metric("and_ms", "ids_tagged of two tags, n/10 ids, median", "ms"),
)
#: Entries per ``write_many`` call.
_WRITE_BATCH = 10_000
#: The selections, by metric: the tags and how many ids each selects of ``n``.
SELECTIONS: dict[str, tuple[Sequence[str], Callable[[int], int]]] = {
    "rare_ms": (["rare"], lambda n: n // 1000),
    "team_ms": (["team:3"], lambda n: n // 10),
    "and_ms": (["team:4", "nightly"], lambda n: n // 10),
}


def plan(ctx: Context) -> list[tuple[int, tuple[str, ...]]]:
    """Each stembeat store at a hundred thousand entries (ten thousand in quick mode)."""
    return [(10_000 if ctx.quick else 100_000, subjects.STEMBEATS)]


def _entries(n: int, now: datetime) -> Iterator[Any]:
    from celery_stembeat.entry import Entry
    from celery_stembeat.specs import IntervalSpec

    spec = IntervalSpec(86_400)
    tomorrow = now + timedelta(days=1)
    for i in range(n):
        tags = [f"team:{i % 10}", *(["nightly"] if i % 2 == 0 else [])]
        if i % 1000 == 7:
            tags.append("rare")
        entry = Entry(id=f"job{i:07d}", task=TASK, spec=spec, tags=tags)
        yield entry.with_state(next_run_at=tomorrow)


def prepare(ctx: Context, subject: str, n: int) -> dict[str, float]:
    """Write the ``n`` entries; vacuum on PostgreSQL. Seconds it took."""
    now = datetime.now(timezone.utc).replace(microsecond=0)
    return subjects.load(ctx, subject, NAME, _entries(n, now), ("entries", "entry_tags"))


def measure(ctx: Context, subject: str, n: int, rep: int) -> dict[str, float]:
    """Check each selection's answer, then time it ``tags_selections`` times."""
    from celery_stembeat.stores import open_store

    count = int(ctx.options["tags_selections"])
    values: dict[str, float] = {"selections": count}
    with open_store(subjects.store_url(ctx, subject, NAME)) as store:
        for metric, (tags, expected) in SELECTIONS.items():
            found = store.ids_tagged(tags)
            if len(found) != expected(n) or found != sorted(found):
                raise AssertionError(f"{tags}: {len(found)} ids, expected {expected(n)}")
            times = []
            for _ in range(count):
                started = time.perf_counter()
                store.ids_tagged(tags)
                times.append((time.perf_counter() - started) * 1000)
            values[metric] = statistics.median(times)
    return values


def cleanup(ctx: Context, subject: str, n: int) -> None:
    """Remove the store."""
    subjects.drop(ctx, subject, NAME)
