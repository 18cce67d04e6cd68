"""The Redis store's count of runs held, ``{P}:history``: what
:meth:`~celery_stembeat.stores.base.Store.history_size` reads, and the one-off count that makes
it exact on a prefix written before it existed.

The scripts that append, trim or delete runs move the count by as many, in the same step. A
prefix written by an older version held runs before any script counted them, so its count
reads low, or below zero once such runs are trimmed or deleted. ``{P}:layout`` tells them
apart: a new prefix starts at ``2`` (its first entry sets the marker and a count of 0), one
written before the count is below it (see ``lua/helpers.lua``).

On such a prefix the count is made exact by a scan over ``{P}:ids``, :data:`COUNT_BATCH` ids
per script call (``lua/count_history.lua``), so that no call blocks the server for long on a
million entries. Each call adds the runs of the ids it passes (``XLEN`` of their streams) and
keeps the last of them in ``{P}:history:scan``, in one step; its first call sets the count to
its ids' runs instead, dropping what was counted before. Meanwhile every script that moves the
count for an entry moves it only when the scan has passed the entry's id, and leaves it to the
scan otherwise: so after each call the count holds exactly the runs of the ids up to the
scan's, whatever beats complete, delete or create around it, and once the scan passes the last
id it holds every run and the marker says so (``2``): from then on every script counts.

A scan, not a per-entry mark, because the count is not idempotent: adding an entry's runs
twice, or missing them, is what exactness forbids, and an entry must be counted once by the
scan or by the scripts, never by both. A cursor decides that for every id with one key and a
byte comparison; marks would cost a set of up to a million ids while the count is built, and
a pass to remove them. Any number of processes may run the scan at once: each call takes the
next ids from the cursor it reads, so calls from several processes only share the work.

The scan needs the rank sets built first (the layout's versions follow each other): on a
prefix without them it runs :meth:`.Ranks.index` first. It runs from the first
:meth:`HistoryCount.runs` that finds the marker below ``2``; a prefix without entries answers
0 without writing.
"""

from __future__ import annotations

from celery_stembeat.stores.redis.client import Client
from celery_stembeat.stores.redis.ranks import Ranks

#: Ids per count_history script call.
COUNT_BATCH = 1000
#: count_history's replies that are not the count: more ids to scan, the rank sets first.
_MORE = -1
_UNRANKED = -2


class HistoryCount:
    """The count of runs held of one prefix, through ``client``; ``ranks`` builds the rank
    sets where the count needs them first."""

    def __init__(self, client: Client, ranks: Ranks) -> None:
        self._client = client
        self._keys = client.keys
        self._ranks = ranks

    def runs(self) -> int:
        """The runs every entry's history holds together: one script call once the count is
        exact, after the one-off scan on a prefix written before it (see the module)."""
        while True:
            held = self.step()
            if held is not None:
                return held

    def step(self) -> int | None:
        """One script call: the count, once exact; else ``None`` after counting the runs of
        the next :data:`COUNT_BATCH` ids (or building the rank sets)."""
        keys = [self._keys.ids, *self._keys.history_keys]
        with self._client.errors():
            reply = int(
                self._client.run("count_history", keys, [str(COUNT_BATCH), self._keys.runs_prefix])
            )
        if reply == _UNRANKED:
            self._ranks.index()
        return None if reply in (_MORE, _UNRANKED) else reply
