"""Which entries ``list`` shows, and in what order: filters, a sort key and a limit."""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime, timezone
from typing import Any

from celery_stembeat.entry import Entry

_NEVER = datetime.min.replace(tzinfo=timezone.utc)


def _next(entry: Entry) -> tuple[Any, ...]:
    at = entry.state.next_run_at
    return (at is None, at or _NEVER, entry.id)


def _last(entry: Entry) -> tuple[Any, ...]:
    at = entry.state.last_run_at
    return (at is None, -(at or _NEVER).timestamp(), entry.id)


def _runs(entry: Entry) -> tuple[Any, ...]:
    return (-entry.state.total_run_count, entry.id)


def _drift(entry: Entry) -> tuple[Any, ...]:
    mean = entry.state.drift_mean
    return (mean is None, -(mean or 0.0), entry.id)


#: ``--sort`` keys: by id; soonest next run; latest last run; most runs; largest mean drift
#: (entries without a value last, ties by id).
SORTS: dict[str, Callable[[Entry], Any]] = {
    "id": lambda entry: entry.id,
    "next": _next,
    "last": _last,
    "runs": _runs,
    "drift": _drift,
}


def select(
    entries: Iterable[Entry], *, task: str | None = None, sort: str = "id", limit: int | None = None
) -> Iterator[Entry]:
    """The ``entries`` (sorted by id) of ``task`` (all when ``None``), sorted by ``sort``, the
    first ``limit``: streamed where the order is the ids', else holding ``limit`` at most."""
    chosen = (entry for entry in entries if task is None or entry.task == task)
    if sort == "id":
        return itertools.islice(chosen, limit)
    if limit is not None:
        return iter(heapq.nsmallest(limit, chosen, key=SORTS[sort]))
    return iter(sorted(chosen, key=SORTS[sort]))


def batched(entries: Iterable[Entry], size: int) -> Iterator[list[Entry]]:
    """``entries`` in lists of ``size`` (the last one shorter)."""
    pending = iter(entries)
    while batch := list(itertools.islice(pending, size)):
        yield batch
