"""The Redis store: :class:`RedisStore`, the store contract over redis-py and the scripts, its
parts in modules of their own: the client, its errors and streamed script calls in
:mod:`.client`, recorded writes in :mod:`.recorded` and :mod:`.bulk`, reading the audit log in
:mod:`.log_reader`, workers' reports in :mod:`.outcomes`.

Cost: claim, complete and recovery are one script call each (O(log N) in the number of
entries, plus the entries returned); :meth:`RedisStore.complete_many` streams one script call
per 100 completions on one connection; ``list`` reads every matching hash.

Writes that change definitions record each change in the audit log in the same script:
Python builds the records after reading what they describe, and the script stores them, with
the change, only if that still holds. So upsert, delete, enable/disable and the pause are two
round trips (a read of the entry or pause with the log's head, then the script), a manual run
two (the head, then the script), each again when another writer came first;
:meth:`RedisStore.upsert_many` reads its entries (500 per script call, pipelined; not those
``write_checked`` expects not to exist) and streams one script call per 500 entries, sending a
chunk again, after a new read, when another writer came first. Appending a record is an
``XADD`` and a ``ZADD``; trimming deletes the records below the floor. Reading the log:
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
``MGET`` of the run counters); :meth:`RedisStore.history_size` one script call (after a
one-off scan on a prefix written before its count: see :mod:`.history_count`).
Tags: :meth:`RedisStore.ids_tagged` is one ``SINTER`` of the tags' sets. Ranked pages:
:meth:`RedisStore.ranked` is one script call within a rank set, more past its end (see
:mod:`.ranks`).

Errors: every redis-py exception becomes :class:`StoreError`, with any password in the URL
replaced by ``***`` (see :mod:`.client`).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from datetime import date, datetime, timedelta, timezone
from typing import Any, cast

from celery_stembeat import audit
from celery_stembeat.audit import AuditHead, Change, ChangeNote
from celery_stembeat.entry import Entry
from celery_stembeat.stores import mask_url
from celery_stembeat.stores._overlap import read_ahead
from celery_stembeat.stores._runstate import advance
from celery_stembeat.stores._spec_text import compact_json, spec_text
from celery_stembeat.stores.base import (
    BEAT_RETENTION,
    DEFAULT_HISTORY_LIMIT,
    DEFAULT_HISTORY_MAX_AGE,
    RUN_MINUTES_KEPT,
    Activity,
    BeatInfo,
    ChangeFeed,
    Claim,
    ClaimBatch,
    EntryCounts,
    Fingerprint,
    HistorySize,
    Incident,
    Outcome,
    Pause,
    RunRecord,
    Store,
    StoreError,
    SuspectRules,
    TaskReport,
    VersionConflict,
    check_version,
    checked_activity,
    checked_calendar,
    checked_change_limit,
    checked_history_limit,
    checked_history_max_age,
    checked_manual,
    checked_pause,
    checked_ranking,
    checked_selection,
    checked_soonest,
    checked_transition,
    claim_token,
    counted_minutes,
    minute_counts,
    not_found,
    pause_change,
)
from celery_stembeat.stores.redis.bulk import BulkWriter
from celery_stembeat.stores.redis.changelog import decode_head, entry_change, guard
from celery_stembeat.stores.redis.client import READ_BATCH, Call, Client
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
    run_fields,
    state_changes,
    to_ms,
    to_ms_ceiling,
    written_entry,
)
from celery_stembeat.stores.redis.feed import RedisFeed
from celery_stembeat.stores.redis.history_count import HistoryCount
from celery_stembeat.stores.redis.log_reader import LogReader
from celery_stembeat.stores.redis.outcomes import OutcomeRecorder
from celery_stembeat.stores.redis.ranks import Ranks
from celery_stembeat.stores.redis.recorded import STALE, Recorder, Stale

DEFAULT_PREFIX = "stembeat"
#: Ids per fingerprints script call, and per fingerprints_of script call.
_FINGERPRINT_BATCH = 5000
_FINGERPRINTS_OF_BATCH = 1000
#: Entries per set_digests script call.
_DIGEST_BATCH = 1000
#: Completions per complete script call: small enough that Redis runs one call while Python
#: encodes the next, large enough that the per-call overhead stays small.
_COMPLETE_BATCH = 100
#: Seconds a run counter lives after its last increment.
_COUNTER_TTL = str(int(RUN_MINUTES_KEPT.total_seconds()))


def _epoch_minute(minute: datetime) -> int:
    return to_ms(minute) // 60_000


class RedisStore(Store):
    """The store on Redis (or a Redis-compatible server), via redis-py."""

    def __init__(
        self,
        url: str = "redis://127.0.0.1:6379/0",
        *,
        prefix: str = DEFAULT_PREFIX,
        history_limit: int = DEFAULT_HISTORY_LIMIT,
        history_max_age: timedelta | float | str = DEFAULT_HISTORY_MAX_AGE,
        audit_limit: int = audit.DEFAULT_AUDIT_LIMIT,
        **redis_options: Any,
    ) -> None:
        self.display_url = mask_url(url)
        if not isinstance(prefix, str) or not prefix or any(c in prefix for c in "{}"):
            raise StoreError(f"Redis store: prefix {prefix!r} must be non-empty, without braces")
        self.history_limit = checked_history_limit(history_limit, "Redis")
        self.history_max_age = checked_history_max_age(history_max_age, "Redis")
        self._max_age_ms = str(self.history_max_age // timedelta(milliseconds=1))
        self.audit_limit = audit.checked_audit_limit(audit_limit, "Redis")
        self.prefix = prefix
        self._client = Client(url, self.display_url, prefix, redis_options)
        self._closed = False
        self._keys = self._client.keys
        self.channel = self._keys.channel
        self._recorder = Recorder(self._client, self.audit_limit)
        self._bulk = BulkWriter(self._client, self._recorder, self.channel)
        self._log = LogReader(self._client)
        self._outcomes = OutcomeRecorder(self._client)
        self._ranks = Ranks(self._client)
        self._history = HistoryCount(self._client, self._ranks)

    def __repr__(self) -> str:
        return f"RedisStore({self.display_url!r}, prefix={self.prefix!r})"

    # -- definitions -----------------------------------------------------------------------------

    def _read_entries(self, entry_ids: Sequence[str], enabled: bool | None = None) -> list[Entry]:
        with self._client.errors():
            reply = self._read_reply(entry_ids, enabled)
        return [decode_entry(row) for row in decode_rows(reply)]

    def _read_reply(self, entry_ids: Sequence[str], enabled: bool | None) -> Any:
        """The read script's reply for ``entry_ids`` (only enabled or disabled ones when
        ``enabled`` says)."""
        flag = "" if enabled is None else ("1" if enabled else "0")
        return self._client.run("read", [self._keys.entry_prefix], [flag, compact_json(entry_ids)])

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
        """The ids index read :data:`READ_BATCH` ids at a time (in byte order, which is the
        ids' code-point order), each batch's entries with one script call; the next batch is
        read on a thread while this one is decoded."""
        for reply in read_ahead(self._entry_batches(enabled, prefix), "stembeat-read"):
            yield from (decode_entry(row) for row in decode_rows(reply))

    def _entry_batches(self, enabled: bool | None, prefix: str | None) -> Iterator[Any]:
        """The read script's replies for the ids with ``prefix``, :data:`READ_BATCH` at a
        time."""
        start = b"[" + prefix.encode() if prefix else b"-"
        stop = b"(" + prefix.encode() + b"\xff" if prefix else b"+"
        while True:
            with self._client.errors():
                raw = cast(
                    list[bytes],
                    self._client.redis.zrangebylex(self._keys.ids, start, stop, 0, READ_BATCH),
                )
                ids = [entry_id.decode() for entry_id in raw]
                reply = self._read_reply(ids, enabled) if ids else None
            if reply is not None:
                yield reply
            if len(raw) < READ_BATCH:
                return
            start = b"(" + raw[-1]

    def get_many(self, entry_ids: Iterable[str]) -> list[Entry]:
        """The entries with these ids that exist, in the order given: one script per
        :data:`READ_BATCH`, all in one pipelined round trip."""
        ids = list(entry_ids)
        calls: list[Call] = [
            ([self._keys.entry_prefix], ["", compact_json(ids[first : first + READ_BATCH])])
            for first in range(0, len(ids), READ_BATCH)
        ]
        return [
            decode_entry(row)
            for reply in self._client.pipelined("read", calls)
            for row in decode_rows(reply)
        ]

    def ids_tagged(self, tags: Collection[str]) -> list[str]:
        """The sorted ids holding every one of ``tags``: one ``SINTER`` of their sets."""
        keys = [self._keys.tag(tag) for tag in checked_selection(tags)]
        with self._client.errors():
            members = cast(set[bytes], self._client.redis.sinter(keys))
        return sorted(member.decode() for member in members)

    def fingerprints(self) -> dict[str, Fingerprint]:
        """Every beat_schedule entry's :class:`Fingerprint`: one script call per
        :data:`_FINGERPRINT_BATCH` entries (listed in ``{P}:config``), three fields each."""
        found: dict[str, Fingerprint] = {}
        after = "-"
        while True:
            args = [after, str(_FINGERPRINT_BATCH), self._keys.entry_prefix]
            with self._client.errors():
                rows = decode_rows(self._client.run("fingerprints", [self._keys.config], args))
            for entry_id, enabled, version, mark in rows:
                found[entry_id] = decode_fingerprint(enabled, version, mark)
            if len(rows) < _FINGERPRINT_BATCH:
                return found
            after = "(" + rows[-1][0]

    def fingerprints_of(self, entry_ids: Iterable[str]) -> dict[str, Fingerprint]:
        """The fingerprints of these entries: one script call per
        :data:`_FINGERPRINTS_OF_BATCH` ids, four fields each, all pipelined."""
        ids = list(entry_ids)
        calls: list[Call] = [
            (
                [self._keys.entry_prefix],
                [compact_json(ids[first : first + _FINGERPRINTS_OF_BATCH])],
            )
            for first in range(0, len(ids), _FINGERPRINTS_OF_BATCH)
        ]
        return {
            entry_id: decode_sourced_fingerprint(enabled, version, mark, source)
            for reply in self._client.pipelined("fingerprints_of", calls)
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
        self._client.pipelined("set_digests", calls)

    def soonest(self, limit: int, *, after: tuple[datetime, str] | None = None) -> list[Entry]:
        """One script call: a range of ``{P}:due`` from the rank past ``after`` (a binary
        search among the entries of its millisecond), then the entries' hashes."""
        limit, after = checked_soonest(limit, after)
        start, last_id = "", ""
        if after is not None:
            at, last_id = after
            if from_ms(to_ms(at)) != at:  # between milliseconds: every id of the next one
                at, last_id = from_ms(to_ms_ceiling(at)), ""
            start = ms_text(at)
        with self._client.errors():
            reply = self._client.run(
                "soonest",
                [self._keys.due],
                [str(limit), start, last_id, self._keys.entry_prefix],
            )
        return [decode_entry(row) for row in decode_rows(reply)]

    def ranked(self, by: str, limit: int, *, offset: int = 0) -> list[Entry]:
        """A page of the rank set of ``by`` (``{P}:rank:lr``, ``:tc`` or ``:dm``) in one script
        call, then past its end the entries without the value, from ``{P}:ids`` (see
        :mod:`.ranks`); a page with counts a score may round reads every entry instead."""
        checked_ranking(by, limit, offset)
        rows = self._ranks.page(by, limit, offset)
        if rows is None:
            return super().ranked(by, limit, offset=offset)
        return [decode_entry(row) for row in rows]

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

        def attempt() -> Entry | Stale:
            head, found = self._recorder.read_before([entry.id])
            stored = found.get(entry.id)
            check_version(entry.id, expected_version, int(stored.version) if stored else None)
            args = [
                entry.id,
                expected,
                self.channel,
                compact_json(fields),
                self._keys.tag_prefix,
                *guard(stored),
            ]
            change = entry_change(entry, fields, stored)
            reply = json.loads(self._recorder.call("upsert", keys, args, head, note, change))
            if isinstance(reply, dict):
                if reply.get("stale"):
                    return STALE
                conflict = int(reply["conflict"]) if reply["conflict"] else None
                raise VersionConflict(entry.id, expected_version, conflict)
            return decode_entry(reply, fields["d"])

        return self._recorder.fresh(attempt, f"upsert of {entry.id!r}")

    def upsert_many(
        self,
        entries: Iterable[Entry],
        digests: Mapping[str, str] | None = None,
        *,
        note: ChangeNote | None = None,
    ) -> list[Entry]:
        """:meth:`upsert` each entry without a version check, attaching ``digests``: one script
        call per 500 entries, streamed (see :mod:`.bulk`); each entry's write is atomic."""
        batch = list(entries)
        definitions, replies = self._bulk.write(batch, digests or {}, note=note)
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
        self._bulk.write(list(entries), digests or {}, note=note)

    def write_checked(
        self,
        entries: Sequence[Entry],
        expected_versions: Mapping[str, int],
        digests: Mapping[str, str] | None = None,
        *,
        note: ChangeNote | None = None,
    ) -> list[str]:
        """:meth:`write_many` with each entry's version checked in the script that writes it."""
        _, replies = self._bulk.write(entries, digests or {}, expected_versions, note)
        return [
            entry.id for entry, (version, _) in zip(entries, replies, strict=True) if version == "0"
        ]

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
            *self._keys.rank_keys,
            *self._keys.audit_keys,
            *self._keys.history_keys,
        ]

        def attempt() -> bool | Stale:
            head, found = self._recorder.read_before([entry_id])
            stored = found.get(entry_id)
            check_version(entry_id, expected_version, int(stored.version) if stored else None)
            change = audit.entry_change(entry_id, None if stored is None else stored.entry(), None)
            args = [entry_id, self.channel, self._keys.tag_prefix, *guard(stored)]
            existed = int(self._recorder.call("delete", keys, args, head, note, change))
            return STALE if existed < 0 else existed == 1

        return self._recorder.fresh(attempt, f"delete of {entry_id!r}")

    def set_enabled(
        self,
        entry_id: str,
        enabled: bool,
        now: datetime,
        *,
        expected_version: int | None = None,
        note: ChangeNote | None = None,
    ) -> Entry:
        """Enable or disable; enabling starts afresh from ``now``. Bumps the version and
        records the change. A read, where ``expected_version`` is checked, then the script,
        which writes only while the version is the one read (see :meth:`upsert`): the check
        and the write are one step."""
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

        def attempt() -> Entry | Stale:
            with self._client.errors():
                rows = decode_rows(
                    self._client.run(
                        "read",
                        [self._keys.entry_prefix, self._keys.audit],
                        ["", compact_json([entry_id])],
                    )
                )
            if len(rows) < 2:
                raise not_found(entry_id, expected_version)
            head, stored = decode_head(rows[0]), decode_entry(rows[1])
            check_version(entry_id, expected_version, stored.version)
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
            args = [
                entry_id,
                str(stored.version),
                "1" if enabled else "0",
                next_arg,
                str(to_ms(updated_at)),
                self.channel,
            ]
            change = audit.entry_change(entry_id, stored, new)
            version = int(self._recorder.call("set_enabled", keys, args, head, note, change))
            if version == 0:
                raise not_found(entry_id, expected_version)
            return STALE if version < 0 else dataclasses.replace(new, version=version)

        return self._recorder.fresh(attempt, f"set_enabled of {entry_id!r}")

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
        with self._client.errors():
            reply = json.loads(
                self._client.run(
                    "claim_due",
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
        streamed (see :meth:`.Client.pipelined`)."""
        pairs = list(pairs)

        def calls() -> Iterator[Call]:
            for first in range(0, len(pairs), _COMPLETE_BATCH):
                chunk = pairs[first : first + _COMPLETE_BATCH]
                keys = list(self._keys.completion_indexes)
                for claim, _ in chunk:
                    keys += self._keys.run_state(claim.entry.id)
                completions = [self._completion(claim, outcome) for claim, outcome in chunk]
                yield (
                    keys,
                    [
                        str(self.history_limit),
                        compact_json(completions),
                        self._keys.run_minutes_prefix,
                        _COUNTER_TTL,
                        self._max_age_ms,
                    ],
                )

        return [
            bool(done) for reply in self._client.pipelined("complete", calls()) for done in reply
        ]

    def renew_claims(
        self, claims: Sequence[Claim], now: datetime, lease: timedelta
    ) -> list[Claim | None]:
        """Extend the claims still held, in one atomic script call."""
        if not claims:
            return []
        until = now + lease
        held = [[claim.entry_id, claim.token] for claim in claims]
        with self._client.errors():
            reply = self._client.run(
                "renew",
                [self._keys.leases],
                [str(to_ms(until)), self._keys.entry_prefix, compact_json(held)],
            )
        return [
            dataclasses.replace(claim, lease_until=until) if renewed else None
            for claim, renewed in zip(claims, reply, strict=True)
        ]

    def recover_expired_claims(self, now: datetime) -> list[str]:
        """Put entries whose lease ran out before ``now`` back in the due index."""
        with self._client.errors():
            raw = cast(
                list[bytes],
                self._client.run(
                    "recover",
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

        def attempt() -> Pause | Stale | None:
            with self._client.errors(), self._client.redis.pipeline(transaction=False) as pipe:
                pipe.hget(self._keys.pause, "j")
                pipe.hmget(self._keys.audit, ["s", "h", "f"])
                stored, head = pipe.execute()
            previous = None if stored is None else Pause.from_dict(json.loads(stored))
            if pause is None and previous is None:
                return None  # nothing to clear: nothing written, nothing announced
            args = [text, until, self.channel, stored or ""]
            change = pause_change(previous, pause)
            done = self._recorder.call("set_pause", keys, args, decode_head(head), note, change)
            return previous if done else STALE

        return self._recorder.fresh(attempt, "pause" if pause else "resume")

    def paused(self) -> Pause | None:
        """The stored pause, or ``None`` (one ``HGET``)."""
        with self._client.errors():
            text = self._client.redis.hget(self._keys.pause, "j")
        return None if text is None else Pause.from_dict(json.loads(cast(bytes, text)))

    # -- audit log -------------------------------------------------------------------------------

    def audit_head(self) -> AuditHead:
        """The log's head (one ``HMGET``)."""
        return self._log.head()

    def changes(
        self,
        entry_id: str | None = None,
        *,
        since: datetime | None = None,
        newest_first: bool = False,
        limit: int | None = None,
    ) -> Iterator[Change]:
        """The records selected, in the order asked, 500 (at most ``limit``) per round trip:
        the log's with ``XRANGE`` (``XREVRANGE``), or an entry's numbers from its index with
        ``ZRANGEBYSCORE`` (``ZREVRANGEBYSCORE``) and their records in one pipeline (see
        :mod:`.log_reader`)."""
        limit = checked_change_limit(limit)
        yield from self._log.changes(entry_id, since, newest_first, limit)

    def count_changes(self, entry_id: str | None = None, *, since: datetime | None = None) -> int:
        """The head's count, or one entry's index counted (``ZCARD``); with ``since``, the
        records read back to it (see :meth:`changes`)."""
        if entry_id is None or since is not None:
            return super().count_changes(entry_id, since=since)
        return self._log.count(entry_id)

    def change(self, seq: int) -> Change | None:
        """The record numbered ``seq``, or ``None`` (one ``XRANGE``)."""
        return self._log.change(seq)

    # -- reading run state -----------------------------------------------------------------------

    def history(self, entry_id: str, limit: int = 100) -> list[RunRecord]:
        """The newest ``limit`` runs of the entry, newest first."""
        if limit <= 0:
            return []
        keys = [self._keys.runs(entry_id), self._keys.outcomes(entry_id)]
        with self._client.errors():
            rows = cast(list[list[Any]], self._client.run("history", keys, [str(limit)]))
        return [decode_run(entry_id, row) for row in rows]

    def record_outcomes(self, reports: Sequence[TaskReport]) -> list[bool]:
        """Fold workers' reports, in order, into their runs and entries: one optimistic
        transaction per call, tried again when a completion or another reporter changed what
        it read (see :mod:`.outcomes`)."""
        return self._outcomes.record(reports)

    def record_manual_run(self, record: RunRecord, *, note: ChangeNote | None = None) -> bool:
        """Append a manual run to the entry's history stream and record it in the audit log:
        a read of the log's head, then one atomic script call (both again when the head
        moved)."""
        checked_manual(record)
        note = audit.note_or_default(note, audit.RUN)
        keys = [
            *self._keys.run_state(record.entry_id),
            *self._keys.history_keys,
            *self._keys.audit_keys,
        ]
        keys += [self._keys.run_minute(_epoch_minute(m)) for m in minute_counts([record])]
        args = [
            str(self.history_limit),
            _COUNTER_TTL,
            compact_json(run_fields(record)),
            self._max_age_ms,
            record.entry_id,
        ]
        change = (record.entry_id, None, None)

        def attempt() -> bool | Stale:
            head = self.audit_head()
            added = int(self._recorder.call("record_manual_run", keys, args, head, note, change))
            return STALE if added < 0 else added == 1

        return self._recorder.fresh(attempt, f"manual run of {record.entry_id!r}")

    def next_due_at(self) -> datetime | None:
        """The earliest ``next_run_at`` among enabled, unclaimed entries."""
        with self._client.errors():
            head = cast(
                list[tuple[bytes, float]],
                self._client.redis.zrange(self._keys.due, 0, 0, withscores=True),
            )
        return from_ms(head[0][1]) if head else None

    # -- health ----------------------------------------------------------------------------------

    def entry_counts(self) -> EntryCounts:
        """Every entry (``{P}:ids``), and the scheduled ones: due, or claimed unless an edit
        meanwhile left them disabled or without a next run. One ``MULTI``/``EXEC`` of four
        counts."""
        with self._client.errors(), self._client.redis.pipeline(transaction=True) as pipe:
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
        with self._client.errors():
            reply = cast(list[int], self._client.run("activity", keys, args))
        enabled, due, overdue, failing, runs = reply
        return Activity(enabled=enabled, due=due, overdue=overdue, failing=failing, runs=runs)

    def history_size(self) -> HistorySize:
        """The count of runs held, ``{P}:history`` (one script call; on a prefix written
        before the count, a one-off scan first: see :mod:`.history_count`); the bytes are not
        known."""
        return HistorySize(self._history.runs())

    def health_suspects(self, rules: SuspectRules, limit: int) -> list[str]:
        """Up to ``limit`` suspects of each kind, the worst first (missed the longest, most
        failures in a row, open the longest), from ``{P}:due``, ``{P}:failing`` and
        ``{P}:open``, in one ``MULTI``/``EXEC``; merged, sorted and cut at ``limit``."""
        limit = SuspectRules.checked_limit(limit)
        missed_before = to_ms_ceiling(rules.missed_before)
        open_before = to_ms_ceiling(rules.open_before)
        with self._client.errors(), self._client.redis.pipeline(transaction=True) as pipe:
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
        with self._client.errors():
            self._client.run("record_beat", keys, args)

    def remove_beat(self, owner: str) -> bool:
        """Forget the beat ``owner`` in one ``MULTI``/``EXEC``; whether it was recorded."""
        with self._client.errors(), self._client.redis.pipeline(transaction=True) as pipe:
            pipe.hdel(self._keys.beats, owner)
            pipe.zrem(self._keys.beats_seen, owner)
            removed, _ = pipe.execute()
        return bool(removed)

    def beats(self) -> list[BeatInfo]:
        """Every recorded beat, by owner (one ``HVALS``)."""
        with self._client.errors():
            values = cast(list[bytes], self._client.redis.hvals(self._keys.beats))
        return decode_beats(values)

    # -- holiday calendars -----------------------------------------------------------------------

    def calendars(self) -> dict[str, tuple[date, ...]]:
        """Every holiday calendar's dates, by name (``SMEMBERS`` of the names, then of each
        calendar in one pipeline)."""
        with self._client.errors():
            names = sorted(
                name.decode()
                for name in cast(set[bytes], self._client.redis.smembers(self._keys.calendars))
            )
            with self._client.redis.pipeline(transaction=False) as pipe:
                for name in names:
                    pipe.smembers(self._keys.calendar_prefix + name)
                found = cast(list[set[bytes]], pipe.execute())
        return {
            name: tuple(sorted(date.fromisoformat(day.decode()) for day in days))
            for name, days in zip(names, found, strict=True)
            if days
        }

    def add_calendar_dates(self, name: str, dates: Collection[date]) -> None:
        """``SADD`` the dates and the name, in one ``MULTI``."""
        name, days = checked_calendar(name, dates)
        if not days:
            return
        with self._client.errors(), self._client.redis.pipeline(transaction=True) as pipe:
            pipe.sadd(self._keys.calendar_prefix + name, *(day.isoformat() for day in days))
            pipe.sadd(self._keys.calendars, name)
            pipe.execute()

    def remove_calendar_dates(self, name: str, dates: Collection[date] | None = None) -> None:
        """``SREM`` the dates; for every date, delete the calendar's set and name in one
        ``MULTI``."""
        name, days = checked_calendar(name, () if dates is None else dates)
        key = self._keys.calendar_prefix + name
        with self._client.errors(), self._client.redis.pipeline(transaction=True) as pipe:
            if dates is None:
                pipe.delete(key)
                pipe.srem(self._keys.calendars, name)
            elif days:
                pipe.srem(key, *(day.isoformat() for day in days))
            pipe.execute()

    # -- incidents -------------------------------------------------------------------------------

    def transition_incident(self, key: str, state: str, at: datetime) -> str | None:
        """Move incident ``key`` to ``state``: one atomic script call; the state it left, or
        ``None``."""
        key, state, at = checked_transition(key, state, at)
        args = [key, state, incident_text(Incident(key, state, at))]
        with self._client.errors():
            previous = self._client.run("transition_incident", [self._keys.incidents], args)
        return None if previous is None else cast(bytes, previous).decode()

    def incidents(self) -> list[Incident]:
        """Every open incident, by key (one ``HGETALL``)."""
        with self._client.errors():
            fields = cast(dict[bytes, bytes], self._client.redis.hgetall(self._keys.incidents))
        return decode_incidents(fields)

    def time(self) -> datetime | None:
        """The Redis server's clock (``TIME``)."""
        with self._client.errors():
            seconds, micros = self._client.redis.time()
        return datetime.fromtimestamp(seconds, timezone.utc) + timedelta(microseconds=micros)

    # -- lifecycle -------------------------------------------------------------------------------

    def watch(self) -> ChangeFeed:
        """A feed of definition changes, on its own pub/sub connection."""
        with self._client.errors():
            return RedisFeed(
                self._client.redis, self.channel, self.display_url, self._client.relearn
            )

    def drop(self) -> None:
        """Delete every key of this prefix (entries, indexes, history, beats, incidents)."""
        with self._client.errors():
            batch: list[bytes] = []
            for key in self._client.redis.scan_iter(match=self._keys.pattern, count=1000):
                batch.append(cast(bytes, key))
                if len(batch) >= 1000:
                    self._client.redis.unlink(*batch)
                    batch = []
            if batch:
                self._client.redis.unlink(*batch)

    def close(self) -> None:
        """Close the connection pool; safe to call twice."""
        if self._closed:
            return
        self._closed = True
        self._client.close()
