"""Shared fixtures: the real services, found by URL, required in CI."""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Iterator

import pytest

REDIS_URL = os.environ.get("STEMBEAT_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
POSTGRES_URL = os.environ.get(
    "STEMBEAT_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
MARIADB_URL = os.environ.get(
    "STEMBEAT_TEST_MARIADB_URL", "mysql+pymysql://root@127.0.0.1:3306/test"
)
REQUIRE_SERVICES = os.environ.get("STEMBEAT_REQUIRE_SERVICES", "") not in ("", "0")


def pytest_sessionstart(session: pytest.Session) -> None:
    """Start every session with cold caches: a test process forked from one that has already
    run tests (as each mutant's run is) would otherwise never call the cached functions."""
    for name, module in list(sys.modules.items()):
        if name.startswith("celery_stembeat"):
            for value in list(vars(module).values()):
                clear = getattr(value, "cache_clear", None)
                if callable(clear):
                    clear()


def unavailable(service: str, url: str, error: Exception) -> None:
    message = (
        f"{service} UNREACHABLE at {url}: {error}. "
        "Start it, or point the STEMBEAT_TEST_* variables (see README) at one."
    )
    if REQUIRE_SERVICES:
        pytest.fail(f"{message} (STEMBEAT_REQUIRE_SERVICES is set)", pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="session")
def redis_url() -> str:
    """The test Redis URL, after checking the server answers."""
    import redis

    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=3)
    try:
        client.ping()
    except redis.RedisError as exc:
        unavailable("Redis", REDIS_URL, exc)
    finally:
        client.close()
    return REDIS_URL


def sql_server(service: str, url: str) -> str:
    """``url``, after checking the SQL server there answers."""
    import sqlalchemy

    engine = sqlalchemy.create_engine(url, connect_args={"connect_timeout": 3})
    try:
        with engine.connect() as connection:
            connection.execute(sqlalchemy.text("select 1"))
    except sqlalchemy.exc.SQLAlchemyError as exc:
        unavailable(service, url, exc)
    finally:
        engine.dispose()
    return url


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """The test PostgreSQL URL, after checking the server answers: a database of this test
    session's own on that server, dropped at its end, where the server lets it be created.

    Every test creates and drops tables, and each leaves dead rows in the database's own
    catalogs, which a server without autovacuum never reclaims; they slow every later run
    that shares the database. A database of its own starts each session with clean ones."""
    import sqlalchemy

    url = sql_server("PostgreSQL", POSTGRES_URL)
    server = sqlalchemy.make_url(url)
    name = f"stembeat_test_{uuid.uuid4().hex[:12]}"
    engine = sqlalchemy.create_engine(server, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    except sqlalchemy.exc.SQLAlchemyError:  # no right to create one: share the given database
        engine.dispose()
        yield url
        return
    try:
        yield server.set(database=name).render_as_string(hide_password=False)
    finally:
        with engine.connect() as connection:
            connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        engine.dispose()


@pytest.fixture(scope="session")
def mariadb_url() -> str:
    """The test MariaDB (or MySQL) URL, after checking the server answers."""
    return sql_server("MariaDB", MARIADB_URL)


@pytest.fixture
def unique_prefix() -> str:
    """A key/table prefix no other test run uses."""
    return f"t{uuid.uuid4().hex[:10]}_"
