"""Holiday calendars: binding their dates into the rules that name them, and bringing the
entries that name a calendar up to date when it changes.

Specs stay pure: a rule ``{"calendar": NAME}`` holds the dates of ``NAME`` itself, bound in
when its entry is written (``apply``, :func:`bind`) and again whenever the calendar changes
(:func:`rebind`). The beat, the CLI and the dashboard then evaluate the dates the rule holds,
with no store at hand (see ``docs/decisions.md``, "Holiday calendars are bound into specs").
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import replace
from datetime import date, datetime

from celery_stembeat.audit import ChangeNote
from celery_stembeat.entry import Entry
from celery_stembeat.limits import MAX_WINDOW_ITEMS
from celery_stembeat.specs import bind_calendars, calendar_names
from celery_stembeat.stores import Store, StoreError

#: How often :func:`rebind` writes an entry that other processes keep changing.
ATTEMPTS = 5
#: The most dates a calendar holds: as many as one rule may list.
MAX_DATES = MAX_WINDOW_ITEMS


def bind(entry: Entry, calendars: Mapping[str, Collection[date]]) -> Entry:
    """``entry`` with the dates of the calendars its rules name; an unknown calendar raises
    :class:`~celery_stembeat.specs.SpecError` naming the rule."""
    spec = bind_calendars(entry.spec, calendars)
    return entry if spec is entry.spec else replace(entry, spec=spec)


def users(entries: Collection[Entry], names: Collection[str]) -> list[str]:
    """The ids of ``entries`` whose rules name one of the calendars ``names``."""
    wanted = set(names)
    return [entry.id for entry in entries if calendar_names(entry.spec) & wanted]


def _rebound(
    entry: Entry, calendars: Mapping[str, Collection[date]], now: datetime
) -> Entry | None:
    """``entry`` bound to ``calendars`` (a calendar gone counts as empty), its next run
    computed again as a newly enabled entry's is, resuming after its last run (a disabled
    entry, or one without a next run, keeps its state); ``None`` when the dates it holds are
    those already."""
    present = {name: calendars.get(name, ()) for name in calendar_names(entry.spec)}
    moved = bind(entry, present)
    if moved.spec == entry.spec:
        return None
    if not entry.enabled or entry.state.next_run_at is None:
        return moved
    return moved.with_state(next_run_at=moved.first_run_after(now), updated_at=now)


def rebind(store: Store, names: Collection[str], now: datetime, note: ChangeNote) -> list[str]:
    """Bind the store's current dates into every entry whose rules name one of the calendars
    ``names``, and move its next run accordingly; the ids of the entries written.

    Each write is checked against the version read; entries changed meanwhile are read and
    written again, :data:`ATTEMPTS` times, after which :class:`StoreError` names them.
    """
    calendars = store.calendars()
    pending = users(store.list_entries(), names)
    written: list[str] = []
    for _ in range(ATTEMPTS):
        entries = store.get_many(pending)
        batch = [moved for entry in entries if (moved := _rebound(entry, calendars, now))]
        expected = {entry.id: entry.version for entry in entries}
        refused = store.write_checked(batch, expected, note=note)
        written += [moved.id for moved in batch if moved.id not in refused]
        if not refused:
            return written
        pending = refused
    raise StoreError(f"entries {', '.join(map(repr, pending))} kept changing while rebinding")


__all__ = ["ATTEMPTS", "MAX_DATES", "bind", "rebind", "users"]
