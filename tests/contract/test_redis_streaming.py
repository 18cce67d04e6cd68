"""The Redis store's streamed script calls (bulk writes and reads send every call before
reading a reply) on a connection that checks its health."""

from __future__ import annotations

from celery_stembeat.stores import open_store
from tests.contract.helpers import make_entry


def test_a_stream_longer_than_the_health_check_interval_goes_through(
    redis_url: str, unique_prefix: str
) -> None:
    """A health check's PING sent behind calls whose replies are unread would read one of
    them: only a stream's first call may check. 20,000 entries take well over 0.2 s."""
    store = open_store(f"{redis_url}?prefix={unique_prefix}", health_check_interval=0.2)
    try:
        entries = [make_entry(f"e{i:05d}", description=str(i)) for i in range(20_000)]
        store.write_many(entries)
        assert store.entry_counts().total == 20_000
        assert len(store.get_many(entry.id for entry in entries)) == 20_000
        assert store.audit_head().seq == 20_000
    finally:
        store.drop()
        store.close()
