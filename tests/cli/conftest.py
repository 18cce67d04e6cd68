"""The CLI against real stores: SQLite always, PostgreSQL and Redis on the loopback servers."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from celery_stembeat.cli import main
from celery_stembeat.specs import format_instant
from celery_stembeat.stores import Store, open_store
from tests.cli.scenario import NOW
from tests.contract.helpers import drop_store, private_store_url

BACKENDS = ("sqlite", "postgres", "redis")
#: A fixed terminal: 160 columns, no colours, whatever the environment running the tests.
ENVIRONMENT = {
    "COLUMNS": "160",
    "NO_COLOR": "1",
    "FORCE_COLOR": None,
    "TTY_COMPATIBLE": None,
    "STEMBEAT_URL": None,
}

Invoke = Callable[..., Result]


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


def opened(url: str, backend: str) -> Iterator[Store]:
    """A store at ``url``; its tables or keys are dropped afterwards."""
    store = open_store(url)
    yield store
    drop_store(store, backend)


@pytest.fixture
def store(store_url: str, backend: str) -> Iterator[Store]:
    """A handle on the store the CLI under test opens."""
    yield from opened(store_url, backend)


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """A fresh SQLite store, for tests whose subject is not the backend."""
    return f"sqlite:///{tmp_path / 'cli.db'}"


@pytest.fixture
def sqlite_store(sqlite_url: str) -> Iterator[Store]:
    """A handle on the SQLite store at ``sqlite_url``."""
    yield from opened(sqlite_url, "sqlite")


def invoker(url: str) -> Invoke:
    """Run ``stembeat --url URL --now NOW ARGS…`` in-process; ``input`` feeds stdin."""

    def invoke(*args: str, input: str | None = None) -> Result:
        runner = CliRunner()
        return runner.invoke(
            main,
            ["--url", url, "--now", format_instant(NOW), *args],
            input=input,
            env=ENVIRONMENT,
            catch_exceptions=False,
        )

    return invoke


def usage_error(result: Result) -> str:
    """The one ``Error:`` line of a usage error: exit 2, nothing on stdout, under 200
    characters."""
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    (error,) = [line for line in result.stderr.splitlines() if line.startswith("Error: ")]
    assert len(error) < 200
    return error


@pytest.fixture
def cli(store_url: str, store: Store) -> Invoke:
    """The CLI on the backend under test (whose store is dropped afterwards)."""
    return invoker(store_url)


@pytest.fixture
def sqlite_cli(sqlite_url: str) -> Invoke:
    """The CLI on the SQLite store."""
    return invoker(sqlite_url)
