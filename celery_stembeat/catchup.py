"""Which occurrences of a claimed entry to run, given how late the beat is: the catch-up rule.

A claim hands the engine the entry's oldest unrun occurrence. Every occurrence up to *now* is
due; one late by at most ``grace`` is on time and runs, older ones are *missed* and follow the
entry's ``catch_up`` policy. Either way the entry then moves past the whole backlog at once.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from datetime import datetime, timedelta

from celery_stembeat.entry import Entry

#: How many occurrences a backlog scan walks before it jumps straight to the next future one.
MAX_BACKLOG_SCAN = 100_000
_ONE_MS = timedelta(milliseconds=1)


@dataclass(frozen=True)
class Plan:
    """What to do with one claimed entry."""

    runs: tuple[datetime, ...]
    missed: int
    next_run_at: datetime | None
    #: Whether ``missed`` stopped counting at :data:`MAX_BACKLOG_SCAN` (the real number is larger).
    missed_at_least: bool = False


def plan(entry: Entry, first: datetime, now: datetime, *, grace: timedelta, limit: int) -> Plan:
    """Plan the runs for ``entry`` whose oldest unrun occurrence is ``first``.

    ``limit`` caps the runs of one claim (``fire_all`` backlogs, or many on-time occurrences of a
    sub-second interval); the newest are kept and the rest count as missed. Policies, once some
    occurrence is missed: ``skip`` runs only the on-time ones, ``fire_one`` runs one (the newest
    due), ``fire_all`` runs them all. Occurrences after the entry's ``expire_at`` never run. A
    run-once entry runs exactly once however late it is.
    """
    on_time: deque[datetime] = deque(maxlen=limit)
    newest_missed: deque[datetime] = deque(maxlen=limit)
    seen_missed = 0
    seen_on_time = 0
    occurrence: datetime | None = first
    scanned = 0
    while occurrence is not None and occurrence <= now and scanned < MAX_BACKLOG_SCAN:
        if entry.expire_at is not None and occurrence > entry.expire_at:
            occurrence = None
            break
        if now - occurrence <= grace:
            on_time.append(occurrence)
            seen_on_time += 1
        else:
            newest_missed.append(occurrence)
            seen_missed += 1
        scanned += 1
        occurrence = entry.spec.next_after(occurrence)
    cut_short = occurrence is not None and occurrence < now
    if cut_short:
        # A backlog longer than the scan: resume from now rather than walk it all. Specs keep
        # whole milliseconds, so an occurrence right at now is found, and runs on time.
        occurrence = entry.spec.next_after(now - _ONE_MS)

    due = list(newest_missed) + list(on_time)
    if entry.run_once or (seen_missed and entry.catch_up == "fire_one"):
        chosen = due[-1:]
    elif entry.catch_up == "skip":
        chosen = list(on_time)
    else:
        chosen = due[-limit:]
    missed = seen_missed + seen_on_time - len(chosen)
    return Plan(tuple(chosen), missed, occurrence, missed_at_least=cut_short)
