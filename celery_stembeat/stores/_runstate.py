"""How a completed claim changes an entry's run state: one pure function every store uses."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from celery_stembeat.entry import RunState
from celery_stembeat.entry_decode import replace_state
from celery_stembeat.specs import Spec
from celery_stembeat.stores.base import FAILED, PUBLISHED, SKIPPED, Claim, Outcome


@dataclass(frozen=True)
class Advance:
    """The run state after a completion, and whether the entry must now be disabled."""

    state: RunState
    disable: bool


def advance(claim: Claim, outcome: Outcome) -> Advance:
    """Fold ``outcome`` into the run state the entry had when it was claimed."""
    state = claim.entry.state
    total = state.total_run_count
    failures = state.failure_count
    consecutive = state.consecutive_failures
    last_error = state.last_error
    last_run_at = state.last_run_at
    last_scheduled_for = state.last_scheduled_for
    last_drift, drift_mean, drift_max = state.last_drift, state.drift_mean, state.drift_max
    for run in outcome.runs:
        if run.outcome == SKIPPED:
            # Not sent: the newest occurrence stays the one still running.
            continue
        last_scheduled_for = run.scheduled_for
        if run.outcome == PUBLISHED:
            if run.drift is not None:
                drift_mean = (
                    run.drift
                    if drift_mean is None
                    else (drift_mean * total + run.drift) / (total + 1)
                )
                drift_max = run.drift if drift_max is None else max(drift_max, run.drift)
                last_drift = run.drift
            total += 1
            consecutive = 0
            last_run_at = run.published_at or last_run_at
        elif run.outcome == FAILED:
            failures += 1
            consecutive += 1
            last_error = run.error
    entry = claim.entry
    next_run_at = outcome.next_run_at
    published = total > state.total_run_count
    disable = (
        (entry.run_once and published)
        or next_run_at is None
        or (entry.expire_at is not None and next_run_at > entry.expire_at)
    )
    # Every value comes from the validated claim and outcome: no need to validate again.
    new_state = replace_state(
        state,
        next_run_at=next_run_at,
        last_scheduled_for=last_scheduled_for,
        last_run_at=last_run_at,
        total_run_count=total,
        failure_count=failures,
        consecutive_failures=consecutive,
        last_error=last_error,
        last_drift=last_drift,
        drift_mean=drift_mean,
        drift_max=drift_max,
    )
    return Advance(new_state, disable)


def rescheduled_during(claim: Claim, spec: Spec, next_run_at: datetime | None) -> bool:
    """Whether edits made while ``claim`` was out changed the schedule, given what is stored.

    Only a schedule change moves the stored next run away from the claimed occurrence (a new
    spec, or enabling again after a disable); then the edit's ``next_run_at`` must stand.
    """
    return spec != claim.entry.spec or next_run_at != claim.scheduled_for
