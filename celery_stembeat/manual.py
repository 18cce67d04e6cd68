"""Manual runs: send entries' tasks once, now, out of schedule (``stembeat run``).

Each message is the one beat would send for the entry (the same publisher: args, kwargs,
options, routing), with a task id of its own (a random UUID: never an occurrence's id, so a
consumer deduplicating scheduled occurrences never drops it) and the ``stembeat_manual``
header. The send is recorded with :meth:`~celery_stembeat.stores.base.Store.record_manual_run`:
history only, the schedule and run state untouched.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from celery_stembeat.audit import MAX_ACTOR_LENGTH, RUN, ChangeNote
from celery_stembeat.engine import run_record
from celery_stembeat.entry import Entry
from celery_stembeat.publisher import Message, Publisher
from celery_stembeat.specs._time import truncate_to_ms
from celery_stembeat.stores import RunRecord, Store


@dataclass(frozen=True)
class ManualRun:
    """One entry run by hand: its history record, and whether history took it (``False``:
    the entry was removed between the read and the record)."""

    record: RunRecord
    recorded: bool


def expired(entries: Sequence[Entry], now: datetime) -> list[str]:
    """The ids of the ``entries`` whose ``expire_at`` has passed at ``now``: not to be run by
    hand, as their message would expire before any worker could run it."""
    return [entry.id for entry in entries if entry.expire_at is not None and entry.expire_at <= now]


def run_now(
    store: Store,
    publisher: Publisher,
    entries: Sequence[Entry],
    clock: Callable[[], datetime],
    owner: str,
) -> list[ManualRun]:
    """Send one message per entry now, in one batch, and record each send in history.

    The runs' ``scheduled_for`` is the instant asked for, to the millisecond a message's
    header carries, so that a worker's report finds its record.
    """
    asked = truncate_to_ms(clock())
    messages = [Message(entry, asked, str(uuid.uuid4()), manual=True) for entry in entries]
    errors = publisher.publish_many(messages)
    published_at = clock()
    runs = []
    for message, error in zip(messages, errors, strict=True):
        record = run_record(message, error, published_at, owner)
        note = ChangeNote(owner[:MAX_ACTOR_LENGTH] or "unknown", RUN, asked)
        runs.append(ManualRun(record, store.record_manual_run(record, note=note)))
    return runs
