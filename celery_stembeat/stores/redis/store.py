"""The Redis store: :class:`RedisStore`, the store contract over redis-py and the scripts.

Cost: claim, complete and recovery are one script call each (O(log N) in the number of
entries, plus the entries returned); :meth:`RedisStore.complete_many` streams one script call
per 100 completions on one connection; ``list`` reads every matching hash.

Writes that change definitions record each change in the audit log in the same script (see
:mod:`.changelog`): Python builds the records after reading what they describe, and the script
stores them, with the change, only if that still holds. So upsert, delete, enable/disable and
the pause are two round trips (a read of the entry or pause with the log's head, then the
script), a manual run two (the head, then the script), each again when another writer came
first; :meth:`RedisStore.upsert_many` reads its entries (500 per script call, pipelined; not
those ``write_checked`` expects not to exist) and streams one script call per 500 entries,
sending a chunk again, after a new read, when another writer came first. Appending a record is
an ``XADD`` and a ``ZADD``; trimming deletes the records below the floor. Reading the log:
:meth:`RedisStore.audit_head` is one ``HMGET``, :meth:`RedisStore.change` one ``XRANGE``,
:meth:`RedisStore.changes` one round trip per 500 records (of the log, or of one entry's), from
either end, fewer with ``limit``; :meth:`RedisStore.count_changes` the head or a ``ZCARD``, or
with ``since`` a read back to it.

:meth:`RedisStore.record_outcomes` is three round trips per call (WATCH, the read script,
MULTI/EXEC with the write script), more when a concurrent write makes it read again; finding a
run searches its history from the newest, so a report on an old run costs up to
``history_limit`` stream entries. Beats: recording one is one script call, removing one a
``MULTI``/``EXEC``, listing them one ``HVALS``. Incidents: a transition is one script call,
listing them one ``HGETALL``. Health:
:meth:`RedisStore.entry_counts` is four counts and :meth:`RedisStore.health_suspects` three
index ranges cut at ``limit``, each one ``MULTI``/``EXEC``, whatever the number of entries;
:meth:`RedisStore.activity` is one script call (index counts, the failing entries' ``cf``, one
``MGET`` of the run counters).
Tags: :meth:`RedisStore.ids_tagged` is one ``SINTER`` of the tags' sets.

Errors: every redis-py exception becomes :class:`StoreError`, with any password in the URL
replaced by ``***``. redis-py checks a pooled connection before lending it and reconnects one
the server has closed, so after a restart the next operation normally succeeds.
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import json
from collections import Counter, deque
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from datetime import datetime, timedelta, timezone
from typing import Any, Final, TypeVar, cast

import redis
from redis.client import Pipeline
from redis.commands.core import Script
from redis.exceptions import NoScriptError, WatchError

from celery_stembeat import audit
from celery_stembeat._collector import collector_paused
from celery_stembeat.audit import AuditHead, Change, ChangeNote, EntryChange
from celery_stembeat.entry import Entry
from celery_stembeat.stores import mask_url
from celery_stembeat.stores._outcomes import fold_batch
from celery_stembeat.stores._runstate import advance
from celery_stembeat.stores._secrets import scrub, url_secrets
from celery_stembeat.stores._spec_text import compact_json, spec_text
from celery_stembeat.stores.base import (
    ANNOUNCED_IDS,
    ANY_CHANGE,
    BEAT_RETENTION,
    DEFAULT_HISTORY_LIMIT,
    RUN_MINUTES_KEPT,
    Activity,
    BeatInfo,
    ChangeFeed,
    Claim,
    ClaimBatch,
    EntryCounts,
    EntryNotFound,
    Fingerprint,
    Incident,
    Outcome,
    Pause,
    RunRecord,
    Store,
    StoreError,
    StoreURLError,
    SuspectRules,
    TaskReport,
    VersionConflict,
    check_version,
    checked_activity,
    checked_change_limit,
    checked_history_limit,
    checked_manual,
    checked_pause,
    checked_selection,
    checked_transition,
    claim_token,
    counted_minutes,
    minute_counts,
    pause_change,
)
from celery_stembeat.stores.redis import scripts
from celery_stembeat.stores.redis.changelog import (
    Stored,
    decode_change,
    decode_head,
    entry_change,
    guard,
    record_args,
)
from celery_stembeat.stores.redis.codec import (
    beat_text,
    decode_beats,
    decode_entry,
    decode_fingerprint,
    decode_incidents,
    decode_rows,
    decode_run,
    decode_sourced_fingerprint,
    entry_fields,
    from_ms,
    incident_text,
    ms_text,
    reported_text,
    run_fields,
    state_changes,
    to_ms,
    to_ms_ceiling,
    tracked_changes,
    written_entry,
)
from celery_stembeat.stores.redis.feed import RedisFeed
from celery_stembeat.stores.redis.keys import Keys

DEFAULT_PREFIX = "stembeat"
_LIST_BATCH = 500
#: Entries per upsert_many script call: with their change records, about as long a call as
#: Redis should be kept from other clients (a beat claiming).
_UPSERT_BATCH = 500
#: Ids per fingerprints script call, and per fingerprints_of script call.
_FINGERPRINT_BATCH = 5000
_FINGERPRINTS_OF_BATCH = 1000
#: Entries per set_digests script call.
_DIGEST_BATCH = 1000
#: Completions per complete script call: small enough that Redis runs one call while Python
#: encodes the next, large enough that the per-call overhead stays small.
_COMPLETE_BATCH = 100
_HEALTH_CHECK_INTERVAL = 30
#: Script calls a stream sends ahead of the reply it reads: enough that Redis has the next
#: call queued while Python reads a reply and encodes a call, few enough that a long stream's
#: arguments are not all held at once.
_IN_FLIGHT = 8


#: Change records per read of the audit log.
_CHANGES_BATCH = 500

#: Reads a batch of reports may take before giving up while busy beats keep changing its
#: entries (the caller, a worker's buffer, sends it again later).
OUTCOME_ATTEMPTS = 20
#: Reads a write may take before giving up while other writers keep changing what its change
#: records are built from (a bulk write counts the rounds in which no chunk got through).
WRITE_ATTEMPTS = 100

_T = TypeVar("_T")


class _Stale:
    """What a write attempt returns when its script found the store changed since the read."""


STALE: Final = _Stale()


def _lookup(report: TaskReport) -> tuple[str, str, str]:
    """The run a report is about, as the outcome_runs script looks for it: entry id,
    scheduled time (ms), ``"1"`` for a manual run else ``""``."""
    return report.entry_id, str(to_ms(report.scheduled_for)), "1" if report.manual else ""


#: Seconds a run counter lives after its last increment.
_COUNTER_TTL = str(int(RUN_MINUTES_KEPT.total_seconds()))


def _epoch_minute(minute: datetime) -> int:
    return to_ms(minute) // 60_000


def _without_repeats(firsts: Sequence[int], batch: Sequence[Entry]) -> list[int]:
    """The longest run of ``firsts`` (each the start of a chunk of ``batch``) from the first
    whose chunks share no entry id: chunks streamed together are read together, so a later one
    must not depend on an earlier one's write getting through."""
    seen: set[str] = set()
    for count, first in enumerate(firsts):
        ids = {entry.id for entry in batch[first : first + _UPSERT_BATCH]}
        if count and not seen.isdisjoint(ids):
            return list(firsts[:count])
        seen |= ids
    return list(firsts)


class RedisStore(Store):
    """The store on Redis (or a Redis-compatible server), via redis-py."""

    def __init__(
        self,
        url: str = "redis://127.0.0.1:6379/0",
        *,
        prefix: str = DEFAULT_PREFIX,
        history_limit: int = DEFAULT_HISTORY_LIMIT,
        audit_limit: int = audit.DEFAULT_AUDIT_LIMIT,
        **redis_options: Any,
    ) -> None:
        self.display_url = mask_url(url)
        self._secrets = url_secrets(url)
        if not isinstance(prefix, str) or not prefix or any(c in prefix for c in "{}"):
            raise StoreError(f"Redis store: prefix {prefix!r} must be non-empty, without braces")
        self.history_limit = checked_history_limit(history_limit, "Redis")
        self.audit_limit = audit.checked_audit_limit(audit_limit, "Redis")
        self.prefix = prefix
        redis_options["decode_responses"] = False
        # Ping connections idle this long before use: a feed then notices a dead connection
        # (and subscribes again) instead of waiting on it forever.
        redis_options.setdefault("health_check_interval", _HEALTH_CHECK_INTERVAL)
        try:
            self._client: redis.Redis = redis.Redis.from_url(url, **redis_options)
        except (ValueError, TypeError) as exc:
            # The message may quote parts of the URL: show only the masked form.
            kind = type(exc).__name__
            raise StoreURLError(f"Redis store: invalid URL {self.display_url} ({kind})") from None
        if self._client.get_encoder().decode_responses:
            raise StoreError(f"Redis store {self.display_url}: decode_responses is not supported")
        self._closed = False
        self._keys = Keys(prefix)
        self.channel = self._keys.channel
        self._scripts = scripts.register(self._client)

    def __repr__(self) -> str:
        return f"RedisStore({self.display_url!r}, prefix={self.prefix!r})"

    @contextlib.contextmanager
    def _errors(self) -> Iterator[None]:
        """Turn redis-py's exceptions (and raw socket errors) into :class:`StoreError`."""
        try:
            yield
        except (redis.RedisError, OSError) as exc:
            message = scrub(f"{type(exc).__name__}: {exc}", self._secrets)
            raise StoreError(f"Redis store {self.display_url}: {message}") from exc

    @staticmethod
    def _run(script: Script, keys: Sequence[str], args: Iterable[str | bytes | int]) -> Any:
        return script(keys=keys, args=args)

    def _fresh(self, attempt: Callable[[], _T | _Stale], what: str) -> _T:
        """``attempt()``'s result, attempted again while it returns :data:`STALE`."""
        for _ in range(WRITE_ATTEMPTS):
            result = attempt()
            if not isinstance(result, _Stale):
                return result
        raise StoreError(
            f"Redis store {self.display_url}: {what}: other writers kept changing the store; "
            f"tried {WRITE_ATTEMPTS} times"
        )

    def _records(
        self, head: AuditHead, note: ChangeNote, items: Iterable[EntryChange | None]
    ) -> tuple[list[str], AuditHead]:
        """The arguments that append the change records of ``items`` after ``head`` (see
        :func:`.changelog.record_args`), and the head after them."""
        return record_args(head, note, items, self.audit_limit, self._keys.audit_entry_prefix)

    def _read_before(self, entry_ids: Sequence[str]) -> tuple[AuditHead, dict[str, Stored]]:
        """The audit head and the entries with these ids that exist, as a write builds its
        change records from them: one read script per :data:`_LIST_BATCH` ids, pipelined, the
        first reading the head in the same step."""
        calls: list[tuple[list[str], list[str]]] = [
            (
                [self._keys.audit] if first == 0 else [],
                [self._keys.entry_prefix, compact_json(entry_ids[first : first + _LIST_BATCH])],
            )
            for first in range(0, max(len(entry_ids), 1), _LIST_BATCH)
        ]
        replies = self._pipelined(self._scripts["definitions"], calls)
        rows = [row for reply in replies for row in decode_rows(reply)]
        return decode_head(rows[0]), {row[0]: Stored(*row) for row in rows[1:]}

    # -- definitions -----------------------------------------------------------------------------

    def _read_entries(self, entry_ids: Sequence[str], enabled: bool | None = None) -> list[Entry]:
        flag = "" if enabled is None else ("1" if enabled else "0")
        with self._errors():
            reply = self._run(
                self._scripts["read"], [], [flag, self._keys.entry_prefix, compact_json(entry_ids)]
            )
        return [decode_entry(row) for row in decode_rows(reply)]

    def get(self, entry_id: str) -> Entry | None:
        """The entry with that id, or ``None``."""
        found = self._read_entries([entry_id])
        return found[0] if found else None

    def list_entries(
        self, *, enabled: bool | None = None, prefix: str | None = None
    ) -> list[Entry]:
        """Entries sorted by id, optionally only enabled/disabled ones or ids with ``prefix``."""
        return list(self.iter_entries(enabled=enabled, prefix=prefix))

    def iter_entries(
        self, *, enabled: bool | None = None, prefix: str | None = None
    ) -> Iterator[Entry]:
        """The ids index read :data:`_LIST_BATCH` ids at a time (in byte order, which is the
        ids' code-point order), each batch's entries with one script call."""
        start = b"[" + prefix.encode() if prefix else b"-"
        stop = b"(" + prefix.encode() + b"\xff" if prefix else b"+"
        while True:
            with self._errors():
                raw = cast(
                    list[bytes],
                    self._client.zrangebylex(self._keys.ids, start, stop, 0, _LIST_BATCH),
                )
            if raw:
                yield from self._read_entries([entry_id.decode() for entry_id in raw], enabled)
            if len(raw) < _LIST_BATCH:
                return
            start = b"(" + raw[-1]

    def get_many(self, entry_ids: Iterable[str]) -> list[Entry]:
        """The entries with these ids that exist, in the order given: one script per
        :data:`_LIST_BATCH`, all in one pipelined round trip."""
        ids = list(entry_ids)
        calls: list[tuple[list[str], list[str]]] = [
            ([], ["", self._keys.entry_prefix, compact_json(ids[first : first + _LIST_BATCH])])
            for first in range(0, len(ids), _LIST_BATCH)
        ]
        return [
            decode_entry(row)
            for reply in self._pipelined(self._scripts["read"], calls)
            for row in decode_rows(reply)
        ]

    def ids_tagged(self, tags: Collection[str]) -> list[str]:
        """The sorted ids holding every one of ``tags``: one ``SINTER`` of their sets."""
        keys = [self._keys.tag(tag) for tag in checked_selection(tags)]
        with self._errors():
            members = cast(set[bytes], self._client.sinter(keys))
        return sorted(member.decode() for member in members)

    def fingerprints(self) -> dict[str, Fingerprint]:
        """Every beat_schedule entry's :class:`Fingerprint`: one script call per
        :data:`_FINGERPRINT_BATCH` entries (listed in ``{P}:config``), three fields each."""
        found: dict[str, Fingerprint] = {}
        after = "-"
        while True:
            args = [after, str(_FINGERPRINT_BATCH), self._keys.entry_prefix]
            with self._errors():
                rows = decode_rows(
                    self._run(self._scripts["fingerprints"], [self._keys.config], args)
                )
            for entry_id, enabled, version, mark in rows:
                found[entry_id] = decode_fingerprint(enabled, version, mark)
            if len(rows) < _FINGERPRINT_BATCH:
                return found
            after = "(" + rows[-1][0]

    def fingerprints_of(self, entry_ids: Iterable[str]) -> dict[str, Fingerprint]:
        """The fingerprints of these entries: one script call per
        :data:`_FINGERPRINTS_OF_BATCH` ids, four fields each, all pipelined."""
        ids = list(entry_ids)
        calls: list[tuple[list[str], list[str]]] = [
            (
                [],
                [
                    self._keys.entry_prefix,
                    compact_json(ids[first : first + _FINGERPRINTS_OF_BATCH]),
                ],
            )
            for first in range(0, len(ids), _FINGERPRINTS_OF_BATCH)
        ]
        return {
            entry_id: decode_sourced_fingerprint(enabled, version, mark, source)
            for reply in self._pipelined(self._scripts["fingerprints_of"], calls)
            for entry_id, enabled, version, mark, source in decode_rows(reply)
        }

    def set_digests(self, digests: Mapping[str, tuple[int, str]]) -> None:
        """Attach the digests where the version still holds: one script per 1000 entries,
        pipelined."""
        items = list(digests.items())
        calls = []
        for first in range(0, len(items), _DIGEST_BATCH):
            chunk = items[first : first + _DIGEST_BATCH]
            keys = [self._keys.entry(entry_id) for entry_id, _ in chunk]
            args = [text for _, (v, digest) in chunk for text in (str(v), f"{v}:{digest}")]
            calls.append((keys, args))
        self._pipelined(self._scripts["set_digests"], calls)

    def upsert(
        self, entry: Entry, expected_version: int | None = None, *, note: ChangeNote | None = None
    ) -> Entry:
        """Create or update ``entry``'s definition atomically, recording the change; see
        :meth:`Store.upsert`. Two round trips: a read of the entry and the log's head, then the
        script, which writes only if neither moved (else both again)."""
        note = audit.note_or_default(note, audit.WRITE)
        fields = entry_fields(entry, "")
        expected = "" if expected_version is None else str(expected_version)
        keys = [self._keys.entry(entry.id), *self._keys.indexes, *self._keys.audit_keys]

        def attempt() -> Entry | _Stale:
            head, found = self._read_before([entry.id])
            stored = found.get(entry.id)
            check_version(entry.id, expected_version, int(stored.version) if stored else None)
            records, _ = self._records(head, note, [entry_change(entry, fields, stored)])
            args = [
                entry.id,
                expected,
                self.channel,
                compact_json(fields),
                self._keys.tag_prefix,
                *guard(stored),
                *records,
            ]
            with self._errors():
                reply = json.loads(self._run(self._scripts["upsert"], keys, args))
            if isinstance(reply, dict):
                if reply.get("stale"):
                    return STALE
                conflict = int(reply["conflict"]) if reply["conflict"] else None
                raise VersionConflict(entry.id, expected_version, conflict)
            return decode_entry(reply, fields["d"])

        return self._fresh(attempt, f"upsert of {entry.id!r}")

    def upsert_many(
        self,
        entries: Iterable[Entry],
        digests: Mapping[str, str] | None = None,
        *,
        note: ChangeNote | None = None,
    ) -> list[Entry]:
        """:meth:`upsert` each entry without a version check, attaching ``digests``: one script
        call per :data:`_UPSERT_BATCH` entries (see :meth:`_write`); each entry's write is
        atomic."""
        batch = list(entries)
        definitions, replies = self._write(batch, digests or {}, note=note)
        return [
            decode_entry(row, definition) if row else written_entry(entry, definition, int(version))
            for entry, definition, (version, row) in zip(batch, definitions, replies, strict=True)
        ]

    def write_many(
        self,
        entries: Iterable[Entry],
        digests: Mapping[str, str] | None = None,
        *,
        note: ChangeNote | None = None,
    ) -> None:
        """:meth:`upsert_many`, without decoding what the scripts return."""
        self._write(list(entries), digests or {}, note=note)

    def write_checked(
        self,
        entries: Sequence[Entry],
        expected_versions: Mapping[str, int],
        digests: Mapping[str, str] | None = None,
        *,
        note: ChangeNote | None = None,
    ) -> list[str]:
        """:meth:`write_many` with each entry's version checked in the script that writes it."""
        _, replies = self._write(entries, digests or {}, expected_versions, note)
        return [
            entry.id for entry, (version, _) in zip(entries, replies, strict=True) if version == "0"
        ]

    def _write(
        self,
        batch: Sequence[Entry],
        digests: Mapping[str, str],
        expected: Mapping[str, int] | None = None,
        note: ChangeNote | None = None,
    ) -> tuple[list[str], list[Any]]:
        """Run upsert_many over ``batch``, :data:`_UPSERT_BATCH` entries per call, with the
        ``expected`` versions when given, recording each change: the definitions written (as
        their text), and the script's replies, in order.

        The calls are streamed (see :meth:`_chunks`); a chunk whose script found the store
        changed since the read wrote nothing and is sent again after a new read, until every
        chunk got through. The first round takes an expected version ``0`` at its word (the
        caller read that the entry does not exist) instead of reading the entry; a chunk sent
        back reads every entry. A batch of more than :data:`ANNOUNCED_IDS` is announced once, at
        the end."""
        note = audit.note_or_default(note, audit.WRITE)
        note = dataclasses.replace(note, at=note.when())  # one instant for the whole batch
        channel = self.channel if len(batch) <= ANNOUNCED_IDS else ""
        firsts = range(0, len(batch), _UPSERT_BATCH)
        definitions: dict[int, list[str]] = {}

        def items_of(first: int) -> list[list[Any]]:
            """The items of the chunk from ``first``, encoded as it is sent (while Redis runs
            the chunk before it), again if it is sent again: not every chunk's at once."""
            items: list[list[Any]] = []
            for entry in batch[first : first + _UPSERT_BATCH]:
                item = [entry.id, entry_fields(entry, digests.get(entry.id, ""))]
                if expected is not None:
                    item.append(str(expected[entry.id]))
                items.append(item)
            definitions[first] = [fields["d"] for _, fields, *_ in items]
            return items

        replies: dict[int, list[Any]] = {}
        pending = list(firsts)
        stale = 0
        new = {entry_id for entry_id, version in (expected or {}).items() if version == 0}
        # Each change record allocates objects that live until its chunk is sent: with the
        # caller's entries alive, full collections would walk them all again and again.
        with collector_paused():
            while pending:
                sent = _without_repeats(pending, batch)
                got = self._chunks(batch, sent, items_of, channel, note, new)
                new = set()
                replies.update(
                    (first, reply)
                    for first, reply in zip(sent, got, strict=True)
                    if reply is not None
                )
                pending = [first for first in pending if first not in replies]
                # Rounds in which another writer came first every time.
                stale = stale + 1 if all(reply is None for reply in got) else 0
                if stale == WRITE_ATTEMPTS:
                    raise StoreError(
                        f"Redis store {self.display_url}: writing {len(batch)} entries: other "
                        f"writers kept changing the store; tried {WRITE_ATTEMPTS} times"
                    )
        if batch and not channel:
            with self._errors():
                self._client.publish(self.channel, ANY_CHANGE)
        return (
            [text for first in firsts for text in definitions[first]],
            [pair for first in firsts for pair in replies[first]],
        )

    def _chunks(
        self,
        batch: Sequence[Entry],
        firsts: Sequence[int],
        items_of: Callable[[int], list[list[Any]]],
        channel: str,
        note: ChangeNote,
        new: Collection[str],
    ) -> list[list[Any] | None]:
        """Read the entries of the chunks of ``batch`` that start at ``firsts`` (no id in two
        of them) but those taken to be ``new``, and the log's head, then run upsert_many on
        each chunk (its items from ``items_of``), streamed (see :meth:`_pipelined`): each
        chunk's change records follow the previous chunk's, built from what was read and what
        the chunks before it write. The replies, ``None`` for a chunk that wrote nothing
        because the store had changed."""
        entries = [entry for first in firsts for entry in batch[first : first + _UPSERT_BATCH]]
        ids = dict.fromkeys(entry.id for entry in entries)
        head, known = self._read_before([entry_id for entry_id in ids if entry_id not in new])
        # The ids written more than once, whose later writes start from the earlier ones.
        again = (
            set()
            if len(ids) == len(entries)
            else {
                entry_id for entry_id, count in Counter(e.id for e in entries).items() if count > 1
            }
        )
        keys = [*self._keys.indexes, *self._keys.audit_keys]

        def calls() -> Iterator[tuple[list[str], list[str]]]:
            nonlocal head
            for first in firsts:
                entries, items = batch[first : first + _UPSERT_BATCH], items_of(first)
                read: dict[str, list[str]] = {}
                changes: list[EntryChange | None] = []
                for entry, item in zip(entries, items, strict=True):
                    stored = known.get(entry.id)
                    read.setdefault(entry.id, [entry.id, *guard(stored)])
                    actual = int(stored.version) if stored else 0
                    if len(item) > 2 and int(item[2]) != actual:
                        continue  # the script refuses it
                    changes.append(entry_change(entry, item[1], stored))
                    if entry.id in again:
                        known[entry.id] = Stored.after(entry, item[1], actual + 1)
                records, head = self._records(head, note, changes)
                yield (
                    keys,
                    [
                        channel,
                        self._keys.entry_prefix,
                        compact_json(items),
                        self._keys.tag_prefix,
                        compact_json(list(read.values())),
                        *records,
                    ],
                )

        replies = [
            json.loads(reply) for reply in self._pipelined(self._scripts["upsert_many"], calls())
        ]
        return [None if isinstance(reply, dict) else reply for reply in replies]

    def delete(
        self,
        entry_id: str,
        *,
        expected_version: int | None = None,
        note: ChangeNote | None = None,
    ) -> bool:
        """Remove the entry, its index slots and its history, recording the change; ``False``
        if it did not exist. A read, where ``expected_version`` is checked, then the script,
        which removes the entry only while its version is the one read (see :meth:`upsert`):
        the check and the removal are one step."""
        note = audit.note_or_default(note, audit.REMOVE)
        keys = [
            self._keys.entry(entry_id),
            self._keys.due,
            self._keys.leases,
            self._keys.ids,
            self._keys.runs(entry_id),
            self._keys.config,
            self._keys.outcomes(entry_id),
            self._keys.unscheduled,
            self._keys.failing,
            self._keys.open,
            *self._keys.audit_keys,
        ]

        def attempt() -> bool | _Stale:
            head, found = self._read_before([entry_id])
            stored = found.get(entry_id)
            check_version(entry_id, expected_version, int(stored.version) if stored else None)
            before = None if stored is None else stored.entry()
            records, _ = self._records(head, note, [audit.entry_change(entry_id, before, None)])
            args = [entry_id, self.channel, self._keys.tag_prefix, *guard(stored), *records]
            with self._errors():
                existed = int(self._run(self._scripts["delete"], keys, args))
            return STALE if existed < 0 else existed == 1

        return self._fresh(attempt, f"delete of {entry_id!r}")

    def set_enabled(
        self, entry_id: str, enabled: bool, now: datetime, *, note: ChangeNote | None = None
    ) -> Entry:
        """Enable or disable; enabling starts afresh from ``now``. Bumps the version and
        records the change. A read, then the script (see :meth:`upsert`)."""
        note = audit.note_or_default(note, audit.ENABLE if enabled else audit.DISABLE)
        updated_at = from_ms(to_ms(now))
        keys = [
            self._keys.entry(entry_id),
            self._keys.due,
            self._keys.unscheduled,
            self._keys.failing,
            self._keys.open,
            *self._keys.audit_keys,
        ]

        def attempt() -> Entry | _Stale:
            with self._errors():
                rows = decode_rows(
                    self._run(
                        self._scripts["read"],
                        [self._keys.audit],
                        ["", self._keys.entry_prefix, compact_json([entry_id])],
                    )
                )
            if len(rows) < 2:
                raise EntryNotFound(entry_id)
            head, stored = decode_head(rows[0]), decode_entry(rows[1])
            if stored.enabled == enabled:
                return stored
            if enabled:
                next_run_at = stored.first_run_after(now, resume=False)
                next_arg = ms_text(next_run_at)
                if next_run_at is not None:
                    next_run_at = from_ms(to_ms(next_run_at))
            else:
                next_run_at, next_arg = stored.state.next_run_at, "-"
            state = dataclasses.replace(
                stored.state, next_run_at=next_run_at, updated_at=updated_at
            )
            new = dataclasses.replace(stored, enabled=enabled, state=state)
            records, _ = self._records(head, note, [audit.entry_change(entry_id, stored, new)])
            args = [
                entry_id,
                str(stored.version),
                "1" if enabled else "0",
                next_arg,
                str(to_ms(updated_at)),
                self.channel,
                *records,
            ]
            with self._errors():
                version = int(self._run(self._scripts["set_enabled"], keys, args))
            if version == 0:
                raise EntryNotFound(entry_id)
            return STALE if version < 0 else dataclasses.replace(new, version=version)

        return self._fresh(attempt, f"set_enabled of {entry_id!r}")

    # -- claims ----------------------------------------------------------------------------------

    def claim_batch(self, now: datetime, limit: int, owner: str, lease: timedelta) -> ClaimBatch:
        """Claim what is due and read the earliest due time left, or the pause that holds, in
        one atomic script call."""
        token = claim_token(owner)
        until = now + lease
        args = [
            str(to_ms(now)),
            str(max(limit, 0)),
            str(to_ms(until)),
            token,
            owner,
            self._keys.entry_prefix,
        ]
        with self._errors():
            reply = json.loads(
                self._run(
                    self._scripts["claim_due"],
                    [self._keys.due, self._keys.leases, self._keys.pause],
                    args,
                )
            )
        if "pause" in reply:
            return ClaimBatch.held(Pause.from_dict(reply["pause"]))
        claims: list[Claim] = []
        for row in reply["rows"]:
            entry = decode_entry(row)
            scheduled_for = entry.state.next_run_at
            assert scheduled_for is not None  # the script claims only entries with one
            claims.append(Claim(entry, scheduled_for, owner, token, until))
        head = reply["next"]
        return ClaimBatch(claims, None if head is None else from_ms(head))

    def _completion(self, claim: Claim, outcome: Outcome) -> list[Any]:
        result = advance(claim, outcome)
        state, entry = result.state, claim.entry
        # Like MemoryStore, the run state comes from the claim's snapshot, advanced; only
        # next_run_at yields to an edit that changed the schedule meanwhile (in the script).
        return [
            claim.token,
            spec_text(entry.spec),
            entry.id,
            ms_text(state.next_run_at),
            "1" if result.disable else "0",
            state_changes(state, entry.state),
            [run_fields(run) for run in outcome.runs],
            [
                [str(_epoch_minute(minute)), str(count)]
                for minute, count in minute_counts(outcome.runs).items()
            ],
        ]

    def complete_many(self, pairs: Iterable[tuple[Claim, Outcome]]) -> list[bool]:
        """Record several completions: one script call per :data:`_COMPLETE_BATCH`,
        streamed (see :meth:`_pipelined`)."""
        pairs = list(pairs)

        def calls() -> Iterator[tuple[list[str], list[str]]]:
            for first in range(0, len(pairs), _COMPLETE_BATCH):
                chunk = pairs[first : first + _COMPLETE_BATCH]
                keys = list(self._keys.completion_indexes)
                for claim, _ in chunk:
                    keys += self._run_keys(claim.entry.id)
                completions = [self._completion(claim, outcome) for claim, outcome in chunk]
                yield (
                    keys,
                    [
                        str(self.history_limit),
                        compact_json(completions),
                        self._keys.run_minutes_prefix,
                        _COUNTER_TTL,
                    ],
                )

        return [
            bool(done)
            for reply in self._pipelined(self._scripts["complete"], calls())
            for done in reply
        ]

    def _run_keys(self, entry_id: str) -> list[str]:
        """The keys of an entry that completions and reports write: entry, runs, outcomes."""
        return [
            self._keys.entry(entry_id),
            self._keys.runs(entry_id),
            self._keys.outcomes(entry_id),
        ]

    def _pipelined(self, script: Script, calls: Iterable[tuple[list[str], list[str]]]) -> list[Any]:
        """Run ``script`` once per (keys, args), in order, on one connection; the replies.

        Each call is sent as soon as ``calls`` yields it, and its reply read once
        :data:`_IN_FLIGHT` more are sent: Redis runs one call while Python encodes the next
        (``calls`` may be a generator that encodes them), and only the calls in flight are
        held. As in redis-py's pipelines, a lost connection is opened again and the calls not
        answered sent again; a failed call raises once all were sent and answered.
        """
        pending = iter(calls)
        first = next(pending, None)
        if first is None:
            return []
        pending = itertools.chain([first], pending)
        #: Calls sent whose replies are not read yet, oldest first.
        unread: deque[tuple[list[str], list[str]]] = deque()
        replies: list[Any] = []
        failures: list[redis.ResponseError] = []

        def send(connection: Any, keys: list[str], args: list[str], number: int) -> None:
            # Only a call sent with none in flight may check the connection's health: a PING
            # sent behind another call would read that call's reply.
            connection.send_command(
                "EVALSHA", script.sha, len(keys), *keys, *args, check_health=number == 0
            )

        def read_oldest(connection: Any) -> None:
            keys, args = unread[0]
            try:
                reply = connection.read_response()
            except NoScriptError:
                # The server lost its script cache (restart, SCRIPT FLUSH): this call never
                # ran, so running it again now is safe. Script() reloads the script.
                reply = self._run(script, keys, args)
            except redis.ResponseError as exc:
                failures.append(exc)
                reply = None
            unread.popleft()
            replies.append(reply)

        def send_all(connection: Any) -> list[Any]:
            for number, (keys, args) in enumerate(unread):
                send(connection, keys, args, number)
            for keys, args in pending:
                unread.append((keys, args))
                send(connection, keys, args, len(unread) - 1)
                if len(unread) > _IN_FLIGHT:
                    read_oldest(connection)
            while unread:
                read_oldest(connection)
            if failures:
                raise failures[0]
            return replies

        with self._errors():
            pool = self._client.connection_pool
            # Any: redis-py leaves the connection's methods unannotated.
            connection: Any = pool.get_connection()
            try:
                return cast(
                    list[Any],
                    connection.retry.call_with_retry(
                        lambda: send_all(connection), lambda _: connection.disconnect()
                    ),
                )
            except BaseException:
                # Replies may still be on their way: the connection cannot serve anyone else.
                connection.disconnect()
                raise
            finally:
                pool.release(connection)

    def renew_claims(
        self, claims: Sequence[Claim], now: datetime, lease: timedelta
    ) -> list[Claim | None]:
        """Extend the claims still held, in one atomic script call."""
        if not claims:
            return []
        until = now + lease
        held = [[claim.entry_id, claim.token] for claim in claims]
        with self._errors():
            reply = self._run(
                self._scripts["renew"],
                [self._keys.leases],
                [str(to_ms(until)), self._keys.entry_prefix, compact_json(held)],
            )
        return [
            dataclasses.replace(claim, lease_until=until) if renewed else None
            for claim, renewed in zip(claims, reply, strict=True)
        ]

    def recover_expired_claims(self, now: datetime) -> list[str]:
        """Put entries whose lease ran out before ``now`` back in the due index."""
        with self._errors():
            raw = cast(
                list[bytes],
                self._run(
                    self._scripts["recover"],
                    [self._keys.leases, self._keys.due, self._keys.unscheduled],
                    [str(to_ms(now)), self._keys.entry_prefix],
                ),
            )
        return [entry_id.decode() for entry_id in raw]

    # -- pause -----------------------------------------------------------------------------------

    def pause(self, pause: Pause, *, note: ChangeNote | None = None) -> Pause | None:
        """Store ``pause``, announce it and record the change; the pause replaced. A read of
        the pause and the log's head, then one atomic script call (both again when either
        moved)."""
        pause = checked_pause(pause)
        return self._set_pause(pause, audit.note_or_default(note, audit.PAUSE))

    def resume(self, *, note: ChangeNote | None = None) -> Pause | None:
        """Clear the pause (announced and recorded when there was one), as :meth:`pause`
        sets one."""
        return self._set_pause(None, audit.note_or_default(note, audit.RESUME))

    def _set_pause(self, pause: Pause | None, note: ChangeNote) -> Pause | None:
        text = "" if pause is None else compact_json(pause.to_dict())
        until = "" if pause is None else ms_text(pause.until)
        keys = [self._keys.pause, *self._keys.audit_keys]

        def attempt() -> Pause | _Stale | None:
            with self._errors(), self._client.pipeline(transaction=False) as pipe:
                pipe.hget(self._keys.pause, "j")
                pipe.hmget(self._keys.audit, ["s", "h", "f"])
                stored, head = pipe.execute()
            previous = None if stored is None else Pause.from_dict(json.loads(stored))
            if pause is None and previous is None:
                return None  # nothing to clear: nothing written, nothing announced
            records, _ = self._records(decode_head(head), note, [pause_change(previous, pause)])
            args = [text, until, self.channel, stored or "", *records]
            with self._errors():
                done = self._run(self._scripts["set_pause"], keys, args)
            return previous if done else STALE

        return self._fresh(attempt, "pause" if pause else "resume")

    def paused(self) -> Pause | None:
        """The stored pause, or ``None`` (one ``HGET``)."""
        with self._errors():
            text = self._client.hget(self._keys.pause, "j")
        return None if text is None else Pause.from_dict(json.loads(cast(bytes, text)))

    # -- audit log -------------------------------------------------------------------------------

    def audit_head(self) -> AuditHead:
        """The log's head (one ``HMGET``)."""
        with self._errors():
            values = cast(list[Any], self._client.hmget(self._keys.audit, ["s", "h", "f"]))
        return decode_head(values)

    def changes(
        self,
        entry_id: str | None = None,
        *,
        since: datetime | None = None,
        newest_first: bool = False,
        limit: int | None = None,
    ) -> Iterator[Change]:
        """The records selected, in the order asked, a page of at most :data:`_CHANGES_BATCH`
        (and ``limit``) per round trip: the log's with ``XRANGE`` (``XREVRANGE``), or an
        entry's numbers from its index with ``ZRANGEBYSCORE`` (``ZREVRANGEBYSCORE``) and their
        records in one pipeline. Newest first, ``since`` stops the read at the first record
        made before it; oldest first, that record is looked for first, the same way."""
        limit = checked_change_limit(limit)
        page = min(limit or _CHANGES_BATCH, _CHANGES_BATCH)
        if newest_first:
            selected = audit.made_since(self._read_changes(entry_id, page, newest_first), since)
        else:
            after = 0 if since is None else self._newest_before(entry_id, since)
            selected = self._read_changes(entry_id, page, newest_first, after)
        yield from itertools.islice(selected, limit)

    def count_changes(self, entry_id: str | None = None, *, since: datetime | None = None) -> int:
        """The head's count, or one entry's index counted (``ZCARD``); with ``since``, the
        records read back to it (see :meth:`changes`)."""
        if entry_id is None or since is not None:
            return super().count_changes(entry_id, since=since)
        with self._errors():
            return int(self._client.zcard(self._keys.audit_entry(entry_id)))

    def _newest_before(self, entry_id: str | None, since: datetime) -> int:
        """The number of the newest record (of ``entry_id``) made before ``since``, else 0."""
        for change in self._read_changes(entry_id, _CHANGES_BATCH, newest_first=True):
            if change.at < since:
                return change.seq
        return 0

    def _read_changes(
        self, entry_id: str | None, page: int, newest_first: bool, after: int = 0
    ) -> Iterator[Change]:
        """The log's records (or ``entry_id``'s) numbered above ``after``, in the order asked,
        ``page`` per round trip."""
        low, high = after, None
        while True:
            numbers, found = self._change_page(entry_id, low, high, page, newest_first)
            for fields in found:
                yield decode_change(fields)
            if len(numbers) < page:
                return
            if newest_first:
                high = numbers[-1]
            else:
                low = numbers[-1]

    def _change_page(
        self, entry_id: str | None, low: int, high: int | None, page: int, newest_first: bool
    ) -> tuple[list[int], list[dict[bytes, bytes]]]:
        """Up to ``page`` records (of ``entry_id``) numbered above ``low`` and below ``high``
        (``None``: no bound), in the order asked, in one round trip: the numbers read and the
        records' fields. One entry's numbers come from its index, a number whose record is gone
        (trimmed meanwhile) has none."""
        log = self._keys.audit_log
        with self._errors():
            if entry_id is None:
                first, last = f"({low}-0", "+" if high is None else f"({high}-0"
                if newest_first:
                    read = self._client.xrevrange(log, last, first, count=page)
                else:
                    read = self._client.xrange(log, first, last, count=page)
                records = cast(list[tuple[bytes, dict[bytes, bytes]]], read)
                return [int(key.partition(b"-")[0]) for key, _ in records], [
                    fields for _, fields in records
                ]
            index = self._keys.audit_entry(entry_id)
            first, last = f"({low}", "+inf" if high is None else f"({high}"
            if newest_first:
                scored = self._client.zrevrangebyscore(index, last, first, start=0, num=page)
            else:
                scored = self._client.zrangebyscore(index, first, last, start=0, num=page)
            numbers = [int(number) for number in cast(list[bytes], scored)]
            with self._client.pipeline(transaction=False) as pipe:
                for number in numbers:
                    pipe.xrange(log, f"{number}-0", f"{number}-0")
                found = cast(list[list[tuple[bytes, dict[bytes, bytes]]]], pipe.execute())
        return numbers, [fields for records in found for _, fields in records]

    def change(self, seq: int) -> Change | None:
        """The record numbered ``seq``, or ``None`` (one ``XRANGE``)."""
        if seq < 1:
            return None
        record_id = f"{int(seq)}-0"
        with self._errors():
            found = cast(
                list[tuple[bytes, dict[bytes, bytes]]],
                self._client.xrange(self._keys.audit_log, record_id, record_id),
            )
        return decode_change(found[0][1]) if found else None

    # -- reading run state -----------------------------------------------------------------------

    def history(self, entry_id: str, limit: int = 100) -> list[RunRecord]:
        """The newest ``limit`` runs of the entry, newest first."""
        if limit <= 0:
            return []
        keys = [self._keys.runs(entry_id), self._keys.outcomes(entry_id)]
        with self._errors():
            rows = cast(list[list[Any]], self._run(self._scripts["history"], keys, [str(limit)]))
        return [decode_run(entry_id, row) for row in rows]

    def record_outcomes(self, reports: Sequence[TaskReport]) -> list[bool]:
        """Fold workers' reports, in order, into their runs and entries: one optimistic
        transaction per call (see :meth:`_fold_reports`), tried again when a completion or
        another reporter changed what it read."""
        if not reports:
            return []
        watched = [
            key
            for entry_id in dict.fromkeys(report.entry_id for report in reports)
            for key in self._run_keys(entry_id)
        ]
        with self._errors(), self._client.pipeline() as pipe:
            for _ in range(OUTCOME_ATTEMPTS):
                try:
                    # Any: redis-py leaves Pipeline.watch unannotated.
                    cast(Any, pipe).watch(*watched)
                    found = self._fold_reports(pipe, reports)
                    pipe.execute()
                    return found
                except WatchError:
                    continue  # a completion or another reporter came first: read again
        raise StoreError(
            f"Redis store {self.display_url}: the entries of {len(reports)} reports kept "
            f"changing; tried {OUTCOME_ATTEMPTS} times"
        )

    def _fold_reports(self, pipe: Pipeline, reports: Sequence[TaskReport]) -> list[bool]:
        """Read the entries and runs ``reports`` are about (``pipe`` watches their keys), fold
        the reports with :func:`fold`, and queue the writes on ``pipe``: whether each report's
        run was found."""
        lookups = list(dict.fromkeys(_lookup(report) for report in reports))
        prefixes = [self._keys.entry_prefix, self._keys.runs_prefix, self._keys.outcomes_prefix]
        reply = self._run(self._scripts["outcome_runs"], [], [*prefixes, compact_json(lookups)])
        stored = {row[0]: decode_entry(row).state for row in decode_rows(reply[0])}
        runs = {
            lookup: (cast(bytes, item[0]).decode(), decode_run(lookup[0], item))
            for lookup, item in zip(lookups, reply[1:], strict=True)
            if item is not None
        }
        batch = fold_batch(
            reports,
            {lookup: run for lookup, (_, run) in runs.items()},
            stored,
            _lookup,
        )
        changed: dict[str, dict[str, RunRecord]] = {}
        for lookup, record in batch.runs.items():
            changed.setdefault(lookup[0], {})[runs[lookup][0]] = record
        states = {**stored, **batch.states}
        if changed:
            keys = [self._keys.failing, self._keys.open]
            writes: list[Any] = []
            for entry_id, records in changed.items():
                keys += [self._keys.entry(entry_id), self._keys.outcomes(entry_id)]
                reported = [
                    text
                    for stream_id, record in records.items()
                    for text in (stream_id, reported_text(record))
                ]
                changes = tracked_changes(states[entry_id], stored[entry_id])
                writes.append([entry_id, reported, changes])
            pipe.multi()
            self._scripts["record_outcomes"](keys=keys, args=[compact_json(writes)], client=pipe)
        return batch.found

    def record_manual_run(self, record: RunRecord, *, note: ChangeNote | None = None) -> bool:
        """Append a manual run to the entry's history stream and record it in the audit log:
        a read of the log's head, then one atomic script call (both again when the head
        moved)."""
        checked_manual(record)
        note = audit.note_or_default(note, audit.RUN)
        keys = [*self._run_keys(record.entry_id), *self._keys.audit_keys]
        keys += [self._keys.run_minute(_epoch_minute(m)) for m in minute_counts([record])]
        fields = compact_json(run_fields(record))

        def attempt() -> bool | _Stale:
            records, _ = self._records(self.audit_head(), note, [(record.entry_id, None, None)])
            args = [str(self.history_limit), _COUNTER_TTL, fields, *records]
            with self._errors():
                added = int(self._run(self._scripts["record_manual_run"], keys, args))
            return STALE if added < 0 else added == 1

        return self._fresh(attempt, f"manual run of {record.entry_id!r}")

    def next_due_at(self) -> datetime | None:
        """The earliest ``next_run_at`` among enabled, unclaimed entries."""
        with self._errors():
            head = cast(
                list[tuple[bytes, float]],
                self._client.zrange(self._keys.due, 0, 0, withscores=True),
            )
        return from_ms(head[0][1]) if head else None

    # -- health ----------------------------------------------------------------------------------

    def entry_counts(self) -> EntryCounts:
        """Every entry (``{P}:ids``), and the scheduled ones: due, or claimed unless an edit
        meanwhile left them disabled or without a next run. One ``MULTI``/``EXEC`` of four
        counts."""
        with self._errors(), self._client.pipeline() as pipe:
            pipe.zcard(self._keys.ids)
            pipe.zcard(self._keys.due)
            pipe.zcard(self._keys.leases)
            pipe.scard(self._keys.unscheduled)
            total, due, claimed, unscheduled = cast(list[int], pipe.execute())
        return EntryCounts(total, due + claimed - unscheduled)

    def activity(self, now: datetime, overdue_before: datetime, since: datetime) -> Activity:
        """One script call: counts of ``{P}:due``, ``{P}:leases`` and
        ``{P}:leases:unscheduled``, the ``{P}:failing`` entries whose sends fail, and one
        ``MGET`` of the counted minutes' run counters."""
        now, overdue_before, since = checked_activity(now, overdue_before, since)
        keys = [self._keys.due, self._keys.leases, self._keys.unscheduled, self._keys.failing]
        args = [
            str(to_ms(now)),
            str(to_ms_ceiling(overdue_before)),
            self._keys.entry_prefix,
            *(self._keys.run_minute(_epoch_minute(m)) for m in counted_minutes(now, since)),
        ]
        with self._errors():
            reply = cast(list[int], self._run(self._scripts["activity"], keys, args))
        enabled, due, overdue, failing, runs = reply
        return Activity(enabled=enabled, due=due, overdue=overdue, failing=failing, runs=runs)

    def health_suspects(self, rules: SuspectRules, limit: int) -> list[str]:
        """Up to ``limit`` suspects of each kind, the worst first (missed the longest, most
        failures in a row, open the longest), from ``{P}:due``, ``{P}:failing`` and
        ``{P}:open``, in one ``MULTI``/``EXEC``; merged, sorted and cut at ``limit``."""
        limit = SuspectRules.checked_limit(limit)
        missed_before = to_ms_ceiling(rules.missed_before)
        open_before = to_ms_ceiling(rules.open_before)
        with self._errors(), self._client.pipeline() as pipe:
            pipe.zrangebyscore(self._keys.due, "-inf", f"({missed_before}", 0, limit)
            pipe.zrevrangebyscore(self._keys.failing, "+inf", rules.failures, 0, limit)
            pipe.zrangebyscore(self._keys.open, "-inf", f"({open_before}", 0, limit)
            replies = cast(list[list[bytes]], pipe.execute())
        found = {entry_id.decode() for reply in replies for entry_id in reply}
        return sorted(found)[:limit]

    # -- beats -----------------------------------------------------------------------------------

    def record_beat(self, beat: BeatInfo) -> None:
        """Record ``beat`` and forget the beats silent for :data:`BEAT_RETENTION` before it, in
        one atomic script call."""
        keys = [self._keys.beats, self._keys.beats_seen]
        args = [
            beat.owner,
            beat_text(beat),
            str(to_ms(beat.last_pass_at)),
            str(to_ms(beat.last_pass_at - BEAT_RETENTION)),
        ]
        with self._errors():
            self._run(self._scripts["record_beat"], keys, args)

    def remove_beat(self, owner: str) -> bool:
        """Forget the beat ``owner`` in one ``MULTI``/``EXEC``; whether it was recorded."""
        with self._errors(), self._client.pipeline() as pipe:
            pipe.hdel(self._keys.beats, owner)
            pipe.zrem(self._keys.beats_seen, owner)
            removed, _ = pipe.execute()
        return bool(removed)

    def beats(self) -> list[BeatInfo]:
        """Every recorded beat, by owner (one ``HVALS``)."""
        with self._errors():
            values = cast(list[bytes], self._client.hvals(self._keys.beats))
        return decode_beats(values)

    # -- incidents -------------------------------------------------------------------------------

    def transition_incident(self, key: str, state: str, at: datetime) -> str | None:
        """Move incident ``key`` to ``state``: one atomic script call; the state it left, or
        ``None``."""
        key, state, at = checked_transition(key, state, at)
        args = [key, state, incident_text(Incident(key, state, at))]
        with self._errors():
            previous = self._run(self._scripts["transition_incident"], [self._keys.incidents], args)
        return None if previous is None else cast(bytes, previous).decode()

    def incidents(self) -> list[Incident]:
        """Every open incident, by key (one ``HGETALL``)."""
        with self._errors():
            fields = cast(dict[bytes, bytes], self._client.hgetall(self._keys.incidents))
        return decode_incidents(fields)

    def time(self) -> datetime | None:
        """The Redis server's clock (``TIME``)."""
        with self._errors():
            seconds, micros = self._client.time()
        return datetime.fromtimestamp(seconds, timezone.utc) + timedelta(microseconds=micros)

    # -- lifecycle -------------------------------------------------------------------------------

    def watch(self) -> ChangeFeed:
        """A feed of definition changes, on its own pub/sub connection."""
        with self._errors():
            return RedisFeed(self._client, self.channel, self.display_url)

    def drop(self) -> None:
        """Delete every key of this prefix (entries, indexes, history, beats, incidents)."""
        with self._errors():
            batch: list[bytes] = []
            for key in self._client.scan_iter(match=self._keys.pattern, count=1000):
                batch.append(cast(bytes, key))
                if len(batch) >= 1000:
                    self._client.unlink(*batch)
                    batch = []
            if batch:
                self._client.unlink(*batch)

    def close(self) -> None:
        """Close the connection pool; safe to call twice."""
        if self._closed:
            return
        self._closed = True
        with contextlib.suppress(redis.RedisError, OSError):
            self._client.close()
        with contextlib.suppress(redis.RedisError, OSError):
            self._client.connection_pool.disconnect()
