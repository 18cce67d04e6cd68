"""Checking pooled PostgreSQL connections before reuse, but only those that sat idle.

SQLAlchemy's ``pool_pre_ping`` costs a round trip on every checkout: a beat's idle pass would
pay two (the ping, then its one statement). A connection that was in use a moment ago is
almost certainly alive; one that sat in the pool longer than :data:`IDLE_PING_AFTER` seconds
is pinged first, and a dead one is replaced before the caller sees it (SQLAlchemy's own
recipe: raising ``DisconnectionError`` from a checkout makes the pool connect again). A
connection the server dropped within that moment fails its next statement instead; the store
reports that as ``StoreError`` and the pool reconnects for the operation after it.
"""

from __future__ import annotations

import time
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event

#: Seconds a pooled connection may sit unused before it is pinged at checkout.
IDLE_PING_AFTER = 1.0
_RETURNED = "stembeat_returned"


def ping_idle_connections(engine: sa.Engine) -> None:
    """Make ``engine``'s pool ping connections that sat idle, before lending them out."""

    def checkout(dbapi_connection: Any, record: Any, proxy: Any) -> None:
        returned = record.info.get(_RETURNED)
        if returned is None or time.monotonic() - returned < IDLE_PING_AFTER:
            return  # new, or back from use a moment ago
        try:
            engine.dialect.do_ping(dbapi_connection)
        except Exception as exc:
            raise sa.exc.DisconnectionError(str(exc)) from exc

    event.listen(engine, "checkin", _returned)
    event.listen(engine, "checkout", checkout)


def _returned(dbapi_connection: Any, record: Any) -> None:
    if record is not None:
        record.info[_RETURNED] = time.monotonic()
