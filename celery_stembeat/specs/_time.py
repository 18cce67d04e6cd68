"""Instants and time zones shared by every spec kind: aware UTC inside, ISO 8601 outside."""

from __future__ import annotations

import functools
from datetime import datetime, timezone, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from celery_stembeat.limits import shorten
from celery_stembeat.specs.errors import SpecError

UTC = timezone.utc


def require_aware(value: datetime, what: str, field: str | None = None) -> datetime:
    """Return ``value`` converted to UTC; a naive datetime is an error naming ``what``."""
    if not isinstance(value, datetime):
        raise SpecError(f"{what}: expected a datetime, got {type(value).__name__}", field)
    if value.tzinfo is None or value.utcoffset() is None:
        raise SpecError(f"{what}: {value.isoformat()} has no time zone", field)
    return value.astimezone(UTC)


def parse_instant(value: object, what: str, field: str | None = None) -> datetime:
    """Read an aware instant from a datetime or ISO 8601 text (``Z`` or an offset required)."""
    if isinstance(value, datetime):
        return require_aware(value, what, field)
    if not isinstance(value, str):
        raise SpecError(f"{what}: expected an ISO 8601 instant, got {shorten(value)}", field)
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise SpecError(f"{what}: {shorten(value)} is not an ISO 8601 instant", field) from None
    return require_aware(parsed, what, field)


def truncate_to_ms(value: datetime) -> datetime:
    """``value`` without its sub-millisecond part (the resolution of the dict form)."""
    return value.replace(microsecond=value.microsecond // 1000 * 1000)


# Entries share many instants (a schedule's fires, a bulk write's stamp).
@functools.lru_cache(maxsize=4096)
def format_instant(value: datetime) -> str:
    """ISO 8601 in UTC with a ``Z``, milliseconds only when there are any.

    The text is canonical: an instant and the one parsed back from its text format alike, so
    a sub-millisecond remainder is dropped rather than written as ``.000``.
    """
    utc = value if value.tzinfo is UTC else value.astimezone(UTC)
    spec = "milliseconds" if utc.microsecond >= 1000 else "seconds"
    return utc.isoformat("T", spec)[:-6] + "Z"  # without its "+00:00"


@functools.lru_cache(maxsize=512)
def load_zone(name: str) -> tzinfo:
    """The IANA zone called ``name``; an unknown name raises :class:`SpecError`."""
    if name.upper() in ("UTC", "Z", "ETC/UTC"):
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, TypeError, OSError):
        raise SpecError(f"unknown time zone {shorten(name)}", field="timezone") from None


def zone_name(value: object) -> str:
    """The IANA name of a tzinfo or a name, validated."""
    if isinstance(value, str):
        name = value.strip()
    elif value is UTC:
        return "UTC"
    elif isinstance(value, ZoneInfo) and value.key:
        name = value.key
    elif isinstance(value, tzinfo):
        name = str(value)
    else:
        raise SpecError(
            f"timezone: expected an IANA zone name, got {shorten(value)}", field="timezone"
        )
    if name.upper() in ("", "UTC", "Z", "ETC/UTC"):
        return "UTC"
    load_zone(name)
    return name
