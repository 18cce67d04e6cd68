"""The store contract of test_store_contract.py on a private six-node Redis Cluster (three
primaries, one replica each), every test on its own prefix, so the prefixes spread over the
primaries; and prefixes that prove it, each store's keys all on its slot's primary."""

from __future__ import annotations

import pytest
import redis

from celery_stembeat.startup import unreachable
from celery_stembeat.stores import StoreError, StoreURLError, open_store
from tests.contract.cluster import PrivateCluster
from tests.contract.helpers import LEASE, T0, make_entry, published
from tests.contract.test_store_contract import *  # noqa: F403 - the contract, collected here

pytestmark = pytest.mark.services


@pytest.fixture
def backend() -> str:
    """Only the cluster, whatever STEMBEAT_TEST_BACKENDS says."""
    return "cluster"


def test_prefixes_spread_over_the_primaries_each_on_one_slot(
    redis_cluster: PrivateCluster, unique_prefix: str
) -> None:
    """Stores on several prefixes land on different primaries; each works through claims,
    completions, history, outcomes' reads and the audit log, and every key it wrote sits in
    its prefix's slot, on the one primary serving it."""
    prefixes = [f"{unique_prefix}{index}" for index in range(12)]
    homes: dict[str, int] = {}
    for prefix in prefixes:
        with open_store(f"{redis_cluster.url}?prefix={prefix}") as store:
            try:
                store.upsert(make_entry("job"))
                store.write_many([make_entry(f"bulk{index}") for index in range(20)])
                claims = store.claim_due(T0, 50, "beat-1", LEASE)
                assert len(claims) == 21
                assert all(store.complete_many((claim, published(claim)) for claim in claims))
                assert len(store.history("job")) == 1
                assert store.count_changes() == 21
                home = redis_cluster.primary_of("{" + prefix + "}:due")
                homes[prefix] = home
                node = redis.Redis(port=home)
                try:
                    keys = list(node.scan_iter(match="{" + prefix + "}:*", count=1000))
                    slots = {node.cluster("KEYSLOT", key) for key in keys}
                finally:
                    node.close()
                assert len(keys) >= 21 * 2 + 5  # entries, histories, indexes, audit log
                assert len(slots) == 1
            finally:
                store.drop()
    assert len(set(homes.values())) > 1, homes


@pytest.mark.parametrize(
    "url",
    [
        "redis+cluster://127.0.0.1:1/3",
        "redis+cluster://127.0.0.1:1/0?db=2",
        "redis+cluster://127.0.0.1:1,nohost",
    ],
)
def test_a_cluster_url_it_cannot_use_is_a_url_error(url: str) -> None:
    """A database other than 0, or a node without its port: a mistake, never an outage."""
    with pytest.raises(StoreURLError):
        open_store(url)


def test_an_unreachable_cluster_is_an_outage_without_the_password() -> None:
    """No node answers: a StoreError from the driver's error (beat waits for the store), the
    password masked."""
    with pytest.raises(StoreError) as failure:
        open_store("rediss+cluster://:s3cret@127.0.0.1:1,127.0.0.1:2/?prefix=p")
    assert unreachable(failure.value)
    assert "s3cret" not in str(failure.value)
