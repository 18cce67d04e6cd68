"""Message options on real brokers: a ``beat_schedule`` item's options reach the broker as
celery beat itself sends them (its ``Scheduler.apply_async`` is the oracle), with the task's
own defaults for a task the app knows, and with stembeat's jitter on the beat's clock."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from celery import Celery, Task
from celery.beat import ScheduleEntry
from celery.beat import Scheduler as CeleryScheduler
from celery.signals import before_task_publish
from kombu import Connection, Queue

from celery_stembeat.config_entries import entries_from_config
from celery_stembeat.entry import Entry
from celery_stembeat.publisher import CeleryPublisher, Message, occurrence_task_id
from celery_stembeat.specs import IntervalSpec, format_instant
from tests._celery_versions import celery_before
from tests.contract.helpers import T0
from tests.e2e.conftest import amqp_url  # noqa: F401 (a fixture)

pytestmark = pytest.mark.services

UNKNOWN = "options_test.unknown"
DEFAULTS = "options_test.defaults"
LATER = datetime(2030, 1, 1, tzinfo=timezone.utc)
POLICY = {"max_retries": 2, "interval_start": 0, "interval_step": 0.1, "interval_max": 0.2}


class Shadowed(Task):  # type: ignore[misc]
    """A task that names its runs after their first argument."""

    def shadow_name(self, args: Any, kwargs: Any, options: Any) -> str | None:
        return f"shadow-of-{args[0]}" if args else None


def make_app(broker: str, queue: str) -> Celery:
    """An app that knows ``DEFAULTS`` (with options of its own) and not ``UNKNOWN``."""
    app = Celery("publisher-options-test", broker=broker, set_as_current=False)
    app.conf.update(task_default_queue=queue, broker_connection_retry_on_startup=True)

    app.task(
        base=Shadowed,
        name=DEFAULTS,
        ignore_result=True,
        time_limit=30,
        soft_time_limit=20,
        compression="zlib",
        expires=300,
    )(defaults)
    return app


def defaults(*args: Any) -> None:
    """Runs nowhere: the test reads its messages off the queue."""


def beat_schedule(queue: str) -> dict[str, dict[str, Any]]:
    """Items as an operator writes them for celery beat: every option carried, datetimes."""
    every_option = {
        "queue": queue,
        "priority": 5,
        "headers": {"team": "ops"},
        "countdown": 30,
        "expires": LATER,
        "retry": True,
        "retry_policy": POLICY,
        "serializer": "json",
        "compression": "zlib",
        "delivery_mode": "transient",
        "mandatory": False,
        "timeout": 5,
        "confirm_timeout": 5,
        "time_limit": 60,
        "soft_time_limit": 50,
        "ignore_result": True,
        "shadow": "nick",
        "argsrepr": "(<hidden>,)",
        "kwargsrepr": "{<hidden>}",
        "reply_to": "replies",
        "group_id": "g-1",
        "group_index": 3,
        "root_id": "root-1",
        "parent_id": "parent-1",
        "retries": 2,
    }
    overrides = {"time_limit": 90, "ignore_result": False, "shadow": "given", "priority": 7}
    return {
        "every-option": {"task": UNKNOWN, "schedule": 60, "args": [1], "options": every_option},
        "task-defaults": {"task": DEFAULTS, "schedule": 60, "args": ["a"]},
        "overridden": {
            "task": DEFAULTS,
            "schedule": 60,
            "args": ["b"],
            "options": {**overrides, "eta": LATER, "expires": 45},
        },
    }


@pytest.fixture(params=["redis", "amqp"])
def broker(request: pytest.FixtureRequest, redis_url: str) -> str:
    """Each broker kind: Redis (kombu's batched publish) and RabbitMQ (one by one)."""
    return redis_url if request.param == "redis" else str(request.getfixturevalue("amqp_url"))


@pytest.fixture
def queue(broker: str) -> Iterator[str]:
    name = f"options-{uuid.uuid4().hex[:8]}"
    yield name
    with Connection(broker) as connection:
        channel = connection.channel()
        Queue(name, durable=False)(channel).delete()
        if broker.startswith("redis"):
            client = channel.client
            client.delete(*client.keys(f"*{name}*") or [name])


@pytest.fixture
def policies() -> Iterator[dict[str, Any]]:
    """The retry policy celery hands kombu for each message, by task id."""
    seen: dict[str, Any] = {}

    def before(sender: str, headers: Any, retry_policy: Any, **rest: Any) -> None:
        seen[headers["id"]] = retry_policy

    before_task_publish.connect(before, weak=False)
    yield seen
    before_task_publish.disconnect(before)


def waiting(broker: str, queue: str) -> dict[str, dict[str, Any]]:
    """Every message in ``queue`` by entry id: headers, properties, body, as the broker holds
    them (taken off the queue)."""
    found = {}
    with Connection(broker) as connection:
        bound = Queue(queue, durable=False)(connection.channel())
        while (message := bound.get(no_ack=True)) is not None:
            properties = dict(message.properties)
            for key in ("delivery_tag", "delivery_info", "application_headers"):
                properties.pop(key, None)  # fresh per message, or the headers once more
            found[message.headers["stembeat_entry"]] = {
                "headers": dict(message.headers),
                "properties": properties,
                "body": message.body,
                "content": (message.content_type, message.content_encoding),
            }
    return found


def timeless(message: dict[str, Any]) -> dict[str, Any]:
    """A message with the instants computed from "now" only as present or not."""
    headers = dict(message["headers"])
    properties = dict(message["properties"])
    for key in ("eta", "expires"):
        headers[key] = headers[key] is not None
    properties["expiration"] = "expiration" in properties
    return {**message, "headers": headers, "properties": properties}


def send_as_celery_beat(app: Celery, schedule: dict[str, dict[str, Any]]) -> None:
    """Each item through celery beat's own ``apply_async``, with stembeat's task id and
    headers added to its options."""
    scheduler = CeleryScheduler(app, lazy=True)
    with app.producer_or_acquire() as producer:
        for name, item in schedule.items():
            options = dict(item.get("options") or {})
            options["task_id"] = occurrence_task_id(name, T0)
            options["headers"] = {
                **options.get("headers", {}),
                "stembeat_entry": name,
                "stembeat_scheduled_for": format_instant(T0),
            }
            if celery_before((5, 7)):
                # celery beat marks its messages with this header from celery 5.7 on;
                # stembeat sends it with every celery release.
                options["headers"]["celery_beat_task"] = True
            entry = ScheduleEntry(
                name=name,
                task=item["task"],
                schedule=item["schedule"],
                args=item.get("args", ()),
                options=options,
                app=app,
            )
            scheduler.apply_async(entry, producer=producer, advance=False)


def test_options_reach_the_broker_as_celery_beat_sends_them(
    broker: str, queue: str, policies: dict[str, Any]
) -> None:
    app = make_app(broker, queue)
    schedule = beat_schedule(queue)
    entries = list(entries_from_config(schedule, "UTC"))
    messages = [Message(e, T0, occurrence_task_id(e.id, T0)) for e in entries]
    assert CeleryPublisher(app).publish_many(messages) == [None] * len(messages)
    sent, sent_policies = waiting(broker, queue), dict(policies)
    policies.clear()
    send_as_celery_beat(app, schedule)
    oracle = waiting(broker, queue)

    assert sorted(sent) == sorted(schedule)
    assert {k: timeless(m) for k, m in sent.items()} == {k: timeless(m) for k, m in oracle.items()}
    assert sent_policies == policies

    every, by_task, overridden = sent["every-option"], sent["task-defaults"], sent["overridden"]
    headers = every["headers"]
    assert (headers["timelimit"], headers["shadow"], headers["ignore_result"]) == (
        [60, 50],
        "nick",
        True,
    )
    assert (headers["argsrepr"], headers["kwargsrepr"]) == ("(<hidden>,)", "{<hidden>}")
    assert (headers["group"], headers["group_index"], headers["retries"]) == ("g-1", 3, 2)
    assert (headers["root_id"], headers["parent_id"]) == ("root-1", "parent-1")
    assert (headers["team"], headers["celery_beat_task"]) == ("ops", True)
    assert headers["compression"] == "application/x-gzip"
    assert headers["expires"] == LATER.isoformat()
    assert headers["eta"] is not None
    properties = every["properties"]
    assert (properties["priority"], properties["delivery_mode"]) == (5, 1)
    assert properties["reply_to"] == "replies"
    assert every["content"] == ("application/json", "utf-8")
    assert sent_policies[headers["id"]] == {**app.conf.task_publish_retry_policy, **POLICY}
    # The task's own options, and the shadow name it gives, where the item gives none.
    headers = by_task["headers"]
    assert (headers["timelimit"], headers["shadow"], headers["ignore_result"]) == (
        [30, 20],
        "shadow-of-a",
        True,
    )
    assert (headers["compression"], headers["expires"] is not None) == ("application/x-gzip", True)
    headers = overridden["headers"]
    assert (headers["timelimit"], headers["shadow"], headers["ignore_result"]) == (
        [90, 20],
        "given",
        False,
    )
    assert (overridden["properties"]["priority"], headers["eta"]) == (7, LATER.isoformat())


def test_jitter_adds_to_countdown_and_eta_on_the_beats_clock(redis_url: str, queue: str) -> None:
    """The jitter waits on top of ``options.countdown``, and after ``options.eta`` (or now,
    when that has passed); both on the beat's clock. ``expire_at`` caps the task's own
    ``expires`` as it caps ``options.expires``."""
    now = datetime.now(timezone.utc) - timedelta(hours=1)  # the beat's clock, not the host's
    spec = IntervalSpec(60)
    entries = [
        Entry(id="countdown", task=UNKNOWN, spec=spec, jitter=1, options={"countdown": 30}),
        Entry(id="eta-ahead", task=UNKNOWN, spec=spec, jitter=1, options={"eta": LATER}),
        Entry(
            id="eta-passed", task=UNKNOWN, spec=spec, jitter=1, options={"eta": "2020-01-01T00:00Z"}
        ),
        Entry(id="capped", task=DEFAULTS, spec=spec, expire_at=now + timedelta(seconds=60)),
    ]
    messages = [Message(e, T0, occurrence_task_id(e.id, T0), e.jitter / 4) for e in entries]
    publisher = CeleryPublisher(make_app(redis_url, queue), clock=lambda: now)
    assert publisher.publish_many(messages) == [None] * len(messages)
    headers = {name: found["headers"] for name, found in waiting(redis_url, queue).items()}
    eta = {name: datetime.fromisoformat(h["eta"]) for name, h in headers.items() if h["eta"]}
    assert eta == {
        "countdown": now + timedelta(seconds=30.25),
        "eta-ahead": LATER + timedelta(seconds=0.25),
        "eta-passed": now + timedelta(seconds=0.25),
    }
    # The task's expires (300 s) ends after expire_at: expire_at is the deadline.
    assert datetime.fromisoformat(headers["capped"]["expires"]) == now + timedelta(seconds=60)
