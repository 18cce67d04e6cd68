"""Entries: a schedule's definition (what to run, when) and its run state, as JSON."""

from __future__ import annotations

import functools
import json
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from datetime import datetime, timedelta
from typing import Any, TypeGuard

from celery_stembeat.limits import (
    MAX_COUNT,
    MAX_DESCRIPTION_LENGTH,
    MAX_ID_LENGTH,
    MAX_JITTER,
    MAX_OVERLAP_TIMEOUT,
    MAX_TAG_LENGTH,
    MAX_TAGS,
    MAX_TASK_LENGTH,
    LimitError,
    check_text,
    encoded_value,
    shorten,
    within,
)
from celery_stembeat.options import check_options
from celery_stembeat.specs import (
    ClockedSpec,
    Spec,
    SpecError,
    format_instant,
    parse_instant,
    unwrap,
)
from celery_stembeat.specs import parse_spec as _parse_spec

CATCH_UP_POLICIES = ("skip", "fire_one", "fire_all")
#: What an occurrence does while the entry's previous run has not finished: sent anyway, or
#: skipped (``overlap: skip``, which needs workers that report outcomes).
OVERLAP_POLICIES = ("allow", "skip")
#: How long (seconds) a run with no final outcome counts as unfinished, unless the entry says.
DEFAULT_OVERLAP_TIMEOUT = 3600.0
SOURCES = ("config", "store")
_CONTROL = re.compile(r"[\x00-\x1f]")
_TAG = re.compile(rf"[A-Za-z0-9][A-Za-z0-9_.:/-]{{0,{MAX_TAG_LENGTH - 1}}}")


class EntryError(ValueError):
    """An entry is invalid; the message names the entry, the field and the bad value."""

    def __init__(self, message: str, entry_id: str | None = None, field: str | None = None) -> None:
        super().__init__(message)
        self.entry_id = entry_id
        self.field = field


def _instant_or_none(value: object, name: str) -> datetime | None:
    return None if value is None else parse_instant(value, repr(name), name)


def _text_instant(value: datetime | None) -> str | None:
    return None if value is None else format_instant(value)


_FIELD_NAMES: dict[str, frozenset[str]] = {}


def _field_names(cls: type) -> frozenset[str]:
    """The names of a dataclass's fields (what its JSON form may hold)."""
    key = f"{cls.__module__}.{cls.__qualname__}"
    names = _FIELD_NAMES.get(key)
    if names is None:
        names = _FIELD_NAMES[key] = frozenset(item.name for item in fields(cls))
    return names


@functools.cache
def _state_field_order() -> tuple[str, ...]:
    return tuple(item.name for item in fields(RunState))


@dataclass(frozen=True)
class RunState:
    """What has happened to an entry so far; the store keeps it.

    The beat advances the first part as it sends (``failure_count``, ``consecutive_failures``
    and ``last_error`` are about *sending*); workers that track outcomes advance the second,
    from ``last_outcome`` on, and only they (see :data:`TRACKED_FIELDS`).
    """

    next_run_at: datetime | None = None
    last_scheduled_for: datetime | None = None
    last_run_at: datetime | None = None
    total_run_count: int = 0
    failure_count: int = 0
    consecutive_failures: int = 0
    last_error: str | None = None
    last_drift: float | None = None
    drift_mean: float | None = None
    drift_max: float | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    #: The final outcome of the newest occurrence a worker reported on.
    last_outcome: str | None = None
    #: That occurrence's scheduled time.
    last_outcome_for: datetime | None = None
    success_count: int = 0
    #: Final outcomes ``failure``, ``rejected`` and ``timeout``.
    task_failure_count: int = 0
    #: Such outcomes in a row, up to the newest reported occurrence.
    consecutive_task_failures: int = 0
    last_task_error: str | None = None
    #: Runtime of the successful runs, in seconds.
    runtime_mean: float | None = None
    runtime_max: float | None = None

    def newest_unfinished(self) -> bool:
        """Whether the newest occurrence (sent, or tried) has no final outcome reported yet."""
        newest = self.last_scheduled_for
        return newest is not None and (
            self.last_outcome_for is None or self.last_outcome_for < newest
        )

    _INSTANTS = (
        "next_run_at",
        "last_scheduled_for",
        "last_run_at",
        "created_at",
        "updated_at",
        "last_outcome_for",
    )
    _COUNTS = (
        "total_run_count",
        "failure_count",
        "consecutive_failures",
        "success_count",
        "task_failure_count",
        "consecutive_task_failures",
    )
    _DRIFTS = ("last_drift", "drift_mean", "drift_max", "runtime_mean", "runtime_max")
    _TEXTS = ("last_error", "last_outcome", "last_task_error")

    def __post_init__(self) -> None:
        # Most fields of most states are at their defaults (None, 0), which need no check:
        # every entry read or built makes one, so the fast path matters.
        values = self.__dict__
        for name in self._INSTANTS:
            value = values[name]
            if value is not None:
                object.__setattr__(self, name, parse_instant(value, repr(name), name))
        for name in self._COUNTS:
            value = values[name]
            if value.__class__ is not int or not 0 <= value <= MAX_COUNT:
                _count(value, name)
        for name in self._DRIFTS:
            value = values[name]
            if value is not None:
                object.__setattr__(self, name, _number(value, name))
        for name in self._TEXTS:
            value = values[name]
            if value is not None and not isinstance(value, str):
                raise SpecError(f"{name!r}: expected text, got {shorten(value)}", name)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form; instants as ISO 8601 UTC text."""
        values = self.__dict__
        data = {name: values[name] for name in _state_field_order()}
        for name in self._INSTANTS:
            data[name] = _text_instant(data[name])
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], entry_id: str | None = None) -> RunState:
        """Read the JSON form; unknown keys are an error."""
        unknown = sorted(set(data) - _field_names(cls), key=str)
        if unknown:
            raise EntryError(
                f"entry {shorten(entry_id)}: unknown state field {shorten(unknown[0])}",
                entry_id,
                unknown[0],
            )
        try:
            return cls(**data)
        except SpecError as exc:
            raise EntryError(
                f"entry {shorten(entry_id)}: state {exc}", entry_id, exc.field
            ) from None


#: The run state fields only workers' reports write; a completion keeps them as stored.
TRACKED_FIELDS = (
    "last_outcome",
    "last_outcome_for",
    "success_count",
    "task_failure_count",
    "consecutive_task_failures",
    "last_task_error",
    "runtime_mean",
    "runtime_max",
)


def _count(value: object, name: str) -> int:
    if not (within(value, 0, MAX_COUNT) and isinstance(value, int)):
        raise SpecError(f"{name!r}: {shorten(value)} is not a count", name)
    return value


def _number(value: object, name: str) -> float:
    if not within(value, -sys.float_info.max, sys.float_info.max):
        raise SpecError(f"{name!r}: {shorten(value)} is not a finite number", name)
    return float(value)  # type: ignore[arg-type]


def checked_tags(value: object) -> tuple[str, ...]:
    """``value`` (a list of tag names) without duplicates, sorted; SpecError names the first bad
    one (``tags[2]``)."""
    if isinstance(value, str) or not isinstance(value, (list, tuple, set, frozenset)):
        raise SpecError(f"'tags': expected a list of names, got {shorten(value)}", "tags")
    if len(value) > MAX_TAGS:
        raise SpecError(f"'tags': {len(value)} tags, more than {MAX_TAGS}", "tags")
    for index, tag in enumerate(value):
        if not isinstance(tag, str) or not _TAG.fullmatch(tag):
            raise SpecError(
                f"'tags[{index}]': {shorten(tag)} is not a tag (1-{MAX_TAG_LENGTH} of "
                "A-Z a-z 0-9 _ . : / -, starting with a letter or digit)",
                "tags",
            )
    return tuple(sorted(set(value)))


def _has_nul(value: object) -> bool:
    """Whether any text in a JSON-able value (mapping keys included) holds a NUL character."""
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, Mapping):
        return any(_has_nul(key) or _has_nul(item) for key, item in value.items())
    if isinstance(value, (list, tuple)):
        return any(_has_nul(item) for item in value)
    return False


def _nul_error(name: str) -> SpecError:
    # PostgreSQL cannot store NUL in text or JSONB; refusing it everywhere keeps the stores alike.
    return SpecError(f"{name!r}: contains a NUL character (\\x00), which stores cannot keep", name)


def _check_text(text: str, name: str, limit: int) -> None:
    check_text(text, name, limit)
    if "\x00" in text:
        raise _nul_error(name)


def _check_json(value: object, name: str) -> None:
    """``value`` is JSON within the bounds of :mod:`celery_stembeat.limits`, without NUL."""
    if not value and isinstance(value, (tuple, list, dict)):
        return  # empty: nothing to bound (most args and options are)
    try:
        data = encoded_value(value, name)
    except LimitError:
        raise
    except (RecursionError, TypeError, ValueError) as exc:
        raise SpecError(f"{name!r} is not JSON: {exc}", name) from None
    # JSON escapes NUL as \u0000: only then is the value searched.
    if b"\\u0000" in data and _has_nul(value):
        raise _nul_error(name)


def _check_id(value: object) -> None:
    if not isinstance(value, str) or not value.strip():
        raise SpecError(f"'id': {shorten(value)} must be non-empty text", "id")
    _check_text(value, "id", MAX_ID_LENGTH)
    if _CONTROL.search(value):
        raise SpecError(f"'id': must be at most {MAX_ID_LENGTH} printable characters", "id")


def is_entry_id(value: object) -> TypeGuard[str]:
    """Whether ``value`` could be an entry's id (so an id that is not can name no entry)."""
    try:
        _check_id(value)
    except (SpecError, LimitError):
        return False
    return True


@dataclass(frozen=True)
class Entry:
    """One schedule: the task to send, when, how, and its run state."""

    id: str
    task: str
    spec: Spec
    args: tuple[Any, ...] = ()
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    options: Mapping[str, Any] = field(default_factory=dict)
    enabled: bool = True
    run_once: bool = False
    expire_at: datetime | None = None
    catch_up: str = "fire_one"
    jitter: float = 0.0
    description: str = ""
    overlap: str = "allow"
    #: Seconds after which an unfinished previous run no longer holds back ``overlap: skip``
    #: (``None``: :data:`DEFAULT_OVERLAP_TIMEOUT`).
    overlap_timeout: float | None = None
    #: Names to select the entry by (``--tag``): no duplicates, sorted.
    tags: tuple[str, ...] = ()
    source: str = "store"
    version: int = 0
    state: RunState = RunState()

    def __post_init__(self) -> None:
        try:
            self._validate()
        except (SpecError, LimitError) as exc:
            raise EntryError(f"entry {shorten(self.id)}: {exc}", self.id, exc.field) from None

    def _validate(self) -> None:
        _check_id(self.id)
        if not isinstance(self.task, str) or not self.task.strip():
            raise SpecError(f"'task': {shorten(self.task)} must be a task name", "task")
        _check_text(self.task, "task", MAX_TASK_LENGTH)
        object.__setattr__(self, "spec", _parse_spec(self.spec))
        args: object = self.args
        if not isinstance(args, (list, tuple)):
            raise SpecError(f"'args': expected a list, got {shorten(args)}", "args")
        object.__setattr__(self, "args", tuple(args))
        if not isinstance(self.kwargs, Mapping) or not all(isinstance(k, str) for k in self.kwargs):
            raise SpecError(f"'kwargs': expected an object, got {shorten(self.kwargs)}", "kwargs")
        object.__setattr__(self, "kwargs", dict(self.kwargs))
        object.__setattr__(self, "options", check_options(self.options))
        for name in ("args", "kwargs", "options"):
            _check_json(getattr(self, name), name)
        for name in ("enabled", "run_once"):
            if not isinstance(getattr(self, name), bool):
                raise SpecError(f"{name!r}: expected true or false", name)
        if self.spec.run_once:
            object.__setattr__(self, "run_once", True)
        object.__setattr__(self, "expire_at", _instant_or_none(self.expire_at, "expire_at"))
        if not isinstance(self.catch_up, str) or self.catch_up not in CATCH_UP_POLICIES:
            raise SpecError(
                f"'catch_up': {shorten(self.catch_up)} is not one of "
                f"{', '.join(CATCH_UP_POLICIES)}",
                "catch_up",
            )
        if not within(self.jitter, 0, MAX_JITTER):
            raise SpecError(
                f"'jitter': {shorten(self.jitter)} is not a number of seconds 0-{MAX_JITTER:.0f}",
                "jitter",
            )
        object.__setattr__(self, "jitter", float(self.jitter))
        if not isinstance(self.overlap, str) or self.overlap not in OVERLAP_POLICIES:
            raise SpecError(
                f"'overlap': {shorten(self.overlap)} is not one of {', '.join(OVERLAP_POLICIES)}",
                "overlap",
            )
        if self.overlap_timeout is not None:
            if not within(self.overlap_timeout, 1, MAX_OVERLAP_TIMEOUT):
                raise SpecError(
                    f"'overlap_timeout': {shorten(self.overlap_timeout)} is not a number of "
                    f"seconds 1-{MAX_OVERLAP_TIMEOUT:.0f}",
                    "overlap_timeout",
                )
            object.__setattr__(self, "overlap_timeout", float(self.overlap_timeout))
        object.__setattr__(self, "tags", checked_tags(self.tags))
        if not isinstance(self.description, str):
            raise SpecError(
                f"'description': expected text, got {shorten(self.description)}", "description"
            )
        _check_text(self.description, "description", MAX_DESCRIPTION_LENGTH)
        if not isinstance(self.source, str) or self.source not in SOURCES:
            raise SpecError(
                f"'source': {shorten(self.source)} is not one of {', '.join(SOURCES)}", "source"
            )
        if not (within(self.version, 0, MAX_COUNT) and isinstance(self.version, int)):
            raise SpecError(
                f"'version': {shorten(self.version)} is not a version number", "version"
            )
        if not isinstance(self.state, RunState):
            raise SpecError("'state': expected a RunState", "state")

    # -- JSON -------------------------------------------------------------------------------

    def definition(self) -> dict[str, Any]:
        """The definition alone, as entry files hold it (what ``apply`` reads)."""
        return {
            "id": self.id,
            "task": self.task,
            "spec": self.spec.to_dict(),
            "args": list(self.args),
            "kwargs": dict(self.kwargs),
            "options": dict(self.options),
            "enabled": self.enabled,
            "run_once": self.run_once,
            "expire_at": _text_instant(self.expire_at),
            "catch_up": self.catch_up,
            "jitter": self.jitter,
            "description": self.description,
            "overlap": self.overlap,
            "overlap_timeout": self.overlap_timeout,
            "tags": list(self.tags),
        }

    def to_dict(self) -> dict[str, Any]:
        """Definition, provenance, version and run state: everything a store keeps."""
        data = self.definition()
        data["source"] = self.source
        data["version"] = self.version
        data["state"] = self.state.to_dict()
        return data

    @classmethod
    def from_dict(cls, data: object) -> Entry:
        """Read an entry from its JSON form (a definition, optionally with state)."""
        if not isinstance(data, Mapping):
            raise EntryError(f"entry: expected an object, got {shorten(data)}")
        entry_id = data.get("id")
        label = entry_id if isinstance(entry_id, str) else None
        unknown = sorted(set(data) - _field_names(cls), key=str)
        if unknown:
            raise EntryError(
                f"entry {shorten(label)}: unknown field {shorten(unknown[0])}", label, unknown[0]
            )
        for required in ("id", "task", "spec"):
            if required not in data:
                raise EntryError(
                    f"entry {shorten(label)}: {required!r} is missing", label, required
                )
        values = dict(data)
        try:
            values["spec"] = _parse_spec(values["spec"])
        except SpecError as exc:
            raise EntryError(f"entry {shorten(label)}: 'spec': {exc}", label, "spec") from None
        state = values.get("state")
        if state is not None and not isinstance(state, RunState):
            if not isinstance(state, Mapping):
                raise EntryError(
                    f"entry {shorten(label)}: 'state': expected an object", label, "state"
                )
            values["state"] = RunState.from_dict(state, label)
        elif state is None:
            values.pop("state", None)
        for key, default in (
            ("args", ()),
            ("kwargs", {}),
            ("options", {}),
            ("description", ""),
            ("tags", ()),
        ):
            if values.get(key) is None:
                values[key] = default
        return cls(**values)

    def to_json(self) -> str:
        """Compact JSON of :meth:`to_dict`."""
        return json.dumps(self.to_dict(), separators=(",", ":"), ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str) -> Entry:
        """Read :meth:`to_json` output."""
        return cls.from_dict(json.loads(text))

    # -- scheduling ---------------------------------------------------------------------------

    def first_run_after(self, now: datetime, *, resume: bool = True) -> datetime | None:
        """When a newly stored (or re-enabled) entry should first fire.

        A one-off that has never run fires even if its instant has passed. With ``resume``, an
        entry that has run continues after its last scheduled time (so a missed occurrence is
        caught up); otherwise it starts afresh with the first occurrence after ``now``.
        """
        base = unwrap(self.spec)
        if isinstance(base, ClockedSpec) and self.state.total_run_count == 0:
            # A one-off fires even late, unless its windows exclude its instant.
            return self.spec.next_after(base.at - timedelta(microseconds=1))
        reference = self.state.last_scheduled_for or self.state.last_run_at
        if resume and reference is not None and reference < now:
            return self.spec.next_after(reference)
        return self.spec.next_after(now)

    def coming(self, now: datetime, count: int) -> list[datetime]:
        """The next ``count`` occurrences as beat will send them: the stored next run first
        (even one already past), then the spec's occurrences after it. A disabled entry, or
        one without a next run, shows the spec's occurrences after ``now``."""
        start = self.state.next_run_at
        if count < 1:
            return []
        if not self.enabled or start is None:
            return list(self.spec.occurrences(now, count))
        return [start, *self.spec.occurrences(start, count - 1)]

    def with_state(self, **changes: Any) -> Entry:
        """A copy whose run state has ``changes``.

        The definition was checked when this entry was made and is shared, not checked again;
        the new run state checks itself."""
        return self.with_run_state(replace(self.state, **changes))

    def with_run_state(self, state: RunState) -> Entry:
        """A copy whose run state is ``state`` (the definition shared, not checked again)."""
        if not isinstance(state, RunState):
            raise EntryError(f"entry {shorten(self.id)}: 'state': expected a RunState", self.id)
        copy = object.__new__(type(self))
        copy.__dict__.update(self.__dict__)
        object.__setattr__(copy, "state", state)
        return copy
