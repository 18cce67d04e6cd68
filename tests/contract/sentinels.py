"""A Redis Sentinel group of the test's own: a primary, a replica and three sentinels, all
``redis-server`` processes on free loopback ports, keeping nothing on disk but the sentinels'
config files (which they rewrite), removed at exit. With ``tls`` every one of them, and the
replication between them, speaks only TLS, with certificates made for the group by
``openssl``.

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


def _openssl(workdir: Path, *args: str) -> None:
    subprocess.run(["openssl", *args], cwd=workdir, check=True, capture_output=True)


def make_certificates(workdir: Path) -> None:
    """``ca.crt``, and ``server.crt``/``server.key`` it signed for 127.0.0.1, in ``workdir``."""
    _openssl(workdir, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
             "-subj", "/CN=stembeat test CA", "-keyout", "ca.key", "-out", "ca.crt")  # fmt: skip
    _openssl(workdir, "req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1",
             "-keyout", "server.key", "-out", "server.csr")  # fmt: skip
    (workdir / "san.cnf").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    _openssl(workdir, "x509", "-req", "-in", "server.csr", "-CA", "ca.crt",
             "-CAkey", "ca.key", "-CAcreateserial", "-days", "2", "-extfile", "san.cnf",
             "-out", "server.crt")  # fmt: skip


class SentinelGroup:
    """A primary, a replica of it and three sentinels monitoring it as :data:`MASTER_NAME`."""

    def __init__(self, workdir: Path, *, tls: bool = False) -> None:
        self._workdir = workdir
        self.tls = tls
        self.data_ports = [free_port(), free_port()]
        self.sentinel_ports = [free_port() for _ in range(3)]
        self._processes: dict[int, subprocess.Popen[bytes]] = {}

    @property
    def ca_file(self) -> Path:
        """The certificate of the CA that signed the servers' (with ``tls``)."""
        return self._workdir / "ca.crt"

    @property
    def url(self) -> str:
        """The group's store URL (add ``&prefix=…``); with ``tls``, TLS checked against
        :attr:`ca_file`."""
        parts = ";".join(f"sentinel://127.0.0.1:{port}" for port in self.sentinel_ports)
        tls = f"&ssl=true&ssl_ca_certs={self.ca_file}" if self.tls else ""
        return f"{parts}/0?master_name={MASTER_NAME}{tls}"

    def _tls_settings(self) -> list[tuple[str, str]]:
        """The servers' TLS settings, as (name, value) pairs; none without ``tls``."""
        if not self.tls:
            return []
        return [
            ("tls-cert-file", str(self._workdir / "server.crt")),
            ("tls-key-file", str(self._workdir / "server.key")),
            ("tls-ca-cert-file", str(self.ca_file)),
            ("tls-auth-clients", "no"),
            ("tls-replication", "yes"),
        ]

    def _listen(self, port: int) -> list[tuple[str, str]]:
        """Where a server listens: ``port``, in plain text or (with ``tls``) only in TLS."""
        if self.tls:
            return [("port", "0"), ("tls-port", str(port)), *self._tls_settings()]
        return [("port", str(port))]

    def _ask(self, port: int, probe: Callable[[redis.Redis], object]) -> object:
        """``probe`` on a client of the server at ``port``, or ``None`` if it does not
        answer."""
        tls = {"ssl": True, "ssl_ca_certs": str(self.ca_file)} if self.tls else {}
        client = redis.Redis(port=port, socket_connect_timeout=1, socket_timeout=2, **tls)
        try:
            return probe(client)
        except redis.RedisError:
            return None
        finally:
            client.close()

    def _spawn(self, port: int, *args: str) -> None:
        log = (self._workdir / f"{port}.log").open("ab")
        self._processes[port] = subprocess.Popen(
            ["redis-server", *args], stdout=log, stderr=subprocess.STDOUT
        )
        log.close()

    def _data_server(self, port: int, *extra: str) -> None:
        listen = [word for name, value in self._listen(port) for word in (f"--{name}", value)]
        self._spawn(
            port, *listen, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
            "--dir", str(self._workdir), *extra,
        )  # fmt: skip

    def start(self) -> None:
        """Start everything; return once the replica is in sync and each sentinel knows the
        replica and the two other sentinels (so that a failover can happen)."""
        if self.tls:
            make_certificates(self._workdir)
        primary, replica = self.data_ports
        self._data_server(primary)
        until(lambda: self._ask(primary, lambda c: c.ping()), "the primary's start")
        self._data_server(replica, "--replicaof", "127.0.0.1", str(primary))

        def synced(client: redis.Redis) -> bool:
            return bool(client.info("replication")["master_link_status"] == "up")

        until(lambda: self._ask(replica, synced), "the replica's sync")
        for port in self.sentinel_ports:
            config = self._workdir / f"sentinel-{port}.conf"
            listen = "".join(f"{name} {value}\n" for name, value in self._listen(port))
            config.write_text(
                f"{listen}bind 127.0.0.1\ndir {self._workdir}\n"
                f"sentinel monitor {MASTER_NAME} 127.0.0.1 {primary} 2\n"
                f"sentinel down-after-milliseconds {MASTER_NAME} {DOWN_AFTER_MS}\n"
                f"sentinel failover-timeout {MASTER_NAME} {FAILOVER_TIMEOUT_MS}\n"
                f"sentinel parallel-syncs {MASTER_NAME} 1\n"
            )
            self._spawn(port, str(config), "--sentinel")
        for port in self.sentinel_ports:
            until(lambda port=port: self._ready(port), f"sentinel {port} to see the group")

    def _ready(self, port: int) -> bool:
        def probe(client: redis.Redis) -> bool:
            state = client.sentinel_master(MASTER_NAME)
            return bool(state["num-other-sentinels"] == 2 and state["num-slaves"] == 1)

        return bool(self._ask(port, probe))

    def primary_port(self) -> int | None:
        """The port the sentinels name as the primary's (the first that answers)."""
        for port in self.sentinel_ports:
            address = self._ask(port, lambda c: c.sentinel_get_master_addr_by_name(MASTER_NAME))
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

    def cut_replica(self) -> int:
        """Cut the replica off: it is given a password the primary does not take, then its
        link is closed, so from now on the primary acknowledges writes the replica never
        gets (stopping the process would not do: the kernel still takes in what is sent).
        The replica's port; :meth:`mend` undoes it."""
        primary = self.primary_port()
        assert primary is not None
        (port,) = [port for port in self.data_ports if port != primary]
        self._ask(port, lambda c: c.config_set("masterauth", "not-the-password"))
        self._ask(primary, lambda c: c.client_kill_filter(_type="replica"))
        until(
            lambda: self._ask(
                port, lambda c: c.info("replication")["master_link_status"] == "down"
            ),
            "the replica's link to go down",
        )
        return port

    def mend(self, port: int) -> None:
        """Let the replica at ``port`` log in to a primary again."""
        self._ask(port, lambda c: c.config_set("masterauth", ""))

    def wait_for_promotion(self, old: int, timeout: float = 60.0) -> int:
        """Wait until the sentinels name another primary and it takes writes; its port."""

        def promoted() -> int | None:
            port = self.primary_port()
            if port is None or port == old:
                return None
            role = self._ask(port, lambda c: c.info("replication")["role"])
            return port if role == "master" else None

        return int(until(promoted, "the replica's promotion", timeout))  # type: ignore[call-overload]

    def wait_replicated(self) -> None:
        """Wait until the replica has everything the primary has acknowledged."""
        port = self.primary_port()
        assert port is not None
        until(lambda: self._ask(port, lambda c: c.wait(1, 1000) == 1), "replication")

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
def sentinel_group(*, tls: bool = False) -> Iterator[SentinelGroup]:
    """A running :class:`SentinelGroup` (with ``tls``, speaking only TLS), stopped and removed
    at exit. Without ``redis-server`` (or, for TLS, ``openssl``) the test is skipped, loudly,
    or fails when ``STEMBEAT_REQUIRE_SERVICES`` is set."""
    require_tools("redis-server", *(["openssl"] if tls else []), what="the Redis Sentinel tests")
    with running(lambda workdir: SentinelGroup(workdir, tls=tls), "stembeat-sentinel-") as group:
        yield group
