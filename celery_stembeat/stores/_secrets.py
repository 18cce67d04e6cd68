"""The passwords in a store URL, and messages with them masked: a driver's error may quote its
connection string."""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import parse_qsl, unquote, urlsplit

#: The scheme of Redis Sentinel URLs: one ``sentinel://`` part per sentinel, joined by ``;``.
SENTINEL_SCHEME = "sentinel"


def is_sentinel(url: str) -> bool:
    """Whether ``url`` is in the Redis Sentinel form (by its scheme)."""
    return url.partition("://")[0].strip().lower() == SENTINEL_SCHEME


def url_parts(url: str) -> list[str]:
    """The URLs ``url`` is made of: one per ``;``-joined part of a sentinel URL (the query
    stays with the last), else ``url`` itself."""
    if not is_sentinel(url):
        return [url]
    head, question, query = url.partition("?")
    parts = head.split(";")
    parts[-1] += question + query
    return parts


def _is_password(key: str) -> bool:
    return key.lower().endswith("password")


def url_secrets(url: str) -> list[str]:
    """The passwords in ``url`` (authority and query, ``password`` or a name ending in it such
    as ``sentinel_password``, of every part), as written and percent-decoded."""
    found: list[str] = []
    for part in url_parts(url):
        try:
            pieces = urlsplit(part)
            found.append(pieces.password or "")
        except ValueError:
            continue
        found += [value for key, value in parse_qsl(pieces.query) if _is_password(key)]
    return [text for secret in found if secret for text in {secret, unquote(secret)}]


def scrub(message: str, secrets: Iterable[str]) -> str:
    """``message`` with every one of ``secrets`` replaced by ``***``."""
    for secret in secrets:
        message = message.replace(secret, "***")
    return message


__all__ = ["SENTINEL_SCHEME", "is_sentinel", "scrub", "url_parts", "url_secrets"]
