"""Workers' reports on the Redis store: one optimistic transaction per batch. It ``WATCH``es
the entry, runs and outcomes keys of the entries reported on; the ``outcome_runs`` script reads
the entries and, for each report, the newest run of its occurrence with what was reported on it
so far; Python folds the reports in order (:func:`~celery_stembeat.stores._outcomes.fold_batch`);
the ``record_outcomes`` script, sent inside ``MULTI``/``EXEC``, writes the folded runs and the
tracked run state. A completion or another reporter writing one of those keys in between aborts
the ``EXEC``, and the batch is read again."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

from redis.client import Pipeline
from redis.exceptions import NoScriptError, WatchError

from celery_stembeat.stores._outcomes import fold_batch
from celery_stembeat.stores._spec_text import compact_json
from celery_stembeat.stores.base import RunRecord, TaskReport
from celery_stembeat.stores.redis.client import Client
from celery_stembeat.stores.redis.codec import (
    decode_entry,
    decode_rows,
    decode_run,
    reported_text,
    to_ms,
    tracked_changes,
)

#: Reads a batch of reports may take before giving up while busy beats keep changing its
#: entries (the caller, a worker's buffer, sends it again later).
OUTCOME_ATTEMPTS = 20


def _lookup(report: TaskReport) -> tuple[str, str, str]:
    """The run a report is about, as the outcome_runs script looks for it: entry id,
    scheduled time (ms), ``"1"`` for a manual run else ``""``."""
    return report.entry_id, str(to_ms(report.scheduled_for)), "1" if report.manual else ""


class OutcomeRecorder:
    """Workers' reports folded into ``client``'s store."""

    def __init__(self, client: Client) -> None:
        self._client = client

    def record(self, reports: Sequence[TaskReport]) -> list[bool]:
        """Fold ``reports`` into their runs and entries (see
        :meth:`~celery_stembeat.stores.Store.record_outcomes`): whether each report's run was
        found."""
        if not reports:
            return []
        client = self._client
        watched = [
            key
            for entry_id in dict.fromkeys(report.entry_id for report in reports)
            for key in client.keys.run_state(entry_id)
        ]
        with client.errors(), client.redis.pipeline(transaction=True) as pipe:
            for _ in range(OUTCOME_ATTEMPTS):
                try:
                    # Any: redis-py leaves Pipeline.watch unannotated.
                    cast(Any, pipe).watch(*watched)
                    found = self._fold(pipe, reports)
                    pipe.execute()
                    return found
                except WatchError:
                    continue  # a completion or another reporter came first: read again
                except NoScriptError:
                    # A cluster pipeline sends EVALSHA without loading the script first (a
                    # single server's loads it). The failed EXEC wrote nothing: load, go again.
                    client.redis.script_load(client.scripts["record_outcomes"].script)
        raise client.failed(
            f"the entries of {len(reports)} reports kept changing; tried {OUTCOME_ATTEMPTS} times"
        )

    def _fold(self, pipe: Pipeline, reports: Sequence[TaskReport]) -> list[bool]:
        """Read the entries and runs ``reports`` are about (``pipe`` watches their keys), fold
        the reports, and queue the writes on ``pipe``: whether each report's run was found."""
        client = self._client
        keys = client.keys
        lookups = list(dict.fromkeys(_lookup(report) for report in reports))
        prefixes = [keys.entry_prefix, keys.runs_prefix, keys.outcomes_prefix]
        reply = client.run("outcome_runs", prefixes, [compact_json(lookups)])
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
            written = [keys.failing, keys.open]
            writes: list[Any] = []
            for entry_id, records in changed.items():
                written += [keys.entry(entry_id), keys.outcomes(entry_id)]
                reported = [
                    text
                    for stream_id, record in records.items()
                    for text in (stream_id, reported_text(record))
                ]
                changes = tracked_changes(states[entry_id], stored[entry_id])
                writes.append([entry_id, reported, changes])
            pipe.multi()
            client.scripts["record_outcomes"](
                keys=written, args=[compact_json(writes)], client=pipe
            )
        return batch.found
