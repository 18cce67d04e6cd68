"""``overlap: skip``: whether an entry's previous run still holds back its next occurrence.

A run is unfinished from the moment it is sent until a worker reports its final outcome
(``track_outcomes``). With no report it stays unfinished for the entry's ``overlap_timeout``
(:data:`~celery_stembeat.entry.DEFAULT_OVERLAP_TIMEOUT` unless set), counted from when it was
sent; after that the next occurrence is sent again. An occurrence that could not be sent is
not running, so it holds nothing back.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from celery_stembeat.entry import DEFAULT_OVERLAP_TIMEOUT, Entry
from celery_stembeat.specs import format_instant


def unfinished_run(entry: Entry, now: datetime) -> str | None:
    """Why ``entry``'s occurrence due at ``now`` must be skipped, or ``None`` to send it."""
    if entry.overlap != "skip":
        return None
    state = entry.state
    newest = state.last_scheduled_for
    if newest is None or state.consecutive_failures or not state.newest_unfinished():
        return None
    sent = state.last_run_at or newest
    timeout = entry.overlap_timeout or DEFAULT_OVERLAP_TIMEOUT
    if now - sent >= timedelta(seconds=timeout):
        return None
    reason = f"previous run ({format_instant(newest)}) has not finished"
    if state.last_outcome is None:
        # Without workers' reports every run looks unfinished until the timeout.
        reason += (
            "; no outcome reported for this entry yet (do the workers call track_outcomes(app)?)"
        )
    return reason
