"""The Redis store's way to the server: redis-py's client (on one server, or on a Redis Cluster
through :mod:`.cluster`) with the key layout and the scripts of one prefix, every redis-py
error turned into :class:`StoreError` (the URL's password masked), and script calls run one at
a time or streamed on one connection (to the node serving the prefix, on a cluster).

redis-py checks a pooled connection before lending it and reconnects one the server has closed,
so after a restart the next operation normally succeeds. A Sentinel URL's client (see
:mod:`.sentinel`) asks the sentinels where the primary is on each new connection, so after a
failover the same holds.
"""

from __future__ import annotations

import contextlib
import itertools
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, cast

import redis
from redis.cluster import RedisCluster
from redis.exceptions import NoScriptError, RedisClusterException
from redis.sentinel import Sentinel

from celery_stembeat.stores._secrets import is_sentinel, scrub, url_secrets
from celery_stembeat.stores.base import StoreError, StoreURLError
from celery_stembeat.stores.redis import cluster, scripts, sentinel
from celery_stembeat.stores.redis.keys import Keys

_HEALTH_CHECK_INTERVAL = 30
#: Ids per call of a script that reads entries.
READ_BATCH = 500
#: Script calls a stream sends ahead of the reply it reads: enough that Redis has the next
#: call queued while Python reads a reply and encodes a call, few enough that a long stream's
#: arguments are not all held at once.
_IN_FLIGHT = 8

#: One script call: its keys and its arguments.
Call = tuple[list[str], list[str]]


class Client:
    """redis-py's client on ``url`` (``redis`` for commands of its own), the keys of
    ``prefix`` and the scripts, registered once.

    On a cluster (``redis+cluster://``) ``redis`` is a :class:`~redis.cluster.RedisCluster`,
    typed as :class:`redis.Redis`: it takes every command the store sends with the same
    arguments, and routes each by its first key, which is always one of the prefix's."""

    def __init__(self, url: str, display_url: str, prefix: str, options: dict[str, Any]) -> None:
        self.display_url = display_url
        self._secrets = url_secrets(url)
        options["decode_responses"] = False
        # Ping connections idle this long before use: a feed then notices a dead connection
        # (and subscribes again) instead of waiting on it forever.
        options.setdefault("health_check_interval", _HEALTH_CHECK_INTERVAL)
        self.redis: redis.Redis
        #: The sentinels' client of a Sentinel URL, closed with this one.
        self._sentinel: Sentinel | None = None
        self._cluster: RedisCluster | None = None
        try:
            if is_sentinel(url):
                self.redis, self._sentinel = sentinel.open_primary(url, options)
            elif cluster.is_cluster(url):
                # The cluster client reads the layout at once: an outage is a StoreError.
                with self.errors():
                    self._cluster = cluster.connect(url, options)
                self.redis = cast(redis.Redis, self._cluster)
            else:
                self.redis = redis.Redis.from_url(url, **options)
        except (ValueError, TypeError) as exc:
            # The message may quote parts of the URL: show only the masked form.
            kind = type(exc).__name__
            raise StoreURLError(f"Redis store: invalid URL {display_url} ({kind})") from None
        if self.redis.get_encoder().decode_responses:
            raise StoreError(f"Redis store {display_url}: decode_responses is not supported")
        self.keys = Keys(prefix)
        self.scripts = scripts.register(self.redis)

    @contextlib.contextmanager
    def errors(self) -> Iterator[None]:
        """Turn redis-py's exceptions (and raw socket errors) into :class:`StoreError`."""
        try:
            yield
        except (redis.RedisError, RedisClusterException, OSError) as exc:
            message = scrub(f"{type(exc).__name__}: {exc}", self._secrets)
            raise StoreError(f"Redis store {self.display_url}: {message}") from exc

    def failed(self, message: str) -> StoreError:
        """A :class:`StoreError` naming this store."""
        return StoreError(f"Redis store {self.display_url}: {message}")

    def run(self, name: str, keys: Sequence[str], args: Iterable[str | bytes | int]) -> Any:
        """The reply of script ``name`` called once (errors as they are: see
        :meth:`errors`)."""
        return self.scripts[name](keys=keys, args=args)

    def pipelined(self, name: str, calls: Iterable[Call]) -> list[Any]:
        """Run script ``name`` once per (keys, args), in order, on one connection; the replies.

        Each call is sent as soon as ``calls`` yields it, and its reply read once
        :data:`_IN_FLIGHT` more are sent: Redis runs one call while Python encodes the next
        (``calls`` may be a generator that encodes them), and only the calls in flight are
        held. As in redis-py's pipelines, a lost connection is opened again and the calls not
        answered sent again; a failed call raises once all were sent and answered.
        """
        script = self.scripts[name]
        pending = iter(calls)
        first = next(pending, None)
        if first is None:
            return []
        pending = itertools.chain([first], pending)
        #: Calls sent whose replies are not read yet, oldest first.
        unread: deque[Call] = deque()
        replies: list[Any] = []
        failures: list[redis.ResponseError] = []

        def send(connection: Any, keys: list[str], args: list[str], number: int) -> None:
            # Only a call sent with none in flight may check the connection's health: a PING
            # sent behind another call would read that call's reply.
            connection.send_command(
                "EVALSHA", script.sha, len(keys), *keys, *args, check_health=number == 0
            )

        def read_oldest(connection: Any) -> None:
            keys, args = unread[0]
            try:
                reply = connection.read_response()
            except NoScriptError:
                # The server lost its script cache (restart, SCRIPT FLUSH): this call never
                # ran, so running it again now is safe. Script() reloads the script.
                reply = self.run(name, keys, args)
            except redis.ResponseError as exc:
                failures.append(exc)
                reply = None
            unread.popleft()
            replies.append(reply)

        def send_all(connection: Any) -> list[Any]:
            for number, (keys, args) in enumerate(unread):
                send(connection, keys, args, number)
            for keys, args in pending:
                unread.append((keys, args))
                send(connection, keys, args, len(unread) - 1)
                if len(unread) > _IN_FLIGHT:
                    read_oldest(connection)
            while unread:
                read_oldest(connection)
            if failures:
                raise failures[0]
            return replies

        with self.errors():
            if self._cluster is None:
                return self._stream(self.redis.connection_pool, send_all)
            try:
                return self._stream(cluster.slot_pool(self._cluster, self.keys.due), send_all)
            except (redis.ConnectionError, redis.TimeoutError):
                # The slot's primary is gone: once its replica is promoted, it serves the slot.
                self.relearn()
                return self._stream(cluster.slot_pool(self._cluster, self.keys.due), send_all)
            except redis.RedisError:
                self.relearn()  # a MOVED reply, say: the slot has moved
                raise

    @staticmethod
    def _stream(pool: redis.ConnectionPool, send_all: Callable[[Any], list[Any]]) -> list[Any]:
        """``send_all`` on a connection of ``pool``, again on a new connection when it loses
        its connection (as the connection's retry allows)."""
        # Any: redis-py leaves the connection's methods unannotated.
        connection: Any = pool.get_connection()
        try:
            return cast(
                list[Any],
                connection.retry.call_with_retry(
                    lambda: send_all(connection), lambda _: connection.disconnect()
                ),
            )
        except BaseException:
            # Replies may still be on their way: the connection cannot serve anyone else.
            connection.disconnect()
            raise
        finally:
            pool.release(connection)

    def relearn(self) -> None:
        """After a failure, on a cluster: read its layout again (the prefix's slot may have a
        new primary). Nothing to do on one server."""
        if self._cluster is not None:
            cluster.relearn(self._cluster)

    def close(self) -> None:
        """Close the connection pool (and the sentinels' connections); safe to call twice."""
        with contextlib.suppress(redis.RedisError, OSError):
            self.redis.close()
        if self._cluster is None:  # a cluster client closes its nodes' pools itself
            with contextlib.suppress(redis.RedisError, OSError):
                self.redis.connection_pool.disconnect()
        if self._sentinel is not None:
            with contextlib.suppress(redis.RedisError, OSError):
                self._sentinel.close()
