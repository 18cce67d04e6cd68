"""What stembeat will do with an entry: every fire of a window, by the engine's own rules.

The entry's stored ``next_run_at`` is its first occurrence; from there each step is what the
engine does with a claim: :func:`celery_stembeat.catchup.plan` decides the runs (an occurrence
that is already late when beat starts is run at the start, following ``catch_up``), the spec
gives the next occurrence, and the store's rule ends the entry (a run-once entry that ran, no
next occurrence, or one past ``expire_at``). Dispatch takes no time, as in the oracle.

Once an occurrence is not late (at or after the start), ``plan`` runs it and nothing else, so
from there the fires are the spec's occurrences themselves, produced one at a time.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

from celery_stembeat.catchup import plan
from celery_stembeat.engine import EngineSettings
from celery_stembeat.entry import Entry
from celery_stembeat.migrate.oracle import MAX_STEPS, Fire


def predict_entry(
    entry: Entry, start: datetime, end: datetime, settings: EngineSettings | None = None
) -> Iterator[Fire]:
    """Every fire of ``entry`` from ``start`` (beat starts) up to and including ``end``."""
    settings = settings or EngineSettings()
    scheduled = entry.state.next_run_at if entry.enabled and start <= end else None
    expire_at = entry.expire_at
    for _ in range(MAX_STEPS):
        if scheduled is None or scheduled >= start:
            break
        decided = plan(entry, scheduled, start, grace=settings.grace, limit=settings.catch_up_limit)
        for _run in decided.runs:
            yield Fire(start)
        if entry.run_once and decided.runs:
            return
        scheduled = decided.next_run_at
        if scheduled is not None and expire_at is not None and scheduled > expire_at:
            return
    next_after = entry.spec.next_after
    while scheduled is not None and scheduled <= end:
        if expire_at is not None and scheduled > expire_at:
            return
        yield Fire(scheduled)
        if entry.run_once:
            return
        scheduled = next_after(scheduled)
