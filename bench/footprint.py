"""How many bytes a store holds for a tag: what ``bytes per entry`` divides."""

from __future__ import annotations

import os
from glob import glob

import redis

from bench.context import Context

#: Entry keys whose memory is measured one by one; the rest are estimated from them.
_SAMPLE = 2_000


def store_bytes(ctx: Context, subject: str, tag: str) -> float:
    """The bytes ``subject`` keeps for ``tag``: Redis memory of its keys, the PostgreSQL
    tables with their indexes and TOAST, or the SQLite file with its WAL."""
    name = ctx.name(tag)
    if subject == "redbeat":
        # RedBeat: a hash per entry, the schedule sorted set (and a set of static entries).
        return _redis_bytes(ctx.redis_url, [f"{name}::schedule", f"{name}::statics"], name + ":")
    if subject == "stembeat-redis":
        indexes = [f"{{{name}}}:{key}" for key in ("ids", "due", "leases", "config")]
        return _redis_bytes(ctx.redis_url, indexes, f"{{{name}}}:entry:")
    if subject == "stembeat-postgres":
        import sqlalchemy as sa  # only here: a child's RSS should hold what its subject needs

        engine = sa.create_engine(ctx.postgres_url)
        try:
            with engine.connect() as conn:
                total = conn.scalar(
                    sa.text(
                        "SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0) FROM pg_class c "
                        "WHERE c.relkind = 'r' AND c.relname LIKE :prefix"
                    ),
                    {"prefix": name + "\\_%"},
                )
            return float(total or 0)
        finally:
            engine.dispose()
    if subject == "stembeat-sqlite":
        return float(sum(os.path.getsize(path) for path in glob(f"{ctx.path(tag)}.db*")))
    return 0.0


def _redis_bytes(url: str, indexes: list[str], entry_prefix: str) -> float:
    """Exact memory of the index keys, plus the entry hashes: a sample of them measured
    exactly, times how many there are (one per member of the first index, a sorted set)."""
    client = redis.Redis.from_url(url)
    try:
        total = float(sum(client.memory_usage(key, samples=0) or 0 for key in indexes))
        sample: list[float] = []
        for key in client.scan_iter(match=_glob_escape(entry_prefix) + "*", count=1000):
            if client.type(key) == b"hash":
                sample.append(float(client.memory_usage(key, samples=0) or 0))
            if len(sample) >= _SAMPLE:
                break
        entries = int(client.zcard(indexes[0]))
        return total + (sum(sample) / len(sample) * entries if sample else 0.0)
    finally:
        client.close()


def _glob_escape(text: str) -> str:
    return "".join("\\" + char if char in "*?[]^\\{}-" else char for char in text)


def prefix_bytes(ctx: Context, subject: str, tag: str) -> float:
    """Every byte ``subject`` keeps for ``tag``, history included: on Redis the exact
    ``MEMORY USAGE`` of every key of the prefix, elsewhere :func:`store_bytes`."""
    if subject != "stembeat-redis":
        return store_bytes(ctx, subject, tag)
    client = redis.Redis.from_url(ctx.redis_url)
    try:
        keys = list(client.scan_iter(match=_glob_escape(f"{{{ctx.name(tag)}}}:") + "*", count=1000))
        pipe = client.pipeline(transaction=False)
        for key in keys:
            pipe.memory_usage(key, samples=0)
        return float(sum(size or 0 for size in pipe.execute()))
    finally:
        client.close()
