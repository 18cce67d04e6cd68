"""Change feeds of the SQL store and the announcements they read: LISTEN/NOTIFY on PostgreSQL,
a polled change log on SQLite."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from celery_stembeat.stores._reconnect import Backoff, reconnect
from celery_stembeat.stores.base import ANY_CHANGE, ChangeFeed, StoreError
from celery_stembeat.stores.sql.schema import CHANGES_KEY, Schema

if TYPE_CHECKING:
    import psycopg

#: Largest NOTIFY payload PostgreSQL accepts, in bytes (8000, minus the terminating NUL).
MAX_PAYLOAD = 7999

#: Rows the SQLite change log keeps; a feed further behind gets :data:`ANY_CHANGE`.
CHANGE_LOG_SIZE = 10_000


def notify_payload(entry_id: str) -> str:
    """The NOTIFY payload announcing ``entry_id`` (:data:`ANY_CHANGE` if it cannot fit)."""
    return entry_id if len(entry_id.encode()) <= MAX_PAYLOAD else ANY_CHANGE


def count_changes(conn: sa.Connection, schema: Schema, changes: int) -> int:
    """Add ``changes`` to the change counter inside the caller's transaction; its new value."""
    meta = schema.meta
    counter: int = conn.execute(
        sa.update(meta)
        .where(meta.c.key == CHANGES_KEY)
        .values(value=meta.c.value + changes)
        .returning(meta.c.value)
    ).scalar_one()
    return counter


def notify(conn: sa.Connection, schema: Schema, entry_ids: Sequence[str]) -> None:
    """``NOTIFY`` each id on the prefix's channel, delivered at commit to every LISTENer."""
    conn.execute(
        sa.text(
            "SELECT pg_notify(:channel, payload) FROM unnest(CAST(:payloads AS text[])) AS payload"
        ),
        {
            "channel": schema.channel,
            "payloads": [notify_payload(entry_id) for entry_id in entry_ids],
        },
    )


def log_changes(
    conn: sa.Connection, schema: Schema, counter: int, entry_ids: Sequence[str]
) -> None:
    """Write ``entry_ids`` to the change log as the ``counter``'s last values; keep the newest
    :data:`CHANGE_LOG_SIZE` rows."""
    log = schema.changes
    first = counter - len(entry_ids) + 1
    conn.execute(
        sa.insert(log),
        [{"seq": first + index, "entry_id": entry_id} for index, entry_id in enumerate(entry_ids)],
    )
    conn.execute(sa.delete(log).where(log.c.seq <= counter - CHANGE_LOG_SIZE))


def _unique(ids: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(ids))


class PollingFeed(ChangeFeed):
    """Polls the SQLite change log every ``poll_interval`` s for ids newer than its last look.

    The log outlives any connection, so a failed poll misses nothing: the next one that works
    reads what was logged meanwhile.
    """

    def __init__(
        self,
        engine: sa.Engine,
        schema: Schema,
        poll_interval: float,
        errors: Callable[[], contextlib.AbstractContextManager[None]],
    ) -> None:
        self._engine = engine
        self._schema = schema
        self._interval = poll_interval
        self._errors = errors
        self._closed = False
        with errors(), engine.connect() as conn:
            self._seen = self._counter(conn)

    def _counter(self, conn: sa.Connection) -> int:
        meta = self._schema.meta
        return int(conn.scalar(sa.select(meta.c.value).where(meta.c.key == CHANGES_KEY)) or 0)

    def _poll(self) -> list[str]:
        log = self._schema.changes
        with self._errors(), self._engine.connect() as conn:
            counter = self._counter(conn)
            if counter == self._seen:
                return []
            rows = conn.execute(
                sa.select(log.c.seq, log.c.entry_id)
                .where(log.c.seq > self._seen)
                .order_by(log.c.seq)
            ).all()
        ids: list[str] = []
        if counter < self._seen or not rows or rows[0].seq > self._seen + 1:
            ids.append(ANY_CHANGE)  # the log was trimmed past us, or the schema was recreated
        ids.extend(row.entry_id for row in rows)
        self._seen = counter
        return _unique(ids)

    def wait(self, timeout: float) -> list[str]:
        """Ids changed since the last call; waits up to ``timeout`` s, ``[]`` if none.

        A poll that fails (the database locked past the busy timeout, the file unreadable) is
        retried at the next interval, never raised.
        """
        deadline = time.monotonic() + max(timeout, 0.0)
        while not self._closed:
            try:
                ids = self._poll()
            except StoreError:
                ids = []
            remaining = deadline - time.monotonic()
            if ids or remaining <= 0:
                return ids
            time.sleep(min(self._interval, remaining))
        return []

    def close(self) -> None:
        """Stop polling; safe to call twice."""
        self._closed = True


class ListenFeed(ChangeFeed):
    """``LISTEN`` on the prefix's channel, on a psycopg connection of its own.

    NOTIFYs sent while the connection is down are lost, so after reconnecting ``wait``
    returns :data:`ANY_CHANGE`.
    """

    def __init__(
        self,
        connect: Callable[[], psycopg.Connection[Any]],
        channel: str,
        display_url: str,
        scrub: Callable[[str], str],
    ) -> None:
        self._connect = connect
        self._channel = channel
        self._display_url = display_url
        self._scrub = scrub
        self._closed = False
        self._backoff = Backoff()
        self._conn: psycopg.Connection[Any] | None = self._listen()

    def _listen(self) -> psycopg.Connection[Any]:
        import psycopg
        from psycopg import sql

        try:
            conn = self._connect()
        except psycopg.Error as exc:
            raise self._error(exc) from exc
        try:
            # Once LISTEN has returned, every later commit's NOTIFY reaches this connection.
            conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(self._channel)))
        except psycopg.Error as exc:
            conn.close()
            raise self._error(exc) from exc
        return conn

    def _error(self, exc: Exception) -> StoreError:
        text = str(exc).strip().splitlines()
        message = self._scrub(f"{type(exc).__name__}: {text[0] if text else ''}")
        return StoreError(f"SQL store {self._display_url}: cannot listen: {message}")

    def wait(self, timeout: float) -> list[str]:
        """Ids changed since the last call; waits up to ``timeout`` s, ``[]`` if none.

        After a lost connection the feed reconnects, pausing between failed attempts, and
        returns ``[ANY_CHANGE]`` once it listens again.
        """
        import psycopg

        deadline = time.monotonic() + max(timeout, 0.0)
        while not self._closed:
            if self._conn is None:
                self._conn = reconnect(self._listen, self._backoff, deadline, (StoreError,))
                return [] if self._conn is None else [ANY_CHANGE]
            try:
                remaining = max(deadline - time.monotonic(), 0.0)
                payloads = [n.payload for n in self._conn.notifies(timeout=remaining, stop_after=1)]
                if payloads:
                    payloads.extend(n.payload for n in self._conn.notifies(timeout=0.0))
            except psycopg.Error:
                self._drop()
                continue
            return _unique(payloads)
        return []

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.close()

    def close(self) -> None:
        """Close the listening connection; safe to call twice."""
        self._closed = True
        self._drop()
