"""The store contract: where entries live, and how beats claim their occurrences.

Every backend implements :class:`Store` with the same semantics; ``tests/contract/`` runs one
suite against all of them.

Run state moves in three steps:

1. :meth:`Store.claim_due` atomically takes due entries out of the due index and leases them
   to one beat: the entry's stored ``next_run_at`` becomes the claim's ``scheduled_for``. A
   leased entry cannot be claimed again, by this or any other beat.
2. The beat publishes, then :meth:`Store.complete` records the runs, advances the counters,
   stores the next occurrence the beat computed, and puts the entry back in the index.
3. A beat that dies between 1 and 2 leaves a lease that runs out;
   :meth:`Store.recover_expired_claims` puts such entries back in the index with the same
   ``next_run_at``, so the occurrence is claimed again (by any beat) instead of being lost.

``version`` counts *definition* changes (upsert, enable/disable); claims and completions change
run state only and leave it alone, so editing an entry never conflicts with a running beat.
An edit made while a claim is out keeps its definition, version and ``updated_at`` through the
completion. Its ``next_run_at`` wins only if it changed the *schedule*: the spec differs from
the claimed entry's, or the entry was disabled and enabled again (so its next run no longer is
the claimed occurrence). Otherwise the completion stores the outcome's ``next_run_at``; keeping
the stored one would hand the occurrence just published to the next claim.
"""

from __future__ import annotations

import abc
import heapq
import math
import re
import uuid
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import Any, Final

from celery_stembeat.audit import (
    DEFAULT_AUDIT_LIMIT,
    AuditHead,
    Change,
    ChangeNote,
    EntryChange,
)
from celery_stembeat.entry import Entry, checked_tags
from celery_stembeat.limits import MAX_ERROR_LENGTH, MAX_WINDOW_ITEMS, shorten
from celery_stembeat.ordering import RANKINGS, SORTS
from celery_stembeat.specs import SpecError, check_calendar_name, format_instant, parse_instant

#: Run outcomes a beat records in history: sent, could not be sent, or not sent because the
#: entry's previous run had not finished (``overlap: skip``).
PUBLISHED = "published"
FAILED = "failed"
SKIPPED = "skipped"
OUTCOMES = (PUBLISHED, FAILED, SKIPPED)

#: Outcomes a worker reports (see :func:`celery_stembeat.track_outcomes`). ``started`` and
#: ``retry`` are on the way; the others are final: a run record takes one final outcome only.
STARTED = "started"
RETRY = "retry"
SUCCESS = "success"
FAILURE = "failure"
REVOKED = "revoked"
REJECTED = "rejected"
TIMEOUT = "timeout"
FINAL_OUTCOMES = (SUCCESS, FAILURE, REVOKED, REJECTED, TIMEOUT)
TASK_OUTCOMES = (STARTED, RETRY, *FINAL_OUTCOMES)
#: Final outcomes that count as the task failing.
FAILING_OUTCOMES = (FAILURE, REJECTED, TIMEOUT)
#: Characters of a worker's hostname a run record keeps.
MAX_WORKER_LENGTH = 255
#: Runs of history kept per entry unless told otherwise (``history_limit``), and for how long
#: (``history_max_age``): see "History budget" in docs/stores.md for what they cost.
DEFAULT_HISTORY_LIMIT = 100
DEFAULT_HISTORY_MAX_AGE = timedelta(days=30)
#: The longest ``history_max_age``: ten years.
MAX_HISTORY_MAX_AGE = timedelta(days=3650)

#: A bulk write of more entries than this announces :data:`ANY_CHANGE` once instead of each id.
ANNOUNCED_IDS = 100

#: Returned by :meth:`ChangeFeed.wait` among the ids when announcements may have been missed
#: (the feed lost its connection and made a new one, or fell behind a trimmed change log), and
#: announced by a store-wide change (:meth:`Store.pause`, :meth:`Store.resume`): the caller
#: should reload every entry it caches, and the pause. Never an entry id (ids are non-empty).
ANY_CHANGE: Final = ""


def announced(entry_ids: Sequence[str]) -> Sequence[str]:
    """What a write of ``entry_ids`` announces: the ids, or :data:`ANY_CHANGE` once for more
    than :data:`ANNOUNCED_IDS` (a bulk write wakes each listener once, not once per entry)."""
    return entry_ids if len(entry_ids) <= ANNOUNCED_IDS else [ANY_CHANGE]


class StoreError(Exception):
    """A store operation failed."""


class StoreURLError(StoreError):
    """A store's (or a migration source's) URL cannot be read; the message masks passwords."""


class EntryNotFound(StoreError, KeyError):
    """No entry has that id."""

    def __init__(self, entry_id: str) -> None:
        super().__init__(entry_id)
        self.entry_id = entry_id

    def __str__(self) -> str:
        return f"no entry {self.entry_id!r}"


class VersionConflict(StoreError):
    """A write named a version that is no longer the stored one."""

    def __init__(self, entry_id: str, expected: int | None, actual: int | None) -> None:
        super().__init__(f"entry {entry_id!r}: expected version {expected}, store has {actual}")
        self.entry_id = entry_id
        self.expected = expected
        self.actual = actual


def check_version(entry_id: str, expected: int | None, actual: int | None) -> None:
    """Raise :class:`VersionConflict` unless ``expected`` is ``None`` or the stored version
    ``actual`` (``None``: no entry, which ``expected`` names as ``0``)."""
    if expected is not None and expected != (actual or 0):
        raise VersionConflict(entry_id, expected, actual)


def not_found(entry_id: str, expected: int | None) -> StoreError:
    """What a write to an entry that is not stored raises: :class:`VersionConflict` when the
    caller named the version it read (``expected``), else :class:`EntryNotFound`."""
    if expected is None:
        return EntryNotFound(entry_id)
    return VersionConflict(entry_id, expected, None)


def checked_history_limit(value: object, backend: str) -> int:
    """``value`` when it is a count of runs to keep (an int >= 0), else a StoreError."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise StoreError(f"{backend} store: history_limit {value!r} is not a count >= 0")
    return value


#: A ``history_max_age`` in text: a whole number, optionally with a unit.
_MAX_AGE = re.compile(r"([0-9]{1,12})([smhdSMHD]?)")
_AGE_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_history_max_age(value: object) -> timedelta:
    """``value`` as a ``history_max_age``: a timedelta, seconds (a number or its text), or text
    with a unit (``30d``, ``12h``, ``90m``, ``45s``); 0 means no age limit. A ValueError naming
    the option unless it is from 0 to :data:`MAX_HISTORY_MAX_AGE`."""
    seconds: float | None = None
    if isinstance(value, timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        seconds = float(value)
    elif isinstance(value, str) and (found := _MAX_AGE.fullmatch(value)):
        # Few digits: text of a million digits is refused, not converted.
        seconds = float(found[1]) * _AGE_UNITS[found[2].lower()]
    if seconds is None or not 0 <= seconds <= MAX_HISTORY_MAX_AGE.total_seconds():
        raise ValueError(
            f"history_max_age {shorten(value)} is not a duration from 0 to 3650d "
            "(seconds, or a number with s, m, h or d)"
        )
    return timedelta(milliseconds=round(seconds * 1000))


def checked_history_max_age(value: object, backend: str) -> timedelta:
    """:func:`parse_history_max_age`'s answer, else a StoreError naming ``backend``."""
    try:
        return parse_history_max_age(value)
    except ValueError as exc:
        raise StoreError(f"{backend} store: {exc}") from None


def run_time(run: RunRecord) -> datetime:
    """When ``run`` happened: when it was sent (a run not sent: its scheduled time). Activity
    counts runs by it, and ``history_max_age`` ages them by it."""
    return run.published_at or run.scheduled_for


def history_stamps(previous: datetime | None, runs: Iterable[RunRecord]) -> list[datetime]:
    """The instants history ages ``runs`` by (to the millisecond), appended in order after a
    run stamped ``previous``: each run's :func:`run_time`, or the stamp before when that is
    later. Stamps never go back, so the runs that age out are always an entry's oldest.

    Appending runs trims the entry's history to the newest ``history_limit`` and drops the
    runs stamped more than ``history_max_age`` before the newest stamp (both limits apply).
    """
    stamps: list[datetime] = []
    for run in runs:
        at = run_time(run).astimezone(timezone.utc)
        at = at.replace(microsecond=at.microsecond // 1000 * 1000)
        previous = at if previous is None else max(previous, at)
        stamps.append(previous)
    return stamps


def checked_selection(tags: Collection[str]) -> tuple[str, ...]:
    """The ``tags`` of :meth:`Store.ids_tagged` when valid (distinct, sorted), else a
    ValueError naming the bad one."""
    if isinstance(tags, str):
        raise ValueError(f"tags: expected a collection of names, got {shorten(tags)}")
    try:
        selection = checked_tags(list(tags))
    except SpecError as exc:
        raise ValueError(str(exc)) from None
    if not selection:
        raise ValueError("tags: at least one tag is needed")
    return selection


def _checked_count(name: str, value: object, least: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < least:
        raise ValueError(f"{name}: {shorten(value)} is not a count >= {least}")
    return value


def checked_soonest(limit: object, after: object) -> tuple[int, tuple[datetime, str] | None]:
    """The arguments of :meth:`Store.soonest` (``after``'s instant in UTC) when valid, else
    a ValueError naming the bad one."""
    count = _checked_count("limit", limit, 1)
    if after is None:
        return count, None
    if not (
        isinstance(after, tuple)
        and len(after) == 2
        and isinstance(after[0], datetime)
        and after[0].utcoffset() is not None
        and isinstance(after[1], str)
    ):
        raise ValueError(f"after: {shorten(after)} is not an (aware datetime, id) pair")
    return count, (after[0].astimezone(timezone.utc), after[1])


def checked_ranking(by: object, limit: object, offset: object) -> Callable[[Entry], Any]:
    """The sort key of :meth:`Store.ranked`'s ``by`` when its arguments are valid, else a
    ValueError naming the bad one."""
    if by not in RANKINGS:
        raise ValueError(f"by: {shorten(by)} is not one of {', '.join(RANKINGS)}")
    _checked_count("limit", limit, 1)
    _checked_count("offset", offset, 0)
    return SORTS[str(by)]


def checked_change_limit(limit: object) -> int | None:
    """``limit`` of :meth:`Store.changes` when it is ``None`` or a count >= 1, else a
    ValueError."""
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise ValueError(f"limit: {shorten(limit)} is not a count >= 1")
    return limit


def checked_calendar(name: object, dates: object) -> tuple[str, tuple[date, ...]]:
    """A holiday calendar's name and some of its dates (sorted, each once), checked: a bad
    name, a value that is not a date, or more than :data:`MAX_WINDOW_ITEMS` dates raises
    ValueError naming it."""
    name = check_calendar_name(name)
    if isinstance(dates, (str, bytes)) or not isinstance(dates, Iterable):
        raise SpecError(f"calendar {name!r}: expected dates, got {shorten(dates)}", "dates")
    days = set()
    for day in dates:
        if isinstance(day, datetime) or not isinstance(day, date):
            raise SpecError(f"calendar {name!r}: {shorten(day)} is not a date", "dates")
        days.add(day)
        if len(days) > MAX_WINDOW_ITEMS:
            raise SpecError(f"calendar {name!r}: more than {MAX_WINDOW_ITEMS} dates", "dates")
    return name, tuple(sorted(days))


def claim_token(owner: str) -> str:
    """A token for one claim: the owner's name, then a part no other claim has."""
    return f"{owner}:{uuid.uuid4().hex}"


@dataclass(frozen=True)
class Claim:
    """One entry leased to one beat for the occurrence ``scheduled_for``."""

    entry: Entry
    scheduled_for: datetime
    owner: str
    token: str
    lease_until: datetime

    @property
    def entry_id(self) -> str:
        """The claimed entry's id."""
        return self.entry.id


@dataclass(frozen=True)
class RunRecord:
    """One occurrence as history keeps it: what the beat did with it (``published`` or
    ``failed``), then what the worker reported (``outcome`` moves on to one of
    :data:`TASK_OUTCOMES`, with the times, runtime, error and worker).

    A ``manual`` run was sent out of schedule (``stembeat run``, see
    :meth:`Store.record_manual_run`): ``scheduled_for`` is when it was asked for, ``owner`` who
    asked (``user@host``).
    """

    entry_id: str
    scheduled_for: datetime
    outcome: str
    published_at: datetime | None = None
    drift: float | None = None
    jitter: float = 0.0
    error: str | None = None
    owner: str = ""
    task_id: str | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    #: Seconds the task ran, as the worker measured it.
    runtime: float | None = None
    #: The hostname of the worker that ran it.
    worker: str | None = None
    #: Sent out of schedule, by hand; the entry's run state does not count it.
    manual: bool = False

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        return {
            "entry_id": self.entry_id,
            "scheduled_for": format_instant(self.scheduled_for),
            "outcome": self.outcome,
            "published_at": _instant_text(self.published_at),
            "drift": self.drift,
            "jitter": self.jitter,
            "error": self.error,
            "owner": self.owner,
            "task_id": self.task_id,
            "started_at": _instant_text(self.started_at),
            "finished_at": _instant_text(self.finished_at),
            "runtime": self.runtime,
            "worker": self.worker,
            "manual": self.manual,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunRecord:
        """Read :meth:`to_dict` output."""
        return cls(
            entry_id=data["entry_id"],
            scheduled_for=parse_instant(data["scheduled_for"], "scheduled_for"),
            outcome=data["outcome"],
            published_at=_instant_or_none(data, "published_at"),
            drift=data.get("drift"),
            jitter=data.get("jitter") or 0.0,
            error=data.get("error"),
            owner=data.get("owner") or "",
            task_id=data.get("task_id"),
            started_at=_instant_or_none(data, "started_at"),
            finished_at=_instant_or_none(data, "finished_at"),
            runtime=data.get("runtime"),
            worker=data.get("worker"),
            manual=bool(data.get("manual", False)),
        )


def _instant_text(value: datetime | None) -> str | None:
    return format_instant(value) if value else None


def _instant_or_none(data: Mapping[str, Any], name: str) -> datetime | None:
    value = data.get(name)
    return parse_instant(value, name) if value else None


def checked_manual(record: RunRecord) -> RunRecord:
    """``record`` when it is marked manual (what :meth:`Store.record_manual_run` takes)."""
    if not record.manual:
        raise ValueError(f"run of {shorten(record.entry_id)}: not a manual run (manual=False)")
    return record


#: How long a beat not heard of stays in :meth:`Store.beats`: a beat recording itself
#: forgets those silent for longer.
BEAT_RETENTION = timedelta(days=1)


@dataclass(frozen=True)
class BeatInfo:
    """A beat as it announces itself in the store (see :meth:`Store.record_beat`)."""

    #: The beat's name in claims and history (``stembeat_owner``).
    owner: str
    host: str
    pid: int
    #: celery-stembeat's version.
    version: str
    started_at: datetime
    #: When the beat last finished a pass (its heartbeat).
    last_pass_at: datetime
    #: Seconds the last store round trip took.
    store_latency: float | None = None
    #: The store's time minus this host's, in seconds (``None``: not measured yet).
    clock_offset: float | None = None

    def __post_init__(self) -> None:
        for name in ("owner", "host", "version"):
            value = getattr(self, name)
            if not isinstance(value, str) or "\x00" in value:
                raise ValueError(f"{name}: {shorten(value)} is not text without NUL characters")

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        return {
            "owner": self.owner,
            "host": self.host,
            "pid": self.pid,
            "version": self.version,
            "started_at": format_instant(self.started_at),
            "last_pass_at": format_instant(self.last_pass_at),
            "store_latency": self.store_latency,
            "clock_offset": self.clock_offset,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> BeatInfo:
        """Read :meth:`to_dict` output."""
        return cls(
            owner=data["owner"],
            host=data["host"],
            pid=int(data["pid"]),
            version=data["version"],
            started_at=parse_instant(data["started_at"], "started_at"),
            last_pass_at=parse_instant(data["last_pass_at"], "last_pass_at"),
            store_latency=data.get("store_latency"),
            clock_offset=data.get("clock_offset"),
        )


#: The state of an incident that is not open: a key never recorded is in it, and moving an
#: incident to it resolves the incident (its record goes).
INCIDENT_OK: Final = "ok"
#: Characters of an incident's key, and of its state.
MAX_INCIDENT_KEY_LENGTH = 512
MAX_INCIDENT_STATE_LENGTH = 40


@dataclass(frozen=True)
class Incident:
    """An open incident: something alerts are about (``key``, such as an entry) has been in
    ``state`` (any state but :data:`INCIDENT_OK`) since ``since``."""

    key: str
    state: str
    since: datetime


def checked_transition(key: object, state: object, at: object) -> tuple[str, str, datetime]:
    """The arguments of :meth:`Store.transition_incident` when valid (``at`` in UTC), else a
    ValueError naming the bad one."""
    for name, value, limit in (
        ("key", key, MAX_INCIDENT_KEY_LENGTH),
        ("state", state, MAX_INCIDENT_STATE_LENGTH),
    ):
        if not isinstance(value, str) or not value or len(value) > limit:
            raise ValueError(f"{name}: {shorten(value)} is not text of 1 to {limit} characters")
        if not value.isprintable():
            raise ValueError(f"{name}: {shorten(value)} holds characters that are not printable")
    if not isinstance(at, datetime) or at.utcoffset() is None:
        raise ValueError(f"at: {shorten(at)} is not an aware datetime")
    return str(key), str(state), at.astimezone(timezone.utc)


#: Characters of a pause's reason, and of its actor.
MAX_PAUSE_REASON_LENGTH = 500
MAX_PAUSE_ACTOR_LENGTH = 255


@dataclass(frozen=True)
class Pause:
    """A store-wide pause: no beat claims anything from ``since`` until ``until`` (``None``:
    until :meth:`Store.resume`), set by ``actor`` (``user@host`` from the CLI) for ``reason``.
    Instants are kept in UTC, to the millisecond.

    Raises ValueError naming the field for a naive instant, an ``until`` not after ``since``,
    or a reason (actor) that is not at most 500 (255) printable characters.
    """

    since: datetime
    until: datetime | None = None
    reason: str = ""
    actor: str = ""

    def __post_init__(self) -> None:
        for name in ("since", "until"):
            value = getattr(self, name)
            if value is None and name == "until":
                continue
            if not isinstance(value, datetime) or value.utcoffset() is None:
                raise ValueError(f"{name}: {shorten(value)} is not an aware datetime")
            utc = value.astimezone(timezone.utc)
            # Milliseconds, as every store keeps instants in text and Redis compares them.
            object.__setattr__(self, name, utc.replace(microsecond=utc.microsecond // 1000 * 1000))
        if self.until is not None and self.until <= self.since:
            raise ValueError(
                f"until: {format_instant(self.until)} is not after since "
                f"{format_instant(self.since)}"
            )
        for name, limit in (
            ("reason", MAX_PAUSE_REASON_LENGTH),
            ("actor", MAX_PAUSE_ACTOR_LENGTH),
        ):
            value = getattr(self, name)
            if not isinstance(value, str) or len(value) > limit:
                raise ValueError(
                    f"{name}: {shorten(value)} is not text of at most {limit} characters"
                )
            if not value.isprintable():
                raise ValueError(
                    f"{name}: {shorten(value)} holds characters that are not printable"
                )

    def in_force(self, now: datetime) -> bool:
        """Whether the pause holds at ``now``: open-ended, or ``until`` is after ``now``."""
        return self.until is None or self.until > now

    def describe(self) -> str:
        """``since … by … until …: reason``, on one line (the reason and actor are printable)."""
        until = "resumed" if self.until is None else format_instant(self.until)
        return (
            f"since {format_instant(self.since)} by {self.actor or '?'} until {until}: "
            f"{self.reason or 'no reason given'}"
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        return {
            "since": format_instant(self.since),
            "until": _instant_text(self.until),
            "reason": self.reason,
            "actor": self.actor,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Pause:
        """Read :meth:`to_dict` output."""
        return cls(
            since=parse_instant(data["since"], "since"),
            until=_instant_or_none(data, "until"),
            reason=data.get("reason", ""),
            actor=data.get("actor", ""),
        )


def pause_change(before: Pause | None, after: Pause | None) -> EntryChange | None:
    """The change record's content for the pause going from ``before`` to ``after`` (entry
    id ``""``); ``None`` when nothing changed."""
    old = None if before is None else before.to_dict()
    new = None if after is None else after.to_dict()
    return None if old == new else ("", old, new)


def checked_pause(pause: object) -> Pause:
    """``pause`` when it is a :class:`Pause`, else a ValueError."""
    if not isinstance(pause, Pause):
        raise ValueError(f"pause: {shorten(pause)} is not a Pause")
    return pause


@dataclass(frozen=True)
class EntryCounts:
    """How many entries a store holds, and how many of them are scheduled: enabled, with a
    next run (claimed or not)."""

    total: int
    scheduled: int


@dataclass(frozen=True)
class HistorySize:
    """How much run history a store holds, every entry's together (see
    :meth:`Store.history_size`)."""

    #: Runs held.
    runs: int
    #: Bytes they take in the database, where it tells cheaply (``None``: it does not).
    bytes: int | None = None
    #: ``runs`` is the database's estimate, not a count.
    estimated: bool = False


#: :meth:`Store.activity` counts runs per minute of the run's time (see :func:`run_minute`).
RUN_MINUTE = timedelta(minutes=1)
#: How long stores keep a minute's run count: the widest window :meth:`Store.activity` counts.
RUN_MINUTES_KEPT = timedelta(hours=3)


def minute_of(instant: datetime) -> datetime:
    """The UTC minute ``instant`` falls in (its start)."""
    return instant.astimezone(timezone.utc).replace(second=0, microsecond=0)


def run_minute(run: RunRecord) -> datetime | None:
    """The minute :meth:`Store.activity` counts ``run`` in: when it was sent (a run that
    failed to send: its scheduled time); ``None`` for a skipped run, which is not counted."""
    if run.outcome == SKIPPED:
        return None
    return minute_of(run_time(run))


def minute_counts(runs: Iterable[RunRecord]) -> dict[datetime, int]:
    """How many of ``runs`` each minute counts (see :func:`run_minute`), in minute order; a
    minute more than :data:`RUN_MINUTES_KEPT` before the newest is left out (its count would
    be deleted with it)."""
    counts: dict[datetime, int] = {}
    for minute in map(run_minute, runs):
        if minute is not None:
            counts[minute] = counts.get(minute, 0) + 1
    newest = max(counts, default=None)
    if newest is None:
        return counts
    oldest = newest - RUN_MINUTES_KEPT
    return {minute: counts[minute] for minute in sorted(counts) if minute >= oldest}


def counted_minutes(now: datetime, since: datetime) -> list[datetime]:
    """The minutes :meth:`Store.activity` sums the runs of: from ``since``'s minute to
    ``now``'s, both included, and no further back than :data:`RUN_MINUTES_KEPT` (none when
    ``since`` is after ``now``)."""
    first, last = minute_of(max(since, now - RUN_MINUTES_KEPT)), minute_of(now)
    count = int((last - first) / RUN_MINUTE) + 1
    return [first + RUN_MINUTE * index for index in range(max(count, 0))]


@dataclass(frozen=True)
class Activity:
    """What a store's entries are doing at one instant (see :meth:`Store.activity`)."""

    #: Scheduled entries: enabled, with a next run (claimed or not).
    enabled: int
    #: Enabled entries whose next run is at or before ``now``, and the claimed ones.
    due: int
    #: Unclaimed enabled entries due before ``overdue_before``.
    overdue: int
    #: Enabled entries whose sends are failing (``consecutive_failures > 0``).
    failing: int
    #: Runs recorded (published or failed) in the minutes from ``since``'s to ``now``'s.
    runs: int


def checked_activity(
    now: object, overdue_before: object, since: object
) -> tuple[datetime, datetime, datetime]:
    """The arguments of :meth:`Store.activity` in UTC when they are aware datetimes, else a
    ValueError naming the bad one."""
    found: list[datetime] = []
    for name, value in (("now", now), ("overdue_before", overdue_before), ("since", since)):
        if not isinstance(value, datetime) or value.utcoffset() is None:
            raise ValueError(f"{name}: {shorten(value)} is not an aware datetime")
        found.append(value.astimezone(timezone.utc))
    return found[0], found[1], found[2]


@dataclass(frozen=True)
class SuspectRules:
    """What makes an enabled entry a suspect of :meth:`Store.health_suspects`."""

    #: Unclaimed, and due before this instant.
    missed_before: datetime
    #: This many failures in a row (task outcomes or sends), at least 1.
    failures: int
    #: Its newest occurrence, sent before this instant, has no final outcome yet, on an entry
    #: a worker has reported on before.
    open_before: datetime

    def __post_init__(self) -> None:
        for name in ("missed_before", "open_before"):
            value = getattr(self, name)
            if not isinstance(value, datetime) or value.utcoffset() is None:
                raise ValueError(f"{name}: {shorten(value)} is not an aware datetime")
        if (
            isinstance(self.failures, bool)
            or not isinstance(self.failures, int)
            or self.failures < 1
        ):
            raise ValueError(f"failures: {shorten(self.failures)} is not a count >= 1")

    @staticmethod
    def checked_limit(limit: object) -> int:
        """``limit`` of :meth:`Store.health_suspects` when it is a count >= 1."""
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise ValueError(f"limit: {shorten(limit)} is not a count >= 1")
        return limit

    def matches(self, entry: Entry, claimed: bool) -> bool:
        """Whether ``entry`` (``claimed`` or not) is a suspect: the rule every store follows."""
        state = entry.state
        if not entry.enabled:
            return False
        if not claimed and state.next_run_at is not None and state.next_run_at < self.missed_before:
            return True
        if max(state.consecutive_task_failures, state.consecutive_failures) >= self.failures:
            return True
        return (
            state.last_outcome is not None
            and state.newest_unfinished()
            and state.last_run_at is not None
            and state.last_run_at < self.open_before
        )


@dataclass(frozen=True)
class TaskReport:
    """What a worker said about one occurrence it ran: ``outcome`` (one of
    :data:`TASK_OUTCOMES`) at ``at`` (when it started, for ``started``; when it ended, for the
    rest), with the start, runtime, error text and hostname where known. ``manual``: the
    message was a manual run's (its record is the manual run at ``scheduled_for``)."""

    entry_id: str
    scheduled_for: datetime
    outcome: str
    at: datetime
    started_at: datetime | None = None
    runtime: float | None = None
    error: str | None = None
    worker: str | None = None
    manual: bool = False

    def __post_init__(self) -> None:
        if self.outcome not in TASK_OUTCOMES:
            raise ValueError(
                f"outcome: {shorten(self.outcome)} is not one of {', '.join(TASK_OUTCOMES)}"
            )
        for name in ("scheduled_for", "at", "started_at"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, datetime) or value.utcoffset() is None):
                raise ValueError(f"{name}: {shorten(value)} is not an aware datetime")
        runtime = self.runtime
        if runtime is not None and not (
            isinstance(runtime, (int, float)) and 0 <= runtime < math.inf
        ):
            raise ValueError(f"runtime: {shorten(runtime)} is not a number of seconds >= 0")
        # Texts are cut, not refused: a worker's report must never fail on its error message.
        if self.error is not None:
            object.__setattr__(self, "error", str(self.error)[:MAX_ERROR_LENGTH])
        if self.worker is not None:
            object.__setattr__(self, "worker", str(self.worker)[:MAX_WORKER_LENGTH])


@dataclass(frozen=True)
class Outcome:
    """What a beat did with a claim: the runs it attempted and where the entry goes next.

    ``runs`` may be empty (catch-up ``skip``) or hold several runs (``fire_all``);
    ``next_run_at`` is ``None`` when the schedule has no further occurrence.
    """

    next_run_at: datetime | None
    runs: Sequence[RunRecord] = field(default_factory=tuple)


@dataclass(frozen=True)
class Fingerprint:
    """An entry as start-up sync and ``apply`` see it, without reading all of it."""

    enabled: bool
    #: The digest :meth:`Store.set_digests` attached to the stored definition, ``""`` when none
    #: is attached or the definition changed since (its version moved on).
    digest: str = ""
    #: The stored version (:meth:`Store.fingerprints_of` reads it; ``0`` where not read).
    version: int = 0
    #: Where the definition comes from (``store`` or ``config``).
    source: str = "config"


@dataclass(frozen=True)
class ClaimBatch:
    """What one :meth:`Store.claim_batch` call took, and what it left in the due index."""

    claims: list[Claim]
    #: The earliest ``next_run_at`` among enabled, unclaimed entries once the claims were taken;
    #: while a pause holds, its ``until`` instead (``None``: open-ended).
    next_due_at: datetime | None
    #: The pause in force at the claim's ``now`` (then nothing was claimed), else ``None``.
    paused: Pause | None = None

    @classmethod
    def held(cls, pause: Pause) -> ClaimBatch:
        """The batch of a claim that ``pause`` refused: nothing, until its end."""
        return cls([], pause.until, pause)


class ChangeFeed(abc.ABC):
    """Announcements of definition changes (ids only) made by any process."""

    @abc.abstractmethod
    def wait(self, timeout: float) -> list[str]:
        """Ids changed since the last call; waits up to ``timeout`` s, ``[]`` if none.

        Never raises for a lost connection: the feed reconnects (pausing between attempts, and
        returning by ``timeout`` while it cannot) and, once reconnected, returns
        :data:`ANY_CHANGE`, since changes made meanwhile were not announced to it.
        """

    @abc.abstractmethod
    def close(self) -> None:
        """Stop listening and release the connection; safe to call twice."""


class Store(abc.ABC):
    """Where entries, their run state and their history live."""

    #: Runs kept per entry, the newest (a store setting).
    history_limit: int = DEFAULT_HISTORY_LIMIT
    #: How much older than an entry's newest run a run may be and stay (zero: no age limit).
    history_max_age: timedelta = DEFAULT_HISTORY_MAX_AGE
    #: Change records the audit log keeps (the newest; a store setting).
    audit_limit: int = DEFAULT_AUDIT_LIMIT

    # -- definitions ---------------------------------------------------------------------------

    @abc.abstractmethod
    def get(self, entry_id: str) -> Entry | None:
        """The entry with that id, or ``None``."""

    @abc.abstractmethod
    def list_entries(
        self, *, enabled: bool | None = None, prefix: str | None = None
    ) -> list[Entry]:
        """Entries sorted by id, optionally only enabled/disabled ones or ids with ``prefix``."""

    def iter_entries(
        self, *, enabled: bool | None = None, prefix: str | None = None
    ) -> Iterator[Entry]:
        """:meth:`list_entries`, streamed: backends read a batch at a time, so memory stays
        flat however many entries there are. Close the iterator to stop early."""
        yield from self.list_entries(enabled=enabled, prefix=prefix)

    @abc.abstractmethod
    def soonest(self, limit: int, *, after: tuple[datetime, str] | None = None) -> list[Entry]:
        """The first ``limit`` entries of the due index (enabled, unclaimed, with a next run)
        by ``(next_run_at, id)``; with ``after`` (a key of that order,
        :func:`~celery_stembeat.ordering.next_key` of a page's last entry), those after it.

        Keyset paging over the index the beats claim from: the cost grows with ``limit``,
        not with the entries stored, however far on the page is. An entry out on a claim is
        not in the index until its completion. Raises ValueError for a ``limit`` that is not
        a count >= 1 or an ``after`` whose instant is naive.
        """

    def ranked(self, by: str, limit: int, *, offset: int = 0) -> list[Entry]:
        """The entries ranked by ``by`` (one of :data:`~celery_stembeat.ordering.RANKINGS`,
        the order of :data:`~celery_stembeat.ordering.SORTS`), ``limit`` of them after the
        first ``offset``.

        This default reads every entry and holds ``offset + limit`` of them; SQL stores
        sort on the server. Raises ValueError for an unknown ``by`` or bad counts.
        """
        key = checked_ranking(by, limit, offset)
        return heapq.nsmallest(offset + limit, self.iter_entries(), key=key)[offset:]

    @abc.abstractmethod
    def upsert(
        self, entry: Entry, expected_version: int | None = None, *, note: ChangeNote | None = None
    ) -> Entry:
        """Create or update ``entry``'s definition; return what is stored now.

        ``expected_version`` guards against lost updates: ``0`` means "must not exist yet", a
        positive number must equal the stored version, ``None`` skips the check. Raises
        :class:`VersionConflict` otherwise, and writes nothing.

        A new entry is stored with ``entry.state`` as given. For an existing entry the stored
        run state is kept, except that ``next_run_at`` takes ``entry.state.next_run_at`` when
        the schedule changed (its spec, or enabled going from false to true). The version goes
        up by one; ``created_at``/``updated_at`` come from the entry's state.

        Every writing method records its change in the audit log (see :mod:`celery_stembeat.audit`)
        in the same atomic step, as ``note`` says (who and which verb; by default this process's
        user@host and the method's own verb). A write that leaves the definition as it was is
        not recorded.
        """

    def upsert_many(
        self,
        entries: Iterable[Entry],
        digests: Mapping[str, str] | None = None,
        *,
        note: ChangeNote | None = None,
    ) -> list[Entry]:
        """:meth:`upsert` each entry without a version check; what is stored now, in order.

        For start-up sync: backends write the batch in few round trips (not necessarily in one
        transaction). An id given twice is upserted twice, in order. ``digests`` (id → digest)
        are attached, as :meth:`set_digests` would, to the versions these writes make.
        """
        stored = [self.upsert(entry, note=note) for entry in entries]
        if digests:
            self.set_digests(
                {e.id: (e.version, digests[e.id]) for e in stored if digests.get(e.id)}
            )
        return stored

    def write_many(
        self,
        entries: Iterable[Entry],
        digests: Mapping[str, str] | None = None,
        *,
        note: ChangeNote | None = None,
    ) -> None:
        """:meth:`upsert_many` without reading anything back (start-up sync's bulk write)."""
        self.upsert_many(entries, digests, note=note)

    def write_checked(
        self,
        entries: Sequence[Entry],
        expected_versions: Mapping[str, int],
        digests: Mapping[str, str] | None = None,
        *,
        note: ChangeNote | None = None,
    ) -> list[str]:
        """:meth:`upsert` each entry (distinct ids) whose stored version still is
        ``expected_versions[id]`` (``0``: must not exist); the ids refused, none of them written.

        Each entry's check and write is atomic; backends write the batch in few round trips and
        announce it as :func:`announced` says. ``digests`` are attached as by
        :meth:`upsert_many`.
        """
        refused: list[str] = []
        written: dict[str, tuple[int, str]] = {}
        for entry in entries:
            try:
                stored = self.upsert(entry, expected_versions[entry.id], note=note)
            except VersionConflict:
                refused.append(entry.id)
                continue
            if digests and digests.get(entry.id):
                written[entry.id] = (stored.version, digests[entry.id])
        if written:
            self.set_digests(written)
        return refused

    def get_many(self, entry_ids: Iterable[str]) -> list[Entry]:
        """The entries with these ids that exist, in the order given; backends batch the
        reads."""
        found = (self.get(entry_id) for entry_id in entry_ids)
        return [entry for entry in found if entry is not None]

    @abc.abstractmethod
    def ids_tagged(self, tags: Collection[str]) -> list[str]:
        """The sorted ids of the entries holding every one of ``tags`` (at least one).

        Answered from an index the writes keep in the same transaction (or script): the cost
        grows with the entries holding the tags, not with the entries stored. Raises
        ValueError for no tags or a name that is not a tag.
        """

    @abc.abstractmethod
    def fingerprints(self) -> dict[str, Fingerprint]:
        """The :class:`Fingerprint` of every entry with ``source="config"``: what start-up
        sync compares with ``beat_schedule`` before reading any entry in full."""

    def fingerprints_of(self, entry_ids: Iterable[str]) -> dict[str, Fingerprint]:
        """The :class:`Fingerprint` (version and source included) of each of these entries
        that exists: what ``apply`` compares with its files before reading any entry in full.
        Backends read a few fields per entry, in bulk."""
        return {
            entry.id: Fingerprint(entry.enabled, "", entry.version, entry.source)
            for entry in self.get_many(entry_ids)
        }

    @abc.abstractmethod
    def set_digests(self, digests: Mapping[str, tuple[int, str]]) -> None:
        """Attach a digest to each entry (id → (version, digest)) whose stored version is still
        that version; others are left alone.

        Not a definition change: nothing is announced and the version stays. Any later change
        of the definition moves the version on, which detaches the digest.
        """

    @abc.abstractmethod
    def delete(
        self,
        entry_id: str,
        *,
        expected_version: int | None = None,
        note: ChangeNote | None = None,
    ) -> bool:
        """Remove the entry and its history; ``False`` if it did not exist.

        ``expected_version`` guards against lost updates as :meth:`upsert`'s does: a positive
        number must equal the stored version (an entry gone meanwhile conflicts too), ``0``
        means "must not exist" (then there is nothing to remove: ``False``), ``None`` skips
        the check. Raises :class:`VersionConflict` otherwise, and removes nothing: the check
        and the removal are one atomic step.
        """

    @abc.abstractmethod
    def set_enabled(
        self,
        entry_id: str,
        enabled: bool,
        now: datetime,
        *,
        expected_version: int | None = None,
        note: ChangeNote | None = None,
    ) -> Entry:
        """Enable or disable; enabling starts afresh from ``now`` (no backlog is fired).

        Bumps the version when the flag changes. Raises :class:`EntryNotFound`, or with
        ``expected_version`` (the version the caller read) :class:`VersionConflict` when the
        stored version differs or the entry is gone, and writes nothing: the check and the
        write are one atomic step, as :meth:`delete`'s are. ``None`` skips the check.
        """

    # -- claims --------------------------------------------------------------------------------

    @abc.abstractmethod
    def claim_batch(self, now: datetime, limit: int, owner: str, lease: timedelta) -> ClaimBatch:
        """Lease up to ``limit`` enabled entries whose ``next_run_at <= now``, earliest first,
        and read the earliest due time left after it, as one step.

        Atomic in the store: concurrent callers never receive the same occurrence. A beat's
        idle pass is exactly this call, so backends answer it in one round trip. While a pause
        is in force at ``now`` (see :meth:`pause`) nothing is claimed, in the same atomic step:
        the batch is :meth:`ClaimBatch.held`.
        """

    def claim_due(self, now: datetime, limit: int, owner: str, lease: timedelta) -> list[Claim]:
        """The claims of :meth:`claim_batch` alone."""
        return self.claim_batch(now, limit, owner, lease).claims

    def complete(self, claim: Claim, outcome: Outcome) -> bool:
        """:meth:`complete_many` for one claim."""
        return self.complete_many([(claim, outcome)])[0]

    @abc.abstractmethod
    def complete_many(self, pairs: Iterable[tuple[Claim, Outcome]]) -> list[bool]:
        """Record each ``outcome`` for its ``claim`` in one atomic write per claim (backends
        batch them into one round trip); ``False`` for a claim whose lease was lost.

        Appends ``outcome.runs`` to history (trimmed to the newest ``history_limit`` and by
        ``history_max_age``, see :func:`history_stamps`), adds
        published runs to ``total_run_count`` and failed ones to ``failure_count``, updates
        ``consecutive_failures``, ``last_error``, ``last_run_at``, ``last_scheduled_for`` and
        the drift summary; stores ``outcome.next_run_at``, unless an edit changed the schedule
        since the claim (see the module docstring: then the edit's ``next_run_at`` stays);
        disables the entry when it is run-once and a run was published, when it has no next
        occurrence, or when the next occurrence is past ``expire_at``; releases the lease.
        The definition, ``version``, ``created_at`` and ``updated_at`` are left as they are.
        """

    @abc.abstractmethod
    def renew_claims(
        self, claims: Sequence[Claim], now: datetime, lease: timedelta
    ) -> list[Claim | None]:
        """Extend each claim that still holds its entry to ``now + lease``.

        Returns, in order, the claim with its new ``lease_until``, or ``None`` where the lease
        was lost: recovered after it ran out, then perhaps claimed by another beat, or already
        completed. Atomic per claim, like :meth:`complete`: a lost claim is never renewed.
        """

    @abc.abstractmethod
    def recover_expired_claims(self, now: datetime) -> list[str]:
        """Return leases that ran out before ``now`` to the due index; the ids recovered."""

    # -- pause ---------------------------------------------------------------------------------

    @abc.abstractmethod
    def pause(self, pause: Pause, *, note: ChangeNote | None = None) -> Pause | None:
        """Set ``pause`` store-wide, replacing any; the pause it replaced, or ``None``.

        Announces :data:`ANY_CHANGE` on the change feed, so that waiting beats look at once.
        Raises ValueError (writing nothing) when ``pause`` is not a :class:`Pause`.
        """

    @abc.abstractmethod
    def resume(self, *, note: ChangeNote | None = None) -> Pause | None:
        """Clear the pause; the pause cleared, or ``None`` (then nothing is announced).

        Announces :data:`ANY_CHANGE` on the change feed when it clears one.
        """

    @abc.abstractmethod
    def paused(self) -> Pause | None:
        """The pause as stored, or ``None``. A pause whose ``until`` has passed is returned
        all the same (it no longer holds claims back): callers compare with their own clock
        (:meth:`Pause.in_force`)."""

    # -- audit log ---------------------------------------------------------------------------------

    @abc.abstractmethod
    def audit_head(self) -> AuditHead:
        """The audit log's :class:`~celery_stembeat.audit.AuditHead`: its newest record and the
        oldest one kept."""

    @abc.abstractmethod
    def changes(
        self,
        entry_id: str | None = None,
        *,
        since: datetime | None = None,
        newest_first: bool = False,
        limit: int | None = None,
    ) -> Iterator[Change]:
        """The change records kept, oldest first (``newest_first``: newest first), streamed
        (backends read a batch at a time, from the end asked for): only those about
        ``entry_id`` when given (``""``: the pause's), only those made at or after ``since``
        when given, at most ``limit`` when given (the first ``limit`` in the order asked; a
        ValueError unless a count >= 1). Close the iterator to stop early.

        ``since`` is read from the newest: the selection ends at the newest record (of
        ``entry_id``, when given) made before ``since``, so reading it costs the records
        selected, not the log. The log is in time order while one clock dates it; where clocks
        disagree (or a note is dated by hand), the newest record dated before ``since`` ends
        the selection even if older records are dated later.
        """

    def count_changes(self, entry_id: str | None = None, *, since: datetime | None = None) -> int:
        """How many records :meth:`changes` selects with these arguments.

        Without ``entry_id`` and ``since``: the head's :attr:`~AuditHead.count`. Otherwise
        this counts the records as it reads them; backends count an index instead where they
        can.
        """
        if entry_id is None and since is None:
            return self.audit_head().count
        return sum(1 for _ in self.changes(entry_id, since=since, newest_first=True))

    @abc.abstractmethod
    def change(self, seq: int) -> Change | None:
        """The change record numbered ``seq``, or ``None`` when the log does not hold it."""

    # -- reading run state ---------------------------------------------------------------------

    @abc.abstractmethod
    def history(self, entry_id: str, limit: int = 100) -> list[RunRecord]:
        """The newest ``limit`` runs of the entry, newest first."""

    @abc.abstractmethod
    def record_outcomes(self, reports: Sequence[TaskReport]) -> list[bool]:
        """Fold workers' reports, in order, into their run records and their entries' run
        state, by the rules of :func:`celery_stembeat.stores._outcomes.fold`.

        Returns, per report, whether the occurrence's run record was found (a report already
        folded, or no longer news, counts as found: sending a batch again changes nothing).
        A report whose record is not there (the beat has not recorded the run yet, or history
        no longer holds it) changes nothing. Completions never overwrite what this writes.
        """

    @abc.abstractmethod
    def record_manual_run(self, record: RunRecord, *, note: ChangeNote | None = None) -> bool:
        """Append ``record``, a run sent out of schedule (``record.manual`` is true, else
        ValueError), to its entry's history, trimmed by ``history_limit`` and
        ``history_max_age`` as completions trim it; ``False``, writing nothing, when the entry
        does not exist.

        Atomic, and run state only: the definition, ``version``, the run state (next run,
        counters, failures, drift) and any claim are left as they are, and nothing is
        announced. Workers' reports on the run then fold into this record alone (see
        :func:`celery_stembeat.stores._outcomes.fold`).
        """

    @abc.abstractmethod
    def next_due_at(self) -> datetime | None:
        """The earliest ``next_run_at`` among enabled, unclaimed entries."""

    # -- health --------------------------------------------------------------------------------

    @abc.abstractmethod
    def entry_counts(self) -> EntryCounts:
        """How many entries there are, and how many are scheduled."""

    @abc.abstractmethod
    def history_size(self) -> HistorySize:
        """How many runs history holds, all entries together, and the bytes where the database
        tells: read from a counter, or the database's statistics, never by reading the runs."""

    @abc.abstractmethod
    def health_suspects(self, rules: SuspectRules, limit: int) -> list[str]:
        """The ids of the entries that may be unhealthy by ``rules`` (see
        :meth:`SuspectRules.matches`), sorted; at most ``limit`` of them when more match.

        Answered from indexes: the cost grows with the suspects, not with the entries, so a
        health probe stays cheap on a store of millions. Whether a suspect is unhealthy, and
        how, is :func:`celery_stembeat.health.assess`'s to say.
        """

    @abc.abstractmethod
    def activity(self, now: datetime, overdue_before: datetime, since: datetime) -> Activity:
        """What the entries are doing at ``now`` (see :class:`Activity`), answered from
        indexes and counters, without reading every entry or every run.

        ``runs`` counts the runs :meth:`complete_many` and :meth:`record_manual_run` recorded,
        published or failed (skipped ones are not counted), by the minute of
        :func:`run_minute`: a per-minute counter written with the runs, kept
        :data:`RUN_MINUTES_KEPT`. It counts runs recorded, whether or not history still holds
        them, and only those recorded since the store had the counter. Raises ValueError for a
        naive instant.
        """

    # -- beats ---------------------------------------------------------------------------------

    @abc.abstractmethod
    def record_beat(self, beat: BeatInfo) -> None:
        """Record (or refresh) ``beat``, by its owner; forget beats whose ``last_pass_at`` is
        more than :data:`BEAT_RETENTION` before this one's."""

    @abc.abstractmethod
    def remove_beat(self, owner: str) -> bool:
        """Forget the beat ``owner`` (it stopped); whether it was recorded."""

    @abc.abstractmethod
    def beats(self) -> list[BeatInfo]:
        """Every recorded beat, by owner."""

    # -- holiday calendars -----------------------------------------------------------------------

    @abc.abstractmethod
    def calendars(self) -> dict[str, tuple[date, ...]]:
        """Every holiday calendar: name → its dates (sorted), by name."""

    @abc.abstractmethod
    def add_calendar_dates(self, name: str, dates: Collection[date]) -> None:
        """Add ``dates`` to the calendar ``name``, which its first date creates; atomic. A bad
        name or date raises ValueError (see :func:`checked_calendar`).

        The entries whose rules name the calendar keep the dates they were bound to:
        :func:`celery_stembeat.calendars.rebind` brings them up to date.
        """

    @abc.abstractmethod
    def remove_calendar_dates(self, name: str, dates: Collection[date] | None = None) -> None:
        """Remove ``dates`` (``None``: every date) from the calendar ``name``; atomic. A
        calendar left without dates no longer exists; an unknown one is left as it is."""

    # -- incidents -----------------------------------------------------------------------------

    @abc.abstractmethod
    def transition_incident(self, key: str, state: str, at: datetime) -> str | None:
        """Move incident ``key`` to ``state`` at ``at`` (:data:`INCIDENT_OK`: resolved, the
        record is removed); a key never recorded is in :data:`INCIDENT_OK`.

        Returns the state it left when this call changed it, else ``None`` (it was in
        ``state`` already, and keeps its ``since``). Atomic across processes: when several
        beats make the same transition, exactly one gets the previous state back (and
        delivers the alert). Raises ValueError for a key or state that is not 1 to
        :data:`MAX_INCIDENT_KEY_LENGTH` (:data:`MAX_INCIDENT_STATE_LENGTH`) printable
        characters, or a naive ``at``.
        """

    @abc.abstractmethod
    def incidents(self) -> list[Incident]:
        """Every open incident (in a state other than :data:`INCIDENT_OK`), by key."""

    def time(self) -> datetime | None:
        """The store server's clock now (aware UTC), or ``None`` for a store without a clock
        of its own (memory, SQLite: they live on the beat's host and share its clock)."""
        return None

    def server_warnings(self) -> list[str]:
        """What the store's server is set up without and the store needs, one line each, for
        a beat to log as it starts; empty when nothing is missing."""
        return []

    # -- lifecycle -----------------------------------------------------------------------------

    @abc.abstractmethod
    def watch(self) -> ChangeFeed:
        """A feed of definition changes made through any store on the same backend."""

    @abc.abstractmethod
    def drop(self) -> None:
        """Delete everything this store holds (entries, run state, history, its tables or keys),
        for tests and uninstalling; the store stays open and empty."""

    @abc.abstractmethod
    def close(self) -> None:
        """Release connections; safe to call twice."""

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
