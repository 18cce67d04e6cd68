"""Opening an SQL database: the URL (parsed, its secrets masked), engines with SQLite's
settings, PostgreSQL's LISTEN connection, and driver errors as messages."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.pool import StaticPool

from celery_stembeat.extras import missing_extra
from celery_stembeat.stores._hosts import postgres_hosts
from celery_stembeat.stores._secrets import scrub, url_secrets
from celery_stembeat.stores.base import StoreError, StoreURLError
from celery_stembeat.stores.sql.codec import dumps
from celery_stembeat.stores.sql.pool import ping_idle_connections

if TYPE_CHECKING:
    import psycopg

_SQLITE_DRIVERS = ("sqlite", "sqlite+pysqlite")
_POSTGRES_DRIVERS = ("postgresql", "postgres", "postgresql+psycopg", "postgres+psycopg")
_BUSY_TIMEOUT = 30.0
#: Seconds libpq gives each host to answer a connection attempt, unless the URL says.
CONNECT_TIMEOUT = 10
#: ``target_session_attrs`` values that would connect the store to a read-only server.
_READ_ONLY_TARGETS = ("read-only", "standby", "prefer-standby")
#: The execution option that makes a SQLite transaction ``BEGIN IMMEDIATE``.
WRITE = "stembeat_write"


@dataclass(frozen=True)
class Location:
    """A parsed store URL, how it may be shown, and the secrets messages must not show."""

    url: sa.URL
    display_url: str
    secrets: list[str]

    def scrub(self, message: str) -> str:
        """``message`` with every secret of the URL masked."""
        return scrub(message, self.secrets)


def locate(url: str | sa.URL) -> Location:
    """Parse ``url`` (a PostgreSQL host list in the form SQLAlchemy reads: see
    :mod:`~celery_stembeat.stores._hosts`); :class:`StoreURLError` (which never quotes it) if
    it cannot be, or if it would connect to a standby."""
    try:
        parsed = make_url(postgres_hosts(url) if isinstance(url, str) else url)
    except (sa.exc.ArgumentError, ValueError):
        # The parser's message quotes the URL, password included.
        raise StoreURLError("SQL store: cannot parse the URL") from None
    target = parsed.query.get("target_session_attrs")
    if target in _READ_ONLY_TARGETS:
        raise StoreURLError(
            f"SQL store: target_session_attrs={target} would connect to a standby, and the "
            "store writes (use read-write or primary)"
        )
    secrets = url_secrets(parsed.render_as_string(hide_password=False))
    shown = parsed
    if "password" in parsed.query:
        shown = parsed.update_query_dict({"password": "***"})
    display_url = shown.render_as_string(hide_password=True)
    return Location(parsed, display_url, secrets)


def create_engine(
    url: sa.URL, options: dict[str, Any], display_url: str, scrub: Callable[[str], str]
) -> sa.Engine:
    """An engine on ``url`` (its pool pings idle PostgreSQL connections; SQLite runs in WAL
    mode and takes the write lock up front in :data:`WRITE` transactions)."""
    driver = url.drivername
    settings: dict[str, Any] = {"hide_parameters": True, "json_serializer": dumps}
    connect_args: dict[str, Any] = {}
    if driver in _POSTGRES_DRIVERS:
        url = url.set(drivername="postgresql+psycopg")
        if "connect_timeout" not in url.query:
            # Else a host that vanished would hold every new connection (and so a failover
            # to the next host of the list) for the kernel's TCP timeout.
            connect_args["connect_timeout"] = CONNECT_TIMEOUT
    elif driver in _SQLITE_DRIVERS:
        connect_args["timeout"] = _BUSY_TIMEOUT
        if url.database in (None, "", ":memory:"):
            # One private in-memory database, shared by this store's connections.
            settings["poolclass"] = StaticPool
            connect_args["check_same_thread"] = False
        elif not url.query.get("uri"):
            _create_private(url.database)
    else:
        raise StoreError(
            f"SQL store {display_url}: unsupported driver {driver!r} "
            "(use sqlite:/// or postgresql://, which uses psycopg 3)"
        )
    settings["connect_args"] = {**connect_args, **options.pop("connect_args", {})}
    try:
        engine = sa.create_engine(url, **{**settings, **options})
    except (sa.exc.SQLAlchemyError, ImportError, TypeError, ValueError) as exc:
        missing = missing_extra(exc)
        if missing is not None:
            raise missing from None
        message = f"{type(exc).__name__}: {exc}".split("\n")[0]
        raise StoreError(f"SQL store {display_url}: {scrub(message)}") from None
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_connect)
        event.listen(engine, "begin", _sqlite_begin)
    else:
        ping_idle_connections(engine)
    return engine


def listen_connection(engine: sa.Engine) -> psycopg.Connection[Any]:
    """A new autocommit psycopg connection to ``engine``'s PostgreSQL database."""
    import psycopg

    args, kwargs = engine.dialect.create_connect_args(engine.url)
    # Without a connect timeout, a feed reconnecting to an unreachable host would hang.
    kwargs.setdefault("connect_timeout", CONNECT_TIMEOUT)
    return psycopg.connect(*args, **{**kwargs, "autocommit": True})


def describe(exc: sa.exc.SQLAlchemyError) -> str:
    """The driver's message without the statement (and so without any parameters)."""
    origin: BaseException = exc
    if isinstance(exc, sa.exc.DBAPIError) and exc.orig is not None:
        origin = exc.orig
    text = str(origin).strip().splitlines()
    return f"{type(origin).__name__}: {text[0] if text else ''}".rstrip(": ")


def _create_private(path: str) -> None:
    """Create the SQLite file ``path`` readable by its owner only, unless it exists.

    Entries' kwargs often carry secrets. SQLite gives its ``-wal`` and ``-shm`` files the
    database file's permissions, so they are private too.
    """
    # If it exists, or its directory is missing or read-only, SQLite carries on or says so.
    with contextlib.suppress(OSError):
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))


def _sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    # SQLAlchemy emits BEGIN itself (see _sqlite_begin); the driver must not.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")  # a no-op for in-memory databases
        cursor.execute("PRAGMA synchronous=NORMAL")
    finally:
        cursor.close()


def _sqlite_begin(conn: sa.Connection) -> None:
    # Writers take the write lock up front: no deadlock-prone lock upgrade mid-transaction.
    immediate = conn.get_execution_options().get(WRITE, False)
    conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")
