"""Sending an occurrence's task message: the seam between the engine and the broker."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Protocol

from celery_stembeat.entry import Entry
from celery_stembeat.specs import format_instant

#: Namespace of the task ids derived from occurrences (uuid5 of ``entry id @ instant``).
TASK_ID_NAMESPACE = uuid.UUID("5d0b6c1e-7f0f-4d3e-9a53-6c2b7e3f1a90")


def occurrence_task_id(entry_id: str, scheduled_for: datetime) -> str:
    """The task id of one occurrence: the same on every beat, so consumers can deduplicate."""
    return str(uuid.uuid5(TASK_ID_NAMESPACE, f"{entry_id}@{format_instant(scheduled_for)}"))


class Publisher(Protocol):
    """Sends one task message; raises when it could not be sent."""

    def publish(
        self, entry: Entry, scheduled_for: datetime, task_id: str, countdown: float
    ) -> None:
        """Send ``entry``'s task for the occurrence ``scheduled_for`` with id ``task_id``."""


class CeleryPublisher:
    """Publishes through a celery app's own producer, as celery beat does.

    ``producer`` is a callable returning the (cached) kombu producer, so a broken connection is
    replaced by celery's own machinery; publish retries follow the app's
    ``task_publish_retry``/``task_publish_retry_policy``.
    """

    def __init__(self, app: Any, producer: Any = None) -> None:
        self.app = app
        self._producer = producer

    def publish(
        self, entry: Entry, scheduled_for: datetime, task_id: str, countdown: float
    ) -> None:
        """Send the task with the entry's args, kwargs and message options."""
        options: dict[str, Any] = dict(entry.options)
        headers = dict(options.pop("headers", None) or {})
        headers.update(
            celery_beat_task=True,
            stembeat_entry=entry.id,
            stembeat_scheduled_for=format_instant(scheduled_for),
        )
        if countdown > 0:
            options["countdown"] = countdown
        producer = self._producer() if callable(self._producer) else self._producer
        self.app.send_task(
            entry.task,
            args=list(entry.args),
            kwargs=dict(entry.kwargs),
            task_id=task_id,
            headers=headers,
            producer=producer,
            **options,
        )
