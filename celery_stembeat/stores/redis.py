"""The Redis store: entries in hashes, the due index in a sorted set, claims in Lua scripts.

``redis://[[user]:password@]host[:port][/db]``, ``rediss://…`` (TLS) or ``unix:///path.sock``;
the query parameters ``prefix`` (default ``stembeat``) and ``history_limit`` (default 1000)
belong to the store, any others go to redis-py (e.g. ``ssl_ca_certs``). Passwords never appear
in reprs or error messages: the URL is shown with ``***`` in their place.

Key layout
----------

Every key of one prefix ``P`` carries the hash tag ``{P}``, so all of them hash to one Redis
Cluster slot and every script can touch them atomically:

``{P}:entry:<id>`` (hash)
    One entry. Fields (all but ``d0``, ``s0``, ``e`` and ``v`` only while they hold a value):

    - ``d0``, ``d1``, … the definition without id, spec and enabled (task, args, kwargs,
      options, flags, source) as compact JSON, defaults left out;
    - ``s0``, ``s1``, … the spec as canonical JSON (sorted keys): "the schedule changed" is a
      string compare inside Lua;
    - ``e`` enabled (``1``/``0``), ``v`` the version;
    - run state, each field absent while empty (``None`` or zero): ``n`` next run, ``ls`` last
      scheduled for, ``lr`` last run, ``ca`` created, ``ua`` updated (all epoch
      milliseconds); ``tc`` total runs, ``fc`` failures, ``cf`` consecutive failures;
      ``ld``/``dm``/``dx`` last/mean/max drift (seconds, the float's ``repr``: exact);
      ``le0``, ``le1``, … the last error;
    - while claimed: ``ct`` claim token, ``co`` owner, ``cs`` the claimed occurrence (ms),
      ``cv`` the version the claim saw. An edit that changes the schedule meanwhile moves
      ``n`` away from ``cs`` (or changes ``s*``); only then does ``n`` survive completion.

    Long text (definition, spec, last error) is cut into chunks ``name0``, ``name1``, … of at
    most 64 bytes, so that every value stays within ``hash-max-listpack-value`` (64 by
    default) and Redis keeps the hash in its compact *listpack* encoding: a typical entry
    takes about 450-500 bytes in its hash, where a single long field would switch it to a
    hashtable at roughly twice that. Hashes with more than 128 fields (definitions over ~7 KB)
    are hashtables anyway, and Redis never converts a hash back, even when it shrinks.

``{P}:due`` (sorted set)
    Ids of enabled, unclaimed entries with a next run, scored by ``next_run_at`` in epoch ms.
``{P}:leases`` (sorted set)
    Ids of claimed entries, scored by lease deadline in epoch ms.
``{P}:ids`` (sorted set, every score 0)
    Every id, in byte order (= code point order, as ``list`` sorts): ``list(prefix=…)`` is a
    ``ZRANGEBYLEX``.
``{P}:runs:<id>`` (stream)
    Run history, one stream entry per run, trimmed exactly to ``history_limit`` by ``XADD
    MAXLEN``. Fields: ``s`` scheduled for (ms), ``o`` outcome, ``p`` published at (ms), ``d``
    drift, ``j`` jitter, ``e`` error, ``w`` owner, ``t`` task id (absent = ``None``). Redis 7
    allocates a stream's first node whole (``stream-node-max-bytes``, 4 KB), so each history
    costs about 4.7 KB until it holds ~35 runs, then ~130 bytes per run.
``{P}:changes`` (pub/sub channel)
    The id of every entry whose definition changed (upsert, enable/disable, delete). A feed
    that had to subscribe again reports :data:`~celery_stembeat.stores.base.ANY_CHANGE`.

Instants are kept at millisecond resolution (sub-millisecond parts are truncated); a claim's
``scheduled_for`` is the stored ``next_run_at`` exactly.

Cost: claim, complete, upsert, delete and recovery are one script call each (O(log N) in the
number of entries, plus the entries returned); :meth:`RedisStore.complete_many` streams one
script call per 100 completions on one connection, :meth:`RedisStore.upsert_many` one per
1,000 entries; ``list`` reads every matching hash.

Errors: every redis-py exception becomes :class:`StoreError`, with any password in the URL
replaced by ``***``. redis-py checks a pooled connection before lending it and reconnects one
the server has closed, so after a restart the next operation normally succeeds.
"""

from __future__ import annotations

import builtins
import contextlib
import dataclasses
import functools
import json
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import datetime, timedelta, timezone
from typing import Any, cast
from urllib.parse import parse_qsl, unquote, urlsplit

import redis
from redis.client import PubSub
from redis.commands.core import Script
from redis.exceptions import NoScriptError

from celery_stembeat.entry import Entry, RunState
from celery_stembeat.entry_decode import replace_entry, replace_state, stored_entry, stored_state
from celery_stembeat.specs import Spec, format_instant, parse_instant, parse_spec
from celery_stembeat.stores import _redis_scripts as scripts
from celery_stembeat.stores import mask_url
from celery_stembeat.stores._decode import attached_digest
from celery_stembeat.stores._reconnect import Backoff, reconnect
from celery_stembeat.stores._runstate import advance
from celery_stembeat.stores.base import (
    ANY_CHANGE,
    DEFAULT_HISTORY_LIMIT,
    ChangeFeed,
    Claim,
    ClaimBatch,
    EntryNotFound,
    Fingerprint,
    Outcome,
    RunRecord,
    Store,
    StoreError,
    StoreURLError,
    VersionConflict,
)

DEFAULT_PREFIX = "stembeat"
_LIST_BATCH = 500
#: Entries per UPSERT_MANY script call.
_UPSERT_BATCH = 1000
#: Ids per FINGERPRINTS script call.
_FINGERPRINT_BATCH = 5000
#: Entries per SET_DIGESTS script call.
_DIGEST_BATCH = 1000
#: Completions per COMPLETE script call: small enough that Redis runs one call while Python
#: encodes the next, large enough that the per-call overhead stays small.
_COMPLETE_BATCH = 100
_SUBSCRIBE_TIMEOUT = 10.0
_HEALTH_CHECK_INTERVAL = 30

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_MS = timedelta(milliseconds=1)
#: Run-state fields that only Python reads and only ``complete`` (or a new entry) writes.
_INSTANT_FIELDS = (("last_scheduled_for", "ls"), ("last_run_at", "lr"))
_COUNT_FIELDS = (
    ("total_run_count", "tc"),
    ("failure_count", "fc"),
    ("consecutive_failures", "cf"),
)
_DRIFT_FIELDS = (("last_drift", "ld"), ("drift_mean", "dm"), ("drift_max", "dx"))
_READ_INSTANTS = (
    ("next_run_at", "n"),
    *_INSTANT_FIELDS,
    ("created_at", "ca"),
    ("updated_at", "ua"),
)


# -- encoding ------------------------------------------------------------------------------------


def _to_ms(value: datetime) -> int:
    """Epoch milliseconds, truncated (floor) like ISO text with millisecond precision."""
    return (value - _EPOCH) // _MS


def _from_ms(value: bytes | str | int | float) -> datetime:
    return _EPOCH + timedelta(milliseconds=int(value))


def _ms_text(value: datetime | None) -> str:
    return "" if value is None else str(_to_ms(value))


#: ``json.dumps(value, separators=(",", ":"), ensure_ascii=False)`` without building an
#: encoder per call.
_json_encode = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


def _json(value: object) -> str:
    return _json_encode(value)


@functools.lru_cache(maxsize=4096)
def _spec_json(spec: Spec) -> str:
    """The spec's canonical JSON: equal specs give equal text, so Lua can compare them.

    Specs are immutable values, and a beat sends the same few over and over.
    """
    return json.dumps(spec.to_dict(), sort_keys=True, separators=(",", ":"))


def _definition_json(entry: Entry) -> str:
    """The definition without id, spec and enabled (kept apart), defaults left out."""
    data: dict[str, Any] = {"task": entry.task}
    if entry.args:
        data["args"] = entry.args
    if entry.kwargs:
        data["kwargs"] = entry.kwargs
    if entry.options:
        data["options"] = entry.options
    if entry.run_once:
        data["run_once"] = True
    if entry.expire_at is not None:
        data["expire_at"] = format_instant(entry.expire_at)
    if entry.catch_up != "fire_one":
        data["catch_up"] = entry.catch_up
    if entry.jitter:
        data["jitter"] = entry.jitter
    if entry.description:
        data["description"] = entry.description
    if entry.source != "store":
        data["source"] = entry.source
    return _json(data)


def _instant_text(instant: datetime | None) -> str | None:
    return None if instant is None else str(_to_ms(instant))


def _count_text(count: int) -> str | None:
    return str(count) if count else None


def _drift_text(drift: float | None) -> str | None:
    return None if drift is None else repr(drift)


#: (attribute, hash field, its text or ``None`` = absent) of the run state the scripts write
#: as given: all but next_run_at and the stamps.
_STATE_TEXTS: tuple[tuple[str, str, Callable[[Any], str | None]], ...] = (
    *((name, field, _instant_text) for name, field in _INSTANT_FIELDS),
    *((name, field, _count_text) for name, field in _COUNT_FIELDS),
    *((name, field, _drift_text) for name, field in _DRIFT_FIELDS),
)


def _state_fields(state: RunState) -> dict[str, str | None]:
    """Run-state hash fields (``None`` = absent), except next_run_at and the stamps."""
    values = state.__dict__
    return {field: text(values[name]) for name, field, text in _STATE_TEXTS}


def _state_changes(state: RunState, before: RunState | None = None) -> dict[str, Any]:
    """The writes that turn the stored run state ``before`` into ``state``, for the scripts.

    Neither holds next_run_at, created_at and updated_at, which the scripts handle. Without
    ``before`` (a new entry): every field. With it (a completion): the fields whose stored
    text differs.
    """
    written: dict[str, str] = {}
    removed: builtins.list[str] = []
    if before is None:
        for field, value in _state_fields(state).items():
            if value is not None:
                written[field] = value
    else:
        new, old = state.__dict__, before.__dict__
        for name, field, text in _STATE_TEXTS:
            # A value carried over unchanged is the same object, with the same text.
            if (value := new[name]) is not (previous := old[name]) and (
                value_text := text(value)
            ) != text(previous):
                if value_text is None:
                    removed.append(field)
                else:
                    written[field] = value_text
    data: dict[str, Any] = {"s": written, "x": removed}
    if before is None or state.last_error != before.last_error:
        if state.last_error is not None:
            data["le"] = state.last_error
        elif before is not None:
            data["lx"] = True
    return data


#: A row's positions: [id, *ROW_FIELDS, definition, spec, last error].
_ROW = {field: index + 1 for index, field in enumerate(scripts.ROW_FIELDS)}
_ROW_DEFINITION, _ROW_SPEC, _ROW_ERROR = (len(_ROW) + 1 + i for i in range(3))
_ROW_ENABLED, _ROW_VERSION = _ROW["e"], _ROW["v"]
_ROW_INSTANTS = tuple((name, _ROW[field]) for name, field in _READ_INSTANTS)
_ROW_COUNTS = tuple((name, _ROW[field]) for name, field in _COUNT_FIELDS)
_ROW_DRIFTS = tuple((name, _ROW[field]) for name, field in _DRIFT_FIELDS)
#: Definitions up to this size are parsed once per process and reused.
_CACHED_DEFINITION = 2048


def _decode_state(row: Sequence[Any]) -> RunState:
    state = stored_state()
    values = state.__dict__
    for name, index in _ROW_INSTANTS:
        if (raw := row[index]) is not False:
            values[name] = _EPOCH + _MS * int(raw)
    for name, index in _ROW_COUNTS:
        if (raw := row[index]) is not False:
            values[name] = int(raw)
    for name, index in _ROW_DRIFTS:
        if (raw := row[index]) is not False:
            values[name] = float(raw)
    if (error := row[_ROW_ERROR]) is not False:
        values["last_error"] = error
    return state


@functools.lru_cache(maxsize=1024)
def _spec(text: str) -> Spec:
    """A stored spec, parsed once per process (a cron spec takes ~0.1 ms to parse)."""
    return parse_spec(json.loads(text))


def _parse_definition(entry_id: str, definition: str, spec: str) -> Entry:
    data = json.loads(definition)
    data["id"] = entry_id
    data["spec"] = _spec(spec)
    data["args"] = tuple(data.get("args", ()))
    data["jitter"] = float(data.get("jitter", 0.0))
    if (expire_at := data.get("expire_at")) is not None:
        data["expire_at"] = parse_instant(expire_at, "expire_at")
    return stored_entry(**data)


_cached_definition = functools.lru_cache(maxsize=8192)(_parse_definition)


def _definition(entry_id: str, definition: str, spec: str) -> Entry:
    """The entry a stored definition describes (enabled, version 0, empty run state).

    Beats read the same definitions over and over: small ones are parsed once per process.
    """
    if len(definition) <= _CACHED_DEFINITION:
        return _cached_definition(entry_id, definition, spec)
    return _parse_definition(entry_id, definition, spec)


def _decode_entry(row: Sequence[Any], definition: str | None = None) -> Entry:
    """The entry in a script's row; ``definition`` stands in for a row without one."""
    entry_id, spec = row[0], row[_ROW_SPEC]
    text = row[_ROW_DEFINITION] or definition
    if not (isinstance(entry_id, str) and isinstance(text, str) and isinstance(spec, str)):
        raise StoreError(f"entry {entry_id!r}: the stored hash has no definition")
    return replace_entry(
        _definition(entry_id, text, spec),
        enabled=row[_ROW_ENABLED] == "1",
        version=int(row[_ROW_VERSION]),
        state=_decode_state(row),
    )


def _entry_fields(entry: Entry, digest: str) -> dict[str, Any]:
    """``entry`` as the UPSERT scripts take it; a beat_schedule entry gets ``digest`` in ``g``."""
    state = entry.state
    fields = {
        "spec": _spec_json(entry.spec),
        "enabled": "1" if entry.enabled else "0",
        "n": _ms_text(state.next_run_at),
        "ca": _ms_text(state.created_at),
        "ua": _ms_text(state.updated_at),
        "d": _definition_json(entry),
        "state": _state_changes(state),
    }
    if entry.source == "config":
        fields["g"] = digest
    return fields


def _written(entry: Entry, definition: str, version: int) -> Entry:
    """A new entry as the store now holds it: the definition read back, ``version``, and the
    run state at millisecond resolution (what a read would return, without the read)."""
    state = entry.state
    instants = {
        name: _from_ms(_to_ms(value))
        for name, _ in _READ_INSTANTS
        if (value := getattr(state, name)) is not None
    }
    return replace_entry(
        _definition(entry.id, definition, _spec_json(entry.spec)),
        enabled=entry.enabled,
        version=version,
        state=replace_state(state, **instants),
    )


def _rows(reply: bytes) -> builtins.list[builtins.list[Any]]:
    return cast(builtins.list[builtins.list[Any]], json.loads(reply))


def _run_fields(run: RunRecord) -> builtins.list[str]:
    fields: builtins.list[str] = ["s", str(_to_ms(run.scheduled_for)), "o", run.outcome]
    if run.published_at is not None:
        fields += ["p", str(_to_ms(run.published_at))]
    if run.drift is not None:
        fields += ["d", repr(float(run.drift))]
    fields += ["j", repr(float(run.jitter))]
    if run.error is not None:
        fields += ["e", run.error]
    fields += ["w", run.owner]
    if run.task_id is not None:
        fields += ["t", run.task_id]
    return fields


def _decode_run(entry_id: str, fields: Mapping[bytes, bytes]) -> RunRecord:
    published = fields.get(b"p")
    drift = fields.get(b"d")
    error = fields.get(b"e")
    task_id = fields.get(b"t")
    return RunRecord(
        entry_id=entry_id,
        scheduled_for=_from_ms(fields[b"s"]),
        outcome=fields[b"o"].decode(),
        published_at=None if published is None else _from_ms(published),
        drift=None if drift is None else float(drift),
        jitter=float(fields.get(b"j", b"0")),
        error=None if error is None else error.decode(),
        owner=fields.get(b"w", b"").decode(),
        task_id=None if task_id is None else task_id.decode(),
    )


# -- URLs ----------------------------------------------------------------------------------------


def _url_secrets(url: str) -> builtins.list[str]:
    """The passwords in ``url`` (authority and query), as written and percent-decoded."""
    try:
        parts = urlsplit(url)
        found = [parts.password or ""]
    except ValueError:
        return []
    found += [value for key, value in parse_qsl(parts.query) if key.lower() == "password"]
    return [text for secret in found if secret for text in {secret, unquote(secret)}]


def _glob_escape(text: str) -> str:
    return "".join("\\" + char if char in "*?[]^\\{}-" else char for char in text)


# -- the store -----------------------------------------------------------------------------------


class RedisStore(Store):
    """The store on Redis (or a Redis-compatible server), via redis-py."""

    def __init__(
        self,
        url: str = "redis://127.0.0.1:6379/0",
        *,
        prefix: str = DEFAULT_PREFIX,
        history_limit: int = DEFAULT_HISTORY_LIMIT,
        **redis_options: Any,
    ) -> None:
        self.display_url = mask_url(url)
        self._secrets = _url_secrets(url)
        if not isinstance(prefix, str) or not prefix or any(c in prefix for c in "{}"):
            raise StoreError(f"Redis store: prefix {prefix!r} must be non-empty, without braces")
        if (
            isinstance(history_limit, bool)
            or not isinstance(history_limit, int)
            or history_limit < 0
        ):
            raise StoreError(f"Redis store: history_limit {history_limit!r} is not a count >= 0")
        self.prefix = prefix
        self.history_limit = history_limit
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
        tag = "{" + prefix + "}"
        self._entry_prefix = f"{tag}:entry:"
        self._runs_prefix = f"{tag}:runs:"
        self._due = f"{tag}:due"
        self._leases = f"{tag}:leases"
        self._ids = f"{tag}:ids"
        self._config = f"{tag}:config"
        #: The indexes an upsert maintains (KEYS of the UPSERT scripts after the entry).
        self._indexes = [self._due, self._ids, self._config]
        self.channel = f"{tag}:changes"
        self._claim_due = self._client.register_script(scripts.CLAIM_DUE)
        self._complete = self._client.register_script(scripts.COMPLETE)
        self._upsert = self._client.register_script(scripts.UPSERT)
        self._upsert_many = self._client.register_script(scripts.UPSERT_MANY)
        self._delete = self._client.register_script(scripts.DELETE)
        self._set_enabled = self._client.register_script(scripts.SET_ENABLED)
        self._recover = self._client.register_script(scripts.RECOVER)
        self._renew = self._client.register_script(scripts.RENEW)
        self._read = self._client.register_script(scripts.READ)
        self._fingerprints = self._client.register_script(scripts.FINGERPRINTS)
        self._set_digests = self._client.register_script(scripts.SET_DIGESTS)

    def __repr__(self) -> str:
        return f"RedisStore({self.display_url!r}, prefix={self.prefix!r})"

    @contextlib.contextmanager
    def _errors(self) -> Iterator[None]:
        """Turn redis-py's exceptions (and raw socket errors) into :class:`StoreError`."""
        try:
            yield
        except (redis.RedisError, OSError) as exc:
            message = f"{type(exc).__name__}: {exc}"
            for secret in self._secrets:
                message = message.replace(secret, "***")
            raise StoreError(f"Redis store {self.display_url}: {message}") from exc

    def _entry_key(self, entry_id: str) -> str:
        return self._entry_prefix + entry_id

    def _runs_key(self, entry_id: str) -> str:
        return self._runs_prefix + entry_id

    @staticmethod
    def _run(script: Script, keys: Sequence[str], args: Iterable[str | bytes | int]) -> Any:
        return script(keys=keys, args=args)

    # -- definitions -----------------------------------------------------------------------------

    def _read_entries(
        self, entry_ids: Sequence[str], enabled: bool | None = None
    ) -> builtins.list[Entry]:
        flag = "" if enabled is None else ("1" if enabled else "0")
        with self._errors():
            reply = self._run(self._read, [], [flag, self._entry_prefix, _json(entry_ids)])
        return [_decode_entry(row) for row in _rows(reply)]

    def get(self, entry_id: str) -> Entry | None:
        """The entry with that id, or ``None``."""
        found = self._read_entries([entry_id])
        return found[0] if found else None

    def list(
        self, *, enabled: bool | None = None, prefix: str | None = None
    ) -> builtins.list[Entry]:
        """Entries sorted by id, optionally only enabled/disabled ones or ids with ``prefix``."""
        with self._errors():
            if prefix:
                start = b"[" + prefix.encode()
                stop = b"(" + prefix.encode() + b"\xff"
                raw = cast(builtins.list[bytes], self._client.zrangebylex(self._ids, start, stop))
            else:
                raw = cast(builtins.list[bytes], self._client.zrange(self._ids, 0, -1))
        ids = [entry_id.decode() for entry_id in raw]
        entries: builtins.list[Entry] = []
        for first in range(0, len(ids), _LIST_BATCH):
            entries += self._read_entries(ids[first : first + _LIST_BATCH], enabled)
        return entries

    def get_many(self, entry_ids: Iterable[str]) -> builtins.list[Entry]:
        """The entries with these ids that exist, in the order given: one script per
        :data:`_LIST_BATCH`, all in one pipelined round trip."""
        ids = builtins.list(entry_ids)
        calls: builtins.list[tuple[builtins.list[str], builtins.list[str]]] = [
            ([], ["", self._entry_prefix, _json(ids[first : first + _LIST_BATCH])])
            for first in range(0, len(ids), _LIST_BATCH)
        ]
        return [
            _decode_entry(row)
            for reply in self._pipelined(self._read, calls)
            for row in _rows(reply)
        ]

    def fingerprints(self) -> dict[str, Fingerprint]:
        """Every beat_schedule entry's :class:`Fingerprint`: one script call per
        :data:`_FINGERPRINT_BATCH` entries (listed in ``{P}:config``), three fields each."""
        found: dict[str, Fingerprint] = {}
        after = "-"
        while True:
            args = [after, str(_FINGERPRINT_BATCH), self._entry_prefix]
            with self._errors():
                rows = _rows(self._run(self._fingerprints, [self._config], args))
            for entry_id, enabled, version, mark in rows:
                found[entry_id] = Fingerprint(enabled == "1", attached_digest(mark or "", version))
            if len(rows) < _FINGERPRINT_BATCH:
                return found
            after = "(" + rows[-1][0]

    def set_digests(self, digests: Mapping[str, tuple[int, str]]) -> None:
        """Attach the digests where the version still holds: one script per 1000 entries,
        pipelined."""
        items = builtins.list(digests.items())
        calls = []
        for first in range(0, len(items), _DIGEST_BATCH):
            chunk = items[first : first + _DIGEST_BATCH]
            keys = [self._entry_key(entry_id) for entry_id, _ in chunk]
            args = [text for _, (v, digest) in chunk for text in (str(v), f"{v}:{digest}")]
            calls.append((keys, args))
        self._pipelined(self._set_digests, calls)

    def upsert(self, entry: Entry, expected_version: int | None = None) -> Entry:
        """Create or update ``entry``'s definition atomically; see :meth:`Store.upsert`."""
        fields = _entry_fields(entry, "")
        expected = "" if expected_version is None else str(expected_version)
        args = [entry.id, expected, self.channel, _json(fields)]
        with self._errors():
            reply = json.loads(
                self._run(self._upsert, [self._entry_key(entry.id), *self._indexes], args)
            )
        if isinstance(reply, dict):
            actual = int(reply["conflict"]) if reply["conflict"] else None
            raise VersionConflict(entry.id, expected_version, actual)
        return _decode_entry(reply, fields["d"])

    def upsert_many(
        self, entries: Iterable[Entry], digests: Mapping[str, str] | None = None
    ) -> builtins.list[Entry]:
        """:meth:`upsert` each entry without a version check, attaching ``digests``: one script
        call per :data:`_UPSERT_BATCH` entries (see :meth:`_write`); each entry's write is
        atomic."""
        batch = builtins.list(entries)
        written, replies = self._write(batch, digests or {})
        return [
            _decode_entry(row, fields["d"]) if row else _written(entry, fields["d"], int(version))
            for entry, (_, fields), (version, row) in zip(batch, written, replies, strict=True)
        ]

    def write_many(
        self, entries: Iterable[Entry], digests: Mapping[str, str] | None = None
    ) -> None:
        """:meth:`upsert_many`, without decoding what the scripts return."""
        self._write(builtins.list(entries), digests or {})

    def _write(
        self, batch: Sequence[Entry], digests: Mapping[str, str]
    ) -> tuple[builtins.list[Any], builtins.list[Any]]:
        """Run UPSERT_MANY over ``batch``, streamed (see :meth:`_pipelined`): the items it was
        given, and its replies, in order."""
        written: builtins.list[Any] = []

        def calls() -> Iterator[tuple[builtins.list[str], builtins.list[str]]]:
            for first in range(0, len(batch), _UPSERT_BATCH):
                items = [
                    [entry.id, _entry_fields(entry, digests.get(entry.id, ""))]
                    for entry in batch[first : first + _UPSERT_BATCH]
                ]
                written.extend(items)
                yield self._indexes, [self.channel, self._entry_prefix, _json(items)]

        replies = self._pipelined(self._upsert_many, calls())
        return written, [pair for reply in replies for pair in json.loads(reply)]

    def delete(self, entry_id: str) -> bool:
        """Remove the entry, its index slots and its history; ``False`` if it did not exist."""
        keys = [
            self._entry_key(entry_id),
            self._due,
            self._leases,
            self._ids,
            self._runs_key(entry_id),
            self._config,
        ]
        with self._errors():
            return bool(self._run(self._delete, keys, [entry_id, self.channel]))

    def set_enabled(self, entry_id: str, enabled: bool, now: datetime) -> Entry:
        """Enable or disable; enabling starts afresh from ``now``. Bumps the version."""
        updated_at = _from_ms(_to_ms(now))
        while True:
            stored = self.get(entry_id)
            if stored is None:
                raise EntryNotFound(entry_id)
            if stored.enabled == enabled:
                return stored
            if enabled:
                next_run_at = stored.first_run_after(now, resume=False)
                next_arg = _ms_text(next_run_at)
                if next_run_at is not None:
                    next_run_at = _from_ms(_to_ms(next_run_at))
            else:
                next_run_at, next_arg = stored.state.next_run_at, "-"
            args = [
                entry_id,
                str(stored.version),
                "1" if enabled else "0",
                next_arg,
                str(_to_ms(updated_at)),
                self.channel,
            ]
            with self._errors():
                version = int(
                    self._run(self._set_enabled, [self._entry_key(entry_id), self._due], args)
                )
            if version == 0:
                raise EntryNotFound(entry_id)
            if version > 0:
                state = dataclasses.replace(
                    stored.state, next_run_at=next_run_at, updated_at=updated_at
                )
                return dataclasses.replace(stored, enabled=enabled, version=version, state=state)
            # The version moved between the read and the write: read again.

    # -- claims ----------------------------------------------------------------------------------

    def claim_due(
        self, now: datetime, limit: int, owner: str, lease: timedelta
    ) -> builtins.list[Claim]:
        """Lease up to ``limit`` due entries, earliest first, in one atomic script call."""
        return self.claim_batch(now, limit, owner, lease).claims

    def claim_batch(self, now: datetime, limit: int, owner: str, lease: timedelta) -> ClaimBatch:
        """:meth:`claim_due` and the earliest due time left, in one atomic script call."""
        if limit <= 0:
            return ClaimBatch([], self.next_due_at())
        token = f"{owner}:{uuid.uuid4().hex}"
        until = now + lease
        args = [str(_to_ms(now)), str(limit), str(_to_ms(until)), token, owner, self._entry_prefix]
        with self._errors():
            reply = json.loads(self._run(self._claim_due, [self._due, self._leases], args))
        claims: builtins.list[Claim] = []
        for row in reply["rows"]:
            entry = _decode_entry(row)
            scheduled_for = entry.state.next_run_at
            assert scheduled_for is not None  # the script claims only entries with one
            claims.append(Claim(entry, scheduled_for, owner, token, until))
        head = reply["next"]
        return ClaimBatch(claims, None if head is None else _from_ms(head))

    def _completion(self, claim: Claim, outcome: Outcome) -> builtins.list[Any]:
        result = advance(claim, outcome)
        state, entry = result.state, claim.entry
        # Like MemoryStore, the run state comes from the claim's snapshot, advanced; only
        # next_run_at yields to an edit that changed the schedule meanwhile (in the script).
        return [
            claim.token,
            _spec_json(entry.spec),
            entry.id,
            _ms_text(state.next_run_at),
            "1" if result.disable else "0",
            _state_changes(state, entry.state),
            [_run_fields(run) for run in outcome.runs],
        ]

    def complete(self, claim: Claim, outcome: Outcome) -> bool:
        """Record ``outcome`` for ``claim`` atomically; ``False`` if the lease was lost."""
        return self.complete_many([(claim, outcome)])[0]

    def complete_many(self, pairs: Iterable[tuple[Claim, Outcome]]) -> builtins.list[bool]:
        """:meth:`complete` for several claims: one script call per :data:`_COMPLETE_BATCH`,
        streamed (see :meth:`_pipelined`)."""
        pairs = builtins.list(pairs)

        def calls() -> Iterator[tuple[builtins.list[str], builtins.list[str]]]:
            for first in range(0, len(pairs), _COMPLETE_BATCH):
                chunk = pairs[first : first + _COMPLETE_BATCH]
                keys = [self._due, self._leases]
                for claim, _ in chunk:
                    keys += [self._entry_key(claim.entry.id), self._runs_key(claim.entry.id)]
                completions = [self._completion(claim, outcome) for claim, outcome in chunk]
                yield keys, [str(self.history_limit), _json(completions)]

        return [bool(done) for reply in self._pipelined(self._complete, calls()) for done in reply]

    def _pipelined(
        self, script: Script, calls: Iterable[tuple[builtins.list[str], builtins.list[str]]]
    ) -> builtins.list[Any]:
        """Run ``script`` once per (keys, args), in order, on one connection; the replies.

        Each call is sent as soon as ``calls`` yields it and the replies are read at the end:
        Redis runs one call while Python encodes the next (``calls`` may be a generator that
        encodes them). As in redis-py's pipelines, a lost connection is opened again and every
        call sent again; a failed call raises once all were sent.
        """
        pending = iter(calls)
        first = next(pending, None)
        if first is None:
            return []
        made = [first]

        def send_all(connection: Any) -> builtins.list[Any]:
            for keys, args in made:
                connection.send_command("EVALSHA", script.sha, len(keys), *keys, *args)
            for keys, args in pending:
                made.append((keys, args))
                connection.send_command("EVALSHA", script.sha, len(keys), *keys, *args)
            replies = []
            for keys, args in made:
                try:
                    replies.append(connection.read_response())
                except NoScriptError:
                    # The server lost its script cache (restart, SCRIPT FLUSH): this call never
                    # ran, so running it again now is safe. Script() reloads the script.
                    replies.append(self._run(script, keys, args))
            return replies

        with self._errors():
            pool = self._client.connection_pool
            # Any: redis-py leaves the connection's methods unannotated.
            connection: Any = pool.get_connection()
            try:
                return cast(
                    builtins.list[Any],
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
    ) -> builtins.list[Claim | None]:
        """Extend the claims still held, in one atomic script call."""
        if not claims:
            return []
        until = now + lease
        held = [[claim.entry_id, claim.token] for claim in claims]
        with self._errors():
            reply = self._run(
                self._renew, [self._leases], [str(_to_ms(until)), self._entry_prefix, _json(held)]
            )
        return [
            dataclasses.replace(claim, lease_until=until) if renewed else None
            for claim, renewed in zip(claims, reply, strict=True)
        ]

    def recover_expired_claims(self, now: datetime) -> builtins.list[str]:
        """Put entries whose lease ran out before ``now`` back in the due index."""
        with self._errors():
            raw = cast(
                builtins.list[bytes],
                self._run(
                    self._recover, [self._leases, self._due], [str(_to_ms(now)), self._entry_prefix]
                ),
            )
        return [entry_id.decode() for entry_id in raw]

    # -- reading run state -----------------------------------------------------------------------

    def history(self, entry_id: str, limit: int = 100) -> builtins.list[RunRecord]:
        """The newest ``limit`` runs of the entry, newest first."""
        if limit <= 0:
            return []
        with self._errors():
            rows = cast(
                builtins.list[tuple[bytes, dict[bytes, bytes]]],
                self._client.xrevrange(self._runs_key(entry_id), count=limit),
            )
        return [_decode_run(entry_id, fields) for _, fields in rows]

    def next_due_at(self) -> datetime | None:
        """The earliest ``next_run_at`` among enabled, unclaimed entries."""
        with self._errors():
            head = cast(
                builtins.list[tuple[bytes, float]],
                self._client.zrange(self._due, 0, 0, withscores=True),
            )
        return _from_ms(head[0][1]) if head else None

    def time(self) -> datetime | None:
        """The Redis server's clock (``TIME``)."""
        with self._errors():
            seconds, micros = self._client.time()
        return datetime.fromtimestamp(seconds, timezone.utc) + timedelta(microseconds=micros)

    # -- lifecycle -------------------------------------------------------------------------------

    def watch(self) -> ChangeFeed:
        """A feed of definition changes, on its own pub/sub connection."""
        with self._errors():
            return _RedisFeed(self._client, self.channel, self.display_url)

    def drop(self) -> int:
        """Delete every key of this prefix (entries, indexes, history); the number deleted."""
        pattern = _glob_escape("{" + self.prefix + "}:") + "*"
        deleted = 0
        with self._errors():
            batch: builtins.list[bytes] = []
            for key in self._client.scan_iter(match=pattern, count=1000):
                batch.append(cast(bytes, key))
                if len(batch) >= 1000:
                    deleted += self._client.unlink(*batch)
                    batch = []
            if batch:
                deleted += self._client.unlink(*batch)
        return deleted

    def close(self) -> None:
        """Close the connection pool; safe to call twice."""
        if self._closed:
            return
        self._closed = True
        with contextlib.suppress(redis.RedisError, OSError):
            self._client.close()
        with contextlib.suppress(redis.RedisError, OSError):
            self._client.connection_pool.disconnect()


class _RedisFeed(ChangeFeed):
    """Change notifications from the prefix's pub/sub channel.

    Redis keeps nothing for a subscriber while it is disconnected. After losing its connection
    the feed subscribes again (redis-py, when configured to retry, may do so by itself inside a
    read); either way the server confirms the subscription once more, and every confirmation
    after the first makes :meth:`wait` return :data:`ANY_CHANGE`.
    """

    def __init__(self, client: redis.Redis, channel: str, display_url: str) -> None:
        self._client = client
        self._channel = channel
        self._pending: builtins.list[str] = []
        self._confirmed = False
        self._closed = False
        self._backoff = Backoff()
        self._pubsub: PubSub | None = None
        try:
            self._pubsub = self._subscribe()
            # Wait for the confirmation: from then on, no change can slip past the feed.
            deadline = time.monotonic() + _SUBSCRIBE_TIMEOUT
            while not self._confirmed:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise StoreError(f"Redis store {display_url}: no reply to SUBSCRIBE")
                self._take(self._pubsub.get_message(timeout=remaining))
        except BaseException:
            self.close()
            raise

    def _subscribe(self) -> PubSub:
        # redis-py leaves pubsub() unannotated; it returns a PubSub.
        pubsub = cast(Callable[[], PubSub], self._client.pubsub)()
        try:
            pubsub.subscribe(self._channel)
        except BaseException:
            with contextlib.suppress(redis.RedisError, OSError):
                pubsub.close()
            raise
        return pubsub

    def _take(self, message: Mapping[str, Any] | None) -> None:
        if message is None:
            return
        if message["type"] == "subscribe":
            if self._confirmed:
                self._pending.append(ANY_CHANGE)
            self._confirmed = True
        elif message["type"] == "message":
            data = message["data"]
            self._pending.append(data.decode() if isinstance(data, bytes) else str(data))

    def _flush(self) -> builtins.list[str]:
        ids, self._pending = builtins.list(dict.fromkeys(self._pending)), []
        return ids

    def wait(self, timeout: float) -> builtins.list[str]:
        """Ids changed since the last call; waits up to ``timeout`` s, ``[]`` if none.

        After a lost connection the feed subscribes again, pausing between failed attempts,
        and returns :data:`ANY_CHANGE` once the server confirms.
        """
        deadline = time.monotonic() + max(timeout, 0.0)
        while not self._closed:
            if self._pubsub is None:
                self._pubsub = reconnect(
                    self._subscribe, self._backoff, deadline, (redis.RedisError, OSError)
                )
                if self._pubsub is None:
                    return self._flush()
            try:
                while not self._pending:
                    remaining = deadline - time.monotonic()
                    message = self._pubsub.get_message(timeout=max(remaining, 0.0))
                    self._take(message)
                    if message is None and remaining <= 0:
                        break
                while (message := self._pubsub.get_message(timeout=0.0)) is not None:
                    self._take(message)
            except (redis.RedisError, OSError):
                self._drop()
                continue
            return self._flush()
        return []

    def _drop(self) -> None:
        pubsub, self._pubsub = self._pubsub, None
        if pubsub is not None:
            with contextlib.suppress(redis.RedisError, OSError):
                pubsub.close()

    def close(self) -> None:
        """Release the connection (which ends the subscription); safe to call twice."""
        self._closed = True
        self._drop()
