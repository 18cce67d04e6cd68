"""PostgreSQL store URLs that name several hosts (libpq's host list): how they are read, and a
store and its LISTEN feed that skip a host that is down. The failover itself, with a standby
promoted under a running beat, is in tests/e2e/test_pg_failover.py."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from celery_stembeat.stores import StoreURLError, check_url, open_store
from celery_stembeat.stores._hosts import postgres_hosts
from tests.contract.faults import free_port, wait_for
from tests.contract.helpers import make_entry


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            "postgresql://u:pw@h1:5432,h2:5433/db?target_session_attrs=primary",
            "postgresql://u:pw@/db?target_session_attrs=primary&host=h1,h2&port=5432,5433",
        ),
        (
            "postgresql+psycopg://h1,[::1]:5433/db",
            "postgresql+psycopg:///db?host=h1,::1&port=,5433&target_session_attrs=read-write",
        ),
        ("postgres://h1,h2", "postgres:///?host=h1,h2&target_session_attrs=read-write"),
        (
            "postgresql:///db?host=h1:1&host=h2:2",
            "postgresql:///db?host=h1:1&host=h2:2&target_session_attrs=read-write",
        ),
        ("postgresql://u:p,w@h1/db", "postgresql://u:p,w@h1/db"),
        ("sqlite:///a,b.db", "sqlite:///a,b.db"),
    ],
)
def test_a_host_list_moves_to_the_query_sqlalchemy_reads(url: str, expected: str) -> None:
    """Hosts and ports go to ``?host=…&port=…``; several hosts mean read-write by default."""
    assert postgres_hosts(url) == expected


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("postgresql://h1:99999,h2/db", "port '99999' of host 'h1'"),
        ("postgresql://h1,,h2/db", "is empty"),
        ("postgresql://[::1]x,h2/db", "is not [address]"),
        ("postgresql://h1,h2/db?host=h3", "both before the database name and as ?host="),
    ],
)
def test_a_malformed_host_list_is_refused(url: str, problem: str) -> None:
    with pytest.raises(ValueError, match=re.escape(problem)):
        postgres_hosts(url)
    with pytest.raises(StoreURLError):
        check_url(url)


def test_check_url_accepts_a_host_list_with_ports_left_out() -> None:
    check_url("postgresql://u:pw@h1:5432,h2/db")


@pytest.mark.parametrize("target", ["read-only", "standby", "prefer-standby"])
def test_a_store_never_asks_for_a_standby(target: str) -> None:
    with pytest.raises(StoreURLError, match=f"target_session_attrs={target} would connect"):
        open_store(f"postgresql://h1,h2/db?target_session_attrs={target}")


def test_the_store_and_its_feed_skip_a_host_that_is_down(
    postgres_url: str, unique_prefix: str
) -> None:
    """The first host refuses connections; the store and its LISTEN connect to the second."""
    shared = sa.make_url(postgres_url)
    password = f":{shared.password}" if shared.password else ""
    url = (
        f"postgresql://{shared.username}{password}@127.0.0.1:{free_port()},"
        f"{shared.host}:{shared.port or 5432}/{shared.database}?prefix={unique_prefix}"
    )
    store = open_store(url)
    feed = store.watch()
    try:
        assert "target_session_attrs=read-write" in store.display_url
        store.upsert(make_entry("job"))
        assert wait_for(feed, lambda seen: "job" in seen) == {"job"}
        assert store.get("job") is not None
    finally:
        feed.close()
        store.drop()
        store.close()
