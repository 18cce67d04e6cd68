"""Splitting the SQL store's batches: ids per ``IN (…)`` list, runs of distinct ids."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TypeVar

CHUNK = 500  # ids (or keys) per IN (…) list
_Item = TypeVar("_Item")


def chunks(items: Sequence[_Item]) -> Iterator[Sequence[_Item]]:
    for start in range(0, len(items), CHUNK):
        yield items[start : start + CHUNK]


def distinct_runs(ids: Sequence[str]) -> Iterator[list[int]]:
    """Split the positions of ``ids`` into consecutive runs in which no id appears twice."""
    run: list[int] = []
    seen: set[str] = set()
    for index, entry_id in enumerate(ids):
        if entry_id in seen:
            yield run
            run, seen = [], set()
        run.append(index)
        seen.add(entry_id)
    yield run
