"""Stores and change feeds across a real server restart, on private servers.

The shared servers are never stopped: each test starts its own redis-server or PostgreSQL
cluster on a free port and restarts that one.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any, Protocol

import pytest

from celery_stembeat.stores import ANY_CHANGE, Store, StoreError, open_store
from tests.contract.faults import private_server, wait_for
from tests.contract.helpers import make_entry


class Server(Protocol):
    """What the restart test needs of a private server."""

    url: str

    def start(self) -> None: ...

    def stop(self) -> None: ...


@pytest.fixture(params=["postgres", "redis"])
def server(request: pytest.FixtureRequest) -> Iterator[Server]:
    """A running private server, stopped and removed afterwards."""
    with private_server(request.param) as private:
        yield private


def _after_restart(operation: Callable[[], Any]) -> Any:
    """The first operation after a restart may raise StoreError; the next must work."""
    try:
        return operation()
    except StoreError:
        return operation()


def test_store_and_feed_survive_a_server_restart(server: Server) -> None:
    """While the server is down, operations raise StoreError and the feed waits quietly;
    once it is back, operations work again and the feed says ANY_CHANGE, then new ids."""
    store: Store = open_store(f"{server.url}?prefix=restart_")
    feed = store.watch()
    try:
        store.upsert(make_entry("job"))
        assert ANY_CHANGE not in wait_for(feed, lambda seen: "job" in seen)
        server.stop()
        for _ in range(3):
            started = time.monotonic()
            assert feed.wait(0.3) == []
            assert time.monotonic() - started < 0.3 + 2.0
        with pytest.raises(StoreError):
            store.get("job")
        server.start()
        wait_for(feed, lambda seen: ANY_CHANGE in seen)
        _after_restart(lambda: store.upsert(make_entry("again")))
        assert store.get("again") is not None
        wait_for(feed, lambda seen: "again" in seen)
    finally:
        feed.close()
        store.close()
