"""Which entries ``list`` (and the verbs taking ``--tag``) act on, and in what order: the
store's filters, tags, a sort key and a limit."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timezone
from typing import Any

from celery_stembeat.entry import Entry
from celery_stembeat.stores import Store

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


def stored(
    store: Store,
    *,
    tags: Sequence[str] = (),
    enabled: bool | None = None,
    prefix: str | None = None,
) -> list[Entry]:
    """The store's entries sorted by id, optionally only those holding every one of ``tags``
    (read through the store's tag index, not by reading every entry), enabled or disabled
    ones, or ids with ``prefix``."""
    if not tags:
        return store.list_entries(enabled=enabled, prefix=prefix)
    return [
        entry
        for entry in store.get_many(store.ids_tagged(tags))
        if (enabled is None or entry.enabled == enabled)
        and (prefix is None or entry.id.startswith(prefix))
    ]


def select(
    entries: Iterable[Entry], *, task: str | None = None, sort: str = "id", limit: int | None = None
) -> list[Entry]:
    """The ``entries`` of ``task`` (all when ``None``), sorted by ``sort``, the first ``limit``."""
    chosen = [entry for entry in entries if task is None or entry.task == task]
    chosen.sort(key=SORTS[sort])
    return chosen if limit is None else chosen[:limit]
