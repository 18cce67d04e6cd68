"""Redis Sentinel store URLs: the accepted form, and every other one refused on one line that
names the part and shows no password. No server is needed: opening a store connects to
nothing."""

from __future__ import annotations

import pytest
from redis.sentinel import SentinelManagedSSLConnection

from celery_stembeat.stores import StoreURLError, mask_url, open_store
from celery_stembeat.stores._secrets import url_secrets
from celery_stembeat.stores.redis import RedisStore
from celery_stembeat.stores.redis.sentinel import DEFAULT_PORT, SENTINEL_TIMEOUT, parse

SECRET = "s3cret-pa55"


def test_kombus_form_with_credentials_db_and_options() -> None:
    url = (
        f"sentinel://alice:{SECRET}@h1.example:26380;sentinel://alice:{SECRET}@10.0.0.2/3;"
        f"sentinel://[::1]:26381?master_name=mymaster&sentinel_password=sp&socket_timeout=1.5"
    )
    target = parse(url)
    assert target.sentinels == (("h1.example", 26380), ("10.0.0.2", DEFAULT_PORT), ("::1", 26381))
    assert target.master_name == "mymaster"
    assert target.db == 3
    assert (target.username, target.password) == ("alice", SECRET)
    assert target.sentinel_password == "sp"
    assert target.ssl is False
    assert target.options == {"socket_timeout": 1.5}


def test_a_percent_encoded_password_is_decoded() -> None:
    target = parse("sentinel://:p%3Bw%40rd@h1?master_name=m")
    assert target.password == "p;w@rd"


def test_the_store_opens_on_the_primary_with_the_store_options_taken_off() -> None:
    url = f"sentinel://:{SECRET}@h1;sentinel://h2/2?master_name=m&prefix=beat&history_limit=7"
    with open_store(url) as store:
        assert isinstance(store, RedisStore)
        assert (store.prefix, store.history_limit) == ("beat", 7)
        assert SECRET not in repr(store)
        assert "sentinel://:***@h1;sentinel://h2/2?master_name=m" in repr(store)
        kwargs = store._client.redis.connection_pool.connection_kwargs
        assert (kwargs["db"], kwargs["password"]) == (2, SECRET)


def test_tls_reaches_the_primary_and_the_sentinels() -> None:
    url = "sentinel://h1?master_name=m&ssl=true&ssl_cert_reqs=none&sentinel_password=sp"
    with open_store(url) as store:
        pool = store._client.redis.connection_pool
        assert pool.connection_class is SentinelManagedSSLConnection
        assert pool.connection_kwargs["ssl_cert_reqs"] == "none"
        sentinel = store._client._sentinel
        assert sentinel is not None
        watch = sentinel.sentinels[0].connection_pool.connection_kwargs
        assert watch["ssl_cert_reqs"] == "none"
        assert watch["password"] == "sp"
        assert watch["socket_timeout"] == SENTINEL_TIMEOUT


def test_passwords_are_masked_in_every_part_and_the_query() -> None:
    url = f"sentinel://:{SECRET}@h1;sentinel://u:{SECRET}@h2?master_name=m&sentinel_password=x9"
    assert mask_url(url) == (
        "sentinel://:***@h1;sentinel://u:***@h2?master_name=m&sentinel_password=***"
    )
    assert set(url_secrets(url)) == {SECRET, "x9"}


@pytest.mark.parametrize(
    "url",
    [
        f"sentinel://:{SECRET[:4]};{SECRET[4:]}@h1?master_name=m",  # a ';' in the password
        f"sentinel://:{SECRET}?@h1;sentinel://h2?master_name=m",
        f"sentinel://h1;sentinel://:{SECRET}#@h2?master_name=m",
    ],
)
def test_a_password_that_breaks_the_url_is_never_shown(url: str) -> None:
    assert SECRET[4:] not in mask_url(url)
    with pytest.raises(StoreURLError) as failure:
        open_store(url)
    assert SECRET[4:] not in str(failure.value)
    assert SECRET[:4] not in str(failure.value)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("sentinel://h1", "master_name is missing"),
        ("sentinel://h1?master_name=", "master_name is missing"),
        ("sentinel://h1?master_name=a/b", "master_name 'a/b' is not 1-200 letters"),
        ("sentinel://h1?master_name=" + "m" * 201, "is not 1-200 letters"),
        ("sentinel://h1?master_name=m&master_name=n", "option master_name given twice"),
        ("sentinel://h1?master_name=m&password=x", "unknown option 'password'"),
        ("sentinel://h1?master_name=m&ssl=maybe", "ssl 'maybe' is not true or false"),
        ("sentinel://h1?master_name=m&ssl_ca_certs=/ca.pem", "ssl_ca_certs needs ssl=true"),
        ("sentinel://h1?master_name=m&ssl=1&ssl_cert_reqs=x", "ssl_cert_reqs 'x' is not one"),
        ("sentinel://h1?master_name=m&socket_timeout=-1", "socket_timeout '-1' is not a number"),
        ("sentinel://h1?master_name=m&socket_timeout=inf", "socket_timeout 'inf' is not"),
        ("sentinel://h1?master_name=m&socket_timeout=nan", "socket_timeout 'nan' is not"),
        ("sentinel://h1;;sentinel://h3?master_name=m", "sentinel 2 is empty"),
        ("sentinel://h1;?master_name=m", "sentinel 2 is empty"),
        ("sentinel://h1;redis://h2?master_name=m", "sentinel 2 does not start with sentinel://"),
        ("sentinel://h1;h2:26379?master_name=m", "sentinel 2 does not start with sentinel://"),
        ("sentinel://h1;sentinel://h2:99999?master_name=m", "sentinel 2: the host or the port"),
        ("sentinel://h1:abc?master_name=m", "sentinel 1: the host or the port"),
        ("sentinel://h1:0?master_name=m", "sentinel 1: the port is not a number 1-65535"),
        ("sentinel://h1:-1?master_name=m", "sentinel 1: the host or the port"),
        ("sentinel://:26379?master_name=m", "sentinel 1: no host"),
        ("sentinel://h_1%00?master_name=m", "sentinel 1: the host is not a name"),
        ("sentinel://[nonsense]?master_name=m", "sentinel 1: the host"),
        ("sentinel://[1.2.3.4]?master_name=m", "sentinel 1: the host"),
        ("sentinel://h1/x?master_name=m", "sentinel 1: the database is not a number"),
        ("sentinel://h1/-1?master_name=m", "sentinel 1: the database is not a number"),
        ("sentinel://h1/0/1?master_name=m", "sentinel 1: the database is not a number"),
        ("sentinel://h1/1;sentinel://h2/2?master_name=m", "sentinel 2: its database differs"),
        ("sentinel://:a@h1;sentinel://:b@h2?master_name=m", "sentinel 2: its login differs"),
        ("sentinel://h1;sentinel://H1:26379?master_name=m", "sentinel 2 repeats sentinel 1"),
        ("sentinel://h1#frag?master_name=m", "a '#' has no place"),
        ("sentinel://h1?master_name=m#frag", "master_name 'm#frag' is not 1-200"),
        ("sentinel://h1?master_name=m\n", "master_name 'm\\n' is not 1-200"),
        ("sentinel://h1?master_name=m&ssl=1&ssl_ca_certs=/a%0A", "ssl_ca_certs is empty or"),
        ("sentinel://h 1?master_name=m", "a space or a control character"),
        (";".join(["sentinel://h"] * 17) + "?master_name=m", "17 sentinels, more than 16"),
    ],
)
def test_bad_urls_are_refused_on_one_line_naming_the_part(url: str, message: str) -> None:
    with pytest.raises(StoreURLError) as failure:
        open_store(url)
    text = str(failure.value)
    assert text.startswith("Redis Sentinel URL: ")
    assert message in text
    assert "\n" not in text
    assert len(text) < 400


def test_a_huge_url_is_refused_quickly() -> None:
    url = "sentinel://" + "h" * 100_000 + "?master_name=m"
    with pytest.raises(StoreURLError, match="the host is not a name"):
        open_store(url)
