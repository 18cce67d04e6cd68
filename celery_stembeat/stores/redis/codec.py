"""How the Redis store encodes entries, run state, runs, beats and incidents, and decodes the
scripts' rows.

Instants are kept at millisecond resolution (sub-millisecond parts are truncated); a claim's
``scheduled_for`` is the stored ``next_run_at`` exactly. The hash fields are described in
:mod:`.keys`; ``lua/layout.lua`` holds the same row layout as :data:`ROW_FIELDS` and
:data:`ROW_CHUNKED` for the scripts.
"""

from __future__ import annotations

import dataclasses
import functools
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timedelta, timezone
from typing import Any, cast

from celery_stembeat.entry import Entry, RunState
from celery_stembeat.entry_decode import replace_entry, replace_state, stored_entry, stored_state
from celery_stembeat.specs import format_instant, parse_instant
from celery_stembeat.stores._decode import attached_digest
from celery_stembeat.stores._spec_text import compact_json, spec_from_text, spec_text
from celery_stembeat.stores.base import BeatInfo, Fingerprint, Incident, RunRecord, StoreError

#: Longest hash value Redis keeps in a listpack by default (``hash-max-listpack-value``).
CHUNK_BYTES = 64
#: The hash fields a script returns for an entry, in this order, as a JSON row
#: ``[id, *ROW_FIELDS, definition, spec, last error, last task error]`` (``false`` where a
#: field is absent).
ROW_FIELDS = (
    *("e", "v", "n", "ls", "lr", "ca", "ua", "tc", "fc", "cf", "ld", "dm", "dx"),
    *("lo", "lf", "sc", "tf", "tk", "rm", "rx"),
)
#: The chunked values at the end of a row, each with the number of chunks read up front.
ROW_CHUNKED = (("d", 8), ("s", 2), ("le", 2), ("te", 2))

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
#: The tracked run-state fields (:data:`~celery_stembeat.entry.TRACKED_FIELDS`): only
#: ``record_outcomes`` (or a new entry) writes them.
_TRACKED_INSTANTS = (("last_outcome_for", "lf"),)
_TRACKED_COUNTS = (
    ("success_count", "sc"),
    ("task_failure_count", "tf"),
    ("consecutive_task_failures", "tk"),
)
_TRACKED_NUMBERS = (("runtime_mean", "rm"), ("runtime_max", "rx"))
#: Text kept whole in one field, and text kept in chunks (attribute, chunk name).
_TRACKED_WHOLE = (("last_outcome", "lo"),)
_SENT_CHUNKED = (("last_error", "le"),)
_TRACKED_CHUNKED = (("last_task_error", "te"),)
_READ_INSTANTS = (
    ("next_run_at", "n"),
    *_INSTANT_FIELDS,
    ("created_at", "ca"),
    ("updated_at", "ua"),
    *_TRACKED_INSTANTS,
)


# -- encoding ------------------------------------------------------------------------------------


def to_ms(value: datetime) -> int:
    """Epoch milliseconds, truncated (floor) like ISO text with millisecond precision."""
    return (value - _EPOCH) // _MS


def to_ms_ceiling(value: datetime) -> int:
    """Epoch milliseconds, rounded up: a stored instant (whole milliseconds) ``at`` is before
    ``value`` exactly when ``to_ms(at) < to_ms_ceiling(value)``."""
    return -((_EPOCH - value) // _MS)


def from_ms(value: bytes | str | int | float) -> datetime:
    return _EPOCH + timedelta(milliseconds=int(value))


def ms_text(value: datetime | None) -> str:
    return "" if value is None else str(to_ms(value))


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
    if entry.overlap != "allow":
        data["overlap"] = entry.overlap
    if entry.overlap_timeout is not None:
        data["overlap_timeout"] = entry.overlap_timeout
    if entry.tags:
        data["tags"] = entry.tags
    if entry.source != "store":
        data["source"] = entry.source
    return compact_json(data)


def _instant_text(instant: datetime | None) -> str | None:
    return None if instant is None else str(to_ms(instant))


def _count_text(count: int) -> str | None:
    return str(count) if count else None


def _drift_text(drift: float | None) -> str | None:
    return None if drift is None else repr(drift)


def _whole_text(text: str | None) -> str | None:
    return text


_Texts = tuple[tuple[str, str, Callable[[Any], str | None]], ...]
#: (attribute, hash field, its text or ``None`` = absent) of the run state the scripts write
#: as given (all but next_run_at, the stamps and the chunked text): what completions write,
#: then what reports write.
_SENT_TEXTS: _Texts = (
    *((name, field, _instant_text) for name, field in _INSTANT_FIELDS),
    *((name, field, _count_text) for name, field in _COUNT_FIELDS),
    *((name, field, _drift_text) for name, field in _DRIFT_FIELDS),
)
_TRACKED_TEXTS: _Texts = (
    *((name, field, _whole_text) for name, field in _TRACKED_WHOLE),
    *((name, field, _instant_text) for name, field in _TRACKED_INSTANTS),
    *((name, field, _count_text) for name, field in _TRACKED_COUNTS),
    *((name, field, _drift_text) for name, field in _TRACKED_NUMBERS),
)


def _changes(
    texts: _Texts,
    chunked: tuple[tuple[str, str], ...],
    state: RunState,
    before: RunState | None,
) -> dict[str, Any]:
    """The writes of the fields ``texts`` and ``chunked`` that turn the stored run state
    ``before`` (``None``: no hash yet) into ``state``: ``{"s": {field: text}, "x": [fields
    to remove], "c": {chunk name: text, or false to remove}}``."""
    written: dict[str, str] = {}
    removed: list[str] = []
    chunks: dict[str, str | bool] = {}
    new = state.__dict__
    if before is None:
        for name, field, text in texts:
            if (value_text := text(new[name])) is not None:
                written[field] = value_text
        for name, field in chunked:
            if new[name] is not None:
                chunks[field] = new[name]
    else:
        old = before.__dict__
        for name, field, text in texts:
            # A value carried over unchanged is the same object, with the same text.
            if (value := new[name]) is not (previous := old[name]) and (
                value_text := text(value)
            ) != text(previous):
                if value_text is None:
                    removed.append(field)
                else:
                    written[field] = value_text
        for name, field in chunked:
            if new[name] != old[name]:
                chunks[field] = False if new[name] is None else new[name]
    return {"s": written, "x": removed, "c": chunks}


def state_changes(state: RunState, before: RunState | None = None) -> dict[str, Any]:
    """The writes that turn the stored run state ``before`` into ``state``, for the scripts.

    Neither holds next_run_at, created_at and updated_at, which the scripts handle. Without
    ``before`` (a new entry): every field, the tracked ones too. With it (a completion): the
    fields whose stored text differs, never the tracked ones (reports write those).
    """
    if before is None:
        return _changes(
            (*_SENT_TEXTS, *_TRACKED_TEXTS), (*_SENT_CHUNKED, *_TRACKED_CHUNKED), state, None
        )
    return _changes(_SENT_TEXTS, _SENT_CHUNKED, state, before)


def tracked_changes(state: RunState, before: RunState) -> dict[str, Any]:
    """The writes that turn the tracked fields of ``before`` into those of ``state`` (a
    report's), in the form of :func:`state_changes`."""
    return _changes(_TRACKED_TEXTS, _TRACKED_CHUNKED, state, before)


#: A row's positions: [id, *ROW_FIELDS, definition, spec, last error, last task error].
_ROW = {field: index + 1 for index, field in enumerate(ROW_FIELDS)}
_ROW.update({name: len(ROW_FIELDS) + 1 + i for i, (name, _) in enumerate(ROW_CHUNKED)})
_ROW_DEFINITION, _ROW_SPEC = _ROW["d"], _ROW["s"]
_ROW_ENABLED, _ROW_VERSION = _ROW["e"], _ROW["v"]
_ROW_INSTANTS = tuple((name, _ROW[field]) for name, field in _READ_INSTANTS)
_ROW_COUNTS = tuple((name, _ROW[field]) for name, field in (*_COUNT_FIELDS, *_TRACKED_COUNTS))
_ROW_DRIFTS = tuple((name, _ROW[field]) for name, field in (*_DRIFT_FIELDS, *_TRACKED_NUMBERS))
_ROW_TEXTS = tuple(
    (name, _ROW[field]) for name, field in (*_TRACKED_WHOLE, *_SENT_CHUNKED, *_TRACKED_CHUNKED)
)
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
    for name, index in _ROW_TEXTS:
        if (raw := row[index]) is not False:
            values[name] = raw
    return state


def _parse_definition(entry_id: str, definition: str, spec: str) -> Entry:
    data = json.loads(definition)
    data["id"] = entry_id
    data["spec"] = spec_from_text(spec)
    data["args"] = tuple(data.get("args", ()))
    data["jitter"] = float(data.get("jitter", 0.0))
    data["tags"] = tuple(data.get("tags", ()))
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


def decode_entry(row: Sequence[Any], definition: str | None = None) -> Entry:
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


def definition_entry(entry_id: str, enabled: str, definition: str, spec: str) -> Entry:
    """The entry a stored definition, spec and enabled flag describe (version 0, empty run
    state): what a change record holds of it."""
    return replace_entry(_definition(entry_id, definition, spec), enabled=enabled == "1")


def entry_fields(entry: Entry, digest: str) -> dict[str, Any]:
    """``entry`` as the upsert scripts take it, with ``digest`` (``""``: none) in ``g`` for a
    beat_schedule entry, in ``h`` for one created in the store."""
    state = entry.state
    fields = {
        "spec": spec_text(entry.spec),
        "enabled": "1" if entry.enabled else "0",
        "n": ms_text(state.next_run_at),
        "ca": ms_text(state.created_at),
        "ua": ms_text(state.updated_at),
        "d": _definition_json(entry),
        "t": " ".join(entry.tags),
        "state": state_changes(state),
    }
    if entry.source == "config":
        fields["g"] = digest
    elif digest:
        fields["h"] = digest
    return fields


def written_entry(entry: Entry, definition: str, version: int) -> Entry:
    """A new entry as the store now holds it: the definition read back, ``version``, and the
    run state at millisecond resolution (what a read would return, without the read)."""
    state = entry.state
    instants = {
        name: from_ms(to_ms(value))
        for name, _ in _READ_INSTANTS
        if (value := getattr(state, name)) is not None
    }
    return replace_entry(
        _definition(entry.id, definition, spec_text(entry.spec)),
        enabled=entry.enabled,
        version=version,
        state=replace_state(state, **instants),
    )


def decode_rows(reply: bytes) -> list[list[Any]]:
    return cast(list[list[Any]], json.loads(reply))


def run_fields(run: RunRecord) -> list[str]:
    fields: list[str] = ["s", str(to_ms(run.scheduled_for)), "o", run.outcome]
    if run.published_at is not None:
        fields += ["p", str(to_ms(run.published_at))]
    if run.drift is not None:
        fields += ["d", repr(float(run.drift))]
    fields += ["j", repr(float(run.jitter))]
    if run.error is not None:
        fields += ["e", run.error]
    fields += ["w", run.owner]
    if run.task_id is not None:
        fields += ["t", run.task_id]
    if run.manual:
        fields += ["m", "1"]
    return fields


def _ms_or_none(value: int | None) -> datetime | None:
    return None if value is None else from_ms(value)


def reported_text(run: RunRecord) -> str:
    """What workers wrote into ``run`` (outcome, start, end, runtime, error, worker), as a
    value of ``{P}:outcomes:<id>``: compact JSON, absent values left out."""
    data = {
        "o": run.outcome,
        "a": None if run.started_at is None else to_ms(run.started_at),
        "f": None if run.finished_at is None else to_ms(run.finished_at),
        "r": run.runtime,
        "e": run.error,
        "w": run.worker,
    }
    return compact_json({name: value for name, value in data.items() if value is not None})


def decode_run(entry_id: str, item: Sequence[Any]) -> RunRecord:
    """A run as the scripts return it: ``[stream id, [field, value, ...], what workers
    reported (:func:`reported_text`) or None]``."""
    _, flat, reported = item
    fields: dict[bytes, bytes] = dict(zip(flat[::2], flat[1::2], strict=True))
    published = fields.get(b"p")
    drift = fields.get(b"d")
    error = fields.get(b"e")
    task_id = fields.get(b"t")
    run = RunRecord(
        entry_id=entry_id,
        scheduled_for=from_ms(fields[b"s"]),
        outcome=fields[b"o"].decode(),
        published_at=None if published is None else from_ms(published),
        drift=None if drift is None else float(drift),
        jitter=float(fields.get(b"j", b"0")),
        error=None if error is None else error.decode(),
        owner=fields.get(b"w", b"").decode(),
        task_id=None if task_id is None else task_id.decode(),
        manual=fields.get(b"m") == b"1",
    )
    if reported is None:
        return run
    data = json.loads(reported)
    return dataclasses.replace(
        run,
        outcome=data["o"],
        started_at=_ms_or_none(data.get("a")),
        finished_at=_ms_or_none(data.get("f")),
        runtime=data.get("r"),
        error=data.get("e"),
        worker=data.get("w"),
    )


def decode_fingerprint(enabled: str, version: str, mark: str | None) -> Fingerprint:
    """The :class:`Fingerprint` of a row of the fingerprints script (``mark``: field ``g``)."""
    return Fingerprint(enabled == "1", attached_digest(mark or "", version))


def decode_sourced_fingerprint(
    enabled: str, version: str, mark: str | None, source: str
) -> Fingerprint:
    """The :class:`Fingerprint`, version and source kept, of a row of the fingerprints_of
    script."""
    return Fingerprint(enabled == "1", attached_digest(mark or "", version), int(version), source)


def beat_text(beat: BeatInfo) -> str:
    """``beat`` as a value of ``{P}:beats``: compact JSON of :meth:`BeatInfo.to_dict` (floats
    as their ``repr``, so they read back exactly)."""
    return compact_json(beat.to_dict())


def decode_beats(values: Iterable[bytes]) -> list[BeatInfo]:
    """The beats of ``{P}:beats`` values (:func:`beat_text`), by owner."""
    return sorted(
        (BeatInfo.from_dict(json.loads(value)) for value in values), key=lambda b: b.owner
    )


def incident_text(incident: Incident) -> str:
    """``incident`` as a value of ``{P}:incidents``: ``{"state", "since"}`` as compact JSON."""
    return compact_json({"state": incident.state, "since": format_instant(incident.since)})


def decode_incidents(fields: Mapping[bytes, bytes]) -> list[Incident]:
    """The incidents of ``{P}:incidents`` (key → :func:`incident_text`), by key."""
    found = []
    for key, value in fields.items():
        data = json.loads(value)
        since = parse_instant(data["since"], "since")
        found.append(Incident(key.decode(), data["state"], since))
    return sorted(found, key=lambda incident: incident.key)
