"""The passwords in a store URL, and messages with them masked: a driver's error may quote its
connection string."""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import parse_qsl, unquote, urlsplit


def url_secrets(url: str) -> list[str]:
    """The passwords in ``url`` (authority and query), as written and percent-decoded."""
    try:
        parts = urlsplit(url)
        found = [parts.password or ""]
    except ValueError:
        return []
    found += [value for key, value in parse_qsl(parts.query) if key.lower() == "password"]
    return [text for secret in found if secret for text in {secret, unquote(secret)}]


def scrub(message: str, secrets: Iterable[str]) -> str:
    """``message`` with every one of ``secrets`` replaced by ``***``."""
    for secret in secrets:
        message = message.replace(secret, "***")
    return message


__all__ = ["scrub", "url_secrets"]
