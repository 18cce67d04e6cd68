"""How a worker's report changes a run record and its entry's run state: one pure function
every store uses, as :mod:`._runstate` is for completions."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Generic, TypeVar

from celery_stembeat.entry import TRACKED_FIELDS, RunState
from celery_stembeat.specs._time import truncate_to_ms
from celery_stembeat.stores.base import (
    FAILED,
    FAILING_OUTCOMES,
    FINAL_OUTCOMES,
    RETRY,
    SKIPPED,
    STARTED,
    SUCCESS,
    RunRecord,
    TaskReport,
)

K = TypeVar("K", bound=Hashable)


@dataclass(frozen=True)
class Folded:
    """The record after a report, and the run state when the report changes it too."""

    record: RunRecord
    state: RunState | None


def fold(record: RunRecord, state: RunState, report: TaskReport) -> Folded | None:
    """Fold ``report`` into ``record`` (its occurrence's run) and ``state`` (its entry's).

    ``None`` when the report is no news: the record already holds a final outcome (a report
    sent twice, or one overtaken by a later one), or the occurrence was never sent.

    - ``started`` and ``retry`` change the record only: the outcome, the start (kept from the
      first start), the worker, and for a retry its error.
    - A final outcome closes the record: outcome, end, runtime, error, worker. It counts in
      ``success_count`` or, for ``failure``, ``rejected`` and ``timeout``,
      ``task_failure_count`` (``revoked`` counts in neither); a success's runtime goes into
      ``runtime_mean``/``runtime_max``. ``last_outcome`` and ``consecutive_task_failures``
      follow the newest occurrence only: a late report on an older one leaves them alone.
    - A manual run's final outcome (``record.manual``) closes its record and changes nothing
      else: the entry's run state describes its schedule, which a manual run is not part of.
    """
    if record.outcome in FINAL_OUTCOMES or record.outcome in (FAILED, SKIPPED):
        return None
    started_at = record.started_at or report.started_at
    if report.outcome == STARTED:
        started = replace(
            record,
            outcome=STARTED,
            started_at=started_at or report.at,
            worker=report.worker,
        )
        return Folded(started, None)
    if report.outcome == RETRY:
        retried = replace(
            record,
            outcome=RETRY,
            started_at=started_at,
            error=report.error,
            worker=report.worker,
        )
        return Folded(retried, None)
    finished = replace(
        record,
        outcome=report.outcome,
        started_at=started_at,
        finished_at=report.at,
        runtime=report.runtime,
        error=report.error,
        worker=report.worker,
    )
    if record.manual:
        return Folded(finished, None)
    return Folded(finished, _counted(state, report, record.scheduled_for))


def _counted(state: RunState, report: TaskReport, occurrence: datetime) -> RunState:
    """``state`` with a final outcome of the occurrence at ``occurrence`` (the record's own
    instant: a report carries it only to the millisecond)."""
    successes, failures = state.success_count, state.task_failure_count
    mean, longest = state.runtime_mean, state.runtime_max
    if report.outcome == SUCCESS:
        successes += 1
        if report.runtime is not None:
            mean = report.runtime if mean is None else mean + (report.runtime - mean) / successes
            longest = report.runtime if longest is None else max(longest, report.runtime)
    failing = report.outcome in FAILING_OUTCOMES
    failures += failing
    changes: dict[str, object] = {
        "success_count": successes,
        "task_failure_count": failures,
        "runtime_mean": mean,
        "runtime_max": longest,
    }
    newest = state.last_outcome_for
    if newest is None or occurrence >= newest:
        streak = state.consecutive_task_failures
        if failing:
            streak += 1
        elif report.outcome == SUCCESS:
            streak = 0
        changes.update(
            last_outcome=report.outcome,
            last_outcome_for=occurrence,
            consecutive_task_failures=streak,
        )
    if failing:
        changes["last_task_error"] = report.error
    return replace(state, **changes)  # type: ignore[arg-type]


def keep_tracked(state: RunState, stored: RunState) -> RunState:
    """``state`` (a completion's) with the fields workers write taken from ``stored``."""
    return replace(state, **{name: getattr(stored, name) for name in TRACKED_FIELDS})


def occurrence_key(item: TaskReport | RunRecord) -> tuple[str, datetime, bool]:
    """The occurrence a report or a run is about, to the millisecond a message's header
    carries, and whether it is a manual run: a store matches a report to the run with the
    same key (so a manual run never takes a scheduled occurrence's report, or the reverse)."""
    return item.entry_id, truncate_to_ms(item.scheduled_for), item.manual


@dataclass(frozen=True)
class FoldedBatch(Generic[K]):
    """What a batch of reports changed."""

    #: Per report, whether its run was found.
    found: list[bool]
    #: The changed runs, by the key the store gave them, as they end.
    runs: dict[K, RunRecord]
    #: The changed run states, by entry id, as they end.
    states: dict[str, RunState]


def fold_batch(
    reports: Sequence[TaskReport],
    runs: Mapping[K, RunRecord],
    states: Mapping[str, RunState],
    key: Callable[[TaskReport], K],
) -> FoldedBatch[K]:
    """:func:`fold` each report in order into the run ``key`` finds in ``runs`` and its
    entry's state in ``states`` (what the store read): several reports on one run chain."""
    current_runs, current_states = dict(runs), dict(states)
    found: list[bool] = []
    changed_runs: dict[K, RunRecord] = {}
    changed_states: dict[str, RunState] = {}
    for report in reports:
        where = key(report)
        record = current_runs.get(where)
        state = current_states.get(report.entry_id)
        found.append(record is not None and state is not None)
        if record is None or state is None:
            continue
        folded = fold(record, state, report)
        if folded is None:
            continue
        current_runs[where] = changed_runs[where] = folded.record
        if folded.state is not None:
            current_states[report.entry_id] = changed_states[report.entry_id] = folded.state
    return FoldedBatch(found, changed_runs, changed_states)
