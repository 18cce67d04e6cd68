"""Alerts: health changes turned into incidents, each delivered once across every beat.

An :class:`AlertWatch` surveys the store (:func:`~celery_stembeat.survey.survey`) every few
seconds and moves one incident per subject to the subject's state:

- ``entry:<id>``: the entry's health when it is ``failing``, ``missed``, ``stuck`` or
  ``late``; back to ``ok`` (resolved) once it is healthy again, disabled or removed;
- ``beat:<owner>``: ``silent`` while a beat the store knows has not been heard from within
  ``beat_silence`` (resolved when it is heard again, or stops and removes itself);
- ``beats``: ``none`` while no beat at all is live.

:meth:`~celery_stembeat.stores.base.Store.transition_incident` gives each change to exactly
one of the watches that see it, and that one sends the alert, so several beats on one store
send one alert per change. The store being out of reach is the exception: no store can
decide who reports that, so each watch sends its own ``store_unreachable`` once the store has
failed it for ``store_alert_after`` seconds, and a ``resolved`` when it answers again.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta

from celery_stembeat.engine import Clock, utc_now
from celery_stembeat.health import OK, Health, HealthRules
from celery_stembeat.specs import format_duration
from celery_stembeat.stores import Incident, Pause, Store
from celery_stembeat.survey import Survey, healths, survey
from celery_stembeat.webhooks import FIRING, RESOLVED, Alert, WebhookSender

logger = logging.getLogger(__name__)

_INSTANT = timedelta(milliseconds=1)
#: Seconds between two surveys of a watch.
ALERT_INTERVAL = 2.0
#: Seconds the store may fail a watch before it alerts that the store is unreachable.
STORE_ALERT_AFTER = 60.0
ENTRY = "entry:"
BEAT = "beat:"
BEATS = "beats"
SILENT = "silent"
NONE_LIVE = "none"


class AlertWatch:
    """Surveys ``store`` and hands each incident change it wins to ``sender``.

    ``owner`` is the beat the watch runs in (named in the alerts it sends; its own silence is
    never its news). Time comes from ``clock``; the store outage is measured on ``elapsed``.
    """

    def __init__(
        self,
        store: Store,
        sender: WebhookSender,
        rules: HealthRules,
        owner: str | None = None,
        *,
        clock: Clock = utc_now,
        elapsed: Callable[[], float] = time.monotonic,
        interval: float = ALERT_INTERVAL,
        store_alert_after: float = STORE_ALERT_AFTER,
    ) -> None:
        self.store = store
        self.sender = sender
        self.rules = rules
        self.owner = owner
        self.clock = clock
        self.elapsed = elapsed
        self.interval = interval
        self.store_alert_after = store_alert_after
        self._failing_since: float | None = None
        self._store_alerted = False
        #: The pause the last survey found holding, and one seen ending (see :meth:`check`).
        self._held: Pause | None = None
        self._ended: Pause | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- one round -----------------------------------------------------------------------------

    def check(self) -> list[Alert]:
        """Survey once and send the alerts this watch won; those alerts. Never raises."""
        now = self.clock()
        try:
            resumed = self._resumed(now)
            seen = survey(self.store, now, self.rules, resumed=resumed)
            self._note_pause(seen, resumed)
            incidents = {incident.key: incident for incident in self.store.incidents()}
            alerts = self._store_back(now)
            alerts += self._entries(seen, incidents, now)
            alerts += self._beats(seen, incidents, now)
        except Exception as exc:
            return self._store_failed(exc, now)
        for alert in alerts:
            self.sender.send(alert)
        return alerts

    def _resumed(self, now: datetime) -> Pause | None:
        """The pause to count the grace from should the store hold none (``resume`` clears
        it): the one the last survey found holding, as ending now, or one seen ending within
        the grace. Beats take the backlog a pause leaves within a pass or two; an entry is
        ``missed`` only if still unsent after the grace, so a resume sends no alert storm."""
        if self._held is not None:
            return replace(self._held, until=max(now, self._held.since + _INSTANT))
        ended = self._ended
        if (
            ended is not None
            and ended.until is not None
            and now - ended.until <= self.rules.missed_after
        ):
            return ended
        self._ended = None
        return None

    def _note_pause(self, seen: Survey, resumed: Pause | None) -> None:
        """Remember the pause in force, or the one that stopped holding since the last
        survey."""
        if seen.paused is not None:
            self._held, self._ended = seen.paused, None
        elif self._held is not None:
            self._held, self._ended = None, resumed

    def _move(self, key: str, state: str, now: datetime) -> str | None:
        return self.store.transition_incident(key, state, now)

    def _entries(self, seen: Survey, incidents: dict[str, Incident], now: datetime) -> list[Alert]:
        alerts = []
        problems = {ENTRY + entry.id: (entry.id, health) for entry, health in seen.problems}
        for key, (entry_id, health) in problems.items():
            held = incidents.get(key)
            if held is not None and held.state == health.state:
                continue
            if self._move(key, health.state, now) is not None:
                alerts.append(self._entry_alert(entry_id, health, FIRING, now))
        settled = [key for key in incidents if key.startswith(ENTRY) and key not in problems]
        if not settled:
            return alerts
        # Healthy again, disabled or gone, unless the survey was cut short before them.
        entries = self.store.get_many(key.removeprefix(ENTRY) for key in settled)
        now_healthy = dict.fromkeys((key.removeprefix(ENTRY) for key in settled), Health(OK))
        for entry, health in zip(
            entries, healths(self.store, entries, now, self.rules, seen.pause), strict=True
        ):
            now_healthy[entry.id] = health
        for entry_id, health in now_healthy.items():
            state = health.state if health.state in _ENTRY_EVENTS else OK
            previous = self._move(ENTRY + entry_id, state, now)
            if previous is None:
                continue
            if state != OK:
                alerts.append(self._entry_alert(entry_id, health, FIRING, now))
            elif previous in _ENTRY_EVENTS:
                message = f"entry {entry_id} is {health.state} again"
                alerts.append(
                    Alert(_ENTRY_EVENTS[previous], entry_id, RESOLVED, message, now,
                          health=health.state, beat=self.owner)
                )  # fmt: skip
        return alerts

    def _entry_alert(self, entry_id: str, health: Health, state: str, now: datetime) -> Alert:
        event = _ENTRY_EVENTS[health.state]
        return Alert(
            event, entry_id, state, health.reason, now, health=health.state, beat=self.owner
        )

    def _beats(self, seen: Survey, incidents: dict[str, Incident], now: datetime) -> list[Alert]:
        alerts = []
        live = {beat.owner for beat in seen.live}
        silent = {
            BEAT + beat.owner: beat
            for beat in seen.beats
            if beat.owner not in live and beat.owner != self.owner
        }
        for key, beat in silent.items():
            if key not in incidents and self._move(key, SILENT, now) is not None:
                quiet = format_duration(round((now - beat.last_pass_at).total_seconds()))
                message = f"beat {beat.owner} on {beat.host} not heard from for {quiet}"
                alerts.append(Alert("beat_silent", None, FIRING, message, now, beat=self.owner))
        for key in incidents:
            if key.startswith(BEAT) and key not in silent and self._move(key, OK, now):
                owner = key.removeprefix(BEAT)
                message = f"beat {owner} is {'live again' if owner in live else 'gone'}"
                alerts.append(Alert("beat_silent", None, RESOLVED, message, now, beat=self.owner))
        none_live = not live
        if none_live != (BEATS in incidents) and self._move(
            BEATS, NONE_LIVE if none_live else OK, now
        ):
            state = FIRING if none_live else RESOLVED
            message = "no beat is live" if none_live else f"{len(live)} beat(s) live again"
            alerts.append(Alert("no_live_beat", None, state, message, now, beat=self.owner))
        return alerts

    def _store_failed(self, exc: Exception, now: datetime) -> list[Alert]:
        if self._failing_since is None:
            self._failing_since = self.elapsed()
            logger.warning("stembeat: alerts cannot read the store: %s", exc)
        down = self.elapsed() - self._failing_since
        if self._store_alerted or down < self.store_alert_after:
            return []
        self._store_alerted = True
        message = f"the store has failed for {format_duration(round(down))}: {exc}"
        alert = Alert("store_unreachable", None, FIRING, message, now, beat=self.owner)
        self.sender.send(alert)
        return [alert]

    def _store_back(self, now: datetime) -> list[Alert]:
        if self._failing_since is None:
            return []
        down = self.elapsed() - self._failing_since
        self._failing_since = None
        if not self._store_alerted:
            return []
        self._store_alerted = False
        message = f"the store answers again after {format_duration(round(down))}"
        return [Alert("store_unreachable", None, RESOLVED, message, now, beat=self.owner)]

    # -- on a thread ---------------------------------------------------------------------------

    def start(self) -> None:
        """Check every ``interval`` seconds on a daemon thread until :meth:`close`."""
        self._thread = threading.Thread(target=self._run, name="stembeat-alert-watch", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.check()

    def close(self, timeout: float = 5.0) -> None:
        """Stop checking, and give the alerts already sent ``timeout`` s to go out."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
        self.sender.flush(timeout)
        self.sender.close()


#: The event of each entry state that alerts.
_ENTRY_EVENTS = {
    "failing": "entry_failing",
    "missed": "entry_missed",
    "stuck": "entry_stuck",
    "late": "entry_late",
}
