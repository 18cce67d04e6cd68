"""What writing a set of entries changes, by entry id: the result ``apply``, ``import`` and
``export`` report, each adding what only it knows."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from celery_stembeat.entry import Entry


@dataclass
class Changes:
    """Entries added, updated (with what differs) and unchanged, by id."""

    added: list[str] = field(default_factory=list)
    #: id → the definition fields that differ (and, where run state is written, that too).
    updated: dict[str, list[str]] = field(default_factory=dict)
    unchanged: list[str] = field(default_factory=list)


#: Entries a report lists one per line by default, at most; more are only counted (``-v``
#: lists every one).
LISTED_CHANGES = 50

T = TypeVar("T")


def listed(rows: Sequence[T], verbose: bool) -> Sequence[T]:
    """The ``rows`` a report lists: all of them with ``verbose`` or when there are at most
    :data:`LISTED_CHANGES`, else none (the totals say how many)."""
    return rows if verbose or len(rows) <= LISTED_CHANGES else ()


def unlisted_note(rows: Sequence[object], shown: Sequence[object]) -> str:
    """What a totals line adds when rows were left out."""
    return " (-v lists them)" if len(shown) < len(rows) else ""


def changed_fields(old: Entry, new: Entry) -> list[str]:
    """The definition fields whose values differ."""
    before, after = old.definition(), new.definition()
    return [name for name in after if before.get(name) != after[name]]


__all__ = ["LISTED_CHANGES", "Changes", "changed_fields", "listed", "unlisted_note"]
