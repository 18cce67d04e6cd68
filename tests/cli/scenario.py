"""A store with history: entries of every kind, runs with drift, failures and a backlog.

At ``NOW`` (Monday 2026-03-02 09:00 UTC) the store holds:

- ``heartbeat``, every 20 min, ran at -65, -45, -25 and -5 min (three within the hour);
- ``sync``, every 5 min, failed at -14 and -9 min, due again at -4 min: overdue and failing;
- ``ping``, every minute, due 10 s ago (due, within grace), never ran;
- ``report``, weekdays 09:00 New York, ran last Friday;
- ``lights``, sunset in New York, never ran;
- ``new-year``, once on 2026-01-01, ran then and was disabled;
- ``cleanup``, from ``beat_schedule`` (source=config), daily at 04:00 UTC.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from celery_stembeat.entry import Entry, RunState
from celery_stembeat.specs import (
    ClockedSpec,
    CronSpec,
    IntervalSpec,
    SolarSpec,
    Spec,
)
from celery_stembeat.stores import FAILED, PUBLISHED, Outcome, RunRecord, Store

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)
OWNER = "beat-1:4242"


def minutes(count: float) -> datetime:
    """``NOW`` plus ``count`` minutes."""
    return NOW + timedelta(minutes=count)


def entry(entry_id: str, spec: Spec, next_run_at: datetime | None, **fields: object) -> Entry:
    """An entry as ``apply`` would have created it at ``next_run_at`` minus a day."""
    created = (next_run_at or NOW) - timedelta(days=1)
    return Entry(
        id=entry_id,
        task=f"tasks.{entry_id.replace('-', '_')}",
        spec=spec,
        state=RunState(next_run_at=next_run_at, created_at=created, updated_at=created),
        **fields,  # type: ignore[arg-type]
    )


def beat(store: Store, at: datetime, drift: float = 0.0, error: str | None = None) -> list[str]:
    """What one beat pass at ``at`` records: every due entry published with ``drift``
    (or failed with ``error``); each moves to its next occurrence. The ids claimed.
    """
    claims = store.claim_due(at, limit=100, owner=OWNER, lease=timedelta(minutes=5))
    for claim in claims:
        scheduled = claim.scheduled_for
        published_at = None if error else at + timedelta(seconds=drift)
        run = RunRecord(
            entry_id=claim.entry_id,
            scheduled_for=scheduled,
            outcome=FAILED if error else PUBLISHED,
            published_at=published_at,
            drift=None if error else drift,
            error=error,
            owner=OWNER,
            task_id=f"{claim.entry_id}@{scheduled.isoformat()}",
        )
        outcome = Outcome(
            next_run_at=claim.entry.spec.next_after(scheduled),
            runs=(run,),
        )
        assert store.complete(claim, outcome)
    return [claim.entry_id for claim in claims]


def seed(store: Store) -> None:
    """Fill ``store`` with the entries and runs described above."""
    store.upsert(
        entry(
            "new-year",
            ClockedSpec(datetime(2026, 1, 1, tzinfo=timezone.utc)),
            datetime(2026, 1, 1, tzinfo=timezone.utc),
        )
    )
    assert beat(store, datetime(2026, 1, 1, 0, 0, 1, tzinfo=timezone.utc), drift=1.0) == [
        "new-year"
    ]
    report_at = datetime(2026, 2, 27, 14, 0, tzinfo=timezone.utc)
    store.upsert(
        entry(
            "report",
            CronSpec("0 9 * * 1-5", "America/New_York"),
            report_at,
            kwargs={"to": "ops@example.com"},
            options={"queue": "reports", "priority": 5},
            description="weekday report",
        )
    )
    assert beat(store, report_at, drift=2.5) == ["report"]
    store.upsert(entry("heartbeat", IntervalSpec(1200), minutes(-65), jitter=5))
    store.upsert(entry("sync", IntervalSpec(300), minutes(-14), catch_up="skip"))
    store.upsert(entry("ping", IntervalSpec(60), NOW - timedelta(seconds=10)))
    sunset = SolarSpec("sunset", 40.71, -74.01)
    store.upsert(entry("lights", sunset, sunset.next_after(NOW)))
    store.upsert(entry("cleanup", CronSpec("0 4 * * *"), minutes(19 * 60), source="config"))
    for at, drift in ((-65, 0.004), (-45, 0.012)):
        assert beat(store, minutes(at), drift) == ["heartbeat"]
    assert beat(store, minutes(-25), 0.25) == ["heartbeat"]
    assert beat(store, minutes(-14), error="OperationalError: broker unreachable") == ["sync"]
    assert beat(store, minutes(-9), error="OperationalError: broker unreachable") == ["sync"]
    assert beat(store, minutes(-5), 0.008) == ["heartbeat"]
