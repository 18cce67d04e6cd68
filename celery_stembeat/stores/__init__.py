"""Stores: where entries live. ``open_store(url)`` picks the backend from the URL."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from celery_stembeat.limits import shorten
from celery_stembeat.stores._hosts import postgres_hosts
from celery_stembeat.stores._secrets import SENTINEL_SCHEME, is_sentinel, url_parts
from celery_stembeat.stores.base import (
    ANY_CHANGE,
    DEFAULT_HISTORY_LIMIT,
    DEFAULT_HISTORY_MAX_AGE,
    FAILED,
    FINAL_OUTCOMES,
    INCIDENT_OK,
    PUBLISHED,
    SKIPPED,
    TASK_OUTCOMES,
    Activity,
    BeatInfo,
    ChangeFeed,
    Claim,
    ClaimBatch,
    EntryCounts,
    EntryNotFound,
    Fingerprint,
    HistorySize,
    Incident,
    Outcome,
    Pause,
    RunRecord,
    Store,
    StoreError,
    StoreURLError,
    SuspectRules,
    TaskReport,
    VersionConflict,
    parse_history_max_age,
)

#: Query parameters of a store URL that are ours, not the database driver's.
STORE_OPTIONS = ("prefix", "history_limit", "history_max_age", "audit_limit")


def _split_options(url: str) -> tuple[str, dict[str, Any]]:
    # Only the query is rebuilt: re-joining the parsed URL would turn ``sqlite:///x`` into
    # ``sqlite:/x``.
    base, _, query_text = url.partition("?")
    query = parse_qsl(query_text, keep_blank_values=True)
    options: dict[str, Any] = {key: value for key, value in query if key in STORE_OPTIONS}
    rest = urlencode([(key, value) for key, value in query if key not in STORE_OPTIONS])
    for name in ("history_limit", "audit_limit"):
        if name in options:
            try:
                options[name] = int(options[name])
            except ValueError:
                raise StoreURLError(
                    f"store URL: {name} {shorten(options[name])} is not a number"
                ) from None
    if "history_max_age" in options:
        try:
            options["history_max_age"] = parse_history_max_age(options["history_max_age"])
        except ValueError as exc:
            raise StoreURLError(f"store URL: {exc}") from None
    return (f"{base}?{rest}" if rest else base), options


def mask_url(url: str) -> str:
    """``url`` with any password (in the authority or the query, a key named ``password`` or
    ending in it) replaced by ``***``; a Redis Sentinel URL's in every part.

    It lives here, not with the Redis store, so that naming a store does not import redis-py.
    """
    parts = url_parts(url)
    if len(parts) == 1:
        return _mask_one(url)
    if all(part.lower().startswith(f"{SENTINEL_SCHEME}://") for part in parts):
        return ";".join(_mask_one(part) for part in parts)
    # A part that is not a URL of its own (a ';' in a password, say): hide every login.
    head, question, query = url.partition("?")
    if "@" in head:
        head = f"{SENTINEL_SCHEME}://***@{head.rpartition('@')[2]}"
    return _mask_one(head + question + query)


def _mask_one(url: str) -> str:
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparsable URL>"
    scheme, slashes, after = url.partition("://")
    if "@" in url and "@" not in parts.netloc and slashes:
        # A password with an unquoted '?', '#' or '/' breaks the URL apart: hide all of it.
        return f"{scheme}://***@{after.rsplit('@', 1)[1]}"
    head, question, rest = url.partition("?")
    if "@" in parts.netloc:
        userinfo, host = parts.netloc.rsplit("@", 1)
        user, colon, _password = userinfo.partition(":")
        head = head.replace(parts.netloc, f"{user}:***@{host}" if colon else f"***@{host}", 1)
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    if any(key.lower().endswith("password") for key, _ in pairs):
        masked = [
            (key, "***" if key.lower().endswith("password") else value) for key, value in pairs
        ]
        fragment = f"#{parts.fragment}" if parts.fragment else ""
        rest = urlencode(masked, safe="*/") + fragment
    return head + question + rest


def check_url(url: str, what: str = "store URL") -> None:
    """Raise :class:`StoreURLError` (naming ``what``, password masked) unless ``url`` splits
    into its parts and any port is a number 0-65535: each host's, when the URL names several
    separated by commas (a PostgreSQL host list, or ``redis+cluster://h1:7000,h2:7000``)."""
    try:
        parts = urlsplit(postgres_hosts(url))
        userinfo, at, hosts = parts.netloc.rpartition("@")
        for host in hosts.split(","):
            # Reading the port is the check.
            parts._replace(netloc=f"{userinfo}{at}{host}").port  # noqa: B018
    except ValueError as exc:
        raise StoreURLError(f"{what} {mask_url(url)}: {exc}") from None


def open_store(url: str, **options: Any) -> Store:
    """Open the store at ``url``.

    ``memory://[NAME]``, ``sqlite:///PATH``, ``postgresql://…`` (or ``postgresql+psycopg://…``),
    ``redis://…`` / ``rediss://…``, ``sentinel://…;sentinel://…?master_name=…`` (Redis
    Sentinel, see :mod:`celery_stembeat.stores.redis.sentinel`), ``redis+cluster://host:port[,
    host:port…]`` (or ``rediss+cluster://…``) for a Redis Cluster. The query parameters
    ``prefix`` (key or table prefix), ``history_limit`` (runs kept per entry),
    ``history_max_age`` (how long runs are kept: seconds, or ``30d``, ``12h``, ``90m``, ``45s``;
    ``0``: no age limit) and ``audit_limit`` (change records kept) may also be given as keyword
    arguments.
    """
    if not is_sentinel(url):  # a Sentinel URL is checked part by part by the Redis store
        check_url(url)
    base, from_url = _split_options(url)
    settings = {**from_url, **options}
    scheme = SENTINEL_SCHEME if is_sentinel(base) else urlsplit(base).scheme.lower()
    if scheme == "memory":
        from celery_stembeat.stores.memory import MemoryStore

        return MemoryStore(urlsplit(base).netloc, **settings)
    if scheme == "sqlite" or scheme.startswith(("postgresql", "postgres")):
        from celery_stembeat.stores.sql import SQLStore

        return SQLStore(base, **settings)
    if scheme in ("redis", "rediss", "unix", "redis+cluster", "rediss+cluster", SENTINEL_SCHEME):
        from celery_stembeat.stores.redis import RedisStore

        return RedisStore(base, **settings)
    raise StoreURLError(
        f"store URL: unknown scheme {shorten(scheme)} "
        "(use memory://, sqlite:///, postgresql://, redis://, redis+cluster://, sentinel://)"
    )


__all__ = [
    "ANY_CHANGE",
    "DEFAULT_HISTORY_LIMIT",
    "DEFAULT_HISTORY_MAX_AGE",
    "FAILED",
    "FINAL_OUTCOMES",
    "INCIDENT_OK",
    "PUBLISHED",
    "SKIPPED",
    "TASK_OUTCOMES",
    "Activity",
    "BeatInfo",
    "ChangeFeed",
    "Claim",
    "ClaimBatch",
    "EntryCounts",
    "EntryNotFound",
    "Fingerprint",
    "HistorySize",
    "Incident",
    "Outcome",
    "Pause",
    "RunRecord",
    "Store",
    "StoreError",
    "StoreURLError",
    "SuspectRules",
    "TaskReport",
    "VersionConflict",
    "check_url",
    "mask_url",
    "open_store",
]
