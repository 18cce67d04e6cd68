"""Entries, runs and changes as the pages show them: plain values for the templates (which
escape them), with kwargs and options masked where the dashboard says so."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from celery_stembeat import wording
from celery_stembeat.entry import Entry
from celery_stembeat.specs import Spec, format_instant

#: What a masked value shows.
MASK = "•••"
#: The next occurrences an entry's page lists.
NEXT_FIRES = 10


def _masked(values: Mapping[str, Any]) -> dict[str, str]:
    return dict.fromkeys(values, MASK)


def definition(entry: Entry, mask: bool) -> dict[str, Any]:
    """The entry's definition as an entry file holds it; with ``mask``, the values of its
    args, kwargs and options (which may hold secrets) replaced by :data:`MASK`."""
    data = entry.to_dict()
    del data["state"]
    if mask:
        data["args"] = [MASK for _ in entry.args]
        data["kwargs"] = _masked(entry.kwargs)
        data["options"] = _masked(entry.options)
    return data


def definition_json(entry: Entry, mask: bool) -> str:
    """:func:`definition` as indented JSON."""
    return json.dumps(definition(entry, mask), indent=2, ensure_ascii=False)


@dataclass(frozen=True)
class Fire:
    """One coming occurrence, in the entry's zone and in UTC."""

    local: str
    utc: str
    relative: str


def next_fires(entry: Entry, now: datetime, count: int = NEXT_FIRES) -> list[Fire]:
    """The entry's next ``count`` occurrences as beat will send them (:meth:`Entry.coming`)."""
    return _fires(entry.spec, entry.coming(now.replace(microsecond=0), count), now)


def spec_fires(spec: Spec, now: datetime, count: int = NEXT_FIRES) -> list[Fire]:
    """The next ``count`` occurrences of ``spec`` after ``now``, in its zone and in UTC."""
    return _fires(spec, spec.occurrences(now.replace(microsecond=0), count), now)


def _fires(spec: Spec, instants: Iterable[datetime], now: datetime) -> list[Fire]:
    zone = wording.spec_zone(spec)
    return [
        Fire(wording.local(at, zone), format_instant(at), wording.relative(at, now))
        for at in instants
    ]


def next_run(entry: Entry) -> datetime | None:
    """When the entry runs next: ``None`` while it is disabled."""
    return entry.state.next_run_at if entry.enabled else None
