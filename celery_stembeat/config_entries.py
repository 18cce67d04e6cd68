"""celery's ``beat_schedule`` as entries, and the start-up sync that writes them to the store.

The sync writes only what changed, keeps every entry's run state, disables (never deletes) a
config entry that left ``beat_schedule``, and never touches an entry created in the store
(CLI or API), even one whose id a ``beat_schedule`` key repeats.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import pickle
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import Any

from celery_stembeat import __version__
from celery_stembeat.audit import MAX_ACTOR_LENGTH, ChangeNote
from celery_stembeat.calendars import bind
from celery_stembeat.entry import Entry, EntryError, RunState
from celery_stembeat.entry_decode import replace_entry, stored_state
from celery_stembeat.limits import shorten
from celery_stembeat.specs import Spec, SpecError, calendar_names, load_zone, parse_spec
from celery_stembeat.stores.base import Store

logger = logging.getLogger(__name__)

#: ``beat_schedule`` keys celery itself knows.
CELERY_KEYS = ("task", "schedule", "args", "kwargs", "options", "relative")
#: Keys stembeat adds to a ``beat_schedule`` item (ignored by nothing: unknown keys are errors).
STEMBEAT_KEYS = (
    "enabled",
    "run_once",
    "expire_at",
    "catch_up",
    "jitter",
    "description",
    "overlap",
    "overlap_timeout",
    "tags",
)
_KNOWN_KEYS = frozenset(CELERY_KEYS + STEMBEAT_KEYS)


def entry_from_config(
    name: str, item: Mapping[str, Any], timezone: str, specs: dict[bytes, Spec] | None = None
) -> Entry:
    """One ``beat_schedule`` item as an entry (``source="config"``); bad items raise EntryError.

    ``specs`` caches converted schedules by their exact (pickled) value: converting a crontab
    costs more than the rest of an entry, and a large ``beat_schedule`` repeats a few
    schedules many times.
    """
    if not isinstance(item, Mapping):
        raise EntryError(
            f"beat_schedule[{shorten(name)}]: expected a dict, got {shorten(item)}", name
        )
    unknown = sorted(item.keys() - _KNOWN_KEYS, key=str)
    if unknown:
        raise EntryError(
            f"beat_schedule[{shorten(name)}]: unknown key {shorten(unknown[0])}", name, unknown[0]
        )
    for required in ("task", "schedule"):
        if required not in item:
            raise EntryError(
                f"beat_schedule[{shorten(name)}]: {required!r} is missing", name, required
            )
    try:
        spec = _spec(item["schedule"], timezone, {} if specs is None else specs)
    except SpecError as exc:
        raise EntryError(
            f"beat_schedule[{shorten(name)}]: 'schedule': {exc}", name, "schedule"
        ) from None
    extra = {key: item[key] for key in STEMBEAT_KEYS if key in item}
    return Entry(
        id=name,
        task=item["task"],
        spec=spec,
        args=item.get("args") or (),
        kwargs=item.get("kwargs") or {},
        options=_aware_instants(item.get("options") or {}, timezone),
        source="config",
        **extra,
    )


def _aware_instants(options: Any, timezone: str) -> Any:
    """``options`` with a naive ``eta``/``expires`` datetime placed in the app's time zone,
    where celery's worker reads one."""
    if not isinstance(options, Mapping):
        return options
    return {
        key: value.replace(tzinfo=load_zone(timezone))
        if key in ("eta", "expires") and isinstance(value, datetime) and value.tzinfo is None
        else value
        for key, value in options.items()
    }


def _spec(schedule: object, timezone: str, specs: dict[bytes, Spec]) -> Spec:
    try:
        key = pickle.dumps(schedule, protocol=5)
    except Exception:
        return parse_spec(schedule, timezone=timezone)
    spec = specs.get(key)
    if spec is None:
        spec = specs[key] = parse_spec(schedule, timezone=timezone)
    return spec


def item_digest(name: str, item: object, timezone: str) -> str:
    """A digest of everything :func:`entry_from_config` turns into an entry.

    Equal digests mean the same item (pickle writes every value exactly, schedule objects
    included), the same time zone and the same stembeat release, hence the same entry. Items
    pickle cannot hold get ``""`` (no digest: compared in full at every start).
    """
    try:
        data = pickle.dumps((__version__, timezone, name, item), protocol=5)
    except Exception:
        return ""
    return hashlib.blake2b(data, digest_size=16).hexdigest()


class ConfigEntries(list[Entry]):
    """``beat_schedule`` as entries, each built (and validated) when it is first needed.

    Building and validating an entry costs far more than comparing digests: start-up sync
    builds only the items whose digest does not match the store. Anything else that reads this
    list (iteration, indexing, ``len``) gets every entry, built on first use; it is a ``list``
    so that callers expecting one keep working.
    """

    def __init__(self, schedule: Mapping[str, Any], timezone: str) -> None:
        super().__init__()
        self.items: list[tuple[str, Any]] = list(schedule.items())
        self.timezone = timezone
        self._built: dict[int, Entry] = {}
        self._specs: dict[bytes, Spec] = {}

    def entry(self, index: int) -> Entry:
        """The entry of item ``index`` (built once); raises EntryError for a bad item."""
        built = self._built.get(index)
        if built is None:
            name, item = self.items[index]
            built = self._built[index] = entry_from_config(name, item, self.timezone, self._specs)
        return built

    def digest(self, index: int) -> str:
        """:func:`item_digest` of item ``index``."""
        name, item = self.items[index]
        return item_digest(name, item, self.timezone)

    def enabled(self, index: int) -> object:
        """What item ``index`` asks ``enabled`` to be (checked when its entry is built)."""
        item = self.items[index][1]
        return item.get("enabled", True) if isinstance(item, Mapping) else None

    def validate(self) -> None:
        """Build (and so validate) every entry; EntryError names the first bad item."""
        self._all()

    def _all(self) -> None:
        if super().__len__() < len(self.items):
            super().clear()
            super().extend(self.entry(index) for index in range(len(self.items)))

    def __len__(self) -> int:
        return len(self.items)

    def __iter__(self) -> Iterator[Entry]:
        self._all()
        return super().__iter__()

    def __getitem__(self, index: Any) -> Any:
        self._all()
        return super().__getitem__(index)

    def __contains__(self, value: object) -> bool:
        self._all()
        return super().__contains__(value)

    def __eq__(self, other: object) -> bool:
        self._all()
        return super().__eq__(other)

    __hash__ = None

    def __repr__(self) -> str:
        self._all()
        return super().__repr__()


def entries_from_config(schedule: Mapping[str, Any], timezone: str) -> list[Entry]:
    """Every ``beat_schedule`` item as an entry (a :class:`ConfigEntries`, built lazily)."""
    return ConfigEntries(schedule, timezone)


@dataclass
class SyncReport:
    """What a sync wrote."""

    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    unchanged: int = 0
    disabled: list[str] = field(default_factory=list)
    #: ``beat_schedule`` keys shadowed by an entry created in the store.
    shadowed: list[str] = field(default_factory=list)


@dataclass
class _Candidate:
    """One ``beat_schedule`` item on its way through the sync."""

    entry_id: str
    digest: str
    enabled: object
    build: Callable[[], Entry]


def _candidates(entries: Iterable[Entry]) -> list[_Candidate]:
    if isinstance(entries, ConfigEntries):
        return [
            _Candidate(
                name,
                entries.digest(index),
                entries.enabled(index),
                functools.partial(entries.entry, index),
            )
            for index, (name, _) in enumerate(entries.items)
        ]
    return [_Candidate(entry.id, "", entry.enabled, _given(entry)) for entry in entries]


def with_state(entry: Entry, state: RunState) -> Entry:
    """``entry`` (validated) with ``state`` (validated), without validating both again."""
    return replace_entry(entry, state=state)


def _given(entry: Entry) -> Callable[[], Entry]:
    return lambda: entry


def _bound(entry: Entry, calendars: Mapping[str, Collection[date]]) -> Entry:
    """``entry`` with the dates of the holiday calendars its rules name; a calendar the store
    lacks is logged and counts as empty (the beat starts anyway)."""
    missing = sorted(calendar_names(entry.spec) - set(calendars))
    if missing:
        logger.warning(
            "stembeat: beat_schedule entry %r names unknown calendars %s: they hold no dates "
            "until 'stembeat calendar add' creates them",
            entry.id,
            ", ".join(missing),
        )
    return bind(entry, {**dict.fromkeys(missing, ()), **calendars})


def sync_config(
    store: Store, entries: Iterable[Entry], now: datetime, owner: str = "beat"
) -> SyncReport:
    """Make the store's config entries match ``entries``, keeping run state.

    One read of the stored config entries' fingerprints (enabled, digest): an item whose
    digest matches is unchanged without being built or read. The others are built and
    compared in full with what the store holds under their id (read in batches), then written
    if they differ; the digests of the entries found or made equal are attached for next time.
    """
    report = SyncReport()
    stamp = RunState(created_at=now).created_at  # validated: aware, in UTC
    stored = store.fingerprints()
    candidates = _candidates(entries)
    unsure = []
    for candidate in candidates:
        mark = stored.get(candidate.entry_id)
        if (
            mark is not None
            and candidate.digest
            and mark.digest == candidate.digest
            and mark.enabled is candidate.enabled
        ):
            report.unchanged += 1
        else:
            unsure.append(candidate)
    current = {entry.id: entry for entry in store.get_many(c.entry_id for c in unsure)}
    writes: list[tuple[Entry, str]] = []
    digests: dict[str, tuple[int, str]] = {}
    first_runs: dict[Spec, datetime | None] = {}
    calendars: dict[str, tuple[date, ...]] | None = None
    for candidate in unsure:
        existing = current.get(candidate.entry_id)
        if existing is not None and existing.source != "config":
            report.shadowed.append(candidate.entry_id)
            continue
        entry = candidate.build()
        if calendar_names(entry.spec):
            if calendars is None:
                calendars = store.calendars()
            entry = _bound(entry, calendars)
        if existing is None:
            # A new entry's first run depends on its spec alone (its state is empty).
            if entry.spec not in first_runs:
                first_runs[entry.spec] = entry.first_run_after(now)
            state = stored_state(
                next_run_at=first_runs[entry.spec], created_at=stamp, updated_at=stamp
            )
            writes.append((with_state(entry, state), candidate.digest))
            report.added.append(entry.id)
        elif existing.definition() != entry.definition():
            # The store takes next_run_at only if the schedule itself changed.
            changed = replace(entry, state=existing.state).with_state(
                next_run_at=entry.first_run_after(now, resume=False), updated_at=now
            )
            writes.append((changed, candidate.digest))
            report.changed.append(entry.id)
        else:
            report.unchanged += 1
            if candidate.digest:
                digests[entry.id] = (existing.version, candidate.digest)
    note = ChangeNote(f"beat {owner}"[:MAX_ACTOR_LENGTH], "sync", now)
    store.write_many(
        (entry for entry, _ in writes),
        {entry.id: digest for entry, digest in writes if digest},
        note=note,
    )
    store.set_digests(digests)
    wanted = {candidate.entry_id for candidate in candidates}
    for entry_id, mark in stored.items():
        if mark.enabled and entry_id not in wanted:
            store.set_enabled(entry_id, False, now, note=note)
            report.disabled.append(entry_id)
    for entry_id in report.shadowed:
        logger.warning(
            "stembeat: beat_schedule entry %r is ignored: an entry with that id was created "
            "in the store, and the store's wins",
            entry_id,
        )
    if report.disabled:
        logger.info(
            "stembeat: disabled %d entr(ies) no longer in beat_schedule: %s",
            len(report.disabled),
            ", ".join(report.disabled),
        )
    return report
