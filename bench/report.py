"""The table (Markdown) and the versions of everything measured."""

from __future__ import annotations

import math
import os
import platform
import sqlite3
from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, version
from types import ModuleType
from typing import Any

import redis
import sqlalchemy as sa

from bench.context import Context
from bench.results import Results
from bench.stats import Metric, summary
from bench.subjects import ANCHORS, STEMBEATS, SUBJECTS


def table(results: Results, modules: Sequence[ModuleType], ctx: Context) -> str:
    """One row per scenario, size and metric: each subject's median (min-max), the best
    anchor, and each stembeat store's value divided by the best anchor's. A subject the
    scenario cannot run shows the reason its ``NOT_RUN`` gives, else "n/a"."""
    header = ["scenario", "N", "metric", *SUBJECTS, "best anchor", "stembeat ÷ anchor"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for module in modules:
        for n, _ in module.plan(ctx):
            for metric in module.METRICS:
                lines.append(_row(results, module.NAME, n, metric, getattr(module, "NOT_RUN", {})))
    return "\n".join(lines)


def _row(results: Results, scenario: str, n: int, metric: Metric, not_run: dict[str, str]) -> str:
    medians: dict[str, float] = {}
    cells = []
    for subject in SUBJECTS:
        values = results.values(scenario, n, subject, metric.key)
        if results.failed(scenario, n, subject) and not values:
            cells.append("failed")
            continue
        low, middle, high = summary(values)
        if math.isnan(middle):
            cells.append(not_run.get(subject, "n/a"))
            continue
        medians[subject] = middle
        cells.append(
            _number(middle)
            if len(values) == 1 or low == high
            else f"{_number(middle)} ({_number(low)}-{_number(high)})"
        )
    anchors = {subject: medians[subject] for subject in ANCHORS if subject in medians}
    best_anchor = ""
    ratios = ""
    if anchors:
        pick = min if metric.lower_is_better else max
        best_anchor = pick(anchors, key=anchors.__getitem__)
        base = anchors[best_anchor]
        ratios = " / ".join(
            f"{medians[s] / base:.3g}" if s in medians and base else "-" for s in STEMBEATS
        )
    arrow = "↓" if metric.lower_is_better else "↑"
    label = f"{metric.label} ({metric.unit}, {arrow})"
    return "| " + " | ".join([scenario, f"{n:,}", label, *cells, best_anchor, ratios]) + " |"


def _number(value: float) -> str:
    if value == 0 or abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 1:
        return f"{value:.3g}"
    return f"{value:.2g}"


def versions(ctx: Context) -> dict[str, Any]:
    """Python, the libraries, the servers and the machine the run measured."""
    found: dict[str, Any] = {
        "python": platform.python_version(),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.system()}",
        "sqlite": sqlite3.sqlite_version,
    }
    for package in ("celery", "kombu", "celery-redbeat", "redis", "SQLAlchemy", "psycopg"):
        try:
            found[package] = version(package)
        except PackageNotFoundError:
            found[package] = None
    client = redis.Redis.from_url(ctx.redis_url)
    try:
        found["redis-server"] = client.info("server")["redis_version"]
    finally:
        client.close()
    engine = sa.create_engine(ctx.postgres_url)
    try:
        with engine.connect() as conn:
            found["postgresql"] = conn.scalar(sa.text("SHOW server_version"))
    finally:
        engine.dispose()
    return found
