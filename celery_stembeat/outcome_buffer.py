"""Workers' reports on their way to the store, off the task's path.

A task's signal handler only appends a :class:`~celery_stembeat.stores.TaskReport` to an
in-memory queue; a daemon thread of the buffer's own sends them in batches. The worker never
waits for the store and never fails because of it: while the store is unreachable reports are
kept up to ``capacity`` (the oldest are dropped beyond it, counted, with one log line per
outage), and a report whose run record the beat has not written yet is sent again for up to
``unmatched_for`` seconds.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from celery_stembeat.stores import Store, TaskReport

logger = logging.getLogger(__name__)

_LIVE: weakref.WeakSet[OutcomeBuffer] = weakref.WeakSet()


def _after_fork() -> None:
    for buffer in list(_LIVE):
        buffer._reset()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork)


@dataclass
class BufferCounts:
    """What a buffer has done so far."""

    #: Reports the store took (their records found).
    recorded: int = 0
    #: Reports dropped because the buffer was full.
    dropped: int = 0
    #: Reports dropped because their run record never appeared.
    unmatched: int = 0
    #: Batches the store refused or could not be reached for.
    failed_sends: int = 0


@dataclass
class _Queued:
    report: TaskReport
    #: When the store first had no record for it (``None``: not tried yet, or found).
    first_miss: float | None = None
    #: Not to be sent before this (the buffer's clock).
    next_try: float = 0.0


class OutcomeBuffer:
    """Collects reports and sends them to the store ``open_store`` opens, in batches of
    ``batch_size`` every ``interval`` seconds (at once when a batch is full)."""

    def __init__(
        self,
        open_store: Callable[[], Store],
        *,
        interval: float = 0.5,
        batch_size: int = 500,
        capacity: int = 10_000,
        unmatched_for: float = 60.0,
        max_backoff: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._open_store = open_store
        self.interval = interval
        self.batch_size = batch_size
        self.capacity = capacity
        self.unmatched_for = unmatched_for
        self.max_backoff = max_backoff
        self._clock = clock
        self.counts = BufferCounts()
        self._reset()
        _LIVE.add(self)

    def _reset(self) -> None:
        """Start empty, with no thread and no store (also in a forked child, whose copy of
        the parent's thread does not run and whose connections are the parent's)."""
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._pending: deque[_Queued] = deque()
        self._thread: threading.Thread | None = None
        self._store: Store | None = None
        self._down = False
        self._full = False
        self._backoff = 0.0
        self._sending = False
        self._closed = False

    def add(self, report: TaskReport) -> None:
        """Queue ``report``; never blocks on the store."""
        with self._lock:
            self._pending.append(_Queued(report))
            self._bound()
            if self._thread is None and not self._closed:
                self._thread = threading.Thread(
                    target=self._run, name="stembeat-outcomes", daemon=True
                )
                self._thread.start()
            if len(self._pending) >= self.batch_size:
                self._wake.set()

    def _bound(self) -> None:
        """Drop the oldest reports beyond ``capacity``; one log line until it drains."""
        while len(self._pending) > self.capacity:
            self._pending.popleft()
            self.counts.dropped += 1
            if not self._full:
                self._full = True
                logger.warning(
                    "stembeat: outcome buffer full (%d reports); dropping the oldest",
                    self.capacity,
                )

    def pending(self) -> int:
        """Reports not yet taken by the store (a batch being sent included)."""
        with self._lock:
            return len(self._pending) + (1 if self._sending else 0)

    def flush(self, timeout: float) -> bool:
        """Send what is queued, from the calling thread, for at most ``timeout`` s; whether
        everything was taken."""
        deadline = self._clock() + timeout
        while True:
            self.send_ready()
            with self._lock:
                if not self._pending and not self._sending:
                    return True
                earliest = min((item.next_try for item in self._pending), default=0.0)
                if self._sending:
                    earliest = self._clock() + 0.01
            if earliest > deadline:
                return False
            time.sleep(max(0.0, earliest - self._clock()))

    def close(self, timeout: float = 5.0) -> None:
        """Flush for up to ``timeout`` s, stop the thread and close the store."""
        self.flush(timeout)
        self._closed = True
        self._wake.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
        store, self._store = self._store, None
        if store is not None:
            store.close()

    def send_ready(self) -> None:
        """Send every report that is due, batch by batch, until one fails or none is left
        (what the buffer's thread does each time it wakes)."""
        while not self._closed and self._send_once():
            pass

    def _run(self) -> None:
        while not self._closed:
            self._wake.wait(self.interval)
            self._wake.clear()
            self.send_ready()

    def _take(self) -> list[_Queued]:
        """Up to a batch of the reports due to be sent, oldest first."""
        with self._lock:
            if self._sending:
                return []
            now = self._clock()
            taken: list[_Queued] = []
            waiting: list[_Queued] = []
            while self._pending and len(taken) < self.batch_size:
                item = self._pending.popleft()
                (taken if item.next_try <= now else waiting).append(item)
            self._pending.extendleft(reversed(waiting))
            self._sending = bool(taken)
            return taken

    def _send_once(self) -> bool:
        """Send one batch; whether one was taken by the store."""
        batch = self._take()
        if not batch:
            return False
        try:
            store = self._store or self._open_store()
            self._store = store
            found = store.record_outcomes([item.report for item in batch])
        except Exception as exc:  # the worker must go on whatever the store does
            self._failed(batch, exc)
            return False
        self._recorded(batch, found)
        return True

    def _failed(self, batch: list[_Queued], exc: Exception) -> None:
        self.counts.failed_sends += 1
        if not self._down:
            self._down = True
            reason = str(exc).splitlines()[0] if str(exc) else ""
            logger.warning(
                "stembeat: cannot record task outcomes (%s: %s); keeping up to %d reports",
                type(exc).__name__,
                reason,
                self.capacity,
            )
        self._backoff = min(self.max_backoff, max(self.interval, self._backoff * 2))
        retry_at = self._clock() + self._backoff
        for item in batch:
            item.next_try = retry_at
        with self._lock:
            self._sending = False
            self._pending.extendleft(reversed(batch))
            self._bound()

    def _recorded(self, batch: list[_Queued], found: list[bool]) -> None:
        if self._down:
            self._down = False
            logger.warning(
                "stembeat: recording task outcomes again (%d dropped so far)", self.counts.dropped
            )
        self._backoff = 0.0
        now = self._clock()
        retry: list[_Queued] = []
        for item, matched in zip(batch, found, strict=True):
            if matched:
                self.counts.recorded += 1
            elif item.first_miss is not None and now - item.first_miss >= self.unmatched_for:
                self.counts.unmatched += 1
            else:
                item.first_miss = now if item.first_miss is None else item.first_miss
                item.next_try = now + self.interval
                retry.append(item)
        with self._lock:
            self._sending = False
            self._full = self._full and len(self._pending) >= self.capacity
            self._pending.extendleft(reversed(retry))
