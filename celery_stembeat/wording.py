"""Instants, durations, counts and changes in words, as the CLI's tables and the dashboard's
pages show them."""

from __future__ import annotations

from datetime import datetime

from celery_stembeat import specs
from celery_stembeat.audit import Change
from celery_stembeat.specs import Spec, format_duration, load_zone
from celery_stembeat.stores.base import HistorySize

#: What a missing value (no instant, no drift) shows.
NOTHING = "-"


def spec_zone(spec: Spec) -> str:
    """The zone a spec is read in: its own for cron and calendar, UTC for the others."""
    return specs.spec_zone(spec)


def local(instant: datetime | None, zone: str) -> str:
    """``2026-03-02 09:00:00 GMT``: the instant's wall-clock time in ``zone``."""
    if instant is None:
        return NOTHING
    return instant.astimezone(load_zone(zone)).strftime("%Y-%m-%d %H:%M:%S %Z")


def _coarse(seconds: float) -> float:
    """Whole hours past a day, whole minutes past a minute, whole seconds below."""
    for threshold, unit in ((86400, 3600), (60, 60)):
        if seconds >= threshold:
            return seconds // unit * unit
    return seconds // 1


def relative(instant: datetime, now: datetime) -> str:
    """``in 4m``, ``2h5m ago`` or ``now``."""
    seconds = (instant - now).total_seconds()
    if abs(seconds) < 1:
        return "now"
    text = format_duration(_coarse(abs(seconds)))
    return f"in {text}" if seconds > 0 else f"{text} ago"


def when(instant: datetime | None, zone: str, now: datetime) -> str:
    """``2026-03-02 09:00:00 GMT (in 4m)``, or ``-``."""
    if instant is None:
        return NOTHING
    return f"{local(instant, zone)} ({relative(instant, now)})"


def seconds(value: float | None) -> str:
    """A drift or jitter: ``0.004s``, or ``-``."""
    return NOTHING if value is None else f"{value:.3f}s"


def counted(count: int, noun: str, nouns: str | None = None) -> str:
    """``1 entry``, ``2 entries``: a count and its noun (plural ``nouns``, else ``noun`` + s)."""
    return f"{count} {noun if count == 1 else nouns or noun + 's'}"


def history_held(size: HistorySize) -> str:
    """``1,200 runs in history (3.1 MB)``: ``~`` before an estimate, the bytes where known."""
    text = f"{'~' if size.estimated else ''}{size.runs:,} {'run' if size.runs == 1 else 'runs'}"
    text += " in history"
    return text if size.bytes is None else f"{text} ({byte_size(size.bytes)})"


def byte_size(count: int) -> str:
    """``512 B``, ``48 KB``, ``3.1 MB``, ``12.6 GB``: decimal units, two or three digits."""
    size, unit = float(count), "B"
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if size < 1000 or unit == "TB":
            break
        size /= 1000
    return f"{size:.0f} {unit}" if unit == "B" or size >= 10 else f"{size:.1f} {unit}"


def change_summary(change: Change) -> str:
    """What a change record did: ``created``, ``removed``, ``run``, the names of the definition
    fields that changed, or, for the store-wide pause, ``paused until …`` or ``resumed``."""
    before, after = change.before, change.after
    if not change.entry_id:
        if after is None:
            return "resumed"
        reason = after.get("reason")
        return f"paused until {after.get('until') or 'resumed'}" + (f": {reason}" if reason else "")
    if before is None:
        return "run" if after is None else "created"
    if after is None:
        return "removed"
    return ", ".join(change.fields_changed())
