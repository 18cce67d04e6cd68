"""The Redis store: entries in hashes, the due index in a sorted set, claims in Lua scripts,
beats' heartbeats in a hash and a sorted set.

``redis://[[user]:password@]host[:port][/db]``, ``rediss://…`` (TLS), ``unix:///path.sock``,
``sentinel://…;sentinel://…?master_name=NAME`` (Redis Sentinel, see :mod:`.sentinel`), or a
Redis Cluster as ``redis+cluster://host:port[,host:port…]`` (``rediss+cluster://…``); the
query parameters ``prefix`` (default ``stembeat``), ``history_limit`` (default 100),
``history_max_age`` (default 30 days) and ``audit_limit`` (change records kept, default
100,000) belong to the store, any others go to redis-py (e.g. ``ssl_ca_certs``). Passwords
never appear in reprs or error messages: the URL is shown with ``***`` in their place.

The package, one concern per module:

- :mod:`.store`: :class:`RedisStore`, the store contract over redis-py;
- :mod:`.client`: redis-py's client with the prefix's keys and scripts, its errors as
  StoreError, script calls streamed on one connection;
- :mod:`.sentinel`: Sentinel URLs read and checked, the primary's client through the
  sentinels;
- :mod:`.cluster`: ``redis+cluster://`` URLs as redis-py's cluster client, and the node that
  serves a prefix;
- :mod:`.keys`: the key layout of a prefix (hashes, indexes, streams, beats, the audit log, the
  channel);
- :mod:`.codec`: entries, run state, runs and beats to hash fields and script arguments, and the
  scripts' rows back to entries;
- :mod:`.changelog`: the audit log's records as the writing scripts take them and as they
  read back;
- :mod:`.recorded`: writes that record their change: the read they are built from, the
  script call, and the one loop that tries again when another writer came first;
- :mod:`.bulk`: bulk writes, chunked and streamed, each chunk with its records;
- :mod:`.log_reader`: reading the audit log, from either end, a page at a time;
- :mod:`.outcomes`: workers' reports folded in one optimistic transaction;
- :mod:`.ranks`: pages by last run, runs or mean drift from the rank sets;
- :mod:`.history_count`: the count of runs held, and the one-off scan that makes it exact;
- :mod:`.feed`: change notifications over pub/sub;
- :mod:`.scripts`: the Lua scripts of ``lua/``, loaded and registered in one place.
"""

from __future__ import annotations

from celery_stembeat.stores.redis.store import DEFAULT_PREFIX, RedisStore

__all__ = ["DEFAULT_PREFIX", "RedisStore"]
