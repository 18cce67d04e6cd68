"""One clock for every beat on a store: the store server's time, carried forward between
readings by this host's monotonic clock.

Which occurrence is due, each claim's lease and every next run a beat writes are decided by
this clock, so a host whose clock is wrong (an hour ahead, or set back while beat runs) sends
nothing early and moves no next run: its beat keeps the store's time. A store without a clock
of its own (SQLite, memory) lives on the beat's host, whose clock is then the one clock.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone

from celery_stembeat.stores import Store

logger = logging.getLogger(__name__)

#: How often the store's time is read again once known (seconds).
RESYNC_INTERVAL = 30.0
#: How soon a failed or too uncertain reading is tried again (seconds).
RETRY_INTERVAL = 1.0
#: Round trips per reading; the shortest one is used.
TRIPS = 3


def elapsed_seconds() -> float:
    """Seconds on a clock that is never set and keeps counting while the process is stopped
    or the host suspended (``CLOCK_BOOTTIME`` on Linux, else the monotonic clock)."""
    boottime = getattr(time, "CLOCK_BOOTTIME", None)
    if boottime is not None:
        return time.clock_gettime(boottime)
    return time.monotonic()


def _local_now() -> datetime:
    return datetime.now(timezone.utc)


class StoreClock:
    """A clock (call it for the current instant, aware UTC) that keeps the store's time.

    A reading takes :data:`TRIPS` round trips and keeps the shortest. Where this host's clock
    agrees with the store's answer to within that trip (the usual case with NTP), the host's
    reading is kept, as the finer one; otherwise the store's answer is taken as its time at the
    *end* of the trip, so that this clock may lag the store's by up to the trip but never runs
    ahead of it. A reading whose shortest trip exceeds ``max_skew`` is not used. Calls never
    raise: while the store cannot be read, the last reading is carried forward (the host's
    clock until there is one).
    ``offset`` is the store's time minus this host's, in seconds, as last measured; an offset
    beyond ``max_skew`` is logged once, and again when it is back within.
    """

    def __init__(
        self,
        store: Store,
        *,
        max_skew: float,
        resync: float = RESYNC_INTERVAL,
        local: Callable[[], datetime] = _local_now,
        elapsed: Callable[[], float] = elapsed_seconds,
    ) -> None:
        self.store = store
        self.max_skew = max_skew
        self.resync = resync
        self.local = local
        self.elapsed = elapsed
        #: Store time minus host time (s) at the last reading; ``None`` before one.
        self.offset: float | None = None
        self._base: datetime | None = None
        self._base_elapsed = 0.0
        self._next_reading = float("-inf")
        self._skewed = False

    def __call__(self) -> datetime:
        now = self.elapsed()
        if now >= self._next_reading:
            self._read()
            now = self.elapsed()
        if self._base is None:
            return self.local()
        return self._base + timedelta(seconds=now - self._base_elapsed)

    def _read(self) -> None:
        best: tuple[float, float, datetime, datetime, datetime] | None = None
        for _ in range(TRIPS):
            start, before = self.elapsed(), self.local()
            try:
                server = self.store.time()
            except Exception as exc:
                logger.debug("stembeat: could not read the store's time: %s", exc)
                self._next_reading = self.elapsed() + RETRY_INTERVAL
                return
            after, end = self.local(), self.elapsed()
            if server is None:  # no clock of its own: the host's clock is the store's
                self._next_reading = float("inf")
                self.offset = 0.0
                return
            if best is None or end - start < best[1] - best[0]:
                best = (start, end, before, after, server)
        assert best is not None
        start, end, before, after, server = best
        if end - start > self.max_skew:
            logger.debug("stembeat: the store's time took %.3f s to read; not used", end - start)
            self._next_reading = end + RETRY_INTERVAL
            return
        # The store read its clock during the trip. A host clock that read ``server`` within
        # the trip agrees with it as closely as can be measured, and is the finer of the two;
        # otherwise the store's answer counts as its time at the trip's end (never ahead).
        agrees = before <= server <= after
        self._base, self._base_elapsed = (after if agrees else server), end
        self.offset = (server - before).total_seconds() - (end - start) / 2
        self._next_reading = self.elapsed() + self.resync
        self._report_skew(self.offset)

    def _report_skew(self, offset: float) -> None:
        skewed = abs(offset) > self.max_skew
        if skewed and not self._skewed:
            logger.warning(
                "stembeat: this host's clock is %.3f s %s the store's (stembeat_max_skew %g s); "
                "beat keeps the store's time",
                abs(offset),
                "behind" if offset > 0 else "ahead of",
                self.max_skew,
            )
        elif self._skewed and not skewed:
            logger.warning(
                "stembeat: this host's clock is within %g s of the store's again (%.3f s)",
                self.max_skew,
                offset,
            )
        self._skewed = skewed
