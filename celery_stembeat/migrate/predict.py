"""What stembeat will do with an entry: every fire of a window, by the engine's own rules.

The entry's stored ``next_run_at`` is its first occurrence; from there each step is what the
engine does with a claim: :func:`celery_stembeat.catchup.plan` decides the runs (an occurrence
that is already late when beat starts is run at the start, following ``catch_up``), the spec
gives the next occurrence, and the store's rule ends the entry (a run-once entry that ran, no
next occurrence, or one past ``expire_at``). Dispatch takes no time, as in the oracle.
"""

from __future__ import annotations

from datetime import datetime

from celery_stembeat.catchup import plan
from celery_stembeat.engine import EngineSettings
from celery_stembeat.entry import Entry
from celery_stembeat.migrate.oracle import MAX_STEPS, Fire


def predict_entry(
    entry: Entry, start: datetime, end: datetime, settings: EngineSettings | None = None
) -> list[Fire]:
    """Every fire of ``entry`` from ``start`` (beat starts) up to and including ``end``."""
    settings = settings or EngineSettings()
    fires: list[Fire] = []
    scheduled = entry.state.next_run_at if entry.enabled else None
    for _ in range(MAX_STEPS):
        if scheduled is None:
            break
        now = max(scheduled, start)
        if now > end:
            break
        decided = plan(entry, scheduled, now, grace=settings.grace, limit=settings.catch_up_limit)
        fires += [Fire(now) for _ in decided.runs]
        upcoming = decided.next_run_at
        if (
            (entry.run_once and decided.runs)
            or upcoming is None
            or (entry.expire_at is not None and upcoming > entry.expire_at)
        ):
            break
        scheduled = upcoming
    return fires
