"""Health from indexes: how many entries a store holds, and which of them may be unhealthy,
without reading every entry (``entry_counts``, ``health_suspects``)."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

import pytest

from celery_stembeat.entry import Entry, RunState
from celery_stembeat.specs import ClockedSpec, IntervalSpec
from celery_stembeat.stores import (
    FAILED,
    Claim,
    EntryCounts,
    Outcome,
    RunRecord,
    Store,
    SuspectRules,
    TaskReport,
)
from tests.contract.helpers import LEASE, T0, at, make_entry, published

#: Nothing due is missed, one failure makes a suspect, no sent run is open long enough.
QUIET = SuspectRules(missed_before=T0 - timedelta(days=1), failures=1, open_before=T0)


def rules(
    missed_before: datetime = QUIET.missed_before,
    failures: int = 1_000,
    open_before: datetime = QUIET.open_before,
) -> SuspectRules:
    return SuspectRules(missed_before=missed_before, failures=failures, open_before=open_before)


def claim_one(store: Store, entry_id: str, now: datetime) -> Claim:
    """The claim of ``entry_id``'s occurrence due by ``now``; the others claimed with it are
    put back untouched."""
    claims = store.claim_due(now, 100, "beat-1", LEASE)
    for other in claims:
        if other.entry_id != entry_id:
            assert store.complete(other, Outcome(other.scheduled_for, ()))
    (claim,) = [c for c in claims if c.entry_id == entry_id]
    return claim


def send(store: Store, entry_id: str, now: datetime, *, fail: bool = False) -> datetime:
    """Claim the entry's due occurrence and complete it as sent (or failed to send) at its
    time; the occurrence."""
    claim = claim_one(store, entry_id, now)
    if fail:
        run = RunRecord(entry_id, claim.scheduled_for, FAILED, error="OSError: down", owner="b")
        outcome = Outcome(claim.entry.spec.next_after(claim.scheduled_for), (run,))
    else:
        outcome = published(claim)
    assert store.complete(claim, outcome)
    return claim.scheduled_for


def report(store: Store, entry_id: str, occurrence: datetime, outcome: str) -> None:
    done = occurrence + timedelta(seconds=1)
    assert store.record_outcomes([TaskReport(entry_id, occurrence, outcome, done)]) == [True]


# -- counts --------------------------------------------------------------------------------------


def test_counts_are_every_entry_and_the_scheduled_ones(store: Store) -> None:
    assert store.entry_counts() == EntryCounts(total=0, scheduled=0)
    store.upsert_many(
        [
            make_entry("a"),
            make_entry("b", next_run_at=at(60)),
            make_entry("off", enabled=False),
            make_entry("ended", next_run_at=None),
        ]
    )
    assert store.entry_counts() == EntryCounts(total=4, scheduled=2)
    claim_one(store, "a", at(0))
    assert store.entry_counts() == EntryCounts(total=4, scheduled=2)  # claimed is scheduled
    store.set_enabled("off", True, at(0))
    assert store.entry_counts() == EntryCounts(total=4, scheduled=3)
    assert store.delete("b")
    assert store.entry_counts() == EntryCounts(total=3, scheduled=2)


def test_a_claimed_entry_counts_as_scheduled_while_enabled_with_a_next_run(store: Store) -> None:
    """Disabling a claimed entry unschedules it (its claim stays), enabling it reschedules
    it, and an edit during the claim that leaves no next run unschedules it."""
    store.upsert_many([make_entry("a"), make_entry("b")])
    claim_one(store, "a", at(0))
    assert store.entry_counts() == EntryCounts(total=2, scheduled=2)
    store.set_enabled("a", False, at(1))
    assert store.entry_counts() == EntryCounts(total=2, scheduled=1)
    store.set_enabled("a", True, at(2))
    assert store.entry_counts() == EntryCounts(total=2, scheduled=2)
    store.upsert(make_entry("a", spec=IntervalSpec(120), next_run_at=None))
    assert store.entry_counts() == EntryCounts(total=2, scheduled=1)


def test_a_claimed_entry_an_edit_leaves_disabled_or_without_a_next_run_is_not_scheduled(
    store: Store,
) -> None:
    store.upsert_many(make_entry(entry_id) for entry_id in ("ended", "gone", "kept", "off"))
    claims = {claim.entry_id: claim for claim in store.claim_due(at(0), 10, "beat-1", LEASE)}
    assert store.entry_counts() == EntryCounts(total=4, scheduled=4)
    store.set_enabled("off", False, at(1))
    store.set_enabled("gone", False, at(1))
    ended = store.get("ended")
    assert ended is not None
    without_next = replace(ended.state, next_run_at=None)
    store.upsert(replace(ended, spec=ClockedSpec(at(-60)), state=without_next))
    assert store.entry_counts() == EntryCounts(total=4, scheduled=1)
    store.set_enabled("off", True, at(2))
    assert store.entry_counts() == EntryCounts(total=4, scheduled=2)
    store.set_enabled("off", False, at(3))
    assert store.delete("gone")
    assert store.entry_counts() == EntryCounts(total=3, scheduled=1)
    for entry_id in ("ended", "kept"):
        assert store.complete(claims[entry_id], published(claims[entry_id]))
    assert store.entry_counts() == EntryCounts(total=3, scheduled=1)
    assert store.recover_expired_claims(at(0) + LEASE) == ["off"]
    assert store.entry_counts() == EntryCounts(total=3, scheduled=1)
    store.set_enabled("off", True, at(60))
    assert store.entry_counts() == EntryCounts(total=3, scheduled=2)


# -- missed ------------------------------------------------------------------------------------


def test_an_unclaimed_entry_due_before_missed_before_is_a_suspect(store: Store) -> None:
    store.upsert_many(
        [
            make_entry("old", next_run_at=at(0)),
            make_entry("edge", next_run_at=at(50)),
            make_entry("new", next_run_at=at(100)),
            make_entry("off", next_run_at=at(0), enabled=False),
            make_entry("ended", next_run_at=None),
        ]
    )
    assert store.health_suspects(rules(missed_before=at(50)), 10) == ["old"]
    assert store.health_suspects(rules(missed_before=at(50.001)), 10) == ["edge", "old"]
    claim_one(store, "old", at(0))
    assert store.health_suspects(rules(missed_before=at(50)), 10) == []


def test_an_entry_whose_claim_expired_is_missed_again_once_recovered(store: Store) -> None:
    store.upsert(make_entry("job", next_run_at=at(0)))
    claim_one(store, "job", at(0))
    assert store.health_suspects(rules(missed_before=at(60)), 10) == []
    assert store.recover_expired_claims(at(0) + LEASE) == ["job"]
    assert store.health_suspects(rules(missed_before=at(60)), 10) == ["job"]
    assert store.entry_counts() == EntryCounts(total=1, scheduled=1)


# -- failing -----------------------------------------------------------------------------------


def test_failures_in_a_row_of_sends_or_of_tasks_make_a_suspect(store: Store) -> None:
    store.upsert_many([make_entry("sends", next_run_at=at(0)), make_entry("tasks")])
    send(store, "sends", at(0), fail=True)
    assert store.health_suspects(rules(failures=2), 10) == []
    send(store, "sends", at(60), fail=True)
    assert store.health_suspects(rules(failures=2), 10) == ["sends"]
    first = send(store, "tasks", at(0))
    report(store, "tasks", first, "failure")
    second = send(store, "tasks", at(60))
    report(store, "tasks", second, "timeout")
    assert store.health_suspects(rules(failures=2), 10) == ["sends", "tasks"]
    assert store.health_suspects(rules(failures=3), 10) == []
    send(store, "sends", at(120))
    third = send(store, "tasks", at(120))
    report(store, "tasks", third, "success")
    assert store.health_suspects(rules(failures=1), 10) == []


def test_a_disabled_entry_is_no_suspect_until_enabled_again(store: Store) -> None:
    store.upsert(make_entry("job"))
    send(store, "job", at(0), fail=True)
    assert store.health_suspects(rules(failures=1), 10) == ["job"]
    store.set_enabled("job", False, at(10))
    assert store.health_suspects(rules(failures=1), 10) == []
    store.set_enabled("job", True, at(20))
    assert store.health_suspects(rules(failures=1), 10) == ["job"]


def test_a_completion_that_disables_the_entry_clears_it_until_enabled_again(
    store: Store,
) -> None:
    store.upsert(make_entry("once", spec=ClockedSpec(at(0))))
    claim = claim_one(store, "once", at(0))
    run = RunRecord("once", claim.scheduled_for, FAILED, error="OSError: down", owner="b")
    assert store.complete(claim, Outcome(None, (run,)))
    assert store.health_suspects(rules(failures=1), 10) == []
    store.set_enabled("once", True, at(10))
    assert store.health_suspects(rules(failures=1), 10) == ["once"]


def test_a_report_that_arrives_while_the_next_occurrence_is_claimed_still_counts(
    store: Store,
) -> None:
    store.upsert(make_entry("job"))
    first = send(store, "job", at(0))
    claim = claim_one(store, "job", at(60))
    report(store, "job", first, "failure")
    assert store.health_suspects(rules(failures=1), 10) == ["job"]
    assert store.complete(claim, published(claim))
    assert store.health_suspects(rules(failures=1), 10) == ["job"]
    assert store.health_suspects(rules(open_before=at(60)), 10) == []
    assert store.health_suspects(rules(open_before=at(61)), 10) == ["job"]


def test_entries_written_with_run_state_are_suspects_by_it_and_stay_so_when_edited(
    store: Store,
) -> None:
    """An import carries run state; later definition edits keep it."""

    def imported(entry_id: str, enabled: bool = True, **state: object) -> Entry:
        return replace(
            make_entry(entry_id, enabled=enabled),
            state=RunState(next_run_at=at(3600), created_at=T0, **state),  # type: ignore[arg-type]
        )

    sent = {"last_scheduled_for": at(60), "last_run_at": at(60)}
    store.write_many(
        [
            imported("failing", consecutive_failures=1, consecutive_task_failures=2),
            imported("open", last_outcome="success", last_outcome_for=at(0), **sent),
            imported("closed", last_outcome="success", last_outcome_for=at(60), **sent),
            imported("off", False, consecutive_failures=5, last_outcome="failure", **sent),
            imported("quiet", **sent),
        ]
    )
    assert store.health_suspects(rules(failures=2), 10) == ["failing"]
    assert store.health_suspects(rules(failures=3), 10) == []
    assert store.health_suspects(rules(open_before=at(61)), 10) == ["open"]
    assert store.health_suspects(rules(open_before=at(60)), 10) == []
    edited = [make_entry(entry_id, description="edited") for entry_id in ("failing", "open")]
    store.upsert_many(edited)
    every = rules(failures=1, open_before=at(61))
    assert store.health_suspects(every, 10) == ["failing", "open"]
    store.upsert(make_entry("failing", enabled=False))
    store.upsert(make_entry("off"))
    assert store.health_suspects(every, 10) == ["off", "open"]
    store.upsert(make_entry("failing"))
    assert store.health_suspects(every, 10) == ["failing", "off", "open"]


def test_editing_a_suspect_keeps_it_and_deleting_it_forgets_it(store: Store) -> None:
    store.upsert(make_entry("job"))
    send(store, "job", at(0), fail=True)
    stored = store.get("job")
    assert stored is not None
    store.upsert(replace(stored, task="tasks.other", description="edited"))
    assert store.health_suspects(rules(failures=1), 10) == ["job"]
    assert store.delete("job")
    assert store.health_suspects(rules(failures=1), 10) == []
    store.upsert(make_entry("job"))
    assert store.health_suspects(rules(failures=1), 10) == []


# -- open runs ---------------------------------------------------------------------------------


def test_a_sent_occurrence_without_a_final_outcome_is_a_suspect_once_reports_arrive(
    store: Store,
) -> None:
    """Only on entries a worker has reported on: without reports no start is ever seen."""
    store.upsert_many([make_entry("tracked"), make_entry("untracked")])
    first = send(store, "tracked", at(0))
    send(store, "untracked", at(0))
    assert store.health_suspects(rules(open_before=at(3600)), 10) == []
    report(store, "tracked", first, "success")
    assert store.health_suspects(rules(open_before=at(3600)), 10) == []
    second = send(store, "tracked", at(60))
    assert second == at(60)
    assert store.health_suspects(rules(open_before=at(60)), 10) == []
    assert store.health_suspects(rules(open_before=at(60.001)), 10) == ["tracked"]
    report(store, "tracked", second, "started")
    assert store.health_suspects(rules(open_before=at(3600)), 10) == ["tracked"]
    report(store, "tracked", second, "failure")
    assert store.health_suspects(rules(open_before=at(3600)), 10) == []


# -- together ----------------------------------------------------------------------------------


def test_suspects_are_sorted_each_once_and_cut_at_the_limit(store: Store) -> None:
    ids = ["e", "b", "d", "a", "c"]
    store.upsert_many(make_entry(entry_id, next_run_at=at(0)) for entry_id in ids)
    for entry_id in ("b", "d"):
        send(store, entry_id, at(0), fail=True)  # failing, and due again at 60: missed too
    every = rules(missed_before=at(3600), failures=1)
    assert store.health_suspects(every, 10) == ["a", "b", "c", "d", "e"]
    cut = store.health_suspects(every, 3)
    assert len(cut) == 3
    assert cut == sorted(cut)
    assert set(cut) <= set(ids)


def test_a_dropped_store_has_no_suspects(store: Store) -> None:
    store.upsert(make_entry("job"))
    send(store, "job", at(0), fail=True)
    store.drop()
    assert store.health_suspects(rules(failures=1), 10) == []
    assert store.entry_counts() == EntryCounts(0, 0)


@pytest.mark.parametrize("limit", [0, -1, 2.5, True, "10"])
def test_the_limit_is_a_count(store: Store, limit: object) -> None:
    with pytest.raises(ValueError, match=r"^limit: .* is not a count >= 1$"):
        store.health_suspects(QUIET, limit)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"failures": 0}, r"^failures: 0 is not a count >= 1$"),
        ({"failures": True}, r"^failures: True is not a count >= 1$"),
        ({"missed_before": T0.replace(tzinfo=None)}, r"^missed_before: .* is not an aware"),
        ({"open_before": "2026-01-01"}, r"^open_before: '2026-01-01' is not an aware datetime$"),
    ],
)
def test_rules_are_checked(changes: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        replace(QUIET, **changes)  # type: ignore[arg-type]
