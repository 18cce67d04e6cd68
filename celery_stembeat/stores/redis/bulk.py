"""The Redis store's bulk writes (``upsert_many``, ``write_many``, ``write_checked``): the
batch cut into chunks of :data:`UPSERT_BATCH` entries, one ``upsert_many`` script call each,
streamed on one connection, each chunk with the change records of its entries (see
:mod:`.recorded`).

A round reads the log's head and the entries of its chunks (no id in two of them), then
streams the chunks, each chunk's records following the previous chunk's; a chunk whose script
found the store changed since the read wrote nothing and goes to the next round, until every
chunk got through.
"""

from __future__ import annotations

import dataclasses
import json
from collections import Counter
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from typing import Any

from celery_stembeat import audit
from celery_stembeat._collector import collector_paused
from celery_stembeat.audit import ChangeNote, EntryChange
from celery_stembeat.entry import Entry
from celery_stembeat.stores._spec_text import compact_json
from celery_stembeat.stores.base import ANNOUNCED_IDS, ANY_CHANGE
from celery_stembeat.stores.redis.changelog import Stored, entry_change, guard
from celery_stembeat.stores.redis.client import Call, Client
from celery_stembeat.stores.redis.codec import entry_fields
from celery_stembeat.stores.redis.recorded import WRITE_ATTEMPTS, Recorder

#: Entries per upsert_many script call: with their change records, about as long a call as
#: Redis should be kept from other clients (a beat claiming).
UPSERT_BATCH = 500


def _without_repeats(firsts: Sequence[int], batch: Sequence[Entry]) -> list[int]:
    """The longest run of ``firsts`` (each the start of a chunk of ``batch``) from the first
    whose chunks share no entry id: chunks streamed together are read together, so a later one
    must not depend on an earlier one's write getting through."""
    seen: set[str] = set()
    for count, first in enumerate(firsts):
        ids = {entry.id for entry in batch[first : first + UPSERT_BATCH]}
        if count and not seen.isdisjoint(ids):
            return list(firsts[:count])
        seen |= ids
    return list(firsts)


class BulkWriter:
    """Bulk writes through ``client``, recorded by ``recorder``, announced on ``channel``."""

    def __init__(self, client: Client, recorder: Recorder, channel: str) -> None:
        self._client = client
        self._recorder = recorder
        self._channel = channel

    def write(
        self,
        batch: Sequence[Entry],
        digests: Mapping[str, str],
        expected: Mapping[str, int] | None = None,
        note: ChangeNote | None = None,
    ) -> tuple[list[str], list[Any]]:
        """Run upsert_many over ``batch``, with the ``expected`` versions when given, recording
        each change: the definitions written (as their text), and the script's replies, in
        order.

        The first round takes an expected version ``0`` at its word (the caller read that the
        entry does not exist) instead of reading the entry; a chunk sent back reads every
        entry. A batch of more than :data:`ANNOUNCED_IDS` is announced once, at the end."""
        note = audit.note_or_default(note, audit.WRITE)
        note = dataclasses.replace(note, at=note.when())  # one instant for the whole batch
        channel = self._channel if len(batch) <= ANNOUNCED_IDS else ""
        firsts = range(0, len(batch), UPSERT_BATCH)
        definitions: dict[int, list[str]] = {}

        def items_of(first: int) -> list[list[Any]]:
            """The items of the chunk from ``first``, encoded as it is sent (while Redis runs
            the chunk before it), again if it is sent again: not every chunk's at once."""
            items: list[list[Any]] = []
            for entry in batch[first : first + UPSERT_BATCH]:
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
                    raise self._recorder.gave_up(f"writing {len(batch)} entries")
        if batch and not channel:
            with self._client.errors():
                self._client.redis.publish(self._channel, ANY_CHANGE)
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
        each chunk (its items from ``items_of``), streamed (see :meth:`.Client.pipelined`):
        each chunk's change records follow the previous chunk's, built from what was read and
        what the chunks before it write. The replies, ``None`` for a chunk that wrote nothing
        because the store had changed."""
        recorder, keys = self._recorder, self._client.keys
        entries = [entry for first in firsts for entry in batch[first : first + UPSERT_BATCH]]
        ids = dict.fromkeys(entry.id for entry in entries)
        head, known = recorder.read_before([entry_id for entry_id in ids if entry_id not in new])
        # The ids written more than once, whose later writes start from the earlier ones.
        again = (
            set()
            if len(ids) == len(entries)
            else {
                entry_id for entry_id, count in Counter(e.id for e in entries).items() if count > 1
            }
        )
        script_keys = [*keys.indexes, *keys.audit_keys]

        def calls() -> Iterator[Call]:
            nonlocal head
            for first in firsts:
                entries, items = batch[first : first + UPSERT_BATCH], items_of(first)
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
                records, head = recorder.records(head, note, changes)
                yield (
                    script_keys,
                    [
                        channel,
                        keys.entry_prefix,
                        compact_json(items),
                        keys.tag_prefix,
                        compact_json(list(read.values())),
                        *records,
                    ],
                )

        replies = [json.loads(reply) for reply in self._client.pipelined("upsert_many", calls())]
        return [None if isinstance(reply, dict) else reply for reply in replies]
