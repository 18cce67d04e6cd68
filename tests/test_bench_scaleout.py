"""The scale-out benchmark's count at the broker, on messages the real publisher sent."""

from __future__ import annotations

import uuid

import pytest
import redis

from bench.scenarios.scaleout import kombu_bindings, tally
from celery_stembeat.entry import Entry
from celery_stembeat.publisher import CeleryPublisher, Message, occurrence_task_id
from celery_stembeat.specs import IntervalSpec
from tests.contract.helpers import T0
from tests.engine.test_publisher import TASK, make_app

pytestmark = pytest.mark.services

ENTRIES = [Entry(id=f"job{i}", task=TASK, spec=IntervalSpec(3_600), args=(i,)) for i in range(4)]
EXPECTED = {(entry.id, T0) for entry in ENTRIES[:3]}


def queued(redis_url: str, sent: list[Entry]) -> list[bytes | str]:
    """The messages in the queue after publishing the occurrence at ``T0`` of each of ``sent``."""
    queue = f"scaleout-{uuid.uuid4().hex[:8]}"
    messages = [Message(entry, T0, occurrence_task_id(entry.id, T0)) for entry in sent]
    client = redis.Redis.from_url(redis_url)
    try:
        errors = CeleryPublisher(make_app(redis_url, queue)).publish_many(messages)
        assert errors == [None] * len(sent)
        return list(client.lrange(queue, 0, -1))
    finally:
        client.delete(queue, *kombu_bindings(queue))
        client.close()


def test_tally_finds_duplicates_losses_and_strays(redis_url: str) -> None:
    """job0 sent twice, job1 once, job2 never, job3 not expected: two messages too many (the
    second job0, the stray job3) and one occurrence lost."""
    sent = [ENTRIES[0], ENTRIES[0], ENTRIES[1], ENTRIES[3]]
    assert tally(queued(redis_url, sent), EXPECTED) == (2, 1)


def test_tally_of_each_occurrence_once_is_clean(redis_url: str) -> None:
    assert tally(queued(redis_url, ENTRIES[:3]), EXPECTED) == (0, 0)
