"""``track_outcomes(app)``: the workers of an app tell the store what became of each occurrence.

One line in the module that defines the celery app turns it on for every worker of that app::

    from celery_stembeat import track_outcomes

    track_outcomes(app)

It connects celery's task signals. Only messages stembeat sent (those carrying the
``stembeat_entry`` and ``stembeat_scheduled_for`` headers) are reported; other tasks cost a
header lookup. Reports go through an :class:`~celery_stembeat.outcome_buffer.OutcomeBuffer`,
so a task never waits for the store. A message of ``stembeat run`` also carries
``stembeat_manual``: its reports close that manual run's record and leave the entry's run
state alone.

What is reported, and from where:

- ``started`` when the task starts (``task_prerun``);
- ``success``, ``failure``, ``retry`` or ``rejected`` when it returns (``task_postrun``'s
  state), with the runtime and, for a failure or retry, ``Type: message`` of the exception; a
  soft time limit (``SoftTimeLimitExceeded``) is reported as ``timeout``;
- ``timeout`` when the worker kills the task at its hard time limit (``task_failure`` with
  ``TimeLimitExceeded``, sent by the worker's main process; celery 5.5 and later send it);
- ``revoked`` when a revoked or expired message is discarded, or a running task terminated
  (``task_revoked``);
- ``rejected`` when the worker rejects a message it cannot run, e.g. an unregistered task
  (``task_rejected``).
"""

from __future__ import annotations

import threading
import time
import weakref
from collections import OrderedDict
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from typing import Any, NamedTuple

from celery import signals
from celery.exceptions import SoftTimeLimitExceeded, TimeLimitExceeded

from celery_stembeat.config import store_url
from celery_stembeat.limits import MAX_ID_LENGTH, error_text
from celery_stembeat.outcome_buffer import OutcomeBuffer
from celery_stembeat.specs import SpecError, parse_instant
from celery_stembeat.stores import Store, TaskReport, open_store
from celery_stembeat.stores.base import (
    FAILURE,
    REJECTED,
    RETRY,
    REVOKED,
    STARTED,
    SUCCESS,
    TIMEOUT,
)

ENTRY_HEADER = "stembeat_entry"
SCHEDULED_HEADER = "stembeat_scheduled_for"
MANUAL_HEADER = "stembeat_manual"
#: Occurrences the main process remembers by task id, for reports it makes itself.
REMEMBERED = 10_000

#: celery's end states (``task_postrun``) and what each reports; IGNORED reports nothing.
_POSTRUN_OUTCOMES = {"SUCCESS": SUCCESS, "FAILURE": FAILURE, "RETRY": RETRY, "REJECTED": REJECTED}


class Occurrence(NamedTuple):
    """What a stembeat message is about: an entry's occurrence, or a manual run of it."""

    entry_id: str
    scheduled_for: datetime
    manual: bool = False


_TRACKERS: weakref.WeakKeyDictionary[Any, OutcomeTracker] = weakref.WeakKeyDictionary()


def occurrence(headers: Mapping[str, Any] | None, request: object = None) -> Occurrence | None:
    """The (entry id, scheduled time) a stembeat message carries, from its ``headers`` or,
    as celery's task context has them, ``request``'s attributes; ``None`` for other messages."""
    entry = when = manual = None
    if headers:
        entry, when = headers.get(ENTRY_HEADER), headers.get(SCHEDULED_HEADER)
        manual = headers.get(MANUAL_HEADER)
    if entry is None and request is not None:
        entry = getattr(request, ENTRY_HEADER, None)
        when = getattr(request, SCHEDULED_HEADER, None)
        manual = getattr(request, MANUAL_HEADER, None)
    if not isinstance(entry, str) or not isinstance(when, str) or len(entry) > MAX_ID_LENGTH:
        return None
    try:
        return Occurrence(entry, parse_instant(when, SCHEDULED_HEADER), manual is True)
    except SpecError:
        return None


def _context_occurrence(request: Any) -> Occurrence | None:
    """:func:`occurrence` of a task's request context (``task.request`` or a worker's)."""
    headers = getattr(request, "headers", None)
    return occurrence(headers if isinstance(headers, Mapping) else None, request)


def _utc_now() -> datetime:
    return datetime.now(timezone.utc)


class OutcomeTracker:
    """The signal handlers of one app, and the buffer their reports go to."""

    def __init__(
        self,
        app: Any,
        buffer: OutcomeBuffer,
        *,
        clock: Callable[[], datetime] = _utc_now,
        timer: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.app = app
        self.buffer = buffer
        self._clock = clock
        self._timer = timer
        self._starts: dict[str, tuple[datetime, float]] = {}
        self._remembered: OrderedDict[str, tuple[Occurrence, str | None]] = OrderedDict()
        self._lock = threading.Lock()

    # -- wiring ----------------------------------------------------------------------------------

    def connect(self) -> None:
        """Connect the handlers to celery's signals (strong references: they live as long as
        the process)."""
        signals.task_received.connect(self._on_received, weak=False)
        signals.task_prerun.connect(self._on_prerun, weak=False)
        signals.task_postrun.connect(self._on_postrun, weak=False)
        signals.task_failure.connect(self._on_failure, weak=False)
        signals.task_revoked.connect(self._on_revoked, weak=False)
        signals.task_rejected.connect(self._on_rejected, weak=False)
        signals.worker_process_shutdown.connect(self._on_shutdown, weak=False)
        signals.worker_shutdown.connect(self._on_shutdown, weak=False)

    def disconnect(self) -> None:
        """Undo :meth:`connect`."""
        signals.task_received.disconnect(self._on_received)
        signals.task_prerun.disconnect(self._on_prerun)
        signals.task_postrun.disconnect(self._on_postrun)
        signals.task_failure.disconnect(self._on_failure)
        signals.task_revoked.disconnect(self._on_revoked)
        signals.task_rejected.disconnect(self._on_rejected)
        signals.worker_process_shutdown.disconnect(self._on_shutdown)
        signals.worker_shutdown.disconnect(self._on_shutdown)

    def _ours(self, task: Any) -> bool:
        return getattr(task, "app", None) is self.app

    def _report(
        self,
        found: Occurrence,
        outcome: str,
        at: datetime,
        *,
        started_at: datetime | None = None,
        runtime: float | None = None,
        error: str | None = None,
        worker: str | None = None,
    ) -> None:
        self.buffer.add(
            TaskReport(
                entry_id=found.entry_id,
                scheduled_for=found.scheduled_for,
                manual=found.manual,
                outcome=outcome,
                at=at,
                started_at=started_at,
                runtime=runtime,
                error=error,
                worker=worker,
            )
        )

    # -- handlers --------------------------------------------------------------------------------

    def _on_received(self, sender: Any = None, request: Any = None, **_: Any) -> None:
        """Remember a stembeat message's occurrence by task id, for a hard time limit (the
        main process reports it, and its signal carries no headers)."""
        task = getattr(request, "task", None)
        if request is None or not self._ours(task):
            return
        found = occurrence(getattr(request, "request_dict", None))
        if found is None:
            return
        with self._lock:
            self._remembered[request.id] = (found, getattr(request, "hostname", None))
            while len(self._remembered) > REMEMBERED:
                self._remembered.popitem(last=False)

    def _on_prerun(self, sender: Any = None, task_id: str = "", task: Any = None, **_: Any) -> None:
        if not self._ours(task):
            return
        request = task.request
        found = _context_occurrence(request)
        if found is None:
            return
        now = self._clock()
        with self._lock:
            self._starts[task_id] = (now, self._timer())
        self._report(found, STARTED, now, worker=getattr(request, "hostname", None))

    def _on_postrun(
        self,
        sender: Any = None,
        task_id: str = "",
        task: Any = None,
        retval: Any = None,
        state: str | None = None,
        **_: Any,
    ) -> None:
        if not self._ours(task):
            return
        with self._lock:
            start = self._starts.pop(task_id, None)
        outcome = _POSTRUN_OUTCOMES.get(state or "")
        request = task.request
        found = _context_occurrence(request)
        if outcome is None or found is None:
            return
        error: str | None = None
        if outcome == RETRY:
            reason = getattr(retval, "exc", None) or retval
            error = error_text(reason) if isinstance(reason, BaseException) else None
        elif outcome != SUCCESS and isinstance(retval, BaseException):
            error = error_text(retval)
            if isinstance(retval, SoftTimeLimitExceeded):
                outcome = TIMEOUT
        now = self._clock()
        started_at, runtime = (
            (None, None) if start is None else (start[0], self._timer() - start[1])
        )
        self._report(
            found,
            outcome,
            now,
            started_at=started_at,
            runtime=runtime,
            error=error,
            worker=getattr(request, "hostname", None),
        )

    def _on_failure(
        self, sender: Any = None, task_id: str = "", exception: Any = None, **_: Any
    ) -> None:
        """A hard time limit: the worker's main process killed the task."""
        if not isinstance(exception, TimeLimitExceeded) or not self._ours(sender):
            return
        with self._lock:
            remembered = self._remembered.pop(task_id, None)
        if remembered is not None:
            found, worker = remembered
            self._report(found, TIMEOUT, self._clock(), error=error_text(exception), worker=worker)

    def _on_revoked(
        self,
        sender: Any = None,
        request: Any = None,
        terminated: bool = False,
        signum: Any = None,
        expired: bool = False,
        **_: Any,
    ) -> None:
        if not self._ours(sender):
            return
        found = _context_occurrence(request)
        if found is None:
            return
        reason = "expired" if expired else f"terminated ({signum})" if terminated else "revoked"
        self._report(
            found, REVOKED, self._clock(), error=reason, worker=getattr(request, "hostname", None)
        )

    def _on_rejected(self, sender: Any = None, message: Any = None, **_: Any) -> None:
        found = occurrence(getattr(message, "headers", None))
        if found is not None and getattr(sender, "app", None) is self.app:
            self._report(found, REJECTED, self._clock(), error="rejected by the worker")

    def _on_shutdown(self, **_: Any) -> None:
        self.buffer.flush(timeout=5.0)


def track_outcomes(
    app: Any,
    *,
    url: str | None = None,
    store: Callable[[], Store] | None = None,
    **buffer_options: Any,
) -> OutcomeTracker:
    """Report what becomes of each occurrence stembeat sends to ``app``'s workers.

    The store is ``url``, else the one ``app``'s beat uses (``stembeat_url``, else
    ``$STEMBEAT_URL``, else the embedded SQLite file); ``store`` may instead open it.
    ``buffer_options`` go to :class:`~celery_stembeat.outcome_buffer.OutcomeBuffer`
    (``interval``, ``batch_size``, ``capacity``, ``unmatched_for``). Calling it again for the
    same app returns the tracker already connected.
    """
    tracker = _TRACKERS.get(app)
    if tracker is not None:
        return tracker
    opener = store or (lambda: open_store(url or store_url(app)))
    tracker = OutcomeTracker(app, OutcomeBuffer(opener, **buffer_options))
    tracker.connect()
    _TRACKERS[app] = tracker
    return tracker
