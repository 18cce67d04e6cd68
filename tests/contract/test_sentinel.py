"""The Redis store on a Sentinel group of its own: the store contract (a part of the suite, run
through the same fixtures) on a sentinel URL, then a failover under a store and its feed."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from celery_stembeat.stores import ANY_CHANGE, ChangeFeed, Store, StoreError, open_store
from tests.contract.faults import wait_for
from tests.contract.helpers import LEASE, T0, make_entry, published, with_option
from tests.contract.sentinels import SentinelGroup, sentinel_group

# The contract tests below run again here, on the sentinel URL: the store's fixtures
# (store, store_url, open_more) come from the contract conftest, fed by this module's
# ``backend`` and ``store_url``.
from tests.contract.test_store_contract import (  # noqa: F401
    test_a_renewed_claim_outlives_its_first_lease,
    test_changes_reach_a_feed_opened_elsewhere,
    test_claim_due_takes_only_due_entries_earliest_first,
    test_complete_many_matches_complete,
    test_complete_records_run_and_advances,
    test_contention_claims_each_occurrence_exactly_once,
    test_drop_leaves_nothing_for_the_next_store,
    test_expired_leases_are_recovered_with_the_same_occurrence,
    test_history_is_trimmed_per_entry,
    test_store_time_is_the_servers_clock,
    test_unicode_ids_and_large_kwargs,
    test_upsert_creates_version_one_and_round_trips,
    test_upsert_many_matches_one_upsert_per_entry,
    test_versions_guard_against_lost_updates,
)

pytestmark = pytest.mark.services


@pytest.fixture(scope="module")
def group() -> Iterator[SentinelGroup]:
    """One group for the module's contract tests (the failover test starts its own)."""
    with sentinel_group() as running:
        yield running


@pytest.fixture
def backend() -> str:
    """A sentinel store is the Redis store: the contract treats it as such."""
    return "redis"


@pytest.fixture
def store_url(group: SentinelGroup, unique_prefix: str) -> str:
    return with_option(group.url, "prefix", unique_prefix)


def _until_it_works(operation: object, timeout: float = 60.0) -> tuple[object, int]:
    """Call ``operation`` until it stops raising StoreError; its result and the failures."""
    assert callable(operation)
    failures = 0
    deadline = time.monotonic() + timeout
    while True:
        try:
            return operation(), failures
        except StoreError:
            failures += 1
            assert time.monotonic() < deadline, "the store did not come back"
            time.sleep(0.1)


def _run_once_and_replicate(store: Store, feed: ChangeFeed, group: SentinelGroup) -> None:
    """Write "job", see the feed announce it, claim and complete its one run, and wait until
    the replica holds all of it."""
    store.upsert(make_entry("job"))
    assert ANY_CHANGE not in wait_for(feed, lambda seen: "job" in seen)
    (claim,) = store.claim_due(T0, 10, "beat-1", LEASE)
    assert store.complete(claim, published(claim))
    group.wait_replicated()


def test_store_and_feed_follow_a_failover() -> None:
    """SIGKILL the primary: operations raise StoreError (nothing else) until the sentinels
    promote the replica, then work on it with what was replicated; claims go on, and the
    feed subscribes again on the new primary, says ANY_CHANGE, then announces ids."""
    with sentinel_group() as fresh:
        store: Store = open_store(with_option(fresh.url, "prefix", "failover_"))
        feed = store.watch()
        try:
            _run_once_and_replicate(store, feed, fresh)

            old = fresh.kill_primary()
            new = fresh.wait_for_promotion(old)
            assert new != old
            entry, failures = _until_it_works(lambda: store.get("job"))
            print(f"\nstore calls failed during the failover: {failures}")
            assert entry is not None
            assert entry.state.total_run_count == 1  # replicated before the kill
            wait_for(feed, lambda seen: ANY_CHANGE in seen, timeout=30)

            store.upsert(make_entry("after", next_run_at=T0))
            wait_for(feed, lambda seen: "after" in seen)
            (again,) = store.claim_due(T0, 10, "beat-1", LEASE)
            assert again.entry_id == "after"
            assert store.complete(again, published(again))
        finally:
            feed.close()
            store.close()


def test_a_tls_group_carries_the_store_its_feed_and_a_failover() -> None:
    """Sentinels, primary and replica that speak only TLS: the store checks their
    certificate, claims and completes, its feed hears changes, and it follows a failover;
    the same URL without ``ssl=true`` gets a StoreError."""
    with sentinel_group(tls=True) as fresh:
        plain = open_store(with_option(fresh.url.split("&ssl=")[0], "prefix", "tls_"))
        try:
            with pytest.raises(StoreError):
                plain.get("job")
        finally:
            plain.close()
        store: Store = open_store(with_option(fresh.url, "prefix", "tls_"))
        feed = store.watch()
        try:
            _run_once_and_replicate(store, feed, fresh)

            fresh.wait_for_promotion(fresh.kill_primary())
            entry, _ = _until_it_works(lambda: store.get("job"))
            assert entry is not None
            assert entry.state.total_run_count == 1
            wait_for(feed, lambda seen: ANY_CHANGE in seen, timeout=30)
        finally:
            feed.close()
            store.close()
