"""Server faults for tests: dropped connections on the shared servers, restarts of private ones.

On the shared servers only the connections of the store under test are dropped (found by
client name, application name or LISTEN channel), so that tests running at the same time are
not disturbed. Restarts happen only on private servers started for the test.
"""

from __future__ import annotations

import contextlib
import functools
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Protocol, TypeVar

import pytest
import redis
import sqlalchemy as sa

from celery_stembeat.stores import ChangeFeed, Store, open_store
from tests.conftest import REQUIRE_SERVICES


def kill_redis_clients(url: str, name: str, kind: str) -> int:
    """Close every connection of type ``kind`` (normal, pubsub) named ``name``; how many."""
    admin = redis.Redis.from_url(url)
    try:
        ids = [client["id"] for client in admin.client_list(_type=kind) if client["name"] == name]
        for client_id in ids:
            admin.client_kill_filter(_id=client_id, skipme=True)
        return len(ids)
    finally:
        admin.close()


def terminate_postgres_backends(url: str, condition: str, value: str) -> int:
    """Terminate this database's other backends whose ``condition`` column equals ``value``."""
    assert condition in ("application_name", "query")
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            killed = conn.execute(
                sa.text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    f"WHERE datname = current_database() AND pid <> pg_backend_pid() "
                    f"AND {condition} = :value"
                ),
                {"value": value},
            ).all()
        return len(killed)
    finally:
        engine.dispose()


def wait_for(
    feed: ChangeFeed, done: Callable[[set[str]], bool], *, timeout: float = 10.0
) -> set[str]:
    """Everything ``feed`` announces until ``done(seen)`` holds; fails after ``timeout`` s.

    Each ``wait`` must return by its own timeout (plus slack for one reconnect attempt).
    """
    seen: set[str] = set()
    deadline = time.monotonic() + timeout
    while not done(seen):
        assert time.monotonic() < deadline, f"feed announced only {sorted(seen)}"
        started = time.monotonic()
        seen.update(feed.wait(0.5))
        assert time.monotonic() - started < 0.5 + 2.0, "wait overran its timeout"
    return seen


def free_port() -> int:
    """A loopback TCP port nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _until(ready: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        assert time.monotonic() < deadline, f"{what} did not happen within {timeout} s"
        time.sleep(0.05)


class PrivateRedis:
    """A redis-server of the test's own, on a free port, keeping nothing on disk."""

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._workdir = workdir
        self._process: subprocess.Popen[bytes] | None = None

    def _answers(self) -> bool:
        client = redis.Redis(port=self.port, socket_connect_timeout=1)
        try:
            return bool(client.ping())
        except redis.RedisError:
            return False
        finally:
            client.close()

    def start(self) -> None:
        """Start the server and wait until it answers."""
        command = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1"]
        command += ["--save", "", "--appendonly", "no", "--dir", str(self._workdir)]
        self._process = subprocess.Popen(command, stdout=subprocess.DEVNULL)
        _until(self._answers, "redis-server start")

    def stop(self) -> None:
        """Stop the server; every client connection drops."""
        if self._process is not None:
            self._process.terminate()
            self._process.wait(timeout=30)
            self._process = None


class PrivatePostgres:
    """A PostgreSQL cluster of the test's own (``initdb`` in ``workdir``, run with ``pg_ctl``),
    or, given ``primary``, a streaming-replication standby of that one (``pg_basebackup -R``).

    ``workdir`` and its parents must be open to the postgres user when the tests run as root.
    """

    BIN = Path("/usr/lib/postgresql/15/bin")

    def __init__(self, workdir: Path, primary: PrivatePostgres | None = None) -> None:
        self.port = free_port()
        self.host = f"127.0.0.1:{self.port}"
        self.url = f"postgresql+psycopg://postgres@{self.host}/postgres"
        self._data = workdir / "data"
        self._workdir = workdir
        # PostgreSQL refuses to run as root: run its tools as the postgres user then.
        self._as = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        if self._as:
            shutil.chown(workdir, "postgres")
        if primary is None:
            self._run("initdb", "-D", str(self._data), "-A", "trust", "-U", "postgres")
        else:
            # initdb's pg_hba.conf lets loopback replication connections in.
            self._run(
                "pg_basebackup", "-h", "127.0.0.1", "-p", str(primary.port), "-U", "postgres",
                "-D", str(self._data), "-R", "-X", "stream", "-c", "fast",
            )  # fmt: skip

    def _run(self, tool: str, *args: str) -> None:
        command = [*self._as, str(self.BIN / tool), *args]
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def start(self) -> None:
        """Start the cluster and wait until it accepts connections."""
        options = f"-p {self.port} -k {self._workdir} -c listen_addresses=127.0.0.1"
        log = str(self._workdir / "server.log")
        self._run("pg_ctl", "-D", str(self._data), "-o", options, "-l", log, "-w", "start")

    def stop(self) -> None:
        """Stop the cluster if it runs (fast shutdown: every client connection is terminated)."""
        if (self._data / "postmaster.pid").exists():
            self._run("pg_ctl", "-D", str(self._data), "-m", "fast", "-w", "stop")

    def kill(self) -> None:
        """SIGKILL the server and all its processes at once, as a crashed host loses them: no
        shutdown checkpoint, and WAL not yet sent to a standby stays unsent."""
        pid_file = self._data / "postmaster.pid"
        pid = int(pid_file.read_text().split()[0])
        # pg_ctl starts the postmaster in a session of its own, its processes in its group.
        os.killpg(pid, signal.SIGKILL)
        _until(lambda: _dead(pid), "the killed server's exit")
        pid_file.unlink()  # stale now; stop() has nothing left to do

    def detach(self) -> None:
        """Stop this standby streaming from its primary: from now on it lags behind by all the
        primary commits, as a standby cut off by the network does."""
        engine = sa.create_engine(self.url, isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as conn:
                conn.execute(sa.text("ALTER SYSTEM SET primary_conninfo = ''"))
                conn.execute(sa.text("SELECT pg_reload_conf()"))
                receiving = sa.text("SELECT count(*) FROM pg_stat_wal_receiver")
                _until(lambda: conn.scalar(receiving) == 0, "the standby's detachment")
        finally:
            engine.dispose()

    def promote(self) -> None:
        """Promote this standby to a primary and wait until it accepts writes."""
        self._run("pg_ctl", "-D", str(self._data), "-w", "promote")


def _dead(pid: int) -> bool:
    """Whether process ``pid`` has exited (a zombie nobody reaped yet counts as exited)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return True
    return state in ("Z", "X")


class _Server(Protocol):
    def start(self) -> None: ...

    def stop(self) -> None: ...


ServerT = TypeVar("ServerT", bound=_Server)


@contextlib.contextmanager
def running(make: Callable[[Path], ServerT], prefix: str) -> Iterator[ServerT]:
    """The server ``make`` builds in a fresh temporary folder named ``prefix…``, started, then
    stopped and its folder removed at exit.

    Not pytest's tmp_path: the postgres user must reach the folder when the tests run as root.
    """
    workdir = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        server = make(workdir)
        server.start()
        try:
            yield server
        finally:
            server.stop()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


@contextlib.contextmanager
def private_server(kind: str) -> Iterator[PrivateRedis | PrivatePostgres]:
    """A running private ``redis`` or ``postgres`` server, stopped and removed at exit.

    A missing server binary fails the test: these servers are part of the test machine.
    """
    if kind == "redis":
        if shutil.which("redis-server") is None:
            raise AssertionError("redis-server is not installed")
        with running(PrivateRedis, "stembeat-redis-") as server:
            yield server
        return
    if not (PrivatePostgres.BIN / "initdb").exists():
        raise AssertionError(f"no PostgreSQL binaries in {PrivatePostgres.BIN}")
    with running(PrivatePostgres, "stembeat-pg-") as postgres:
        yield postgres


@contextlib.contextmanager
def private_primary_and_standby() -> Iterator[tuple[PrivatePostgres, PrivatePostgres]]:
    """A running private PostgreSQL primary and its streaming-replication standby (asynchronous,
    as replication is by default), both stopped and removed at exit."""
    with private_server("postgres") as primary:
        assert isinstance(primary, PrivatePostgres)
        replica = functools.partial(PrivatePostgres, primary=primary)
        with running(replica, "stembeat-pg-standby-") as standby:
            yield primary, standby


def require_tools(*tools: str, what: str) -> None:
    """Skip the test, loudly, when a server binary it needs is missing (fail under
    ``STEMBEAT_REQUIRE_SERVICES``)."""
    missing = [tool for tool in tools if shutil.which(tool) is None]
    if missing:
        message = f"{what} need {' and '.join(missing)}, NOT INSTALLED"
        if REQUIRE_SERVICES:
            pytest.fail(message, pytrace=False)
        pytest.skip(message)


@contextlib.contextmanager
def private_redis_store() -> Iterator[tuple[Store, redis.Redis]]:
    """A store on a private Redis server and a plain client there (to flush its scripts, say);
    both closed, and the server stopped, at exit."""
    with private_server("redis") as server:
        store = open_store(f"{server.url}?prefix=private_")
        client = redis.Redis.from_url(server.url)
        try:
            yield store, client
        finally:
            client.close()
            store.close()
