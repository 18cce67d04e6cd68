"""What writing a set of entries changes, by entry id: the result ``apply``, ``import`` and
``export`` report, each adding what only it knows."""

from __future__ import annotations

from dataclasses import dataclass, field

from celery_stembeat.entry import Entry


@dataclass
class Changes:
    """Entries added, updated (with what differs) and unchanged, by id."""

    added: list[str] = field(default_factory=list)
    #: id → the definition fields that differ (and, where run state is written, that too).
    updated: dict[str, list[str]] = field(default_factory=dict)
    unchanged: list[str] = field(default_factory=list)


def changed_fields(old: Entry, new: Entry) -> list[str]:
    """The definition fields whose values differ."""
    before, after = old.definition(), new.definition()
    return [name for name in after if before.get(name) != after[name]]


__all__ = ["Changes", "changed_fields"]
