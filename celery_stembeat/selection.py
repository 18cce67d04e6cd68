"""Which entries ``list``, the verbs taking ``--tag`` and the dashboard's entries page act on,
and in what order: the store's filters, tags, health states, a sort key and a limit."""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime

from celery_stembeat.entry import Entry
from celery_stembeat.health import HealthRules
from celery_stembeat.ordering import SORTS
from celery_stembeat.stores import Pause, Store
from celery_stembeat.survey import healths

#: Entries read together when a selection goes by ids.
_READ_BATCH = 1000


def stored(
    store: Store,
    *,
    tags: Sequence[str] = (),
    enabled: bool | None = None,
    prefix: str | None = None,
) -> Iterator[Entry]:
    """The store's entries sorted by id, streamed, optionally only those holding every one of
    ``tags`` (read through the store's tag index, not by reading every entry), enabled or
    disabled ones, or ids with ``prefix``."""
    if not tags:
        yield from store.iter_entries(enabled=enabled, prefix=prefix)
        return
    ids = store.ids_tagged(tags)
    for first in range(0, len(ids), _READ_BATCH):
        yield from (
            entry
            for entry in store.get_many(ids[first : first + _READ_BATCH])
            if (enabled is None or entry.enabled == enabled)
            and (prefix is None or entry.id.startswith(prefix))
        )


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


#: Entries assessed together by :func:`in_state`.
_HEALTH_BATCH = 500


def in_state(
    store: Store,
    entries: Iterable[Entry],
    state: str,
    now: datetime,
    rules: HealthRules,
    pause: Pause | None,
) -> Iterator[Entry]:
    """The ``entries`` in health ``state`` at ``now`` under ``rules`` and the store's
    ``pause``, assessed a batch at a time (streamed)."""
    for batch in batched(entries, _HEALTH_BATCH):
        verdicts = healths(store, batch, now, rules, pause)
        yield from (e for e, health in zip(batch, verdicts, strict=True) if health.state == state)
