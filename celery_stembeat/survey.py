"""The health of a whole store, read from its indexes: counts per state, the entries that are
not healthy and why, and the beats.

Only the suspects (:meth:`~celery_stembeat.stores.base.Store.health_suspects`) are read and
assessed, so a survey costs the same on a store of ten entries as on one of a million with
the same few problems. Entries that are enabled but have nothing left to run count as
``disabled``, with the disabled ones.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from celery_stembeat.entry import Entry
from celery_stembeat.health import (
    DISABLED,
    OK,
    PROBLEMS,
    STATES,
    Health,
    HealthRules,
    assess,
    live_beats,
    needs_newest_run,
)
from celery_stembeat.stores import SKIPPED, BeatInfo, Pause, RunRecord, Store, SuspectRules

#: How many suspects a survey reads at most.
SURVEY_LIMIT = 1000
#: How many runs back the newest sent run is looked for behind skipped and manual ones.
SKIPPED_SCAN = 100


def _scheduled_and_sent(run: RunRecord) -> bool:
    return run.outcome != SKIPPED and not run.manual


def _newest_sent(store: Store, entry_id: str) -> RunRecord | None:
    """The entry's newest scheduled run that was sent or tried (``overlap: skip`` records the
    occurrences it skips while that run goes on; manual runs are not the schedule's)."""
    runs = store.history(entry_id, 1)
    if runs and not _scheduled_and_sent(runs[0]):
        runs = [run for run in store.history(entry_id, SKIPPED_SCAN) if _scheduled_and_sent(run)]
    return runs[0] if runs else None


def healths(
    store: Store,
    entries: Sequence[Entry],
    now: datetime,
    rules: HealthRules,
    pause: Pause | None,
) -> list[Health]:
    """Each entry's health under the store's ``pause`` (:meth:`Store.paused`); the newest run
    is read only where it can matter."""
    found = []
    for entry in entries:
        newest = _newest_sent(store, entry.id) if needs_newest_run(entry) else None
        found.append(assess(entry, newest, now, rules, pause))
    return found


def suspect_rules(now: datetime, rules: HealthRules) -> SuspectRules:
    """What makes an entry worth assessing at ``now`` under ``rules``: a superset of the
    entries :func:`~celery_stembeat.health.assess` finds unhealthy."""
    return SuspectRules(
        missed_before=now - rules.missed_after,
        failures=rules.failures,
        open_before=now - min(rules.start_within, rules.finish_within),
    )


@dataclass(frozen=True)
class Survey:
    """A store's health at ``at``."""

    at: datetime
    #: Every entry in the store.
    entries: int
    #: Entries per state, every state named (problem counts are at least these when ``cut``).
    counts: dict[str, int]
    #: The entries that are not healthy, by id, each with its health.
    problems: list[tuple[Entry, Health]]
    #: More entries were suspect than a survey reads: some problems may be missing.
    cut: bool
    beats: list[BeatInfo]
    #: The beats heard from within the rules' ``beat_silence``.
    live: list[BeatInfo]
    #: The store's pause as stored (it may have ended by its ``until``), or ``None``.
    pause: Pause | None = None

    @property
    def paused(self) -> Pause | None:
        """The pause in force at ``at``, or ``None``."""
        return self.pause if self.pause is not None and self.pause.in_force(self.at) else None


def survey(
    store: Store,
    now: datetime,
    rules: HealthRules,
    limit: int = SURVEY_LIMIT,
    resumed: Pause | None = None,
) -> Survey:
    """Survey ``store`` at ``now``: a handful of index look-ups, then the suspects alone.

    ``resumed`` is a pause the caller saw end by ``resume`` (which clears it from the store),
    ending at its ``until``: while the store holds no pause, health counts the grace from it.
    """
    counts = store.entry_counts()
    pause = store.paused() or resumed
    # One more than is read: exactly ``limit`` suspects is not a cut survey.
    suspects = store.health_suspects(suspect_rules(now, rules), limit + 1)
    cut = len(suspects) > limit
    suspects = suspects[:limit]
    entries = store.get_many(suspects)
    problems = [
        (entry, health)
        for entry, health in zip(entries, healths(store, entries, now, rules, pause), strict=True)
        if health.state in PROBLEMS
    ]
    by_state = dict.fromkeys(STATES, 0)
    for _, health in problems:
        by_state[health.state] += 1
    by_state[DISABLED] = counts.total - counts.scheduled
    by_state[OK] = max(0, counts.scheduled - len(problems))
    beats = store.beats()
    return Survey(
        at=now,
        entries=counts.total,
        counts=by_state,
        problems=problems,
        cut=cut,
        beats=beats,
        live=live_beats(beats, now, rules),
        pause=pause,
    )
