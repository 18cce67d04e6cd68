"""The publisher's batch against celery's own ``send_task``, one message at a time, as celery
beat sends: the same messages in the same queues, and the same publish signals, with
``task_routes`` (a map and a function), ``task_queues`` (a topic exchange) and per-entry
queue options; and the queues kombu declares, bound once per channel."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from celery import Celery
from celery.signals import after_task_publish, before_task_publish
from kombu import Connection, Exchange, Queue
from kombu.common import Broadcast

from celery_stembeat.entry import Entry
from celery_stembeat.publisher import CeleryPublisher, Message, _BatchRouter, occurrence_task_id
from celery_stembeat.specs import IntervalSpec, format_instant
from tests.contract.helpers import T0
from tests.e2e.conftest import amqp_url  # noqa: F401 (a fixture)

TASK = "publish_test.record"
MAPPED = "publish_test.mapped"


@dataclass(frozen=True)
class Names:
    """The queues and exchange of one test, named so that no other test uses them."""

    default: str
    routed: str
    topic: str
    exchange: str

    def queues(self) -> list[Queue]:
        topic = Exchange(self.exchange, type="topic", durable=False)
        return [
            Queue(self.default, durable=False),
            Queue(self.routed, durable=False),
            Queue(self.topic, topic, routing_key="beat.#", durable=False),
        ]


def make_app(broker: str, names: Names) -> Celery:
    """An app routing by ``task_routes``: ``MAPPED`` to the topic queue by a map, a first
    argument ``"to-routed"`` to the routed queue by a function."""

    def by_argument(name: str, args: Any, kwargs: Any, options: Any, **rest: Any) -> Any:
        return {"queue": names.routed} if args and args[0] == "to-routed" else None

    app = Celery("publisher-routing-test", broker=broker, set_as_current=False)
    app.conf.update(
        task_default_queue=names.default,
        task_queues=names.queues(),
        task_routes=[{MAPPED: {"queue": names.topic, "routing_key": "beat.mapped"}}, by_argument],
        broker_connection_retry_on_startup=True,
    )
    return app


def messages(names: Names, occurrences: int) -> list[Message]:
    """Entries routed each way: by default, by the function, by the map, by their options;
    one jittered and expiring."""
    spec = IntervalSpec(60)
    entries = [
        Entry(id="plain", task=TASK, spec=spec, args=(1, "a"), kwargs={"k": [1, 2]}),
        Entry(id="by-function", task=TASK, spec=spec, args=("to-routed",)),
        Entry(id="by-map", task=MAPPED, spec=spec, kwargs={"x": 1}),
        Entry(
            id="by-options",
            task=TASK,
            spec=spec,
            options={"queue": names.routed, "priority": 5, "headers": {"custom": "x"}},
        ),
        Entry(id="jittered", task=TASK, spec=spec, jitter=1.0, options={"expires": 60}),
    ]
    batch = []
    for step in range(occurrences):
        when = T0 + timedelta(minutes=step)
        for entry in entries:
            countdown = 0.25 if entry.jitter else 0.0
            batch.append(Message(entry, when, occurrence_task_id(entry.id, when), countdown))
    return batch


def send_one_by_one(app: Celery, batch: list[Message]) -> None:
    """Each message through ``app.send_task`` alone, as celery beat sends an entry."""
    with app.producer_or_acquire() as producer:
        for message in batch:
            entry = message.entry
            options = dict(entry.options)
            headers = dict(options.pop("headers", None) or {})
            headers.update(
                celery_beat_task=True,
                stembeat_entry=entry.id,
                stembeat_scheduled_for=format_instant(message.scheduled_for),
            )
            if message.countdown > 0:
                options["countdown"] = message.countdown
            app.send_task(
                entry.task,
                args=list(entry.args),
                kwargs=dict(entry.kwargs),
                task_id=message.task_id,
                headers=headers,
                producer=producer,
                **options,
            )


@pytest.fixture(params=["redis", "amqp"])
def broker(request: pytest.FixtureRequest, redis_url: str) -> str:
    """Each broker kind: Redis (kombu's batched publish) and RabbitMQ (one by one)."""
    return redis_url if request.param == "redis" else str(request.getfixturevalue("amqp_url"))


@pytest.fixture
def names(broker: str) -> Iterator[Names]:
    tag = uuid.uuid4().hex[:8]
    made = Names(f"route-{tag}", f"route-{tag}-routed", f"route-{tag}-topic", f"route-{tag}-x")
    yield made
    with Connection(broker) as connection:
        channel = connection.channel()
        for queue in made.queues():
            queue(channel).delete()
        Exchange(made.exchange, type="topic")(channel).delete()
        if broker.startswith("redis"):
            client = channel.client
            client.delete(*client.keys(f"*route-{tag}*"))


def received(broker: str, names: Names) -> dict[str, tuple[Any, ...]]:
    """Every message in the test's queues, by task id: its queue, delivery and content (the
    times computed from "now", ``eta`` and ``expires``, only as present or not)."""
    found: dict[str, tuple[Any, ...]] = {}
    with Connection(broker) as connection:
        channel = connection.channel()
        for queue in names.queues():
            bound = queue(channel)
            while (message := bound.get(no_ack=True)) is not None:
                headers = dict(message.headers)
                for key in ("eta", "expires"):
                    headers[key] = headers[key] is not None
                properties = dict(message.properties)
                properties.pop("delivery_tag", None)  # a fresh uuid per message, by design
                properties.pop("delivery_info", None)
                properties.pop("application_headers", None)  # AMQP: the headers once more
                delivery = message.delivery_info
                found[headers["id"]] = (
                    queue.name,
                    delivery.get("exchange"),
                    delivery.get("routing_key"),
                    sorted(headers.items()),
                    sorted(properties.items()),
                    message.body,
                    message.content_type,
                    message.content_encoding,
                )
    return found


@pytest.fixture
def signalled() -> Iterator[list[tuple[str, Any]]]:
    """What each before/after_task_publish signal reported, for the task it named."""
    calls: list[tuple[str, Any]] = []

    def before(sender: str, body: Any, exchange: Any, routing_key: str, **kw: Any) -> None:
        declared = sorted(queue.name for queue in kw["declare"] or ())
        identity = (sender, kw["headers"]["id"], exchange, routing_key, declared)
        calls.append(("before", (*identity, kw["properties"], kw["retry_policy"], body)))

    def after(sender: str, body: Any, exchange: Any, routing_key: str, **kw: Any) -> None:
        calls.append(("after", (sender, kw["headers"]["id"], exchange, routing_key, body)))

    before_task_publish.connect(before, weak=False)
    after_task_publish.connect(after, weak=False)
    yield calls
    before_task_publish.disconnect(before)
    after_task_publish.disconnect(after)


@pytest.mark.services
def test_a_batch_sends_what_send_task_sends_one_by_one(
    broker: str, names: Names, signalled: list[tuple[str, Any]]
) -> None:
    batch = messages(names, occurrences=3)
    app = make_app(broker, names)
    # The batch first: the queues it routes to exist only if it declared them.
    assert CeleryPublisher(app).publish_many(batch) == [None] * len(batch)
    actual, actual_signals = received(broker, names), list(signalled)
    signalled.clear()
    send_one_by_one(app, batch)
    expected = received(broker, names)

    assert sorted(actual) == sorted(message.task_id for message in batch)
    assert actual == expected
    by_entry = {message.task_id: message.entry.id for message in batch}
    queues = {by_entry[task_id]: row[0] for task_id, row in actual.items()}
    assert queues == {
        "plain": names.default,
        "by-function": names.routed,
        "by-map": names.topic,
        "by-options": names.routed,
        "jittered": names.default,
    }
    assert sorted(actual_signals, key=repr) == sorted(signalled, key=repr)
    assert len(actual_signals) == 2 * len(batch)


class FakeProducer:
    """A producer whose channel the test changes."""

    def __init__(self, channel: Any) -> None:
        self.channel = channel


def test_routed_queues_are_bound_once_per_channel_after_a_message_went_out() -> None:
    app = Celery("publisher-binding-test", broker="memory://", set_as_current=False)
    app.conf.update(task_default_queue="plain", task_queues=[Queue("plain")])
    plain = app.amqp.queues["plain"]
    with Connection("memory://") as connection:
        first, second = connection.channel(), connection.channel()
        producer = FakeProducer(first)
        router = _BatchRouter(app.amqp.router, producer)

        # Before any message went out, the app's own queue, as celery has it.
        assert router.route({}, TASK)["queue"] is plain
        router.sent()
        bound = router.route({}, TASK)["queue"]
        assert (bound is plain, bound == plain, bound.channel is first) == (False, True, True)
        assert router.route({}, TASK)["queue"] is bound
        assert not plain.is_bound
        # A queue of a subclass stays as it is.
        broadcast = Broadcast("everyone")
        assert router.route({"queue": broadcast}, TASK)["queue"] is broadcast

        producer.channel = second
        rebound = router.route({"queue": "plain"}, TASK)["queue"]
        assert (rebound == plain, rebound.channel is second) == (True, True)
