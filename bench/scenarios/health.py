"""A health survey (what ``stembeat metrics serve`` and ``stembeat observe --check`` run per
scrape) on a store of ``n`` entries, a hundred of them unhealthy.

Of the ``n`` entries, 50 are missed (due an hour ago) and 50 failing (three task failures in a
row), spread over the ids; the rest are due tomorrow. ``prepare`` writes them with
``write_many`` and, on PostgreSQL, runs ``VACUUM ANALYZE`` on the entries table, as autovacuum
would after a bulk load. Each repetition times ``survey()`` after one warm-up, then
``entry_counts()`` and ``health_suspects()`` alone, the same number of times each. Only
stembeat has this, so the anchors' columns stay empty.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

from bench import subjects
from bench.apps import TASK
from bench.context import Context
from bench.stats import Metric, percentile

NAME = "health"
METRICS = (
    Metric("survey_ms", "health survey, median", "ms"),
    Metric("survey_p95_ms", "health survey, p95", "ms"),
    Metric("counts_ms", "entry_counts, median", "ms"),
    Metric("suspects_ms", "health_suspects, median", "ms"),
)
#: Unhealthy entries of each kind (missed, failing).
PROBLEMS = 50
#: Entries per ``write_many`` call.
_WRITE_BATCH = 10_000


def plan(ctx: Context) -> list[tuple[int, tuple[str, ...]]]:
    """Each stembeat store at a million entries (ten thousand in quick mode)."""
    return [(10_000 if ctx.quick else 1_000_000, subjects.STEMBEATS)]


def _entries(n: int, now: datetime) -> Iterator[Any]:
    from celery_stembeat.entry import Entry
    from celery_stembeat.specs import IntervalSpec

    spec = IntervalSpec(86_400)
    step = n // PROBLEMS
    tomorrow = now + timedelta(days=1)
    earlier = now - timedelta(hours=1)
    for i in range(n):
        entry = Entry(id=f"job{i:07d}", task=TASK, spec=spec)
        if i % step == 0:
            yield entry.with_state(next_run_at=earlier)
        elif i % step == step // 2:
            yield entry.with_state(
                next_run_at=tomorrow,
                last_scheduled_for=earlier,
                last_run_at=earlier,
                total_run_count=3,
                last_outcome="failure",
                last_outcome_for=earlier,
                task_failure_count=3,
                consecutive_task_failures=3,
                last_task_error="RuntimeError: boom",
            )
        else:
            yield entry.with_state(next_run_at=tomorrow)


def prepare(ctx: Context, subject: str, n: int) -> dict[str, float]:
    """Write the ``n`` entries and a beat; vacuum on PostgreSQL. Seconds it took."""
    from celery_stembeat.stores import BeatInfo

    now = datetime.now(timezone.utc).replace(microsecond=0)
    beat = BeatInfo("bench", "localhost", 1, "bench", now, now)
    return subjects.load(
        ctx, subject, NAME, _entries(n, now), then=lambda store: store.record_beat(beat)
    )


def _times(call: Callable[[], Any], count: int) -> list[float]:
    """The milliseconds of ``count`` calls, one at a time."""
    found = []
    for _ in range(count):
        started = time.perf_counter()
        call()
        found.append((time.perf_counter() - started) * 1000)
    return found


def measure(ctx: Context, subject: str, n: int, rep: int) -> dict[str, float]:
    """Time the survey, then its two index reads alone; check what the survey found."""
    from celery_stembeat.health import FAILING, MISSED, OK, HealthRules
    from celery_stembeat.stores import open_store
    from celery_stembeat.survey import SURVEY_LIMIT, survey, suspect_rules

    count = int(ctx.options["health_surveys"])
    rules = HealthRules()
    with open_store(subjects.store_url(ctx, subject, NAME)) as store:
        found = survey(store, datetime.now(timezone.utc), rules)
        expected = {MISSED: PROBLEMS, FAILING: PROBLEMS, OK: n - 2 * PROBLEMS}
        if any(found.counts[state] != value for state, value in expected.items()):
            raise AssertionError(f"survey found {found.counts}")
        surveys = _times(lambda: survey(store, datetime.now(timezone.utc), rules), count)
        counts = _times(store.entry_counts, count)
        suspects = _times(
            lambda: store.health_suspects(
                suspect_rules(datetime.now(timezone.utc), rules), SURVEY_LIMIT
            ),
            count,
        )
    return {
        "survey_ms": statistics.median(surveys),
        "survey_p95_ms": percentile(surveys, 0.95),
        "counts_ms": statistics.median(counts),
        "suspects_ms": statistics.median(suspects),
        "surveys": count,
    }


def cleanup(ctx: Context, subject: str, n: int) -> None:
    """Remove the store."""
    subjects.drop(ctx, subject, NAME)
