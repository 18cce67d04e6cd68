"""An in-process store with the full contract, for users' own unit tests.

``memory://`` gives a private store; ``memory://NAME`` shares one store per name (and prefix)
within the process, so a scheduler and a CLI call in the same test see the same entries.
"""

from __future__ import annotations

import heapq
import queue
import threading
import weakref
from collections import deque
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta

from celery_stembeat import audit
from celery_stembeat.audit import AuditHead, Change, ChangeNote, EntryChange, entry_change
from celery_stembeat.entry import Entry
from celery_stembeat.ordering import next_key
from celery_stembeat.stores._outcomes import fold_batch, keep_tracked, occurrence_key
from celery_stembeat.stores._runstate import advance, rescheduled_during
from celery_stembeat.stores.base import (
    ANY_CHANGE,
    BEAT_RETENTION,
    DEFAULT_HISTORY_LIMIT,
    DEFAULT_HISTORY_MAX_AGE,
    INCIDENT_OK,
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
    SuspectRules,
    TaskReport,
    VersionConflict,
    announced,
    check_version,
    checked_activity,
    checked_calendar,
    checked_change_limit,
    checked_history_limit,
    checked_history_max_age,
    checked_manual,
    checked_pause,
    checked_selection,
    checked_soonest,
    checked_transition,
    claim_token,
    counted_minutes,
    history_stamps,
    minute_counts,
    not_found,
    pause_change,
)


@dataclass
class _Lease:
    token: str
    owner: str
    until: datetime


class _Backend:
    """The shared state behind every MemoryStore opened on one name."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.entries: dict[str, Entry] = {}
        self.leases: dict[str, _Lease] = {}
        self.history: dict[str, deque[RunRecord]] = {}
        #: Each run's stamp in ``history``, in step (see :func:`history_stamps`).
        self.stamps: dict[str, deque[datetime]] = {}
        self.digests: dict[str, tuple[int, str]] = {}
        #: tag → the ids of the entries holding it.
        self.tagged: dict[str, set[str]] = {}
        self.due: list[tuple[datetime, str]] = []
        self.beats: dict[str, BeatInfo] = {}
        self.incidents: dict[str, Incident] = {}
        self.calendars: dict[str, set[date]] = {}
        #: Runs recorded per minute (see :meth:`Store.activity`).
        self.run_minutes: dict[datetime, int] = {}
        self.pause: Pause | None = None
        self.changes: deque[Change] = deque()
        self.audit_head = AuditHead()
        self.feeds: weakref.WeakSet[_MemoryFeed] = weakref.WeakSet()

    def index(self, entry: Entry) -> None:
        if entry.enabled and entry.state.next_run_at is not None and entry.id not in self.leases:
            heapq.heappush(self.due, (entry.state.next_run_at, entry.id))

    def retag(self, entry_id: str, old: tuple[str, ...], new: tuple[str, ...]) -> None:
        """Move ``entry_id`` from the tag sets of ``old`` to those of ``new``."""
        for tag in set(old) - set(new):
            holders = self.tagged[tag]
            holders.discard(entry_id)
            if not holders:
                del self.tagged[tag]
        for tag in new:
            self.tagged.setdefault(tag, set()).add(entry_id)

    def is_due_head(self, at: datetime, entry_id: str) -> bool:
        entry = self.entries.get(entry_id)
        return (
            entry is not None
            and entry.enabled
            and entry_id not in self.leases
            and entry.state.next_run_at == at
        )

    def record(self, note: ChangeNote, items: Iterable[EntryChange | None], limit: int) -> None:
        """Append the change records of ``items`` (``None``: no change), keeping ``limit``."""
        changes, head = audit.chained(
            self.audit_head, note, (item for item in items if item is not None)
        )
        self.changes.extend(changes)
        self.audit_head = audit.trimmed(head, limit)
        while self.changes and self.changes[0].seq < self.audit_head.floor:
            self.changes.popleft()

    def announce(self, entry_id: str) -> None:
        for feed in list(self.feeds):
            feed.queue.put(entry_id)


_NAMED: dict[str, _Backend] = {}
_NAMED_LOCK = threading.Lock()


class _MemoryFeed(ChangeFeed):
    def __init__(self, backend: _Backend) -> None:
        self.queue: queue.Queue[str] = queue.Queue()
        self._backend = backend
        backend.feeds.add(self)

    def wait(self, timeout: float) -> list[str]:
        try:
            ids = [self.queue.get(timeout=max(timeout, 0))]
        except queue.Empty:
            return []
        while True:
            try:
                ids.append(self.queue.get_nowait())
            except queue.Empty:
                return list(dict.fromkeys(ids))

    def close(self) -> None:
        self._backend.feeds.discard(self)


class MemoryStore(Store):
    """Entries in a dict, the due index in a heap; thread-safe."""

    def __init__(
        self,
        name: str = "",
        history_limit: int = DEFAULT_HISTORY_LIMIT,
        prefix: str = "",
        audit_limit: int = audit.DEFAULT_AUDIT_LIMIT,
        history_max_age: timedelta | float | str = DEFAULT_HISTORY_MAX_AGE,
    ) -> None:
        self.history_limit = checked_history_limit(history_limit, "memory")
        self.history_max_age = checked_history_max_age(history_max_age, "memory")
        self.audit_limit = audit.checked_audit_limit(audit_limit, "memory")
        if name:
            with _NAMED_LOCK:
                key = f"{name}/{prefix}"
                self._backend = _NAMED.setdefault(key, _Backend())
        else:
            self._backend = _Backend()

    def get(self, entry_id: str) -> Entry | None:
        with self._backend.lock:
            return self._backend.entries.get(entry_id)

    def list_entries(
        self, *, enabled: bool | None = None, prefix: str | None = None
    ) -> list[Entry]:
        with self._backend.lock:
            entries = list(self._backend.entries.values())
        return sorted(
            (
                entry
                for entry in entries
                if (enabled is None or entry.enabled == enabled)
                and (prefix is None or entry.id.startswith(prefix))
            ),
            key=lambda entry: entry.id,
        )

    def soonest(self, limit: int, *, after: tuple[datetime, str] | None = None) -> list[Entry]:
        """The reference: every entry looked at, ``limit`` of them held."""
        limit, after = checked_soonest(limit, after)
        backend = self._backend
        with backend.lock:
            indexed = [
                entry
                for entry in backend.entries.values()
                if entry.enabled
                and entry.state.next_run_at is not None
                and entry.id not in backend.leases
                and (after is None or next_key(entry) > after)
            ]
        return heapq.nsmallest(limit, indexed, key=next_key)

    def upsert(
        self, entry: Entry, expected_version: int | None = None, *, note: ChangeNote | None = None
    ) -> Entry:
        note = audit.note_or_default(note, audit.WRITE)
        backend = self._backend
        with backend.lock:
            before = backend.entries.get(entry.id)
            new = self._put(entry, expected_version)
            backend.record(note, [entry_change(entry.id, before, new)], self.audit_limit)
            backend.announce(entry.id)
            return new

    def upsert_many(
        self,
        entries: Iterable[Entry],
        digests: Mapping[str, str] | None = None,
        *,
        note: ChangeNote | None = None,
    ) -> list[Entry]:
        note = audit.note_or_default(note, audit.WRITE)
        backend = self._backend
        with backend.lock:
            changes: list[EntryChange | None] = []
            stored = []
            for entry in entries:
                before = backend.entries.get(entry.id)
                stored.append(self._put(entry, None))
                changes.append(entry_change(entry.id, before, stored[-1]))
            backend.record(note, changes, self.audit_limit)
            self._attach(stored, digests)
            for entry_id in announced([entry.id for entry in stored]):
                backend.announce(entry_id)
            return stored

    def write_checked(
        self,
        entries: Sequence[Entry],
        expected_versions: Mapping[str, int],
        digests: Mapping[str, str] | None = None,
        *,
        note: ChangeNote | None = None,
    ) -> list[str]:
        note = audit.note_or_default(note, audit.WRITE)
        backend = self._backend
        refused: list[str] = []
        stored: list[Entry] = []
        changes: list[EntryChange | None] = []
        with backend.lock:
            for entry in entries:
                before = backend.entries.get(entry.id)
                try:
                    stored.append(self._put(entry, expected_versions[entry.id]))
                except VersionConflict:
                    refused.append(entry.id)
                    continue
                changes.append(entry_change(entry.id, before, stored[-1]))
            backend.record(note, changes, self.audit_limit)
            self._attach(stored, digests)
            for entry_id in announced([entry.id for entry in stored]):
                backend.announce(entry_id)
        return refused

    def _attach(self, stored: Sequence[Entry], digests: Mapping[str, str] | None) -> None:
        for entry in stored:
            if digests and digests.get(entry.id):
                self._backend.digests[entry.id] = (entry.version, digests[entry.id])

    def _put(self, entry: Entry, expected_version: int | None) -> Entry:
        """Store ``entry`` by :meth:`upsert`'s rules, announcing nothing (lock held)."""
        backend = self._backend
        stored = backend.entries.get(entry.id)
        check_version(entry.id, expected_version, stored.version if stored else None)
        if stored is None:
            new = replace(entry, version=1)
        else:
            rescheduled = entry.spec != stored.spec or (entry.enabled and not stored.enabled)
            state = replace(
                stored.state,
                next_run_at=(entry.state.next_run_at if rescheduled else stored.state.next_run_at),
                created_at=stored.state.created_at or entry.state.created_at,
                updated_at=entry.state.updated_at,
            )
            new = replace(entry, version=stored.version + 1, state=state)
        backend.entries[entry.id] = new
        backend.retag(entry.id, stored.tags if stored else (), new.tags)
        backend.index(new)
        return new

    def ids_tagged(self, tags: Collection[str]) -> list[str]:
        selection = checked_selection(tags)
        with self._backend.lock:
            sets = [self._backend.tagged.get(tag, set()) for tag in selection]
            return sorted(set.intersection(*sets))

    def fingerprints(self) -> dict[str, Fingerprint]:
        backend = self._backend
        with backend.lock:
            return {
                entry_id: Fingerprint(entry.enabled, self._digest(entry))
                for entry_id, entry in backend.entries.items()
                if entry.source == "config"
            }

    def fingerprints_of(self, entry_ids: Iterable[str]) -> dict[str, Fingerprint]:
        backend = self._backend
        with backend.lock:
            found = (backend.entries.get(entry_id) for entry_id in entry_ids)
            return {
                entry.id: Fingerprint(
                    entry.enabled, self._digest(entry), entry.version, entry.source
                )
                for entry in found
                if entry is not None
            }

    def _digest(self, entry: Entry) -> str:
        version, digest = self._backend.digests.get(entry.id, (0, ""))
        return digest if version == entry.version else ""

    def set_digests(self, digests: Mapping[str, tuple[int, str]]) -> None:
        backend = self._backend
        with backend.lock:
            for entry_id, (version, digest) in digests.items():
                entry = backend.entries.get(entry_id)
                if entry is not None and entry.version == version:
                    backend.digests[entry_id] = (version, digest)

    def delete(
        self,
        entry_id: str,
        *,
        expected_version: int | None = None,
        note: ChangeNote | None = None,
    ) -> bool:
        note = audit.note_or_default(note, audit.REMOVE)
        backend = self._backend
        with backend.lock:
            stored = backend.entries.get(entry_id)
            check_version(entry_id, expected_version, stored.version if stored else None)
            gone = backend.entries.pop(entry_id, None)
            existed = gone is not None
            if gone is not None:
                backend.retag(entry_id, gone.tags, ())
                backend.record(note, [entry_change(entry_id, gone, None)], self.audit_limit)
            backend.leases.pop(entry_id, None)
            backend.history.pop(entry_id, None)
            backend.stamps.pop(entry_id, None)
            backend.digests.pop(entry_id, None)
            if existed:
                backend.announce(entry_id)
            return existed

    def set_enabled(
        self,
        entry_id: str,
        enabled: bool,
        now: datetime,
        *,
        expected_version: int | None = None,
        note: ChangeNote | None = None,
    ) -> Entry:
        note = audit.note_or_default(note, audit.ENABLE if enabled else audit.DISABLE)
        backend = self._backend
        with backend.lock:
            stored = backend.entries.get(entry_id)
            if stored is None:
                raise not_found(entry_id, expected_version)
            check_version(entry_id, expected_version, stored.version)
            if stored.enabled == enabled:
                return stored
            next_run_at = (
                stored.first_run_after(now, resume=False) if enabled else stored.state.next_run_at
            )
            new = replace(
                stored,
                enabled=enabled,
                version=stored.version + 1,
                state=replace(stored.state, next_run_at=next_run_at, updated_at=now),
            )
            backend.entries[entry_id] = new
            backend.index(new)
            backend.record(note, [entry_change(entry_id, stored, new)], self.audit_limit)
            backend.announce(entry_id)
            return new

    def claim_batch(self, now: datetime, limit: int, owner: str, lease: timedelta) -> ClaimBatch:
        backend = self._backend
        token = claim_token(owner)
        claims: list[Claim] = []
        with backend.lock:
            pause = backend.pause
            if pause is not None and pause.in_force(now):
                return ClaimBatch.held(pause)
            while backend.due and len(claims) < limit and backend.due[0][0] <= now:
                at, entry_id = heapq.heappop(backend.due)
                if not backend.is_due_head(at, entry_id):
                    continue  # a stale index slot: the entry moved, was leased or disabled
                entry = backend.entries[entry_id]
                until = now + lease
                backend.leases[entry_id] = _Lease(token, owner, until)
                claims.append(Claim(entry, at, owner, token, until))
            return ClaimBatch(claims, self.next_due_at())

    def complete_many(self, pairs: Iterable[tuple[Claim, Outcome]]) -> list[bool]:
        with self._backend.lock:
            done = [self._complete(claim, outcome) for claim, outcome in pairs]
            minutes = self._backend.run_minutes
            if minutes:
                oldest = max(minutes) - RUN_MINUTES_KEPT
                for minute in [minute for minute in minutes if minute < oldest]:
                    del minutes[minute]
            return done

    def _complete(self, claim: Claim, outcome: Outcome) -> bool:
        """One completion; the caller holds the backend's lock."""
        backend = self._backend
        held = backend.leases.get(claim.entry_id)
        stored = backend.entries.get(claim.entry_id)
        if held is None or held.token != claim.token or stored is None:
            return False
        del backend.leases[claim.entry_id]
        result = advance(claim, outcome)
        kept = stored.state
        next_run_at = (
            kept.next_run_at
            if rescheduled_during(claim, stored.spec, kept.next_run_at)
            else result.state.next_run_at
        )
        new = replace(
            stored,
            enabled=stored.enabled and not result.disable,
            state=replace(
                keep_tracked(result.state, kept),
                next_run_at=next_run_at,
                created_at=kept.created_at,
                updated_at=kept.updated_at,
            ),
        )
        backend.entries[claim.entry_id] = new
        self._append_runs(claim.entry_id, outcome.runs)
        backend.index(new)
        return True

    def _append_runs(self, entry_id: str, new_runs: Iterable[RunRecord]) -> None:
        """Add runs to the entry's history, keeping the newest ``history_limit`` and those
        stamped at most ``history_max_age`` before the newest (the reference of
        :func:`history_stamps`), and count them per minute; the caller holds the lock."""
        new_runs = list(new_runs)
        runs = self._backend.history.setdefault(entry_id, deque())
        stamps = self._backend.stamps.setdefault(entry_id, deque())
        runs.extend(new_runs)
        stamps.extend(history_stamps(stamps[-1] if stamps else None, new_runs))
        counted = self._backend.run_minutes
        for minute, count in minute_counts(new_runs).items():
            counted[minute] = counted.get(minute, 0) + count
        oldest = stamps[-1] - self.history_max_age if stamps and self.history_max_age else None
        while len(runs) > self.history_limit or (oldest and stamps and stamps[0] < oldest):
            runs.popleft()
            stamps.popleft()

    def record_manual_run(self, record: RunRecord, *, note: ChangeNote | None = None) -> bool:
        checked_manual(record)
        note = audit.note_or_default(note, audit.RUN)
        with self._backend.lock:
            if record.entry_id not in self._backend.entries:
                return False
            self._append_runs(record.entry_id, [record])
            self._backend.record(note, [(record.entry_id, None, None)], self.audit_limit)
            return True

    def renew_claims(
        self, claims: Sequence[Claim], now: datetime, lease: timedelta
    ) -> list[Claim | None]:
        backend = self._backend
        until = now + lease
        renewed: list[Claim | None] = []
        with backend.lock:
            for claim in claims:
                held = backend.leases.get(claim.entry_id)
                if held is None or held.token != claim.token:
                    renewed.append(None)
                    continue
                held.until = until
                renewed.append(replace(claim, lease_until=until))
        return renewed

    def recover_expired_claims(self, now: datetime) -> list[str]:
        backend = self._backend
        with backend.lock:
            expired = [entry_id for entry_id, lease in backend.leases.items() if lease.until <= now]
            for entry_id in expired:
                del backend.leases[entry_id]
                backend.index(backend.entries[entry_id])
            return expired

    def pause(self, pause: Pause, *, note: ChangeNote | None = None) -> Pause | None:
        pause = checked_pause(pause)
        note = audit.note_or_default(note, audit.PAUSE)
        backend = self._backend
        with backend.lock:
            previous, backend.pause = backend.pause, pause
            backend.record(note, [pause_change(previous, pause)], self.audit_limit)
            backend.announce(ANY_CHANGE)
            return previous

    def resume(self, *, note: ChangeNote | None = None) -> Pause | None:
        note = audit.note_or_default(note, audit.RESUME)
        backend = self._backend
        with backend.lock:
            previous, backend.pause = backend.pause, None
            if previous is not None:
                backend.record(note, [pause_change(previous, None)], self.audit_limit)
                backend.announce(ANY_CHANGE)
            return previous

    def paused(self) -> Pause | None:
        with self._backend.lock:
            return self._backend.pause

    def history(self, entry_id: str, limit: int = 100) -> list[RunRecord]:
        with self._backend.lock:
            runs = list(self._backend.history.get(entry_id, ()))
        return runs[::-1][:limit]

    def record_outcomes(self, reports: Sequence[TaskReport]) -> list[bool]:
        backend = self._backend
        with backend.lock:
            ids = {report.entry_id for report in reports}
            # The newest run of each occurrence: later runs of one occurrence replace older.
            where = {
                occurrence_key(run): (entry_id, index)
                for entry_id in ids
                for index, run in enumerate(backend.history.get(entry_id, ()))
            }
            batch = fold_batch(
                reports,
                {key: backend.history[entry_id][index] for key, (entry_id, index) in where.items()},
                {i: backend.entries[i].state for i in ids if i in backend.entries},
                occurrence_key,
            )
            for key, run in batch.runs.items():
                entry_id, index = where[key]
                backend.history[entry_id][index] = run
            for entry_id, state in batch.states.items():
                backend.entries[entry_id] = replace(backend.entries[entry_id], state=state)
        return batch.found

    def record_beat(self, beat: BeatInfo) -> None:
        backend = self._backend
        oldest = beat.last_pass_at - BEAT_RETENTION
        with backend.lock:
            backend.beats[beat.owner] = beat
            for owner, known in list(backend.beats.items()):
                if known.last_pass_at < oldest:
                    del backend.beats[owner]

    def remove_beat(self, owner: str) -> bool:
        with self._backend.lock:
            return self._backend.beats.pop(owner, None) is not None

    def beats(self) -> list[BeatInfo]:
        with self._backend.lock:
            return sorted(self._backend.beats.values(), key=lambda beat: beat.owner)

    def entry_counts(self) -> EntryCounts:
        with self._backend.lock:
            entries = list(self._backend.entries.values())
        scheduled = sum(entry.enabled and entry.state.next_run_at is not None for entry in entries)
        return EntryCounts(len(entries), scheduled)

    def activity(self, now: datetime, overdue_before: datetime, since: datetime) -> Activity:
        now, overdue_before, since = checked_activity(now, overdue_before, since)
        backend = self._backend
        with backend.lock:
            scheduled = [
                (entry, entry.id in backend.leases)
                for entry in backend.entries.values()
                if entry.enabled and entry.state.next_run_at is not None
            ]
            enabled = [entry for entry in backend.entries.values() if entry.enabled]
            minutes = counted_minutes(now, since)
            runs = sum(backend.run_minutes.get(minute, 0) for minute in minutes)
        unclaimed = [entry.state.next_run_at for entry, claimed in scheduled if not claimed]
        return Activity(
            enabled=len(scheduled),
            due=sum(claimed for _, claimed in scheduled)
            + sum(at is not None and at <= now for at in unclaimed),
            overdue=sum(at is not None and at < overdue_before for at in unclaimed),
            failing=sum(entry.state.consecutive_failures > 0 for entry in enabled),
            runs=runs,
        )

    def history_size(self) -> HistorySize:
        """Every entry's runs counted."""
        with self._backend.lock:
            return HistorySize(sum(map(len, self._backend.history.values())))

    def health_suspects(self, rules: SuspectRules, limit: int) -> list[str]:
        limit = SuspectRules.checked_limit(limit)
        backend = self._backend
        with backend.lock:
            found = [
                entry.id
                for entry in backend.entries.values()
                if rules.matches(entry, entry.id in backend.leases)
            ]
        return sorted(found)[:limit]

    def calendars(self) -> dict[str, tuple[date, ...]]:
        with self._backend.lock:
            calendars = self._backend.calendars
            return {name: tuple(sorted(calendars[name])) for name in sorted(calendars)}

    def add_calendar_dates(self, name: str, dates: Collection[date]) -> None:
        name, days = checked_calendar(name, dates)
        if days:
            with self._backend.lock:
                self._backend.calendars.setdefault(name, set()).update(days)

    def remove_calendar_dates(self, name: str, dates: Collection[date] | None = None) -> None:
        name, days = checked_calendar(name, () if dates is None else dates)
        calendars = self._backend.calendars
        with self._backend.lock:
            kept = calendars.get(name, set())
            kept.difference_update(kept if dates is None else days)
            if not kept:
                calendars.pop(name, None)

    def transition_incident(self, key: str, state: str, at: datetime) -> str | None:
        key, state, at = checked_transition(key, state, at)
        incidents = self._backend.incidents
        with self._backend.lock:
            open_incident = incidents.get(key)
            previous = open_incident.state if open_incident else INCIDENT_OK
            if previous == state:
                return None
            if state == INCIDENT_OK:
                del incidents[key]
            else:
                incidents[key] = Incident(key, state, at)
            return previous

    def incidents(self) -> list[Incident]:
        with self._backend.lock:
            return sorted(self._backend.incidents.values(), key=lambda incident: incident.key)

    def next_due_at(self) -> datetime | None:
        backend = self._backend
        with backend.lock:
            while backend.due and not backend.is_due_head(*backend.due[0]):
                heapq.heappop(backend.due)
            return backend.due[0][0] if backend.due else None

    def audit_head(self) -> AuditHead:
        with self._backend.lock:
            return self._backend.audit_head

    def changes(
        self,
        entry_id: str | None = None,
        *,
        since: datetime | None = None,
        newest_first: bool = False,
        limit: int | None = None,
    ) -> Iterator[Change]:
        limit = checked_change_limit(limit)
        with self._backend.lock:
            kept = list(self._backend.changes)
        about = (c for c in reversed(kept) if entry_id is None or c.entry_id == entry_id)
        selected = list(audit.made_since(about, since))
        if not newest_first:
            selected.reverse()
        yield from selected[:limit]

    def change(self, seq: int) -> Change | None:
        with self._backend.lock:
            kept = self._backend.changes
            if not kept or not kept[0].seq <= seq <= kept[-1].seq:
                return None
            return kept[seq - kept[0].seq]

    def watch(self) -> ChangeFeed:
        return _MemoryFeed(self._backend)

    def drop(self) -> None:
        backend = self._backend
        with backend.lock:
            backend.entries.clear()
            backend.leases.clear()
            backend.history.clear()
            backend.stamps.clear()
            backend.digests.clear()
            backend.tagged.clear()
            backend.due.clear()
            backend.beats.clear()
            backend.incidents.clear()
            backend.calendars.clear()
            backend.run_minutes.clear()
            backend.pause = None
            backend.changes.clear()
            backend.audit_head = AuditHead()

    def close(self) -> None:
        """Nothing to release: the entries stay for other stores opened on the same name."""
