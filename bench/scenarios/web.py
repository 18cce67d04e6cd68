"""The web dashboard's pages on a store of ``n`` entries: the server time of each page, asked
for through Starlette's ``TestClient`` in the measuring process (no network, no browser).

Entry ``i`` fires daily, next at ``i`` seconds from now; it has run ``i % 50`` times with a
mean drift of ``(i % 97) / 1000`` s; one in a thousand is failing (three sends failed in a
row) and one in a hundred is disabled. Each repetition asks for each page ``web_requests``
times, in turn, and gives the median and 95th percentile per page: the overview, the entries
(by id, by next run, by runs), a search (an id prefix matching ``n / 1000`` entries), the
failing entries, and one entry's page. Only stembeat has a dashboard: the anchors' columns stay
empty.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

from bench import subjects
from bench.apps import TASK
from bench.context import Context
from bench.stats import Metric, percentile

NAME = "web"
#: The pages, by the metric names' stem: the path and query asked for.
PAGES = {
    "overview": "/",
    "entries": "/entries",
    "by_next": "/entries?sort=next",
    "by_runs": "/entries?sort=runs",
    "search": "/entries?q=job00012",
    "failing": "/entries?state=failing",
    "entry": "/entry?id=job0000042",
}
_LABELS = {
    "overview": "overview",
    "entries": "entries, by id",
    "by_next": "entries, by next run",
    "by_runs": "entries, by runs",
    "search": "entries, an id prefix (n/1000)",
    "failing": "entries, failing (n/1000)",
    "entry": "one entry",
}
METRICS = tuple(
    Metric(f"{page}_{stat}_ms", f"{_LABELS[page]}, {stat}", "ms")
    for page in PAGES
    for stat in ("p50", "p95")
)


def plan(ctx: Context) -> list[tuple[int, tuple[str, ...]]]:
    """Each stembeat store at a hundred thousand entries (five thousand in quick mode)."""
    return [(5_000 if ctx.quick else 100_000, subjects.STEMBEATS)]


def _entries(n: int, now: datetime) -> Iterator[Any]:
    from celery_stembeat.entry import Entry
    from celery_stembeat.specs import IntervalSpec

    spec = IntervalSpec(86_400)
    for i in range(n):
        runs = i % 50
        entry = Entry(
            id=f"job{i:07d}", task=TASK, spec=spec, enabled=i % 100 != 99, tags=[f"team:{i % 10}"]
        )
        yield entry.with_state(
            next_run_at=now + timedelta(seconds=i),
            last_run_at=now - timedelta(days=1, seconds=i) if runs else None,
            total_run_count=runs,
            drift_mean=(i % 97) / 1000 if runs else None,
            consecutive_failures=3 if i % 1000 == 500 else 0,
            created_at=now - timedelta(days=60),
            updated_at=now - timedelta(days=60),
        )


def prepare(ctx: Context, subject: str, n: int) -> dict[str, float]:
    """Write the ``n`` entries; vacuum on PostgreSQL. Seconds it took."""
    now = datetime.now(timezone.utc).replace(microsecond=0)
    return subjects.load(ctx, subject, NAME, _entries(n, now), ("entries", "entry_tags"))


def measure(ctx: Context, subject: str, n: int, rep: int) -> dict[str, float]:
    """Ask for each page ``web_requests`` times, in turn (after one unmeasured round, which
    checks that each answers 200); the median and 95th percentile of each page's times."""
    from starlette.testclient import TestClient

    from celery_stembeat.web import create_app

    count = int(ctx.options["web_requests"])
    times: dict[str, list[float]] = {page: [] for page in PAGES}
    app = create_app(subjects.store_url(ctx, subject, NAME))
    with TestClient(app) as client:
        for path in PAGES.values():
            answer = client.get(path)
            if answer.status_code != 200 or "job00" not in answer.text:
                raise AssertionError(f"{path}: {answer.status_code}, no entry listed")
        for _ in range(count):
            for page, path in PAGES.items():
                started = time.perf_counter()
                client.get(path)
                times[page].append((time.perf_counter() - started) * 1000)
    values: dict[str, float] = {"requests": count}
    for page, taken in times.items():
        values[f"{page}_p50_ms"] = statistics.median(taken)
        values[f"{page}_p95_ms"] = percentile(taken, 0.95)
    return values


def cleanup(ctx: Context, subject: str, n: int) -> None:
    """Remove the store."""
    subjects.drop(ctx, subject, NAME)
