"""Beat's first contact with its store: open it and sync ``beat_schedule``, retrying while the
store cannot be reached (a store that comes up after beat, as under docker compose).

The retry is the engine's outage rule: logged once (again only if the error changes), a pause
of 0.5 s doubling up to ``stembeat_max_backoff``, one line when the store answers. What is
not an outage still stops beat at start: a store URL or option it cannot use, a schema newer
than this release, a bad ``beat_schedule`` item. Time comes from an injected clock; the caller
waits the returned pause (celery's beat loop sleeps what ``tick`` returns).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from celery_stembeat.engine import Clock, utc_now
from celery_stembeat.stores import Store, StoreError, mask_url, open_store

logger = logging.getLogger(__name__)

#: The first pause after a failed attempt (s); it doubles up to the caller's ``max_backoff``.
FIRST_PAUSE = 0.5


def unreachable(exc: BaseException) -> bool:
    """Whether ``exc`` says the store cannot be reached now (a server down, a refused login, a
    database not created yet), as opposed to a setting that can never work.

    Stores raise :class:`StoreError` from the driver's error for what the server or the
    connection said, and a :class:`StoreError` of their own (no cause) for a URL, an option or
    a schema they cannot use.
    """
    if isinstance(exc, StoreError):
        return exc.__cause__ is not None
    return isinstance(exc, OSError)


class StoreStart:
    """Opens the store at ``url`` and runs ``sync`` on it, until both succeed once.

    ``validate`` checks what ``sync`` will write (the ``beat_schedule`` items) and raises for a
    bad one. The sync validates what it writes anyway; ``validate`` runs once the store turns
    out to be unreachable, so that a bad item stops beat at start rather than after the outage
    (a store that answers keeps the sync's own, cheaper, validation of changed items only).
    """

    def __init__(
        self,
        url: str,
        sync: Callable[[Store], object],
        *,
        validate: Callable[[], object] = lambda: None,
        max_backoff: float = 30.0,
        clock: Clock = utc_now,
        opener: Callable[[str], Store] = open_store,
    ) -> None:
        self.url = url
        self.store: Store | None = None
        self._sync = sync
        self._validate = validate
        self._max_backoff = max_backoff
        self._clock = clock
        self._open = opener
        self._since: datetime | None = None
        self._pause = 0.0
        self._logged: str | None = None
        self._validated = False
        self.done = False

    def attempt(self) -> float:
        """Try once: 0 once the store is open and synced, else the seconds to wait before the
        next try. Raises what is not an outage (see :func:`unreachable`)."""
        if self.done:
            return 0.0
        error: Exception | None = None
        try:
            if self.store is None:
                self.store = self._open(self.url)
            self._sync(self.store)
        except Exception as exc:
            if not unreachable(exc):
                self.close()
                raise
            error = exc
        if error is not None:
            return self._failed(error)
        self.done = True
        if self._since is not None:
            logger.warning(
                "stembeat: store %s reachable after %.1f s",
                mask_url(self.url),
                (self._clock() - self._since).total_seconds(),
            )
        return 0.0

    def _failed(self, exc: Exception) -> float:
        if not self._validated:
            try:
                self._validate()
            except BaseException:
                self.close()
                raise
            self._validated = True
        message = str(exc)
        if self._since is None:
            self._since = self._clock()
        if message != self._logged:
            logger.error(
                "stembeat: store %s %s, retrying: %s",
                mask_url(self.url),
                "unreachable at start" if self._logged is None else "still unreachable",
                message,
            )
            self._logged = message
        else:
            logger.debug("stembeat: store still unreachable: %s", message)
        self._pause = min(max(self._pause * 2, FIRST_PAUSE), self._max_backoff)
        return self._pause

    def close(self) -> None:
        """Close the store if it was opened but never synced (a synced one is the caller's)."""
        if self.done:
            return
        store, self.store = self.store, None
        if store is not None:
            store.close()
