"""The Redis store on a Redis Cluster: ``redis+cluster://`` URLs made into redis-py's
:class:`~redis.cluster.RedisCluster`, and the connections of the one node that serves a
prefix.

``redis+cluster://[[user]:password@]host:port[,host:port…][/0][?query]`` (``rediss+cluster://``
for TLS): the client asks the first node that answers for the cluster's layout, so any
reachable nodes will do; a password and the query's redis-py options apply to every node, and
the database can only be 0, as Cluster has no other.

Every key of one prefix carries the hash tag ``{prefix}`` (see :mod:`.keys`), so one primary
serves all of them and every script runs there as on a single server. redis-py routes each
command and script call by its first key; what the store streams on one connection itself
(:meth:`.Client.pipelined`) goes to that primary's pool (:func:`slot_pool`), and a failure
there makes the client read the layout again (:func:`relearn`), which it would otherwise do
only on its own commands' failures.
"""

from __future__ import annotations

import contextlib
from typing import Any, cast
from urllib.parse import parse_qsl

import redis
from redis.cluster import ClusterNode, RedisCluster

#: The store URL schemes of a Redis Cluster, each with the redis-py scheme of its nodes.
SCHEMES = {"redis+cluster": "redis", "rediss+cluster": "rediss"}


def is_cluster(url: str) -> bool:
    """Whether ``url`` names a Redis Cluster."""
    return url.partition("://")[0].lower() in SCHEMES


def _node(address: str) -> ClusterNode:
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise ValueError("a cluster node must be given as host:port")
    # Any: redis-py leaves ClusterNode's constructor unannotated.
    return cast(ClusterNode, cast(Any, ClusterNode)(host, int(port)))


def connect(url: str, options: dict[str, Any]) -> RedisCluster:
    """A cluster client on the nodes of ``url`` (see the module's docstring); ``ValueError``
    for a URL it cannot use, RedisClusterException when no node answers."""
    scheme, _, rest = url.partition("://")
    authority, slash, tail = rest.partition("/")
    userinfo, at, hosts = authority.rpartition("@")
    path, _, query = tail.partition("?")
    if path not in ("", "0") or any(key == "db" for key, _ in parse_qsl(query)):
        raise ValueError("a Redis Cluster has database 0 only")
    first, *others = hosts.split(",")
    nodes = [_node(address) for address in others]
    _node(first)  # checked here, as the others are; redis-py reads it from the URL below
    node_url = f"{SCHEMES[scheme.lower()]}://{userinfo}{at}{first}{slash}{tail}"
    # The client reads the cluster's layout now: a cluster it cannot reach raises
    # RedisClusterException (an outage, not a mistake in the URL).
    return RedisCluster.from_url(node_url, startup_nodes=nodes or None, **options)


def slot_pool(client: RedisCluster, key: str) -> redis.ConnectionPool:
    """The connection pool of the primary that serves ``key``'s slot."""
    # Any: redis-py leaves get_node_from_key unannotated.
    node = cast(Any, client).get_node_from_key(key)
    pool = client.get_redis_connection(node).connection_pool
    assert isinstance(pool, redis.ConnectionPool)
    return pool


def relearn(client: RedisCluster) -> None:
    """Read the cluster's layout again (after a failover, the slot's new primary); a cluster
    that does not answer now leaves it for the next command."""
    with contextlib.suppress(redis.RedisError, OSError):
        client.nodes_manager.initialize()
