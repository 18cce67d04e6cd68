"""One store per backend, each test on its own prefix, cleaned up afterwards.

``cluster`` (a private six-node Redis Cluster, started once per session) is left out of the
default backends, to keep the default run quick: ``test_cluster_contract.py`` runs the core
contract there, and ``STEMBEAT_TEST_BACKENDS=cluster`` runs every contract suite there."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis

from celery_stembeat.stores import Store, open_store
from tests.contract.cluster import PrivateCluster, private_cluster
from tests.contract.helpers import drop_store, private_store_url

ALL_BACKENDS = ("memory", "sqlite", "postgres", "redis", "cluster")
DEFAULT_BACKENDS = ("memory", "sqlite", "postgres", "redis")
#: ``STEMBEAT_TEST_BACKENDS=memory,sqlite`` runs the store and engine suites on some only.
BACKENDS = tuple(
    name.strip()
    for name in os.environ.get("STEMBEAT_TEST_BACKENDS", ",".join(DEFAULT_BACKENDS)).split(",")
)
if not BACKENDS or set(BACKENDS) - set(ALL_BACKENDS):
    raise pytest.UsageError(
        f"STEMBEAT_TEST_BACKENDS: {os.environ['STEMBEAT_TEST_BACKENDS']!r:.60} is not a list of "
        f"{', '.join(ALL_BACKENDS)}"
    )


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """The backend under test."""
    return str(request.param)


@pytest.fixture
def store_url(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path, unique_prefix: str
) -> str:
    """A URL that opens a fresh, private store on ``backend``."""
    return private_store_url(backend, request, tmp_path / "stembeat.db", unique_prefix)


@pytest.fixture
def open_more(store_url: str) -> Iterator[Callable[..., Store]]:
    """Open further stores on the same backend and prefix; all closed at the end."""
    opened: list[Store] = []

    def opener(**options: object) -> Store:
        store = open_store(store_url, **options)
        opened.append(store)
        return store

    yield opener
    for store in opened:
        store.close()


@pytest.fixture(scope="session")
def redis_cluster() -> Iterator[PrivateCluster]:
    """A private Redis Cluster for the whole session (each test on its own prefix)."""
    with private_cluster() as cluster:
        yield cluster


@pytest.fixture
def redis_client(redis_url: str) -> Iterator[redis.Redis]:
    """A plain client on the test Redis server."""
    plain = redis.Redis.from_url(redis_url)
    yield plain
    plain.close()


@pytest.fixture
def store(store_url: str, backend: str) -> Iterator[Store]:
    """A fresh store on the backend under test, dropped afterwards."""
    opened = open_store(store_url)
    yield opened
    drop_store(opened, backend)
