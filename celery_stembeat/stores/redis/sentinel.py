"""Redis Sentinel: the store URL's sentinel form, read and checked, and a client of the primary
through redis-py's :class:`~redis.sentinel.Sentinel`.

The form is kombu's and celery's: one ``sentinel://`` part per sentinel, joined by ``;``, the
query after the last part::

    sentinel://[[user]:password@]host[:port][/db];sentinel://host[:port]…?master_name=NAME

- ``host`` is a name, an IPv4 address or an IPv6 address in brackets; ``port`` defaults to
  26379; 1 to :data:`MAX_SENTINELS` parts, no address twice.
- ``user:password`` (percent-encoded) log in to the primary, not to the sentinels; a part may
  leave them out, parts that give them must agree. The same goes for ``/db`` (default 0).
- The query: ``master_name`` (required: the name the sentinels monitor), ``sentinel_username``
  and ``sentinel_password`` (the sentinels' own login), ``ssl=true`` (TLS to the primary and to
  the sentinels) with ``ssl_ca_certs``, ``ssl_certfile``, ``ssl_keyfile`` and ``ssl_cert_reqs``
  (``none``, ``optional``, ``required``), ``socket_timeout`` and ``socket_connect_timeout``
  (seconds, for every connection; the sentinels' default to :data:`SENTINEL_TIMEOUT`). The
  store's own ``prefix``, ``history_limit``, ``history_max_age`` and ``audit_limit`` are taken
  off before. Nothing
  else is accepted.

Anything else raises :class:`StoreURLError` on one line naming the part, passwords masked.

Failover: the client asks the sentinels for the primary's address on every new connection, and
a connection to a primary turned replica fails (redis-py turns the ``READONLY`` reply into a
connection error), so a command during the switch fails like any lost connection and the
next one, after the engine's pause, reaches the new primary.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

import redis
from redis.sentinel import Sentinel

from celery_stembeat.limits import shorten
from celery_stembeat.stores._secrets import SENTINEL_SCHEME
from celery_stembeat.stores.base import StoreURLError

DEFAULT_PORT = 26379
MAX_SENTINELS = 16
#: Seconds the sentinels' connections wait, unless the URL says: a sentinel that does not
#: answer is passed over for the next one.
SENTINEL_TIMEOUT = 2.0
_NAME = re.compile(r"[A-Za-z0-9._:-]{1,200}\Z")
_HOST = re.compile(r"[A-Za-z0-9._-]{1,253}\Z")
_PATHS = ("ssl_ca_certs", "ssl_certfile", "ssl_keyfile")
_TIMEOUTS = ("socket_timeout", "socket_connect_timeout")
_CERT_REQS = ("none", "optional", "required")
_OPTIONS = (
    "master_name",
    "sentinel_username",
    "sentinel_password",
    "ssl",
    "ssl_cert_reqs",
    *_PATHS,
    *_TIMEOUTS,
)
_TRUE = ("true", "1", "yes", "on")
_FALSE = ("false", "0", "no", "off")


@dataclass(frozen=True)
class SentinelURL:
    """A sentinel store URL, read: where the sentinels are and how to reach the primary."""

    sentinels: tuple[tuple[str, int], ...]
    master_name: str
    db: int = 0
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    sentinel_username: str | None = None
    sentinel_password: str | None = field(default=None, repr=False)
    ssl: bool = False
    #: Connection options for the primary and the sentinels alike (TLS files, timeouts).
    options: dict[str, Any] = field(default_factory=dict)


def _fail(message: str) -> StoreURLError:
    return StoreURLError(f"Redis Sentinel URL: {message}")


def _address(number: int, part: str) -> tuple[str, int, tuple[str | None, str | None], str]:
    """Part ``number``'s (host, port, (user, password), path). Messages quote nothing of the
    part: with a ';' in a password, a part may hold a piece of it."""
    name = f"sentinel {number}"
    try:
        pieces = urlsplit(part)
        port = pieces.port
        host = pieces.hostname
    except ValueError:
        raise _fail(f"{name}: the host or the port (a number 1-65535) cannot be read") from None
    if pieces.fragment or "#" in part:
        raise _fail(f"{name}: a '#' has no place here")
    if not host:
        raise _fail(f"{name}: no host")
    if "[" in pieces.netloc:
        try:
            host = str(ipaddress.IPv6Address(host))
        except ValueError:
            raise _fail(f"{name}: the host in brackets is not an IPv6 address") from None
    elif not _HOST.match(host):
        raise _fail(f"{name}: the host is not a name or an address")
    if port == 0:
        raise _fail(f"{name}: the port is not a number 1-65535")
    username = unquote(pieces.username) if pieces.username else None
    password = unquote(pieces.password) if pieces.password else None
    return host, port or DEFAULT_PORT, (username, password), pieces.path


def _db(number: int, path: str) -> int | None:
    text = path[1:] if path.startswith("/") else path
    if not text:
        return None
    if not (text.isascii() and text.isdigit() and len(text) <= 9):
        raise _fail(f"sentinel {number}: the database is not a number 0-999999999")
    return int(text)


def _agreed(found: dict[str, Any], what: str, number: int, value: Any) -> None:
    """Record ``value`` for ``what`` unless an earlier part gave a different one."""
    if what in found and found[what] != value:
        raise _fail(f"sentinel {number}: its {what} differs from an earlier part's")
    found[what] = value


def _query(text: str) -> dict[str, str]:
    if "#" in text:
        raise _fail("a '#' has no place in the query")
    try:
        pairs = parse_qsl(text, keep_blank_values=True, strict_parsing=bool(text))
    except ValueError:
        raise _fail("the query cannot be read") from None
    query: dict[str, str] = {}
    for key, value in pairs:
        if key not in _OPTIONS:
            raise _fail(f"unknown option {shorten(key)} (accepted: {', '.join(_OPTIONS)})")
        if key in query:
            raise _fail(f"option {key} given twice")
        query[key] = value
    return query


def _options(query: dict[str, str]) -> tuple[bool, dict[str, Any]]:
    """(ssl, connection options) from the query."""
    flag = query.get("ssl", "false").lower()
    if flag not in _TRUE + _FALSE:
        raise _fail(f"ssl {shorten(query['ssl'])} is not true or false")
    ssl = flag in _TRUE
    options: dict[str, Any] = {}
    for key in _TIMEOUTS:
        if key in query:
            try:
                seconds = float(query[key])
            except ValueError:
                seconds = -1.0
            if not 0 < seconds <= 3600:
                raise _fail(f"{key} {shorten(query[key])} is not a number of seconds 0-3600")
            options[key] = seconds
    for key in (*_PATHS, "ssl_cert_reqs"):
        if key in query:
            if not ssl:
                raise _fail(f"{key} needs ssl=true")
            if not query[key] or not query[key].isprintable():
                raise _fail(f"{key} is empty or holds a control character")
            options[key] = query[key]
    if options.get("ssl_cert_reqs", "required") not in _CERT_REQS:
        reqs = shorten(options["ssl_cert_reqs"])
        raise _fail(f"ssl_cert_reqs {reqs} is not one of none, optional, required")
    return ssl, options


def parse(url: str) -> SentinelURL:
    """``url`` read (see the module's docstring); :class:`StoreURLError` if it cannot be."""
    if any(ord(char) <= 0x20 or ord(char) == 0x7F for char in url):
        raise _fail("contains a space or a control character")
    head, _, query_text = url.partition("?")
    parts = head.split(";")
    if len(parts) > MAX_SENTINELS:
        raise _fail(f"{len(parts)} sentinels, more than {MAX_SENTINELS}")
    for number, part in enumerate(parts, 1):
        if not part.lower().startswith(f"{SENTINEL_SCHEME}://"):
            empty = "is empty" if not part else "does not start with sentinel://"
            raise _fail(f"sentinel {number} {empty} (a ';' in a password is written %3B)")
    found: dict[str, Any] = {}
    sentinels: list[tuple[str, int]] = []
    for number, part in enumerate(parts, 1):
        host, port, login, path = _address(number, part)
        if (host, port) in sentinels:
            raise _fail(f"sentinel {number} repeats sentinel {sentinels.index((host, port)) + 1}")
        sentinels.append((host, port))
        if login != (None, None):
            _agreed(found, "login", number, login)
        db = _db(number, path)
        if db is not None:
            _agreed(found, "database", number, db)
    query = _query(query_text)
    master_name = query.get("master_name", "")
    if not master_name:
        raise _fail("master_name is missing (…?master_name=NAME)")
    if not _NAME.match(master_name):
        raise _fail(f"master_name {shorten(master_name)} is not 1-200 letters, digits, ._:-")
    ssl, options = _options(query)
    username, password = found.get("login", (None, None))
    return SentinelURL(
        sentinels=tuple(sentinels),
        master_name=master_name,
        db=found.get("database", 0),
        username=username,
        password=password,
        sentinel_username=query.get("sentinel_username") or None,
        sentinel_password=query.get("sentinel_password") or None,
        ssl=ssl,
        options=options,
    )


def open_primary(url: str, options: dict[str, Any]) -> tuple[redis.Redis, Sentinel]:
    """A client of the primary named by ``url`` (``options`` added to its connections, e.g.
    ``decode_responses``), and the sentinels' client, both for the caller to close."""
    target = parse(url)
    common = dict(target.options)
    if target.ssl:
        common["ssl"] = True
    watch = dict(common)
    for key in _TIMEOUTS:
        watch.setdefault(key, SENTINEL_TIMEOUT)
    if target.sentinel_username:
        watch["username"] = target.sentinel_username
    if target.sentinel_password:
        watch["password"] = target.sentinel_password
    sentinel = Sentinel(list(target.sentinels), sentinel_kwargs=watch)
    primary = sentinel.master_for(
        target.master_name,
        db=target.db,
        username=target.username,
        password=target.password,
        **{**common, **options},
    )
    return primary, sentinel


__all__ = ["SentinelURL", "open_primary", "parse"]
