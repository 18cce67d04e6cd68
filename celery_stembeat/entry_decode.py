"""Entries and run state rebuilt from values already validated, without validating again.

Every entry was validated by :class:`~celery_stembeat.entry.Entry` before a store took it, and
every run state was computed from validated values, so reading one back needs only the values
in their final types (aware UTC instants, tuples, dicts, floats). Validation costs more than
the rest of a claim; a beat reads entries back far more often than anyone writes them. The
stores and the config sync both build entries this way, so it lives beside
:mod:`celery_stembeat.entry`.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from celery_stembeat.entry import Entry, RunState

_STATE_DEFAULTS = {field.name: field.default for field in dataclasses.fields(RunState)}
_ENTRY_DEFAULTS = {
    field.name: field.default
    for field in dataclasses.fields(Entry)
    if field.default is not dataclasses.MISSING
}
_EMPTY = RunState()


def stored_state(**values: Any) -> RunState:
    """A run state with ``values`` (final types), every other field at its default."""
    state: RunState = object.__new__(RunState)
    state.__dict__.update(_STATE_DEFAULTS, **values)
    return state


def stored_entry(**values: Any) -> Entry:
    """An entry with ``values`` (final types, at least id, task and spec).

    ``kwargs``, ``options`` and ``state`` default to fresh empty values, as in the dataclass.
    """
    entry: Entry = object.__new__(Entry)
    fresh = {"kwargs": {}, "options": {}, "state": _EMPTY}
    entry.__dict__.update({**_ENTRY_DEFAULTS, **fresh, **values})
    return entry


def replace_entry(entry: Entry, **changes: Any) -> Entry:
    """``entry`` with ``changes`` (final types), like :func:`dataclasses.replace`."""
    changed: Entry = object.__new__(Entry)
    changed.__dict__.update(entry.__dict__, **changes)
    return changed


def replace_state(state: RunState, **changes: Any) -> RunState:
    """``state`` with ``changes`` (final types), like :func:`dataclasses.replace`."""
    changed: RunState = object.__new__(RunState)
    changed.__dict__.update(state.__dict__, **changes)
    return changed
