"""A beat's heartbeat: it records itself in the store every few seconds, so that operators
(``stembeat beats``, ``observe --check``) see which beats are alive and how they fare."""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Callable
from datetime import datetime

from celery_stembeat import __version__
from celery_stembeat.stores import BeatInfo, Store

logger = logging.getLogger(__name__)

#: Seconds between two heartbeats of a beat.
HEARTBEAT_INTERVAL = 10.0


class Heartbeat:
    """Records ``owner`` in ``store`` at most every ``interval`` seconds (the monotonic
    ``elapsed`` clock), with the time ``now`` gives and the store clock's ``offset``."""

    def __init__(
        self,
        store: Store,
        owner: str,
        now: Callable[[], datetime],
        *,
        offset: Callable[[], float | None] = lambda: None,
        interval: float = HEARTBEAT_INTERVAL,
        elapsed: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self.owner = owner
        self.interval = interval
        self._now = now
        self._offset = offset
        self._elapsed = elapsed
        self._started_at = now()
        self._next = float("-inf")
        #: Seconds the last heartbeat write took (``None`` before one).
        self.latency: float | None = None
        self._failing = False

    def remaining(self) -> float:
        """Seconds until the next heartbeat is due (0 when it is)."""
        return max(0.0, self._next - self._elapsed())

    def beat(self) -> bool:
        """Record this beat if a heartbeat is due; whether one was recorded. A store error is
        logged once per outage and never raised: the beat's own work goes on."""
        start = self._elapsed()
        if start < self._next:
            return False
        self._next = start + self.interval
        info = BeatInfo(
            owner=self.owner,
            host=socket.gethostname(),
            pid=os.getpid(),
            version=__version__,
            started_at=self._started_at,
            last_pass_at=self._now(),
            store_latency=self.latency,
            clock_offset=self._offset(),
        )
        try:
            self.store.record_beat(info)
        except Exception as exc:  # an outage: the engine reports it; keep beating
            if not self._failing:
                logger.warning("stembeat: cannot record this beat's heartbeat: %s", exc)
            self._failing = True
            return False
        self._failing = False
        self.latency = self._elapsed() - start
        return True

    def stop(self) -> None:
        """Remove this beat from the store (it is stopping); errors are only logged."""
        try:
            self.store.remove_beat(self.owner)
        except Exception as exc:
            logger.warning("stembeat: cannot remove this beat's heartbeat: %s", exc)
