"""The celery publisher against real brokers: what a real worker receives from a batch, and
the Redis batch compared byte for byte with kombu's one-by-one messages."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import nullcontext
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import redis
from celery import Celery

from celery_stembeat import publisher as publisher_module
from celery_stembeat.entry import Entry
from celery_stembeat.publisher import CeleryPublisher, Message, occurrence_task_id
from celery_stembeat.specs import IntervalSpec, format_instant
from tests.contract.helpers import T0
from tests.e2e.conftest import amqp_url  # noqa: F401 (a fixture)

pytestmark = pytest.mark.services

ROOT = Path(__file__).resolve().parents[2]
TASK = "publish_test.record"


def make_app(broker: str, queue: str) -> Celery:
    app = Celery("publisher-test", broker=broker, set_as_current=False)
    app.conf.update(
        task_default_queue=queue,
        broker_connection_retry_on_startup=True,
        task_publish_retry_policy={"max_retries": 1, "interval_start": 0, "interval_step": 0.1},
    )
    return app


def batch(queue: str, routed: str, occurrences: int) -> list[Message]:
    """Messages of three entries: plain, routed with a priority and headers, jittered."""
    plain = Entry(id="plain", task=TASK, spec=IntervalSpec(60), args=(1, "a"), kwargs={"k": [1, 2]})
    options = {"queue": routed, "priority": 5, "headers": {"custom": "x"}}
    routed_entry = Entry(id="routed", task=TASK, spec=IntervalSpec(60), options=options)
    jittered = Entry(id="jittered", task=TASK, spec=IntervalSpec(60), jitter=1.0)
    messages = []
    for step in range(occurrences):
        when = T0 + timedelta(minutes=step)
        for entry, countdown in ((plain, 0.0), (routed_entry, 0.0), (jittered, 0.25)):
            messages.append(Message(entry, when, occurrence_task_id(entry.id, when), countdown))
    return messages


@pytest.fixture
def names() -> tuple[str, str, str]:
    """Two queues and a record list no other test uses."""
    tag = uuid.uuid4().hex[:8]
    return f"pub-{tag}", f"pub-{tag}-routed", f"pub-{tag}:runs"


def start_worker(broker: str, record_url: str, queues: list[str], record: str) -> Any:
    env = dict(os.environ)
    env.update(
        PYTHONPATH=str(ROOT),
        PUBLISH_BROKER=broker,
        PUBLISH_QUEUES=",".join(queues),
        PUBLISH_RECORD=record,
        PUBLISH_RECORD_URL=record_url,
    )
    return subprocess.Popen(
        [str(Path(sys.executable).with_name("celery")), "-A", "tests.engine.publish_app",
         "worker", "-P", "solo", "-l", "warning", "--without-mingle", "--without-gossip",
         "--without-heartbeat", "-n", f"{record}@%h"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip


@pytest.fixture(params=["redis", "amqp"])
def broker(request: pytest.FixtureRequest, redis_url: str) -> str:
    """Each broker kind: Redis (kombu's batched publish) and RabbitMQ (one by one)."""
    return redis_url if request.param == "redis" else str(request.getfixturevalue("amqp_url"))


@pytest.fixture
def records(redis_url: str, names: tuple[str, str, str]) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url)
    yield client
    client.delete(*names)
    client.close()


def test_a_real_worker_runs_every_message_of_a_batch(
    broker: str, redis_url: str, names: tuple[str, str, str], records: redis.Redis
) -> None:
    queue, routed, record = names
    messages = batch(queue, routed, occurrences=20)
    app = make_app(broker, queue)
    assert CeleryPublisher(app).publish_many(messages) == [None] * len(messages)
    worker = start_worker(broker, redis_url, [queue, routed], record)
    try:
        deadline = time.monotonic() + 60
        while records.llen(record) < len(messages):
            assert time.monotonic() < deadline, f"worker ran {records.llen(record)} tasks"
            time.sleep(0.1)
    finally:
        worker.send_signal(signal.SIGKILL)
        worker.wait(10)
    runs = {row["id"]: row for row in map(json.loads, records.lrange(record, 0, -1))}
    assert sorted(runs) == sorted(message.task_id for message in messages)
    for message in messages:
        run = runs[message.task_id]
        entry = message.entry
        assert run["entry"] == entry.id
        assert run["scheduled_for"] == format_instant(message.scheduled_for)
        assert run["beat"] is True
        assert (run["args"], run["kwargs"]) == (list(entry.args), dict(entry.kwargs))
        if entry.id == "routed":
            assert (run["routing_key"], run["priority"], run["custom"]) == (routed, 5, "x")
        else:
            assert run["routing_key"] == queue
        assert (run["eta"] is not None) == (entry.id == "jittered")


def test_the_redis_batch_sends_the_messages_kombu_sends_one_by_one(
    redis_url: str,
    names: tuple[str, str, str],
    records: redis.Redis,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    queue, routed, _ = names
    messages = [m for m in batch(queue, routed, occurrences=2) if m.countdown == 0]
    publisher = CeleryPublisher(make_app(redis_url, queue))
    assert publisher.publish_many(messages) == [None] * len(messages)
    batched = records.lrange(queue, 0, -1) + records.lrange(f"{routed}\x06\x163", 0, -1)
    records.delete(queue, f"{routed}\x06\x163")
    with monkeypatch.context() as patch:
        patch.setattr(publisher_module, "_batch", lambda producer, size: nullcontext())
        assert publisher.publish_many(messages) == [None] * len(messages)
    single = records.lrange(queue, 0, -1) + records.lrange(f"{routed}\x06\x163", 0, -1)
    assert len(batched) == len(single) == len(messages)

    def comparable(raw: bytes) -> dict[str, Any]:
        message = json.loads(raw)
        del message["properties"]["delivery_tag"]  # a fresh uuid per message, by design
        return dict(message)

    assert sorted(map(json.dumps, map(comparable, batched))) == sorted(
        map(json.dumps, map(comparable, single))
    )


def test_an_unreachable_broker_fails_every_message_without_raising() -> None:
    app = make_app("redis://127.0.0.1:1/0", "nowhere")
    messages = batch("nowhere", "nowhere-routed", occurrences=1)
    errors = CeleryPublisher(app).publish_many(messages)
    assert len(errors) == len(messages)
    assert all(isinstance(error, Exception) for error in errors)


def test_a_jitter_countdown_is_an_eta_on_the_beats_clock(
    redis_url: str, names: tuple[str, str, str], records: redis.Redis
) -> None:
    """A beat whose host clock is wrong keeps the store's time: a jitter countdown becomes an
    ``eta`` on that clock, not on the host's (celery would take "now" from the host), and
    ``expire_at`` caps ``options.expires`` by that clock too."""
    queue, _, _ = names
    now = datetime.now(timezone.utc) - timedelta(hours=1)  # the beat's clock, not the host's
    expire_at = now + timedelta(seconds=30)
    entries = [
        Entry(id="jittered", task=TASK, spec=IntervalSpec(60), jitter=1.0),
        Entry(
            id="capped",
            task=TASK,
            spec=IntervalSpec(60),
            options={"expires": 60},
            expire_at=expire_at,
        ),
    ]
    countdowns = {"jittered": 0.25, "capped": 0.0}
    messages = [
        Message(entry, T0, occurrence_task_id(entry.id, T0), countdowns[entry.id])
        for entry in entries
    ]
    publisher = CeleryPublisher(make_app(redis_url, queue), clock=lambda: now)
    assert publisher.publish_many(messages) == [None, None]
    headers = {
        found["headers"]["stembeat_entry"]: found["headers"]
        for found in map(json.loads, records.lrange(queue, 0, -1))
    }
    jittered, capped = headers["jittered"], headers["capped"]
    assert datetime.fromisoformat(jittered["eta"]) == now + timedelta(seconds=0.25)
    assert jittered["expires"] is None
    assert capped["eta"] is None
    assert datetime.fromisoformat(capped["expires"]) == expire_at
