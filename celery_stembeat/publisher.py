"""Sending an occurrence's task message: the seam between the engine and the broker."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Protocol, cast

from kombu.entity import Queue

from celery_stembeat.entry import Entry
from celery_stembeat.specs import format_instant, parse_instant

#: Namespace of the task ids derived from occurrences (uuid5 of ``entry id @ instant``).
TASK_ID_NAMESPACE = uuid.UUID("5d0b6c1e-7f0f-4d3e-9a53-6c2b7e3f1a90")


def occurrence_task_id(entry_id: str, scheduled_for: datetime) -> str:
    """The task id of one occurrence: the same on every beat, so consumers can deduplicate."""
    return str(uuid.uuid5(TASK_ID_NAMESPACE, f"{entry_id}@{format_instant(scheduled_for)}"))


@dataclass(frozen=True)
class Message:
    """One occurrence's task message, as the engine hands it to a publisher."""

    entry: Entry
    scheduled_for: datetime
    task_id: str
    #: Seconds the worker should wait before running it (the entry's jitter); 0 for none.
    countdown: float = 0.0
    #: Sent out of schedule (``stembeat run``): ``scheduled_for`` is when it was asked for,
    #: and the message says so in the ``stembeat_manual`` header.
    manual: bool = False


class Publisher(Protocol):
    """Sends task messages."""

    def publish_many(self, messages: Sequence[Message]) -> list[Exception | None]:
        """Send ``messages`` in order; for each, ``None`` once it reached the broker, or the
        error that kept it from there (or left its delivery uncertain)."""


class CeleryPublisher:
    """Publishes through a celery app's own producer, as celery beat does.

    One producer (from the app's pool, or ``producer``: a producer or a callable returning
    one) sends a whole batch. On a transport that can defer publishes (kombu's Redis
    transport), kombu buffers the batch and pushes it in one pipelined round trip; the
    messages are the ones kombu would send one by one. Other transports publish each message
    at once, with retries per the app's ``task_publish_retry``/``task_publish_retry_policy``.
    Each message goes through ``app.send_task``, routed by the app's router (see
    :class:`_BatchRouter`); what ``send_task`` returns is not kept (beat waits on no result).
    """

    def __init__(
        self, app: Any, producer: Any = None, *, clock: Callable[[], datetime] | None = None
    ) -> None:
        self.app = app
        self._producer = producer
        #: The beat's clock: a jitter countdown becomes an ``eta`` on it (celery would take
        #: "now" from this host's clock, which may be wrong).
        self.clock = clock or _utc_now

    def publish_many(self, messages: Sequence[Message]) -> list[Exception | None]:
        """Send the messages through one producer; a failed batch fails all it held."""
        errors: list[Exception | None] = []
        if not messages:
            return errors
        given = self._producer() if callable(self._producer) else self._producer
        with self.app.producer_or_acquire(given) as producer:
            router = _BatchRouter(self.app.amqp.router, producer)
            try:
                with _batch(producer, len(messages)):
                    for message in messages:
                        try:
                            self._send(producer, router, message)
                        except Exception as exc:
                            errors.append(exc)
                        else:
                            errors.append(None)
                            router.sent()
            except Exception as exc:
                # The buffered messages were not sent, or not all of them: none counts as sent.
                errors = [error or exc for error in errors]
        return errors

    def _send(self, producer: Any, router: _BatchRouter, message: Message) -> None:
        """Send one message as celery beat sends an entry: through the task's own
        ``apply_async`` when the app knows the task (its default options, ``ignore_result``
        and ``shadow_name`` then apply), else through ``app.send_task``."""
        entry = message.entry
        task = self.app.tasks.get(entry.task)
        options: dict[str, Any] = dict(entry.options)
        headers = dict(options.pop("headers", None) or {})
        headers.update(
            celery_beat_task=True,
            stembeat_entry=entry.id,
            stembeat_scheduled_for=format_instant(message.scheduled_for),
        )
        if message.manual:
            headers["stembeat_manual"] = True
        eta = _instant(options.pop("eta", None))
        delay = message.countdown + (options.pop("countdown", None) or 0)
        if delay > 0:
            # The jitter and options.countdown both wait from when the task could run.
            now = self.clock()
            options["eta"] = max(eta or now, now) + timedelta(seconds=delay)
        elif eta is not None:
            options["eta"] = eta
        if "expires" in options:
            options["expires"] = _instant(options["expires"])
        if entry.expire_at is not None:
            # celery's apply_async would take the task's own expires when the entry has none.
            expires = options.get("expires", getattr(task, "expires", None))
            options["expires"] = _deadline(self.clock(), expires, entry.expire_at)
        send: dict[str, Any] = dict(
            task_id=message.task_id,
            headers=headers,
            producer=producer,
            router=router,
            add_to_parent=False,
            **options,
        )
        if task is not None:
            task.apply_async(list(entry.args), dict(entry.kwargs), **send)
        else:
            self.app.send_task(
                entry.task, list(entry.args), dict(entry.kwargs), result_cls=_Sent, **send
            )


class _BatchRouter:
    """The app's router for one batch, handing kombu routed queues bound to the producer's
    channel.

    Celery has kombu declare a message's queue before publishing it (kombu declares an entity
    once per connection); to look it up, kombu binds a copy of an unbound queue to the
    producer's channel, for every message. A queue bound to that channel is used as it is, so
    each queue is bound here once per batch (again if the producer's channel changes). This
    starts once a message went out (the channel is then open: binding connects nothing) and
    is only for plain ``Queue`` objects (a subclass's copy might not be the same queue).
    """

    def __init__(self, router: Any, producer: Any) -> None:
        self._router = router
        self._producer = producer
        self._open = False
        #: id of an app queue -> that queue (kept alive: its id stays its own), its bound copy.
        self._bound: dict[int, tuple[Queue, Queue]] = {}

    def sent(self) -> None:
        """Note that a message went out through the producer's channel."""
        self._open = True

    def route(
        self,
        options: dict[str, Any],
        name: str,
        args: Any = (),
        kwargs: Any = None,
        task_type: Any = None,
    ) -> dict[str, Any]:
        """The app router's options for the task, with the queue bound if it may be."""
        routed: dict[str, Any] = self._router.route(options, name, args, kwargs, task_type)
        queue = routed.get("queue")
        if not self._open or type(queue) is not Queue or queue.is_bound:
            return routed
        channel = self._producer.channel
        known = self._bound.get(id(queue))
        if known is None or known[1].channel is not channel:
            bound = queue.bind(channel)  # type: ignore[no-untyped-call]
            known = self._bound[id(queue)] = (queue, bound)
        return {**routed, "queue": known[1]}


class _Sent:
    """What ``send_task`` returns for a message here: its id, no result to wait on."""

    __slots__ = ("id", "ignored")

    def __init__(self, task_id: str) -> None:
        self.id = task_id


def _utc_now() -> datetime:
    return datetime.now(timezone.utc)


def _instant(value: Any) -> Any:
    """An option's ISO 8601 instant as the aware datetime celery takes; other values as
    they are (seconds, or ``None``)."""
    return parse_instant(value, "option") if isinstance(value, str) else value


def _deadline(
    now: datetime, expires: float | datetime | None, expire_at: datetime
) -> float | datetime:
    """The message's expiry: ``expires`` (seconds from ``now``, or an instant), but never
    past the entry's ``expire_at`` (a task of an expired schedule must not run late)."""
    if expires is None:
        return expire_at
    end = expires if isinstance(expires, datetime) else now + timedelta(seconds=expires)
    return expires if end <= expire_at else expire_at


def _batch(producer: Any, size: int) -> contextlib.AbstractContextManager[Any]:
    """kombu's publish batch holding ``size`` messages in one flush (kombu >= 5.7), else none.

    A message may take several transport commands (a push, and expiry updates for a queue
    with an expiry), so the batch is sized well above the message count. A lone message goes
    out directly: a batch would only add its own bookkeeping to the send.
    """
    if size == 1 or not hasattr(producer, "batch"):
        return contextlib.nullcontext()
    return cast(contextlib.AbstractContextManager[Any], producer.batch(max_size=_COMMANDS * size))


#: Transport commands one message may take at most (kombu: a push and one expiry per priority).
_COMMANDS = 16
