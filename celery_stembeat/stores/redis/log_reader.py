"""Reading the Redis store's audit log: its head, a record by number, and the records from
either end a page at a time, the log's (``{P}:audit:log``) or one entry's (through
``{P}:audit:entry:<id>``). The keys are described in :mod:`.keys`, the records in
:mod:`.changelog`."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import datetime
from typing import Any, cast

from celery_stembeat import audit
from celery_stembeat.audit import AuditHead, Change
from celery_stembeat.stores.redis.changelog import decode_change, decode_head
from celery_stembeat.stores.redis.client import Client

#: Change records per read of the audit log.
CHANGES_BATCH = 500

#: A stream's entries as redis-py reads them: (id, fields).
_Records = list[tuple[bytes, dict[bytes, bytes]]]


class LogReader:
    """The audit log of ``client``'s prefix."""

    def __init__(self, client: Client) -> None:
        self._client = client

    def head(self) -> AuditHead:
        """The log's head (one ``HMGET``)."""
        client = self._client
        with client.errors():
            values = cast(list[Any], client.redis.hmget(client.keys.audit, ["s", "h", "f"]))
        return decode_head(values)

    def change(self, seq: int) -> Change | None:
        """The record numbered ``seq``, or ``None`` (one ``XRANGE``)."""
        if seq < 1:
            return None
        record_id = f"{int(seq)}-0"
        client = self._client
        with client.errors():
            found = cast(_Records, client.redis.xrange(client.keys.audit_log, record_id, record_id))
        return decode_change(found[0][1]) if found else None

    def changes(
        self,
        entry_id: str | None,
        since: datetime | None,
        newest_first: bool,
        limit: int | None,
    ) -> Iterator[Change]:
        """The records :meth:`~celery_stembeat.stores.Store.changes` selects (``limit``
        checked), :data:`CHANGES_BATCH` (at most ``limit``) per round trip. Newest first,
        ``since`` stops the read at the first record made before it; oldest first, that
        record is looked for first, the same way."""
        page = min(limit or CHANGES_BATCH, CHANGES_BATCH)
        if newest_first:
            selected = audit.made_since(self._read(entry_id, page, newest_first), since)
        else:
            after = 0 if since is None else self._newest_before(entry_id, since)
            selected = self._read(entry_id, page, newest_first, after)
        return itertools.islice(selected, limit)

    def count(self, entry_id: str) -> int:
        """How many records of ``entry_id`` the log holds: its index counted (``ZCARD``)."""
        client = self._client
        with client.errors():
            return int(client.redis.zcard(client.keys.audit_entry(entry_id)))

    def _newest_before(self, entry_id: str | None, since: datetime) -> int:
        """The number of the newest record (of ``entry_id``) made before ``since``, else 0."""
        for change in self._read(entry_id, CHANGES_BATCH, newest_first=True):
            if change.at < since:
                return change.seq
        return 0

    def _read(
        self, entry_id: str | None, page: int, newest_first: bool, after: int = 0
    ) -> Iterator[Change]:
        """The log's records (or ``entry_id``'s) numbered above ``after``, in the order asked,
        ``page`` per round trip."""
        low, high = after, None
        while True:
            numbers, found = self._page(entry_id, low, high, page, newest_first)
            for fields in found:
                yield decode_change(fields)
            if len(numbers) < page:
                return
            if newest_first:
                high = numbers[-1]
            else:
                low = numbers[-1]

    def _page(
        self, entry_id: str | None, low: int, high: int | None, page: int, newest_first: bool
    ) -> tuple[list[int], list[dict[bytes, bytes]]]:
        """Up to ``page`` records (of ``entry_id``) numbered above ``low`` and below ``high``
        (``None``: no bound), in the order asked, in one round trip: the numbers read and the
        records' fields. One entry's numbers come from its index, a number whose record is gone
        (trimmed meanwhile) has none."""
        client = self._client
        log = client.keys.audit_log
        with client.errors():
            if entry_id is None:
                first, last = f"({low}-0", "+" if high is None else f"({high}-0"
                if newest_first:
                    read = client.redis.xrevrange(log, last, first, count=page)
                else:
                    read = client.redis.xrange(log, first, last, count=page)
                records = cast(_Records, read)
                return [int(key.partition(b"-")[0]) for key, _ in records], [
                    fields for _, fields in records
                ]
            index = client.keys.audit_entry(entry_id)
            first, last = f"({low}", "+inf" if high is None else f"({high}"
            if newest_first:
                scored = client.redis.zrevrangebyscore(index, last, first, start=0, num=page)
            else:
                scored = client.redis.zrangebyscore(index, first, last, start=0, num=page)
            numbers = [int(number) for number in cast(list[bytes], scored)]
            with client.redis.pipeline(transaction=False) as pipe:
                for number in numbers:
                    pipe.xrange(log, f"{number}-0", f"{number}-0")
                found = cast(list[_Records], pipe.execute())
        return numbers, [fields for records in found for _, fields in records]
