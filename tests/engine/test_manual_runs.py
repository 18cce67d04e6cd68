"""``run_now``, the sending and recording behind ``stembeat run``, with an injected clock (in
tests/engine: the mutation run reaches it from the engine's ``run_record``)."""

from __future__ import annotations

import getpass
import socket
import uuid
from datetime import timedelta

import pytest

from celery_stembeat.audit import local_actor
from celery_stembeat.entry import Entry, RunState
from celery_stembeat.manual import run_now
from celery_stembeat.publisher import occurrence_task_id
from celery_stembeat.specs import IntervalSpec
from celery_stembeat.stores import FAILED, PUBLISHED, RunRecord
from celery_stembeat.stores.memory import MemoryStore
from tests.contract.helpers import T0
from tests.engine.conftest import FakeClock, RecordingPublisher

#: An instant with microseconds: the manual run keeps it to the millisecond.
ASKED = T0 + timedelta(microseconds=123_456)


def job(entry_id: str) -> Entry:
    return Entry(entry_id, "tasks.job", IntervalSpec(60), state=RunState(next_run_at=T0))


def test_each_entry_is_sent_once_with_a_task_id_of_its_own() -> None:
    store = MemoryStore()
    entries = [store.upsert(job("a")), store.upsert(job("b"))]
    clock = FakeClock(ASKED)
    publisher = RecordingPublisher(clock, latency=0.25)
    runs = run_now(store, publisher, entries, clock, "ops@host")
    assert publisher.batches == [2]
    asked = T0 + timedelta(milliseconds=123)
    assert [(s.entry_id, s.scheduled_for, s.countdown) for s in publisher.sent] == [
        ("a", asked, 0.0),
        ("b", asked, 0.0),
    ]
    ids = [s.task_id for s in publisher.sent]
    assert all(uuid.UUID(task_id).version == 4 for task_id in ids)
    assert ids[0] != ids[1]
    assert ids[0] != occurrence_task_id("a", asked)
    published_at = ASKED + timedelta(seconds=0.5)
    assert [run.record for run in runs] == [
        RunRecord(
            entry_id=entry_id,
            scheduled_for=asked,
            outcome=PUBLISHED,
            published_at=published_at,
            drift=(published_at - asked).total_seconds(),
            owner="ops@host",
            task_id=task_id,
            manual=True,
        )
        for entry_id, task_id in zip("ab", ids, strict=True)
    ]
    assert all(run.recorded for run in runs)
    assert store.history("a") == [runs[0].record]
    assert store.get("a") == entries[0]


def test_a_send_the_broker_refused_is_recorded_failed() -> None:
    store = MemoryStore()
    entry = store.upsert(job("a"))
    clock = FakeClock(T0)
    publisher = RecordingPublisher(clock, failing=ConnectionError("broker down"))
    (run,) = run_now(store, publisher, [entry], clock, "ops@host")
    assert (run.record.outcome, run.record.error) == (FAILED, "ConnectionError: broker down")
    assert (run.record.published_at, run.record.manual, run.recorded) == (None, True, True)


def test_an_entry_removed_before_the_record_is_not_recorded() -> None:
    store = MemoryStore()
    entry = store.upsert(job("a"))
    store.delete("a")
    clock = FakeClock(T0)
    (run,) = run_now(store, RecordingPublisher(clock), [entry], clock, "ops@host")
    assert (run.record.outcome, run.recorded) == (PUBLISHED, False)
    assert store.history("a") == []


def test_the_owner_is_user_at_host(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(getpass, "getuser", lambda: "ana")
    assert local_actor() == f"ana@{socket.gethostname()}"


def test_without_a_login_name_the_user_is_unknown(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_user() -> str:
        raise OSError("No username set in the environment")

    monkeypatch.setattr(getpass, "getuser", no_user)
    assert local_actor() == f"unknown@{socket.gethostname()}"


def test_a_manual_run_reads_back_from_its_dict() -> None:
    """``manual`` is in ``to_dict``; a dict written before it existed reads as scheduled."""
    record = RunRecord("a", T0, PUBLISHED, T0, owner="ops@host", task_id="t", manual=True)
    data = record.to_dict()
    assert data["manual"] is True
    assert RunRecord.from_dict(data) == record
    del data["manual"]
    assert RunRecord.from_dict(data).manual is False
