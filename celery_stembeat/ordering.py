"""The orders entries are listed in: by id, soonest next run, latest last run, most runs,
largest mean drift. Each is a sort key over an entry; entries without a value come last, ties
go by id. The stores' sorted reads (:meth:`~celery_stembeat.stores.base.Store.soonest`,
:meth:`~celery_stembeat.stores.base.Store.ranked`) follow these keys."""

from __future__ import annotations

from collections.abc import Callable
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


#: ``--sort`` keys, by name.
SORTS: dict[str, Callable[[Entry], Any]] = {
    "id": lambda entry: entry.id,
    "next": _next,
    "last": _last,
    "runs": _runs,
    "drift": _drift,
}
#: The orders :meth:`~celery_stembeat.stores.base.Store.ranked` reads a page of.
RANKINGS = ("last", "runs", "drift")


def next_key(entry: Entry) -> tuple[datetime, str]:
    """Where ``entry`` stands in :meth:`~celery_stembeat.stores.base.Store.soonest`'s order
    (it must have a next run): what ``after`` takes to read on from it."""
    at = entry.state.next_run_at
    if at is None:
        raise ValueError(f"entry {entry.id!r} has no next run")
    return at, entry.id
