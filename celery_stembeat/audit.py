"""The audit log: one change record per change to an entry (or to the store-wide pause), each
carrying the hash of the one before it, so that an edited or deleted record is detected.

A store appends records in the same transaction (or script) as the change itself, numbering
them 1, 2, 3… (``seq``), and keeps the newest :data:`DEFAULT_AUDIT_LIMIT` (a store setting,
``audit_limit``). Its :class:`AuditHead` names the newest record (number and hash) and the
oldest one kept (``floor``): :func:`verify` checks that the records from the floor to the head
are all there, in order, unedited, each pointing at the hash of the one before.

A record's hash is the SHA-256 of its :meth:`Change.text`, canonical JSON holding everything
but the hash, the previous record's hash (``prev``) included. The chain is evidence against a
record edited or removed by hand; whoever can rewrite every record and the head can forge it.
"""

from __future__ import annotations

import getpass
import hashlib
import itertools
import json
import socket
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from celery_stembeat.limits import shorten
from celery_stembeat.specs import format_instant, parse_instant

if TYPE_CHECKING:
    from celery_stembeat.stores.base import Store

#: Records a store keeps unless told otherwise (``audit_limit``): a bulk apply of 100,000
#: entries fits whole.
DEFAULT_AUDIT_LIMIT = 100_000
#: Most records a store may be told to keep.
MAX_AUDIT_LIMIT = 100_000_000
#: The ``prev`` of the first record ever written.
GENESIS = "0" * 64
#: Characters an actor or a verb may have.
MAX_ACTOR_LENGTH = 200
MAX_VERB_LENGTH = 40

#: Verbs the store API records when the caller names none (see :func:`note_or_default`).
WRITE = "write"
REMOVE = "remove"
ENABLE = "enable"
DISABLE = "disable"
RUN = "run"
PAUSE = "pause"
RESUME = "resume"


def local_actor() -> str:
    """``user@host`` of whoever runs this process."""
    try:
        user = getpass.getuser()
    except (OSError, KeyError):
        # No login name in the environment and none in the password database (a container).
        user = "unknown"
    return f"{user}@{socket.gethostname()}"


def _checked_name(value: object, name: str, limit: int) -> str:
    if not isinstance(value, str) or not value or len(value) > limit or not value.isprintable():
        raise ValueError(
            f"change note: {name} {shorten(value)} is not 1 to {limit} printable characters"
        )
    return value


@dataclass(frozen=True)
class ChangeNote:
    """Who makes a change and with what verb (``apply``, ``enable``, ``sync``…), as the
    writing methods of :class:`~celery_stembeat.stores.Store` take it (``note=``)."""

    actor: str
    verb: str
    #: When the change is made; ``None``: the moment the store writes it.
    at: datetime | None = None

    def __post_init__(self) -> None:
        _checked_name(self.actor, "actor", MAX_ACTOR_LENGTH)
        _checked_name(self.verb, "verb", MAX_VERB_LENGTH)
        if self.at is not None and (not isinstance(self.at, datetime) or self.at.tzinfo is None):
            raise ValueError(f"change note: at {shorten(self.at)} is not an aware instant")

    def when(self) -> datetime:
        """:attr:`at`, or now (UTC)."""
        return (self.at or datetime.now(timezone.utc)).astimezone(timezone.utc)


def note_or_default(note: ChangeNote | None, verb: str) -> ChangeNote:
    """``note``, or this process's user@host with ``verb`` when the caller gave none."""
    if note is None:
        return ChangeNote(local_actor(), verb)
    if not isinstance(note, ChangeNote):
        raise ValueError(f"note: expected a ChangeNote, got {shorten(note)}")
    return note


#: ``json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)`` without
#: building an encoder per call, nor checking for cycles (records hold JSON read from entries,
#: which has none): the same text, made in a tenth less time.
_canonical = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=False, check_circular=False
).encode


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Change:
    """One change record.

    ``entry_id`` is ``""`` for a change to the store-wide pause. ``before`` and ``after`` are
    what the change found and left: an entry's definition (``Entry.definition()``) or a pause
    (``Pause.to_dict()``), ``None`` where there was none; both ``None`` for a ``run``, which
    sends a task and leaves the definition alone.
    """

    seq: int
    at: datetime
    actor: str
    verb: str
    entry_id: str
    before: Mapping[str, Any] | None
    after: Mapping[str, Any] | None
    prev: str
    hash: str
    #: :meth:`text` as :func:`chained` made it to take the hash (``None``: not made yet). Not
    #: copied by :func:`dataclasses.replace`, so an edited copy's text is made afresh.
    _text: str | None = field(default=None, init=False, repr=False, compare=False)

    def body(self) -> dict[str, Any]:
        """Every field but the hash, as JSON values."""
        return {
            "seq": self.seq,
            "at": format_instant(self.at),
            "actor": self.actor,
            "verb": self.verb,
            "entry": self.entry_id,
            "before": self.before,
            "after": self.after,
            "prev": self.prev,
        }

    def text(self) -> str:
        """The canonical JSON of :meth:`body`: what the hash is taken of, and what stores
        keep."""
        return self._text if self._text is not None else _canonical(self.body())

    def computed_hash(self) -> str:
        """The hash this record's content calls for (differs from :attr:`hash` if edited)."""
        return _digest(self.text())

    def to_dict(self) -> dict[str, Any]:
        """:meth:`body` with the hash: ``log --json``'s form."""
        return {**self.body(), "hash": self.hash}

    def fields_changed(self) -> list[str]:
        """The names of the definition fields that differ between before and after."""
        before, after = self.before or {}, self.after or {}
        return sorted(name for name in {*before, *after} if before.get(name) != after.get(name))

    @classmethod
    def from_text(cls, text: str, hash_: str) -> Change:
        """Read a record back from :meth:`text` as a store keeps it, with its stored hash.

        Raises ValueError for text that is not such a record; an edited record that still
        reads is returned as it is, for :func:`verify` to find."""
        try:
            data = json.loads(text)
            for name in ("before", "after"):
                if not isinstance(data[name], (dict, type(None))):
                    raise ValueError(f"{name!r} is neither an object nor null")
            return cls(
                seq=int(data["seq"]),
                at=parse_instant(data["at"], "at"),
                actor=str(data["actor"]),
                verb=str(data["verb"]),
                entry_id=str(data["entry"]),
                before=data["before"],
                after=data["after"],
                prev=str(data["prev"]),
                hash=hash_,
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"change record {shorten(text)}: {exc}") from None


@dataclass(frozen=True)
class AuditHead:
    """The newest record (``seq``, ``hash``) and the oldest one kept (``floor``); an empty
    log has ``seq == floor - 1``."""

    seq: int = 0
    hash: str = GENESIS
    floor: int = 1

    @property
    def count(self) -> int:
        """How many records the log holds."""
        return self.seq - self.floor + 1


#: What a change did to one entry (or, with id ``""``, to the pause): (id, before, after).
EntryChange = tuple[str, Mapping[str, Any] | None, Mapping[str, Any] | None]


def chained(
    head: AuditHead,
    note: ChangeNote,
    items: Iterable[EntryChange],
) -> tuple[list[Change], AuditHead]:
    """The records of the changes ``items`` ((entry id, before, after) each), appended after
    ``head``, and the head after them (its floor unchanged: see :func:`trimmed`)."""
    changes: list[Change] = []
    stamp = format_instant(note.when())
    at = parse_instant(stamp, "at")  # as stores read it back
    seq, prev = head.seq, head.hash
    for entry_id, before, after in items:
        seq += 1
        body = {
            "seq": seq,
            "at": stamp,
            "actor": note.actor,
            "verb": note.verb,
            "entry": entry_id,
            "before": before,
            "after": after,
            "prev": prev,
        }
        text = _canonical(body)
        digest = _digest(text)
        change = Change(seq, at, note.actor, note.verb, entry_id, before, after, prev, digest)
        object.__setattr__(change, "_text", text)  # made once: stores keep it
        changes.append(change)
        prev = digest
    return changes, AuditHead(seq, prev, head.floor)


def trimmed(head: AuditHead, limit: int) -> AuditHead:
    """``head`` with its floor moved up so that at most ``limit`` records are kept: stores
    delete the records below the new floor in the same step."""
    return AuditHead(head.seq, head.hash, max(head.floor, head.seq - limit + 1))


def checked_audit_limit(value: object, backend: str) -> int:
    """``value`` as a number of records to keep, else ValueError naming the setting."""
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_AUDIT_LIMIT:
        raise ValueError(
            f"{backend} store: audit_limit {shorten(value)} is not a number 1-{MAX_AUDIT_LIMIT}"
        )
    return value


@dataclass(frozen=True)
class Verification:
    """What :func:`verify` found: how many records it checked and the first problem, if
    any."""

    checked: int
    first: int | None
    last: int | None
    problem: str | None = None

    @property
    def intact(self) -> bool:
        return self.problem is None


def verify(head: AuditHead, changes: Iterable[Change]) -> Verification:
    """Check ``changes`` (the log from the floor, in order) against ``head``: every record from
    ``head.floor`` to ``head.seq`` present once, in order, its hash that of its content, its
    ``prev`` the hash of the record before it, and the last one the head."""
    checked, expected, prev = 0, head.floor, None
    first: int | None = None

    def found(problem: str) -> Verification:
        return Verification(checked, first, expected - 1 if checked else None, problem)

    for change in _through(changes, head.seq):
        if change.seq != expected:
            if change.seq > expected:
                missing = (
                    f"change {expected} is missing"
                    if change.seq == expected + 1
                    else f"changes {expected}-{change.seq - 1} are missing"
                )
                return found(missing)
            return found(f"change {change.seq} appears out of order after {expected - 1}")
        if change.computed_hash() != change.hash:
            return found(f"change {change.seq} was edited: its hash does not match its content")
        if prev is not None and change.prev != prev:
            return found(f"change {change.seq} does not follow change {change.seq - 1}'s hash")
        if first is None:
            first = change.seq
        checked += 1
        expected += 1
        prev = change.hash
    if expected <= head.seq:
        return found(
            f"change {expected} is missing"
            if expected == head.seq
            else f"changes {expected}-{head.seq} are missing"
        )
    if prev is not None and prev != head.hash:
        return found(f"change {head.seq} is not the one the log's head names")
    return Verification(checked, first, expected - 1 if checked else None)


def made_since(newest_first: Iterable[Change], since: datetime | None) -> Iterator[Change]:
    """``newest_first`` (records, newest first) up to the first one made before ``since``:
    what a read from the newest selects (see :meth:`~celery_stembeat.stores.Store.changes`)."""
    if since is None:
        return iter(newest_first)
    return itertools.takewhile(lambda change: change.at >= since, newest_first)


def _through(changes: Iterable[Change], last: int) -> Iterator[Change]:
    """``changes`` up to record ``last``: records written after the head was read are not
    part of what is checked."""
    for change in changes:
        if change.seq > last:
            return
        yield change


def entry_change(entry_id: str, before: Any, after: Any) -> EntryChange | None:
    """The change from entry ``before`` to entry ``after`` (either ``None``: it did not
    exist), by their definitions; ``None`` when the definition stayed as it was."""
    old = None if before is None else before.definition()
    new = None if after is None else after.definition()
    return None if old == new else (entry_id, old, new)


def newest(
    store: Store, entry_id: str | None, since: datetime | None, limit: int
) -> tuple[list[Change], int]:
    """The newest ``limit`` change records of :meth:`Store.changes` (``entry_id``'s only when
    given, made at or after ``since`` when given), newest first, and how many the selection
    holds: only the records returned are read, and the store counts the rest only when there
    may be more."""
    shown = list(store.changes(entry_id, since=since, newest_first=True, limit=limit))
    if len(shown) < limit:
        return shown, len(shown)
    # A write may trim the log between the read and the count: never fewer than were shown.
    return shown, max(store.count_changes(entry_id, since=since), len(shown))
