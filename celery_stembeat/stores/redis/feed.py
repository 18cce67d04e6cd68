"""Change notifications of the Redis store: the prefix's pub/sub channel as a
:class:`~celery_stembeat.stores.base.ChangeFeed`."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Mapping
from typing import Any, cast

import redis
from redis.client import PubSub

from celery_stembeat.stores._reconnect import Backoff, reconnect
from celery_stembeat.stores.base import ANY_CHANGE, ChangeFeed, StoreError

_SUBSCRIBE_TIMEOUT = 10.0


class RedisFeed(ChangeFeed):
    """Change notifications from the prefix's pub/sub channel.

    Redis keeps nothing for a subscriber while it is disconnected. After losing its connection
    the feed subscribes again (redis-py, when configured to retry, may do so by itself inside a
    read); either way the server confirms the subscription once more, and every confirmation
    after the first makes :meth:`wait` return :data:`ANY_CHANGE`. Each lost connection calls
    ``relearn`` first: on a cluster, the channel's slot may have a new primary by then.
    """

    def __init__(
        self,
        client: redis.Redis,
        channel: str,
        display_url: str,
        relearn: Callable[[], None] = lambda: None,
    ) -> None:
        self._client = client
        self._relearn = relearn
        self._channel = channel
        self._pending: list[str] = []
        self._confirmed = False
        self._closed = False
        self._backoff = Backoff()
        self._pubsub: PubSub | None = None
        try:
            self._pubsub = self._subscribe()
            # Wait for the confirmation: from then on, no change can slip past the feed.
            deadline = time.monotonic() + _SUBSCRIBE_TIMEOUT
            while not self._confirmed:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise StoreError(f"Redis store {display_url}: no reply to SUBSCRIBE")
                self._take(self._pubsub.get_message(timeout=remaining))
        except BaseException:
            self.close()
            raise

    def _subscribe(self) -> PubSub:
        # redis-py leaves pubsub() unannotated; it returns a PubSub.
        pubsub = cast(Callable[[], PubSub], self._client.pubsub)()
        try:
            pubsub.subscribe(self._channel)
        except BaseException:
            with contextlib.suppress(redis.RedisError, OSError):
                pubsub.close()
            raise
        return pubsub

    def _take(self, message: Mapping[str, Any] | None) -> None:
        if message is None:
            return
        if message["type"] == "subscribe":
            if self._confirmed:
                self._pending.append(ANY_CHANGE)
            self._confirmed = True
        elif message["type"] == "message":
            data = message["data"]
            self._pending.append(data.decode() if isinstance(data, bytes) else str(data))

    def _flush(self) -> list[str]:
        ids, self._pending = list(dict.fromkeys(self._pending)), []
        return ids

    def wait(self, timeout: float) -> list[str]:
        """Ids changed since the last call; waits up to ``timeout`` s, ``[]`` if none.

        After a lost connection the feed subscribes again, pausing between failed attempts,
        and returns :data:`ANY_CHANGE` once the server confirms.
        """
        deadline = time.monotonic() + max(timeout, 0.0)
        while not self._closed:
            if self._pubsub is None:
                self._pubsub = reconnect(
                    self._subscribe, self._backoff, deadline, (redis.RedisError, OSError)
                )
                if self._pubsub is None:
                    return self._flush()
            try:
                while not self._pending:
                    remaining = deadline - time.monotonic()
                    message = self._pubsub.get_message(timeout=max(remaining, 0.0))
                    self._take(message)
                    if message is None and remaining <= 0:
                        break
                while (message := self._pubsub.get_message(timeout=0.0)) is not None:
                    self._take(message)
            except (redis.RedisError, OSError):
                self._drop()
                self._relearn()
                continue
            return self._flush()
        return []

    def _drop(self) -> None:
        pubsub, self._pubsub = self._pubsub, None
        if pubsub is not None:
            with contextlib.suppress(redis.RedisError, OSError):
                pubsub.close()

    def close(self) -> None:
        """Release the connection (which ends the subscription); safe to call twice."""
        self._closed = True
        self._drop()
