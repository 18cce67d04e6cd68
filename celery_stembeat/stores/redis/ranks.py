"""The Redis store's ranked reads (:meth:`~celery_stembeat.stores.base.Store.ranked`): a page of
the entries by last run, runs or mean drift from the prefix's rank sets (see :mod:`.keys`),
then, past a set's end, the entries without the value in id order.

The page of a set is one script call (a ``ZRANGE`` by rank, then the entries' hashes), so its
cost grows with ``offset``'s logarithm and ``limit``, not with the store. The entries past a
set's end are found along ``{P}:ids``, skipping the set's members, at most :data:`WALK` ids
per script call, from the end nearer the page (backwards from the last id for the second half
of them): a page looks at the ids between it and that end, until the last member is behind,
from where the rest are read by rank at once.

A prefix written before the rank sets existed has none: the first read builds them from the
hashes, :data:`INDEX_BATCH` entries per script call, then marks the prefix (``{P}:layout``).
"""

from __future__ import annotations

import json
from typing import Any, cast

from celery_stembeat.stores.redis.client import Client

#: Ids per index_ranks script call.
INDEX_BATCH = 1000
#: Ids an unranked script call looks at, at most: about 10 ms of the server's time.
WALK = 5000
#: Counts from which a score (a double) may be rounded: a page that reaches one is sorted in
#: Python instead (see :meth:`Ranks.page`).
_ROUNDED = {"runs": str(2**53)}


class Ranks:
    """The ranked reads of one prefix, through ``client``."""

    def __init__(self, client: Client) -> None:
        self._client = client
        self._keys = client.keys

    def page(self, by: str, limit: int, offset: int) -> list[list[Any]] | None:
        """The rows of the entries ranked ``offset`` to ``offset + limit - 1`` by ``by`` (one
        of :data:`~celery_stembeat.ordering.RANKINGS`, arguments checked), or ``None`` where
        the set's scores cannot give the order: a count of 2**53 or more on the page, which a
        double may round, or rank sets that a concurrent drop left unfinished."""
        ranked = self._keys.ranks[by]
        keys = [ranked, self._keys.layout, self._keys.ids]
        args = [str(limit), str(offset), self._keys.entry_prefix, _ROUNDED.get(by, "")]
        with self._client.errors():
            reply = self._client.run("ranked", keys, args)
        if reply is None:
            self.index()
            with self._client.errors():
                reply = self._client.run("ranked", keys, args)
        if reply is None or reply[3]:
            return None
        text, members, size, _, count = cast(tuple[bytes, int, int, int, int], reply)
        rows = cast(list[list[Any]], json.loads(text))
        if members < limit:
            rows += self._unranked(ranked, max(offset - size, 0), limit - members, count - size)
        return rows

    def _unranked(self, ranked: str, skip: int, wanted: int, outside: int) -> list[list[Any]]:
        """The rows of ``wanted`` entries outside ``ranked`` (``outside`` of them), in id
        order, after the first ``skip`` of them."""
        backwards = skip > outside // 2
        if backwards:  # the same ids, counted from the last
            wanted = min(wanted, outside - skip)
            skip = outside - skip - wanted
        rows: list[list[Any]] = []
        at, passed = 0, 0
        while at >= 0 and wanted > 0:
            args = [str(at), str(skip), str(wanted), str(passed), str(WALK)]
            with self._client.errors():
                reply = self._client.run(
                    "unranked",
                    [self._keys.ids, ranked],
                    [*args, self._keys.entry_prefix, "1" if backwards else "0"],
                )
            text, at, skip, wanted, passed = cast(tuple[bytes, int, int, int, int], reply)
            rows += json.loads(text)
        return rows[::-1] if backwards else rows

    def index(self) -> None:
        """Put every entry into the rank sets it has values for, :data:`INDEX_BATCH` at a
        time, then mark the prefix: what a prefix written before the sets existed needs once.
        Safe to run in several processes at once, and again."""
        keys = [self._keys.ids, *self._keys.rank_keys, self._keys.layout]
        start = b"-"
        while True:
            args = [start, str(INDEX_BATCH).encode(), self._keys.entry_prefix.encode()]
            with self._client.errors():
                last = self._client.run("index_ranks", keys, args)
            if last is None:
                return
            start = b"(" + cast(bytes, last)
