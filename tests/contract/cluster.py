"""A private six-node Redis Cluster (three primaries, one replica each) for the tests that need
one: ``redis-server --cluster-enabled yes`` on free loopback ports (each with its own cluster
bus port), joined by ``redis-cli --cluster create``, stopped and removed at exit."""

from __future__ import annotations

import contextlib
import functools
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import redis

from tests.contract.faults import free_port, require_tools, running

#: Milliseconds a primary may stay silent before the others count it as failed: short, so that
#: a failover test is quick, long enough that a loaded machine does not fail nodes over.
NODE_TIMEOUT_MS = 1000
NODES = 6
CLUSTER_SLOTS = 16384


def _until(ready: Callable[[], bool], what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        assert time.monotonic() < deadline, f"{what} did not happen within {timeout} s"
        time.sleep(0.05)


def _client(port: int) -> redis.Redis:
    return redis.Redis(port=port, socket_connect_timeout=1, socket_timeout=2)


class PrivateCluster:
    """Six cluster-enabled redis-servers in ``workdir``, keeping nothing on disk but their
    cluster configuration."""

    def __init__(self, workdir: Path, node_timeout_ms: int = NODE_TIMEOUT_MS) -> None:
        self._workdir = workdir
        self.node_timeout_ms = node_timeout_ms
        self.ports = [free_port() for _ in range(NODES)]
        self._processes: dict[int, subprocess.Popen[bytes]] = {}

    @property
    def url(self) -> str:
        """The store URL naming every node (the client needs only one that answers)."""
        return "redis+cluster://" + ",".join(f"127.0.0.1:{port}" for port in self.ports)

    def _start_node(self, port: int) -> None:
        folder = self._workdir / str(port)
        folder.mkdir(exist_ok=True)
        command = ["redis-server", "--port", str(port), "--bind", "127.0.0.1"]
        command += ["--cluster-enabled", "yes", "--cluster-port", str(free_port())]
        command += ["--cluster-config-file", str(folder / "nodes.conf")]
        command += ["--cluster-node-timeout", str(self.node_timeout_ms)]
        command += ["--save", "", "--appendonly", "no", "--dir", str(folder)]
        self._processes[port] = subprocess.Popen(command, stdout=subprocess.DEVNULL)

    def _info(self, port: int) -> dict[str, object]:
        client = _client(port)
        try:
            return dict(client.cluster("INFO"))
        except redis.RedisError:
            return {}
        finally:
            client.close()

    def _healthy(self, ports: list[int]) -> bool:
        """Every node of ``ports`` sees the cluster ok, all slots served."""
        for port in ports:
            info = self._info(port)
            if info.get("cluster_state") != "ok":
                return False
            if int(str(info.get("cluster_slots_ok", 0))) != CLUSTER_SLOTS:
                return False
        return True

    def start(self) -> None:
        """Start the nodes, join them into a cluster, and wait until every node sees it ok."""
        for port in self.ports:
            self._start_node(port)
        for port in self.ports:
            _until(lambda port=port: self._info(port) != {}, f"node {port} start")
        nodes = [f"127.0.0.1:{port}" for port in self.ports]
        create = ["--cluster", "create", *nodes, "--cluster-replicas", "1", "--cluster-yes"]
        subprocess.run(
            ["redis-cli", *create],
            check=True,
            stdout=subprocess.DEVNULL,
            timeout=60,
        )
        _until(lambda: self._healthy(self.ports), "cluster ok")
        # Every replica attached to its primary and in sync, so that a failover has someone
        # to promote.
        _until(lambda: len(self.replicas()) == NODES // 2, "replicas attached")
        for port in self.replicas():
            _until(lambda port=port: self._linked(port), f"replica {port} in sync")

    def _linked(self, port: int) -> bool:
        client = _client(port)
        try:
            return client.info("replication").get("master_link_status") == "up"
        finally:
            client.close()

    def _nodes(self, port: int) -> list[list[str]]:
        client = _client(port)
        try:
            text = client.execute_command("CLUSTER", "NODES")
        finally:
            client.close()
        lines = text.decode() if isinstance(text, bytes) else str(text)
        return [line.split() for line in lines.splitlines() if line.strip()]

    def _alive_port(self) -> int:
        return next(port for port in self.ports if port in self._processes)

    def replicas(self) -> dict[int, int]:
        """Each connected replica's port → its primary's port, as the cluster sees them."""
        rows = self._nodes(self._alive_port())
        by_id = {row[0]: int(row[1].split("@")[0].rsplit(":", 1)[1]) for row in rows}
        return {
            int(row[1].split("@")[0].rsplit(":", 1)[1]): by_id[row[3]]
            for row in rows
            if "slave" in row[2] and "fail" not in row[2] and row[7] == "connected"
        }

    def primary_of(self, key: str) -> int:
        """The port of the primary serving ``key``'s slot."""
        client = _client(self._alive_port())
        try:
            slot = int(client.execute_command("CLUSTER", "KEYSLOT", key))
            for first, last, primary, *_ in client.execute_command("CLUSTER", "SLOTS"):
                if first <= slot <= last:
                    return int(primary[1])
        finally:
            client.close()
        raise AssertionError(f"no node serves slot {slot}")

    def kill(self, port: int) -> None:
        """SIGKILL the node on ``port`` (no goodbye to the cluster)."""
        process = self._processes.pop(port)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)

    def wait_failed_over(self, key: str, dead: int, timeout: float = 60.0) -> int:
        """Wait until another node serves ``key``'s slot and the cluster is ok; its port."""
        alive = [port for port in self.ports if port in self._processes]

        def moved() -> bool:
            try:
                return self.primary_of(key) != dead and self._healthy(alive)
            except redis.RedisError:
                return False

        _until(moved, f"failover of node {dead}", timeout)
        return self.primary_of(key)

    def stop(self) -> None:
        """Stop every node still running."""
        for port in list(self._processes):
            process = self._processes.pop(port)
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)


@contextlib.contextmanager
def private_cluster(node_timeout_ms: int = NODE_TIMEOUT_MS) -> Iterator[PrivateCluster]:
    """A running private cluster, stopped and removed at exit. Without ``redis-server`` or
    ``redis-cli`` a loud skip (a failure under ``STEMBEAT_REQUIRE_SERVICES``)."""
    require_tools("redis-server", "redis-cli", what="the Redis Cluster tests")
    cluster = functools.partial(PrivateCluster, node_timeout_ms=node_timeout_ms)
    with running(cluster, "stembeat-cluster-") as started:
        yield started
