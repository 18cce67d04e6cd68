"""Fixtures: django-celery-beat databases built by its own ORM, and the CLI that imports them."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from celery_stembeat.cli import main
from celery_stembeat.specs import format_instant
from celery_stembeat.stores import Store, open_store
from tests.migrate import django_project

UTC = timezone.utc
#: The CLI's clock in these tests: a Friday two days before the US clocks change.
NOW = datetime(2026, 3, 6, 12, 0, tzinfo=UTC)
ENVIRONMENT = {"COLUMNS": "160", "NO_COLOR": "1", "STEMBEAT_URL": None}

Invoke = Callable[..., Result]


@pytest.fixture(scope="session")
def django_databases(request: pytest.FixtureRequest) -> Iterator[None]:
    """Django configured, with every alias migrated; PostgreSQL when it answers."""
    try:
        postgres = request.getfixturevalue("postgres_url")
    except pytest.skip.Exception:
        postgres = None
    django_project.setup(postgres)
    yield
    django_project.teardown()


@pytest.fixture(params=["sqlite", "postgres"])
def alias(request: pytest.FixtureRequest, django_databases: None) -> str:
    """A django-celery-beat database (emptied) of each kind."""
    name = str(request.param)
    if name == "postgres":
        request.getfixturevalue("postgres_url")  # skips, or fails with services required
    django_project.fresh(name)
    return name


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
