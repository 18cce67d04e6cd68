"""Writes that record their change in the audit log, Python's side (the records themselves are
:mod:`.changelog`'s, the scripts' side ``lua/audit.lua``).

A recorded write reads what its change records are built from, with the log's head
(:meth:`Recorder.read_before`, or the write's own read), builds the records
(:meth:`Recorder.records`), and calls its script with them (:meth:`Recorder.call`). The script
writes the change and its records only while the head, and the version and enabled flag of each
entry written, are still as read; otherwise it writes nothing and replies "stale", and the
write starts again from a new read. :meth:`Recorder.fresh` is that loop for every write of one
entry or of the pause (upsert, delete, enable/disable, a manual run, pause and resume); a bulk
write (:mod:`.bulk`) sends back only its chunks that met another writer.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any, Final, TypeVar

from celery_stembeat.audit import AuditHead, ChangeNote, EntryChange
from celery_stembeat.stores._spec_text import compact_json
from celery_stembeat.stores.redis.changelog import Stored, decode_head, record_args
from celery_stembeat.stores.redis.client import READ_BATCH, Call, Client
from celery_stembeat.stores.redis.codec import decode_rows

#: Reads a write may take before giving up while other writers keep changing what its change
#: records are built from (a bulk write counts the rounds in which no chunk got through).
WRITE_ATTEMPTS = 100

_T = TypeVar("_T")


class Stale:
    """What a write attempt returns when its script found the store changed since the read."""


STALE: Final = Stale()


class Recorder:
    """Recorded writes through ``client``, keeping the newest ``audit_limit`` records."""

    def __init__(self, client: Client, audit_limit: int) -> None:
        self._client = client
        self._audit_limit = audit_limit

    def fresh(self, attempt: Callable[[], _T | Stale], what: str) -> _T:
        """``attempt()``'s result, attempted again while it returns :data:`STALE`; a
        StoreError naming ``what`` after :data:`WRITE_ATTEMPTS` attempts."""
        for _ in range(WRITE_ATTEMPTS):
            result = attempt()
            if not isinstance(result, Stale):
                return result
        raise self.gave_up(what)

    def gave_up(self, what: str) -> Exception:
        """The error of a write (``what``) that met another writer every time."""
        return self._client.failed(
            f"{what}: other writers kept changing the store; tried {WRITE_ATTEMPTS} times"
        )

    def records(
        self, head: AuditHead, note: ChangeNote, items: Iterable[EntryChange | None]
    ) -> tuple[list[str], AuditHead]:
        """The arguments that append the change records of ``items`` after ``head`` (see
        :func:`.changelog.record_args`), and the head after them."""
        prefix = self._client.keys.audit_entry_prefix
        return record_args(head, note, items, self._audit_limit, prefix)

    def read_before(self, entry_ids: Sequence[str]) -> tuple[AuditHead, dict[str, Stored]]:
        """The audit head and the entries with these ids that exist, as a write builds its
        change records from them: one read script per :data:`~.client.READ_BATCH` ids,
        pipelined, the first reading the head in the same step."""
        keys = self._client.keys
        calls: list[Call] = [
            (
                [keys.entry_prefix, keys.audit] if first == 0 else [keys.entry_prefix],
                [compact_json(entry_ids[first : first + READ_BATCH])],
            )
            for first in range(0, max(len(entry_ids), 1), READ_BATCH)
        ]
        replies = self._client.pipelined("definitions", calls)
        rows = [row for reply in replies for row in decode_rows(reply)]
        return decode_head(rows[0]), {row[0]: Stored(*row) for row in rows[1:]}

    def call(
        self,
        name: str,
        keys: Sequence[str],
        args: Sequence[str],
        head: AuditHead,
        note: ChangeNote,
        change: EntryChange | None,
    ) -> Any:
        """The reply of script ``name`` called with ``args``, then the record of ``change``
        (``None``: no change) after ``head``: one attempt, one round trip."""
        records, _ = self.records(head, note, [change])
        with self._client.errors():
            return self._client.run(name, keys, [*args, *records])
