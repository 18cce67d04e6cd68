"""A Redis Sentinel group of the test's own: a primary, a replica and three sentinels, all
``redis-server`` processes on free loopback ports, keeping nothing on disk but the sentinels'
config files (which they rewrite), removed at exit.

``redis-sentinel`` is often only a link to ``redis-server`` or missing: the sentinels run as
``redis-server FILE --sentinel``, which is the same program.
"""

from __future__ import annotations

import contextlib
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import redis

from tests.contract.faults import free_port, require_tools, running

MASTER_NAME = "stembeat-test"
#: How long the sentinels wait before calling a silent primary down (ms), and the failover's
#: own timeout: short, so that the failover tests are quick.
DOWN_AFTER_MS = 1000
FAILOVER_TIMEOUT_MS = 5000


def until(ready: Callable[[], object], what: str, timeout: float = 30.0) -> object:
    """Poll ``ready`` until it returns something truthy; fail after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        result = ready()
        if result:
            return result
        assert time.monotonic() < deadline, f"{what} did not happen within {timeout} s"
        time.sleep(0.05)


def _ask(port: int, probe: Callable[[redis.Redis], object]) -> object:
    """``probe`` on a client of the server at ``port``, or ``None`` if it does not answer."""
    client = redis.Redis(port=port, socket_connect_timeout=1, socket_timeout=2)
    try:
        return probe(client)
    except redis.RedisError:
        return None
    finally:
        client.close()


class SentinelGroup:
    """A primary, a replica of it and three sentinels monitoring it as :data:`MASTER_NAME`."""

    def __init__(self, workdir: Path) -> None:
        self._workdir = workdir
        self.data_ports = [free_port(), free_port()]
        self.sentinel_ports = [free_port() for _ in range(3)]
        self._processes: dict[int, subprocess.Popen[bytes]] = {}

    @property
    def url(self) -> str:
        """The group's store URL (add ``&prefix=…``)."""
        parts = ";".join(f"sentinel://127.0.0.1:{port}" for port in self.sentinel_ports)
        return f"{parts}/0?master_name={MASTER_NAME}"

    def _spawn(self, port: int, *args: str) -> None:
        log = (self._workdir / f"{port}.log").open("ab")
        self._processes[port] = subprocess.Popen(
            ["redis-server", *args], stdout=log, stderr=subprocess.STDOUT
        )
        log.close()

    def _data_server(self, port: int, *extra: str) -> None:
        self._spawn(
            port, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
            "--dir", str(self._workdir), *extra,
        )  # fmt: skip

    def start(self) -> None:
        """Start everything; return once the replica is in sync and each sentinel knows the
        replica and the two other sentinels (so that a failover can happen)."""
        primary, replica = self.data_ports
        self._data_server(primary)
        until(lambda: _ask(primary, lambda c: c.ping()), "the primary's start")
        self._data_server(replica, "--replicaof", "127.0.0.1", str(primary))
        until(
            lambda: _ask(replica, lambda c: c.info("replication")["master_link_status"] == "up"),
            "the replica's sync",
        )
        for port in self.sentinel_ports:
            config = self._workdir / f"sentinel-{port}.conf"
            config.write_text(
                f"port {port}\nbind 127.0.0.1\ndir {self._workdir}\n"
                f"sentinel monitor {MASTER_NAME} 127.0.0.1 {primary} 2\n"
                f"sentinel down-after-milliseconds {MASTER_NAME} {DOWN_AFTER_MS}\n"
                f"sentinel failover-timeout {MASTER_NAME} {FAILOVER_TIMEOUT_MS}\n"
                f"sentinel parallel-syncs {MASTER_NAME} 1\n"
            )
            self._spawn(port, str(config), "--sentinel")
        for port in self.sentinel_ports:
            until(lambda port=port: self._ready(port), f"sentinel {port} to see the group")

    @staticmethod
    def _ready(port: int) -> bool:
        def probe(client: redis.Redis) -> bool:
            state = client.sentinel_master(MASTER_NAME)
            return bool(state["num-other-sentinels"] == 2 and state["num-slaves"] == 1)

        return bool(_ask(port, probe))

    def primary_port(self) -> int | None:
        """The port the sentinels name as the primary's (the first that answers)."""
        for port in self.sentinel_ports:
            address = _ask(port, lambda c: c.sentinel_get_master_addr_by_name(MASTER_NAME))
            if isinstance(address, tuple):
                return int(address[1])
        return None

    def kill_primary(self) -> int:
        """SIGKILL the primary (no shutdown, no last words); its port."""
        port = self.primary_port()
        assert port is not None
        process = self._processes.pop(port)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
        return port

    def wait_for_promotion(self, old: int, timeout: float = 60.0) -> int:
        """Wait until the sentinels name another primary and it takes writes; its port."""

        def promoted() -> int | None:
            port = self.primary_port()
            if port is None or port == old:
                return None
            role = _ask(port, lambda c: c.info("replication")["role"])
            return port if role == "master" else None

        return int(until(promoted, "the replica's promotion", timeout))  # type: ignore[call-overload]

    def wait_replicated(self) -> None:
        """Wait until the replica has everything the primary has acknowledged."""
        port = self.primary_port()
        assert port is not None
        until(lambda: _ask(port, lambda c: c.wait(1, 1000) == 1), "replication")

    def stop(self) -> None:
        """Stop every process still running."""
        for process in self._processes.values():
            process.terminate()
        for process in self._processes.values():
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
        self._processes.clear()

    def logs(self) -> str:
        """The servers' logs, for a failure's message."""
        return "\n".join(
            f"--- {log.name}\n{log.read_text(errors='replace')[-3000:]}"
            for log in sorted(self._workdir.glob("*.log"))
        )


@contextlib.contextmanager
def sentinel_group() -> Iterator[SentinelGroup]:
    """A running :class:`SentinelGroup`, stopped and removed at exit. Without ``redis-server``
    the test is skipped, loudly, or fails when ``STEMBEAT_REQUIRE_SERVICES`` is set."""
    require_tools("redis-server", what="the Redis Sentinel tests")
    with running(SentinelGroup, "stembeat-sentinel-") as group:
        yield group
