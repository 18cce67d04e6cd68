"""Rows of the SQL store and the values they hold: entries, run state, runs, JSON text.

One place maps each way: :func:`read_entry` reads an entry (with its run state) back from a row,
:func:`new_row` and its parts write one; runs, fingerprints and definitions (what the audit log
records) likewise.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from celery_stembeat.entry import TRACKED_FIELDS, Entry, RunState
from celery_stembeat.entry_decode import stored_entry, stored_state
from celery_stembeat.stores._decode import attached_digest
from celery_stembeat.stores._spec_text import compact_json, spec_from_text, spec_text
from celery_stembeat.stores.base import Fingerprint, RunRecord

#: A number in exponent form, as ``json.dumps`` writes large and small floats (``repr``
#: always signs the exponent: ``1e-05``, ``1e+300``).
_EXPONENT = re.compile(r"[0-9]e[+-]")
#: ``json.dumps`` as :func:`dumps` calls it, without building an encoder on every call.

#: Run-state columns a completion writes; the stamps below belong to definition changes.
_OUTCOME_FIELDS = (
    "next_run_at",
    "last_scheduled_for",
    "last_run_at",
    "total_run_count",
    "failure_count",
    "consecutive_failures",
    "last_error",
    "last_drift",
    "drift_mean",
    "drift_max",
)
#: Every run-state column, as a new row writes them (workers' reports alone write the tracked
#: ones afterwards).
_RUN_STATE_FIELDS = (*_OUTCOME_FIELDS, "created_at", "updated_at", *TRACKED_FIELDS)
#: A history row's columns a worker's report writes.
REPORTED_RUN_FIELDS = ("outcome", "started_at", "finished_at", "runtime", "error", "worker")
RUN_TEXTS = ("last_error", "error", "owner", "task_id", "worker", "last_task_error")
CLEARED_CLAIM: dict[str, Any] = {
    "claim_token": None,
    "claim_owner": None,
    "lease_until": None,
    "claimed_for": None,
    "claim_version": None,
}


def dumps(value: object) -> str:
    """Compact JSON whose floats survive JSONB (which keeps a number's digits, not its form)."""
    text = compact_json(value)
    # Only a float in exponent form needs spelling out; the pattern may also find one in a
    # string, which costs the slow path and nothing else.
    return _exact_dumps(value) if _EXPONENT.search(text) else text


def _key(key: object) -> str:
    """A mapping key as ``json.dumps`` writes it (``True`` → ``true``)."""
    return key if isinstance(key, str) else json.dumps(key)


def _exact_dumps(value: object) -> str:
    if isinstance(value, float):
        text = repr(value)
        if not math.isfinite(value):
            raise ValueError(f"{text} is not JSON")
        if "e" in text:
            # JSONB would print 1e+300 as a bare integer; 1000…0.0 reads back as the same float.
            text = format(Decimal(text), "f")
            return text if "." in text else f"{text}.0"
        return text
    if isinstance(value, dict):
        items = (f"{_exact_dumps(_key(key))}:{_exact_dumps(item)}" for key, item in value.items())
        return "{" + ",".join(items) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(_exact_dumps(item) for item in value) + "]"
    return json.dumps(value, ensure_ascii=False, allow_nan=False)


def json_value(value: Any) -> Any:
    """A column value as a JSON row document holds it: instants as ISO 8601 with offset."""
    return value.isoformat() if isinstance(value, datetime) else value


def document(rows: Sequence[dict[str, Any]]) -> str:
    """``rows`` as the JSON text PostgreSQL's completion statement reads (instants as ISO 8601
    with offset)."""
    return json.dumps(
        [{key: json_value(value) for key, value in row.items()} for row in rows],
        ensure_ascii=False,
        allow_nan=False,
    )


#: The columns :func:`definition` fills.
DEFINITION_COLUMNS = (
    "task",
    "spec",
    "spec_key",
    "args",
    "kwargs",
    "options",
    "enabled",
    "run_once",
    "expire_at",
    "catch_up",
    "jitter",
    "description",
    "overlap",
    "overlap_timeout",
    "tags",
    "source",
)


def definition(entry: Entry) -> dict[str, Any]:
    return {
        "task": entry.task,
        "spec": entry.spec.to_dict(),
        "spec_key": spec_text(entry.spec),
        "args": list(entry.args),
        "kwargs": dict(entry.kwargs),
        "options": dict(entry.options),
        "enabled": entry.enabled,
        "run_once": entry.run_once,
        "expire_at": entry.expire_at,
        "catch_up": entry.catch_up,
        "jitter": entry.jitter,
        "description": entry.description,
        "overlap": entry.overlap,
        "overlap_timeout": entry.overlap_timeout,
        "tags": list(entry.tags),
        "source": entry.source,
    }


def json_row(row: Mapping[str, Any]) -> dict[str, Any]:
    """A row of column values for a JSON row document: instants in ISO 8601 with their
    offset, ``None`` left out."""
    return {name: json_value(value) for name, value in row.items() if value is not None}


def state_values(state: RunState) -> dict[str, Any]:
    return {name: getattr(state, name) for name in _RUN_STATE_FIELDS}


def outcome_values(state: RunState) -> dict[str, Any]:
    """The run state a completion writes."""
    return {name: getattr(state, name) for name in _OUTCOME_FIELDS}


def tracked_values(state: RunState) -> dict[str, Any]:
    """The run state workers' reports write."""
    return {name: getattr(state, name) for name in TRACKED_FIELDS}


def run_values(run: RunRecord, stamp: datetime) -> dict[str, Any]:
    """The columns of a new history row of ``run``, stamped ``stamp`` (see
    :func:`~celery_stembeat.stores.base.history_stamps`)."""
    return {
        "entry_id": run.entry_id,
        "scheduled_for": run.scheduled_for,
        "published_at": run.published_at,
        "drift": run.drift,
        "jitter": run.jitter,
        "owner": run.owner,
        "task_id": run.task_id,
        "manual": run.manual,
        "stamp": stamp,
        **reported_values(run),
    }


def reported_values(run: RunRecord) -> dict[str, Any]:
    """The columns of a history row that workers' reports write."""
    return {name: getattr(run, name) for name in REPORTED_RUN_FIELDS}


def new_row(entry: Entry, config_digest: str | None = None) -> dict[str, Any]:
    """Every column of ``entry`` as a new, unclaimed row at version 1."""
    return {
        "id": entry.id,
        "version": 1,
        **definition(entry),
        **state_values(entry.state),
        **CLEARED_CLAIM,
        "config_digest": config_digest,
        "history_stamp": None,
    }


def storable(values: dict[str, Any]) -> dict[str, Any]:
    """``values`` with run-state texts PostgreSQL can hold: NUL becomes U+FFFD (in place).

    Error messages come from brokers, exceptions and workers; refusing one would fail the
    completion for good (and re-publish the occurrence after every lease), or lose a report,
    so it is mended instead.
    """
    for name in RUN_TEXTS:
        text = values.get(name)
        if isinstance(text, str) and "\x00" in text:
            values[name] = text.replace("\x00", "\ufffd")
    return values


def read_entry(row: sa.RowMapping) -> Entry:
    """The entry a row holds: every entry column but :data:`UNREAD_COLUMNS`, and
    :data:`DEFINITION_JSON` (while claimed, its next run is ``claimed_for``)."""
    # The row holds what a validated entry wrote, in final types (see entry_decode).
    claimed = row["claim_token"] is not None
    state = stored_state(
        next_run_at=row["claimed_for"] if claimed else row["next_run_at"],
        last_scheduled_for=row["last_scheduled_for"],
        last_run_at=row["last_run_at"],
        total_run_count=int(row["total_run_count"]),
        failure_count=int(row["failure_count"]),
        consecutive_failures=int(row["consecutive_failures"]),
        last_error=row["last_error"],
        last_drift=row["last_drift"],
        drift_mean=row["drift_mean"],
        drift_max=row["drift_max"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        **read_tracked(row),
    )
    return stored_entry(
        **_definition_fields(row, _json_definition(row)),
        source=row["source"],
        version=int(row["version"]),
        state=state,
    )


#: The JSON columns of a definition, as :data:`DEFINITION_JSON` holds them.
JSON_DEFINITION_COLUMNS = ("args", "kwargs", "options", "tags")
#: The label of the JSON text of an array of the :data:`JSON_DEFINITION_COLUMNS`' values (one
#: document to parse per row instead of four).
DEFINITION_JSON = "b_definition_json"
#: The entry columns :func:`read_entry` does without: ``spec_key`` stands for the spec,
#: :data:`DEFINITION_JSON` for the JSON columns; ``history_stamp`` belongs to history.
UNREAD_COLUMNS = ("spec", "config_digest", "history_stamp", *JSON_DEFINITION_COLUMNS)
#: The other columns :func:`read_definition` reads: the id and the definition's plain columns
#: (``spec_key`` stands for the spec's JSON; the source is not part of a definition).
DEFINITION_READ_COLUMNS = (
    "id",
    *(
        name
        for name in DEFINITION_COLUMNS
        if name not in (*JSON_DEFINITION_COLUMNS, "spec", "source")
    ),
)


def read_definition(row: sa.RowMapping) -> Entry:
    """The entry a row of :data:`DEFINITION_READ_COLUMNS` and :data:`DEFINITION_JSON` holds,
    without its run state: what :meth:`Entry.definition` compares and the audit log records."""
    return stored_entry(**_definition_fields(row, _json_definition(row)))


def _json_definition(row: sa.RowMapping) -> dict[str, Any]:
    """The :data:`JSON_DEFINITION_COLUMNS`' values a row holds as :data:`DEFINITION_JSON`."""
    return dict(zip(JSON_DEFINITION_COLUMNS, json.loads(row[DEFINITION_JSON]), strict=True))


def _definition_fields(row: sa.RowMapping, json_values: Mapping[Any, Any]) -> dict[str, Any]:
    """The definition's fields in ``row``, its JSON columns' values read from
    ``json_values``."""
    return {
        "id": row["id"],
        "task": row["task"],
        "spec": spec_from_text(row["spec_key"]),
        "args": tuple(json_values["args"]),
        "kwargs": json_values["kwargs"],
        "options": json_values["options"],
        "enabled": bool(row["enabled"]),
        "run_once": bool(row["run_once"]),
        "expire_at": row["expire_at"],
        "catch_up": row["catch_up"],
        "jitter": float(row["jitter"]),
        "description": row["description"],
        "overlap": row["overlap"],
        "overlap_timeout": row["overlap_timeout"],
        "tags": tuple(json_values["tags"]),
    }


def read_tracked(row: sa.RowMapping) -> dict[str, Any]:
    """The run state workers' reports write, as a row holds it."""
    return {name: row[name] for name in TRACKED_FIELDS}


def read_run(row: sa.RowMapping) -> RunRecord:
    """The run a history row holds."""
    return RunRecord(
        entry_id=row["entry_id"],
        scheduled_for=row["scheduled_for"],
        outcome=row["outcome"],
        published_at=row["published_at"],
        drift=row["drift"],
        jitter=row["jitter"],
        error=row["error"],
        owner=row["owner"],
        task_id=row["task_id"],
        started_at=row["started_at"],
        finished_at=row["finished_at"],
        runtime=row["runtime"],
        worker=row["worker"],
        manual=bool(row["manual"]),
    )


def read_fingerprint(row: Any) -> Fingerprint:
    """The fingerprint of a row of ``enabled``, ``version`` and ``config_digest``."""
    return Fingerprint(bool(row.enabled), attached_digest(row.config_digest, row.version))


def read_sourced_fingerprint(row: Any) -> Fingerprint:
    """The fingerprint, version and source kept, of a row of ``enabled``, ``version``,
    ``config_digest`` and ``source``."""
    digest = attached_digest(row["config_digest"], row["version"])
    return Fingerprint(bool(row["enabled"]), digest, int(row["version"]), row["source"])
