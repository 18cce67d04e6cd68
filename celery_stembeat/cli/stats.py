"""``observe``'s numbers: how many entries are due, late, failing, and how much ran lately.

Everything comes from the store contract (``list`` and ``history``), so every backend gives
the same answer. Runs in the last hour are counted from history only for entries whose run
state says they ran (or failed) in that hour, reading newest first and stopping at the first
older run: the cost follows recent activity, not the whole history.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from celery_stembeat.entry import Entry
from celery_stembeat.health import Health, HealthRules, live_beats
from celery_stembeat.stores import BeatInfo, Pause, RunRecord, Store
from celery_stembeat.survey import healths

WINDOW = timedelta(hours=1)
#: Runs read per history call at first; each further call reads four times as many.
FIRST_PAGE = 64


@dataclass(frozen=True)
class Summary:
    """The counts of ``observe``'s first line."""

    entries: int
    enabled: int
    due: int
    overdue: int
    recent_runs: int
    failing: int


def _ran_at(run: RunRecord) -> datetime:
    # A failed run was never published: its scheduled time is as close as history gets.
    return run.published_at or run.scheduled_for


def _recent(store: Store, entry_id: str, since: datetime) -> int:
    limit = FIRST_PAGE
    while True:
        runs = store.history(entry_id, limit)
        if len(runs) < limit or _ran_at(runs[-1]) < since:
            return sum(_ran_at(run) >= since for run in runs)
        limit *= 4


def _active_since(entry: Entry, since: datetime) -> bool:
    state = entry.state
    latest = [moment for moment in (state.last_run_at, state.last_scheduled_for) if moment]
    return bool(latest) and max(latest) >= since


def recent_runs(store: Store, entries: Sequence[Entry], now: datetime) -> int:
    """Runs recorded in the hour before ``now`` (published or failed)."""
    since = now - WINDOW
    return sum(_recent(store, entry.id, since) for entry in entries if _active_since(entry, since))


def _lateness(entry: Entry, now: datetime) -> timedelta | None:
    """How far ``now`` is past the entry's next run; ``None`` when it has none or is off."""
    next_run_at = entry.state.next_run_at
    if not entry.enabled or next_run_at is None:
        return None
    return now - next_run_at


def summarise(store: Store, entries: Sequence[Entry], now: datetime, grace: timedelta) -> Summary:
    """The counts for ``entries`` (all of the store's) at ``now``.

    Due: the next run is at or before ``now``. Overdue: it is more than ``grace`` before.
    """
    lateness = [late for late in (_lateness(entry, now) for entry in entries) if late is not None]
    return Summary(
        entries=len(entries),
        enabled=sum(entry.enabled for entry in entries),
        due=sum(late >= timedelta(0) for late in lateness),
        overdue=sum(late > grace for late in lateness),
        recent_runs=recent_runs(store, entries, now),
        failing=sum(entry.state.consecutive_failures > 0 for entry in entries),
    )


@dataclass(frozen=True)
class Observation:
    """Every entry of the store, their summary and health, and the beats, at one instant."""

    now: datetime
    grace: timedelta
    entries: list[Entry]
    summary: Summary
    rules: HealthRules
    #: Each entry's health, in the order of ``entries``.
    healths: list[Health]
    beats: list[BeatInfo]
    #: The beats heard from within ``rules.beat_silence``.
    live: list[BeatInfo]
    #: The pause in force at ``now``, or ``None``.
    paused: Pause | None


def observe(store: Store, now: datetime, rules: HealthRules) -> Observation:
    """Read the store once and summarise it (``rules.missed_after`` is the grace)."""
    entries = store.list_entries()
    grace = rules.missed_after
    beats = store.beats()
    pause = store.paused()
    return Observation(
        now,
        grace,
        entries,
        summarise(store, entries, now, grace),
        rules,
        healths(store, entries, now, rules, pause),
        beats,
        live_beats(beats, now, rules),
        pause if pause is not None and pause.in_force(now) else None,
    )
