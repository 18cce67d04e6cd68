"""Real ``celery beat`` and ``celery worker`` processes for the end-to-end suites."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import redis

from celery_stembeat.stores import Store, open_store
from tests.contract.faults import PrivateRedis, private_server
from tests.contract.helpers import drop_store, private_store_url

ROOT = Path(__file__).resolve().parents[2]
CELERY = str(Path(sys.executable).with_name("celery"))
AMQP_URL = os.environ.get("STEMBEAT_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672//")


def wait_for(condition: Callable[[], Any], timeout: float, what: str) -> Any:
    """Poll ``condition`` until it returns something truthy; fail after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(0.05)


@dataclass
class CeleryProcess:
    """One ``celery`` command running in the background, its output in a log file."""

    args: list[str]
    env: dict[str, str]
    log: Path
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> CeleryProcess:
        handle = self.log.open("ab")
        self.process = subprocess.Popen(
            [CELERY, "-A", "tests.e2e.app", *self.args],
            cwd=ROOT,
            env=self.env,
            stdout=handle,
            stderr=subprocess.STDOUT,
        )
        handle.close()
        return self

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> int:
        """Send ``sig`` and wait for the exit code (SIGKILL after ``timeout``)."""
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        return self.process.returncode

    def output(self) -> str:
        return self.log.read_text(errors="replace")


@dataclass
class Harness:
    """Beats and workers sharing one broker queue, one record list and one store."""

    store_url: str
    broker: str
    record_url: str
    tmp: Path
    queue: str = field(default_factory=lambda: f"e2e-{uuid.uuid4().hex[:8]}")
    processes: list[CeleryProcess] = field(default_factory=list)
    beat_schedule: dict[str, Any] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def record_key(self) -> str:
        return f"{self.queue}:runs"

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            PYTHONPATH=str(ROOT),
            E2E_BROKER=self.broker,
            E2E_QUEUE=self.queue,
            E2E_RECORD=self.record_key,
            E2E_RECORD_URL=self.record_url,
            E2E_BEAT_SCHEDULE=json.dumps(self.beat_schedule),
            E2E_SETTINGS=json.dumps({"stembeat_url": self.store_url, **self.settings}),
        )
        return env

    def _start(
        self, name: str, args: list[str], env: dict[str, str] | None = None
    ) -> CeleryProcess:
        process = CeleryProcess(args, {**self.env(), **(env or {})}, self.tmp / f"{name}.log")
        process.start()
        self.processes.append(process)
        return process

    def worker(
        self, pool: tuple[str, ...] = ("-P", "solo"), env: dict[str, str] | None = None
    ) -> CeleryProcess:
        """A worker on the harness's queue (``pool``: its pool options, solo by default)."""
        return self._start(
            f"worker{len(self.processes)}",
            ["worker", *pool, "-l", "info", "--without-mingle", "--without-gossip",
             "--without-heartbeat", "-n", f"{self.queue}-{len(self.processes)}@%h"],
            env,
        )  # fmt: skip

    def beat(
        self,
        name: str = "beat",
        scheduler: str = "celery_stembeat.Scheduler",
        env: dict[str, str] | None = None,
    ) -> CeleryProcess:
        """A beat process; ``env`` adds to (or overrides) the harness's environment."""
        return self._start(
            name,
            ["beat", "-S", scheduler, "-s", str(self.tmp / "celerybeat-schedule"), "-l", "debug",
             "--pidfile", str(self.tmp / f"{name}.pid")],
            env,
        )  # fmt: skip

    def runs(self) -> list[dict[str, Any]]:
        """Every run the workers recorded, in arrival order."""
        client = redis.Redis.from_url(self.record_url)
        try:
            return [json.loads(row) for row in client.lrange(self.record_key, 0, -1)]
        finally:
            client.close()

    def runs_of(self, entry_id: str) -> list[dict[str, Any]]:
        return [row for row in self.runs() if row["entry"] == entry_id]

    def open_store(self) -> Store:
        return open_store(self.store_url)

    def logs(self) -> str:
        return "\n".join(f"--- {p.log.name}\n{p.output()[-6000:]}" for p in self.processes)


STORE_BACKENDS = ("sqlite", "postgres", "redis")


@pytest.fixture(params=STORE_BACKENDS)
def e2e_store_url(
    request: pytest.FixtureRequest, tmp_path: Path, unique_prefix: str
) -> Iterator[str]:
    """A fresh store URL on each backend beat can use; dropped afterwards."""
    backend = request.param
    url = private_store_url(backend, request, tmp_path / "stembeat.db", unique_prefix)
    yield url
    if backend != "sqlite":
        drop_store(open_store(url), backend)


@contextlib.contextmanager
def running(store_url: str, broker: str, record_url: str, tmp: Path) -> Iterator[Harness]:
    """A harness whose processes are stopped and whose queue and records are deleted at exit."""
    harness = Harness(store_url=store_url, broker=broker, record_url=record_url, tmp=tmp)
    try:
        yield harness
    finally:
        for process in harness.processes:
            process.stop(signal.SIGKILL if process.args[0] == "worker" else signal.SIGTERM)
        client = redis.Redis.from_url(record_url)
        client.delete(harness.record_key, harness.queue)
        client.close()


@pytest.fixture
def harness(e2e_store_url: str, redis_url: str, tmp_path: Path) -> Iterator[Harness]:
    """Beat and worker over the real Redis broker, on each store backend."""
    with running(e2e_store_url, redis_url, redis_url, tmp_path) as harness:
        yield harness


@pytest.fixture(scope="session")
def amqp_url() -> str:
    """The test RabbitMQ URL, after checking the server answers."""
    from kombu import Connection

    from tests.conftest import unavailable

    try:
        with Connection(AMQP_URL, connect_timeout=3) as connection:
            connection.ensure_connection(max_retries=1)
    except Exception as exc:
        unavailable("RabbitMQ", AMQP_URL, exc)
    return AMQP_URL


def at_broker(broker_url: str, queue: str) -> list[dict[str, str]]:
    """Every message waiting in ``queue`` on a Redis broker that no worker reads: task id,
    entry and scheduled time, from its headers."""
    client = redis.Redis.from_url(broker_url)
    try:
        raw = client.lrange(queue, 0, -1)
    finally:
        client.close()
    messages = []
    for item in raw:
        headers = json.loads(item)["headers"]
        messages.append(
            {
                "id": headers["id"],
                "entry": headers["stembeat_entry"],
                "scheduled_for": headers["stembeat_scheduled_for"],
            }
        )
    return messages


@pytest.fixture
def broker() -> Iterator[PrivateRedis]:
    """A private redis-server as the broker, whose queue the test reads itself."""
    with private_server("redis") as server:
        assert isinstance(server, PrivateRedis)
        yield server


@pytest.fixture(params=["redis", "postgres"])
def broker_store_url(
    request: pytest.FixtureRequest, broker: PrivateRedis, unique_prefix: str
) -> Iterator[str]:
    """The store: on the broker's private Redis (beside its keys), or the shared PostgreSQL;
    its tables exist before any beat starts."""
    base = broker.url if request.param == "redis" else request.getfixturevalue("postgres_url")
    url = f"{base}?prefix={unique_prefix}"
    store = open_store(url)
    yield url
    drop_store(store, request.param)
