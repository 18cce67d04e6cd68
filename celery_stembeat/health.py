"""Health: one state per entry, from its run state and newest run, and the beats' liveness.

An entry is in the first of these states that applies:

``disabled``
    It is disabled.
``missed``
    Its next occurrence is due for longer than ``missed_after`` and no beat has sent it (no
    live beat, or beats too busy or cut off from the broker). While the store is paused
    (:meth:`~celery_stembeat.stores.base.Store.pause`) nothing is missed: beats hold back on
    purpose. A pause that ended by its ``until`` counts as the due time for the occurrences
    it held back.
``failing``
    Its last ``failures`` task outcomes failed in a row (``failure``, ``timeout``,
    ``rejected``), or its last ``failures`` occurrences could not be sent.
``stuck``
    Its newest occurrence started (or asked for a retry) more than ``finish_within`` ago and has
    not finished.
``late``
    Its newest occurrence was sent more than ``start_within`` ago and has not started. Only
    for entries a worker has reported on before (``track_outcomes``): without reports, no
    start is ever seen.
``ok``
    None of the above.

``stuck`` and ``late`` read the newest run record, and only for entries whose run state says
their newest occurrence may be open (see :func:`needs_newest_run`); every other state comes
from the run state alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from celery_stembeat.entry import Entry
from celery_stembeat.specs import format_duration
from celery_stembeat.stores import BeatInfo, Pause, RunRecord
from celery_stembeat.stores.base import PUBLISHED, RETRY, STARTED

OK = "ok"
LATE = "late"
FAILING = "failing"
MISSED = "missed"
STUCK = "stuck"
DISABLED = "disabled"
#: Every state, in the order ``observe`` counts them.
STATES = (OK, LATE, FAILING, MISSED, STUCK, DISABLED)
#: The states ``observe --check`` reports as problems.
PROBLEMS = (LATE, FAILING, MISSED, STUCK)


@dataclass(frozen=True)
class HealthRules:
    """The thresholds of the states (defaults in brackets)."""

    #: How long a due occurrence may wait to be sent (30 s, celery's ``stembeat_grace``).
    missed_after: timedelta = timedelta(seconds=30)
    #: How long a sent occurrence may wait to start (5 min).
    start_within: timedelta = timedelta(minutes=5)
    #: How long a started occurrence may run (1 h).
    finish_within: timedelta = timedelta(hours=1)
    #: Failures in a row that make an entry failing (3).
    failures: int = 3
    #: How long a beat may be silent and still count as live (60 s: six heartbeats).
    beat_silence: timedelta = timedelta(seconds=60)


@dataclass(frozen=True)
class Health:
    """An entry's state and, unless ``ok``, why, in one line."""

    state: str
    reason: str = ""


def _ago(span: timedelta) -> str:
    return format_duration(round(span.total_seconds()))


def needs_newest_run(entry: Entry) -> bool:
    """Whether the entry's newest occurrence may still be open (sent, and no final outcome
    reported for it yet) on an entry a worker has reported on: only then can it be ``late``
    or ``stuck``."""
    state = entry.state
    return entry.enabled and state.last_outcome is not None and state.newest_unfinished()


def _sendable_from(due: datetime | None, now: datetime, pause: Pause | None) -> datetime | None:
    """When a beat could first send an occurrence ``due`` then, under ``pause`` (the stored
    one): ``None`` while the pause holds (or there is nothing due)."""
    if due is None or pause is None:
        return due
    if pause.in_force(now):
        return None
    assert pause.until is not None  # a pause not in force has ended
    return max(due, pause.until)


def assess(
    entry: Entry,
    newest: RunRecord | None,
    now: datetime,
    rules: HealthRules,
    pause: Pause | None = None,
) -> Health:
    """The health of ``entry`` at ``now`` under the store's ``pause`` (as stored, if any);
    ``newest`` is its newest run record when :func:`needs_newest_run` says it matters (else
    it is not looked at)."""
    state = entry.state
    if not entry.enabled:
        return Health(DISABLED)
    due = _sendable_from(state.next_run_at, now, pause)
    if due is not None and now - due > rules.missed_after:
        return Health(MISSED, f"due {_ago(now - due)} ago, not sent")
    if state.consecutive_task_failures >= rules.failures:
        return Health(
            FAILING,
            f"{state.consecutive_task_failures} failures in a row: {state.last_task_error or '?'}",
        )
    if state.consecutive_failures >= rules.failures:
        return Health(
            FAILING,
            f"{state.consecutive_failures} sends failed in a row: {state.last_error or '?'}",
        )
    if newest is not None and needs_newest_run(entry):
        if newest.outcome in (STARTED, RETRY) and newest.started_at is not None:
            running = now - newest.started_at
            if running > rules.finish_within:
                return Health(STUCK, f"running for {_ago(running)}")
        if newest.outcome == PUBLISHED and newest.published_at is not None:
            waiting = now - newest.published_at
            if waiting > rules.start_within:
                return Health(LATE, f"sent {_ago(waiting)} ago, not started")
    return Health(OK)


def live_beats(beats: Sequence[BeatInfo], now: datetime, rules: HealthRules) -> list[BeatInfo]:
    """The beats heard from within ``rules.beat_silence`` of ``now``."""
    return [beat for beat in beats if now - beat.last_pass_at <= rules.beat_silence]
