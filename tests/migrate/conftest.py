"""Fixtures: django-celery-beat databases built by its own ORM, and the CLI that imports them."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from celery_stembeat.cli import main
from celery_stembeat.engine import Engine, EngineSettings
from celery_stembeat.specs import format_instant
from celery_stembeat.stores import Store, open_store
from tests.contract.helpers import drop_store
from tests.engine.conftest import FakeClock, RecordingPublisher
from tests.engine.test_engine import run_until
from tests.migrate import django_project

UTC = timezone.utc
#: The CLI's clock in these tests: a Friday two days before the US clocks change.
NOW = datetime(2026, 3, 6, 12, 0, tzinfo=UTC)
ENVIRONMENT = {"COLUMNS": "160", "NO_COLOR": "1", "STEMBEAT_URL": None}

Invoke = Callable[..., Result]
#: The server aliases of :mod:`django_project`, and the fixtures that give their URLs.
SERVERS = {"postgres": "postgres_url", "mariadb": "mariadb_url"}


@pytest.fixture(scope="session")
def django_databases(request: pytest.FixtureRequest) -> Iterator[None]:
    """Django configured, with every alias migrated; PostgreSQL and MariaDB when they answer."""
    servers = {}
    for alias, fixture in SERVERS.items():
        with contextlib.suppress(pytest.skip.Exception):
            servers[alias] = request.getfixturevalue(fixture)
    django_project.setup(servers)
    yield
    django_project.teardown()


def emptied(request: pytest.FixtureRequest, name: str) -> str:
    """The alias ``name``, its tables emptied; a server alias skips (or, with services
    required, fails) when its server does not answer."""
    if name in SERVERS:
        request.getfixturevalue(SERVERS[name])
    django_project.fresh(name)
    return name


@pytest.fixture(params=["sqlite", "postgres"])
def alias(request: pytest.FixtureRequest, django_databases: None) -> str:
    """A django-celery-beat database (emptied) of each kind."""
    return emptied(request, str(request.param))


@pytest.fixture(params=["sqlite", "postgres", "mariadb"])
def any_alias(request: pytest.FixtureRequest, django_databases: None) -> str:
    """A django-celery-beat database (emptied) of every kind, MariaDB included."""
    return emptied(request, str(request.param))


@pytest.fixture
def sqlite_alias(django_databases: None) -> str:
    """The SQLite django-celery-beat database, emptied."""
    django_project.fresh("sqlite")
    return "sqlite"


@pytest.fixture
def store_url(tmp_path: Path) -> str:
    """A fresh stembeat store to import into."""
    return f"sqlite:///{tmp_path / 'stembeat.db'}"


@pytest.fixture
def redis_store_url(redis_url: str, unique_prefix: str) -> Iterator[str]:
    """A fresh stembeat store in Redis, which keeps instants to the millisecond."""
    url = f"{redis_url}?prefix={unique_prefix}"
    yield url
    drop_store(open_store(url), "redis")


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    """A handle on the store the imports write."""
    opened = open_store(store_url)
    yield opened
    opened.close()


def invoker(url: str, now: datetime = NOW) -> Invoke:
    """``stembeat --url URL --now NOW ARGS…`` in-process."""

    def invoke(*args: str) -> Result:
        return CliRunner().invoke(
            main,
            ["--url", url, "--now", format_instant(now), *args],
            env=ENVIRONMENT,
            catch_exceptions=False,
        )

    return invoke


@pytest.fixture
def cli(store_url: str) -> Invoke:
    """The CLI on the store at ``store_url``, its clock at :data:`NOW`."""
    return invoker(store_url)


def run_beat(store: Store, start: datetime, end: datetime) -> RecordingPublisher:
    """stembeat's engine over ``store`` from ``start`` to ``end`` on a fake clock (the switch
    to stembeat); the publisher holds what it sent."""
    clock = FakeClock(start)
    publisher = RecordingPublisher(clock)
    # A lease of hours: its recovery pass (every quarter lease) would otherwise wake the
    # engine every few seconds of the fake clock.
    settings = EngineSettings(owner="migrated", lease=timedelta(hours=4), max_interval=86_400)
    engine = Engine(store, publisher, settings, clock=clock, sleep=clock.sleep)
    try:
        run_until(engine, clock, end)
    finally:
        engine.close()
    return publisher
