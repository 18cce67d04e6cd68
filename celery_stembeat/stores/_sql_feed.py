"""Change feeds of the SQL store: LISTEN/NOTIFY on PostgreSQL, a polled change log on SQLite."""

from __future__ import annotations

import builtins
import contextlib
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, Final

import sqlalchemy as sa

from celery_stembeat.stores._sql_schema import CHANGES_KEY, Schema
from celery_stembeat.stores.base import ChangeFeed, StoreError

if TYPE_CHECKING:
    import psycopg

#: Returned by ``wait()`` in place of ids when changes may have been missed (the change log was
#: trimmed past this feed, its connection was re-established, or a NOTIFY payload could not
#: carry the id): the caller should treat every entry as changed. Never a valid entry id.
ANY_CHANGE: Final = ""

#: Largest NOTIFY payload PostgreSQL accepts, in bytes (8000, minus the terminating NUL).
MAX_PAYLOAD = 7999

#: Rows the SQLite change log keeps; a feed further behind gets :data:`ANY_CHANGE`.
CHANGE_LOG_SIZE = 10_000


def notify_payload(entry_id: str) -> str:
    """The NOTIFY payload announcing ``entry_id`` (:data:`ANY_CHANGE` if it cannot fit)."""
    return entry_id if len(entry_id.encode()) <= MAX_PAYLOAD else ANY_CHANGE


def _unique(ids: Iterable[str]) -> builtins.list[str]:
    return builtins.list(dict.fromkeys(ids))


class PollingFeed(ChangeFeed):
    """Polls the SQLite change log every ``poll_interval`` s for ids newer than its last look."""

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

    def _poll(self) -> builtins.list[str]:
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
        ids: builtins.list[str] = []
        if counter < self._seen or not rows or rows[0].seq > self._seen + 1:
            ids.append(ANY_CHANGE)  # the log was trimmed past us, or the schema was recreated
        ids.extend(row.entry_id for row in rows)
        self._seen = counter
        return _unique(ids)

    def wait(self, timeout: float) -> builtins.list[str]:
        """Ids changed since the last call; waits up to ``timeout`` s, ``[]`` if none."""
        deadline = time.monotonic() + max(timeout, 0.0)
        while not self._closed:
            ids = self._poll()
            remaining = deadline - time.monotonic()
            if ids or remaining <= 0:
                return ids
            time.sleep(min(self._interval, remaining))
        return []

    def close(self) -> None:
        """Stop polling; safe to call twice."""
        self._closed = True


class ListenFeed(ChangeFeed):
    """``LISTEN`` on the prefix's channel, on a psycopg connection of its own."""

    def __init__(
        self, connect: Callable[[], psycopg.Connection[Any]], channel: str, display_url: str
    ) -> None:
        self._connect = connect
        self._channel = channel
        self._display_url = display_url
        self._closed = False
        self._conn: psycopg.Connection[Any] | None = self._listen()

    def _listen(self) -> psycopg.Connection[Any]:
        import psycopg
        from psycopg import sql

        try:
            conn = self._connect()
        except psycopg.Error as exc:
            raise StoreError(f"SQL store {self._display_url}: cannot listen: {exc}") from exc
        try:
            # Once LISTEN has returned, every later commit's NOTIFY reaches this connection.
            conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(self._channel)))
        except psycopg.Error as exc:
            conn.close()
            raise StoreError(f"SQL store {self._display_url}: cannot listen: {exc}") from exc
        return conn

    def wait(self, timeout: float) -> builtins.list[str]:
        """Ids changed since the last call; waits up to ``timeout`` s, ``[]`` if none.

        After a lost connection the feed reconnects and returns ``[ANY_CHANGE]``.
        """
        import psycopg

        if self._closed:
            return []
        if self._conn is None:
            self._conn = self._listen()
            return [ANY_CHANGE]
        try:
            payloads = [
                n.payload for n in self._conn.notifies(timeout=max(timeout, 0.0), stop_after=1)
            ]
            if payloads:
                payloads.extend(n.payload for n in self._conn.notifies(timeout=0.0))
        except psycopg.Error:
            self._drop()
            self._conn = self._listen()
            return [ANY_CHANGE]
        return _unique(payloads)

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.close()

    def close(self) -> None:
        """Close the listening connection; safe to call twice."""
        self._closed = True
        self._drop()
