"""``celery beat -S celery_stembeat.Scheduler``: celery's scheduler API on top of the engine."""

from __future__ import annotations

import contextlib
import logging
import signal
from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Any

from celery import beat
from celery.schedules import crontab

from celery_stembeat._collector import collector_paused
from celery_stembeat.alerts import AlertWatch
from celery_stembeat.celery_schedules import to_celery
from celery_stembeat.config import StembeatConfig
from celery_stembeat.config_entries import ConfigEntries, entries_from_config, sync_config
from celery_stembeat.engine import Engine
from celery_stembeat.heartbeat import Heartbeat
from celery_stembeat.metrics import BeatMetrics, StoreCollector
from celery_stembeat.publisher import CeleryPublisher
from celery_stembeat.startup import StoreStart
from celery_stembeat.storeclock import StoreClock
from celery_stembeat.stores import Store, mask_url, open_store
from celery_stembeat.webhooks import WebhookSender, mask_webhook

logger = logging.getLogger(__name__)

#: celery's own housekeeping entry, added as celery beat adds it.
BACKEND_CLEANUP = {
    "task": "celery.backend_cleanup",
    "schedule": crontab("0", "4", "*"),
    "options": {"expires": 12 * 3600},
}


@contextlib.contextmanager
def _stop_signals_held() -> Iterator[None]:
    """Hold SIGTERM/SIGINT while a pass publishes and records, so a stop never falls between
    a message sent and its run recorded; a held signal is delivered when the pass ends."""
    if not hasattr(signal, "pthread_sigmask"):
        yield
        return
    held = {signal.SIGTERM, signal.SIGINT}
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, held)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


class Scheduler(beat.Scheduler):  # type: ignore[misc]
    """A celery beat scheduler whose schedule lives in a stembeat store.

    Each ``tick`` publishes what is due, then waits for the next due time or a change made by
    another process, whichever comes first. A ``lazy`` instance (celery builds one for its
    banner) does no I/O.
    """

    def __init__(
        self,
        app: Any,
        schedule_filename: str | None = None,
        max_interval: float | None = None,
        lazy: bool = False,
        **kwargs: Any,
    ) -> None:
        self.stembeat = StembeatConfig.from_app(
            app,
            schedule_filename,
            max_interval or app.conf.beat_max_loop_interval or beat.DEFAULT_MAX_INTERVAL,
        )
        self.store: Store | None = None
        self.engine: Engine | None = None
        self._start: StoreStart | None = None
        self._clock: StoreClock | None = None
        self._heartbeat: Heartbeat | None = None
        self._metrics: BeatMetrics | None = None
        self._metrics_server: Any = None
        self._alerts: AlertWatch | None = None
        self._store_view: Store | None = None
        #: The pause the attempt in setup_schedule asked for, waited at the first tick.
        self._pause = 0.0
        self._closed = False
        self._in_tick = False
        self._close_requested = False
        super().__init__(app, max_interval=max_interval, lazy=lazy, **kwargs)

    # -- celery's hooks ------------------------------------------------------------------------

    def setup_schedule(self) -> None:
        """Open the store, sync ``beat_schedule`` into it, and start the engine.

        A store that cannot be reached is tried again at each tick (see :class:`StoreStart`)
        until it answers; beat fires from then on.
        """
        self._serve_metrics()
        # A large beat_schedule is many live objects: building its entries, opening the store
        # (importing its driver) and the sync each allocate enough to set off a full
        # collection, which would walk all of them.
        with collector_paused():
            entries = self._config_entries()
            validate = entries.validate if isinstance(entries, ConfigEntries) else lambda: None
            self._start = StoreStart(
                self.stembeat.url,
                lambda store: self._sync(store, entries),
                validate=validate,
                max_backoff=self.stembeat.engine.max_backoff,
            )
            self._pause = self._connect()

    def _serve_metrics(self) -> None:
        port = self.stembeat.metrics_port
        if port is None or self._metrics is not None:
            return
        self._metrics = BeatMetrics()
        self._metrics_server = self._metrics.serve(port, self.stembeat.metrics_address)
        logger.info(
            "stembeat: metrics on http://%s:%d/metrics", self.stembeat.metrics_address, port
        )

    def _export_store_health(self) -> None:
        """With metrics on, each scrape of this beat also reads the store's health (entries by
        state, the missed backlog), on the scrape's thread and a connection of its own."""
        if self._metrics is None or self._store_view is not None:
            return
        self._store_view = open_store(self.stembeat.url)
        self._metrics.registry.register(StoreCollector(self._store_view, self.stembeat.alert_rules))

    def _watch_alerts(self) -> None:
        """With ``stembeat_alert_webhooks``, survey health on a thread and connection of its
        own, so that a slow survey never holds up a pass."""
        urls = self.stembeat.alert_webhooks
        if not urls or self._alerts is not None:
            return
        self._alerts = AlertWatch(
            open_store(self.stembeat.url),
            WebhookSender(urls),
            self.stembeat.alert_rules,
            self.stembeat.engine.owner,
        )
        self._alerts.start()
        logger.info("stembeat: alerts to %s", ", ".join(mask_webhook(url) for url in urls))

    def _connect(self) -> float:
        """One attempt to reach the store; the seconds to wait before the next, 0 once there."""
        assert self._start is not None
        pause = self._start.attempt()
        if self._start.done and self.engine is None:
            self.store = self._start.store
            assert self.store is not None
            assert self._clock is not None
            clock = self._clock
            publisher = CeleryPublisher(self.app, clock=clock)
            self.engine = Engine(self.store, publisher, self.stembeat.engine, clock=clock)
            self._watch_alerts()
            self._export_store_health()
            self._heartbeat = Heartbeat(
                self.store, self.stembeat.engine.owner, clock, offset=lambda: clock.offset
            )
        return pause

    def _sync(self, store: Store, entries: list[Any]) -> None:
        # Next runs come from the store's time, as every later pass does.
        self._clock = StoreClock(store, max_skew=self.stembeat.max_skew)
        with collector_paused():
            report = sync_config(store, entries, self._clock(), self.stembeat.engine.owner)
        logger.info(
            "stembeat: store %s; beat_schedule: %d added, %d changed, %d unchanged, %d disabled",
            mask_url(self.stembeat.url),
            len(report.added),
            len(report.changed),
            report.unchanged,
            len(report.disabled),
        )
        for warning in store.server_warnings():
            logger.warning("stembeat: %s", warning)

    def _config_entries(self) -> list[Any]:
        schedule = dict(self.app.conf.beat_schedule or {})
        if (
            self.app.conf.result_expires
            and not self.app.backend.supports_autoexpire
            and "celery.backend_cleanup" not in schedule
        ):
            schedule["celery.backend_cleanup"] = BACKEND_CLEANUP
        return entries_from_config(schedule, self.stembeat.timezone)

    def tick(self, *args: Any, **kwargs: Any) -> float:
        """Publish what is due, then wait until something is due or changes; returns 0 (until
        the store is first reached: the pause before the next attempt, which celery sleeps).

        celery's SIGTERM handler calls :meth:`close` from inside a tick, then raises
        SystemExit there: the close is deferred until the tick has unwound, and a closed
        scheduler ends the beat loop.
        """
        if self._closed or self._close_requested:
            raise SystemExit()
        self._in_tick = True
        try:
            if self.engine is None:
                if self._start is None:  # celery's lazy banner instance
                    return float(self.max_interval)
                pause, self._pause = self._pause, 0.0
                if not pause:
                    pause = self._connect()
                if self.engine is None:
                    return pause  # celery's loop sleeps it
            with _stop_signals_held():
                report = self.engine.tick()
            heartbeat = self._heartbeat
            assert heartbeat is not None
            heartbeat.beat()
            if self._metrics is not None:
                self._metrics.tick(report, datetime.now(timezone.utc))
                offset = None if self._clock is None else self._clock.offset
                self._metrics.heartbeat(heartbeat.latency, offset)
            delay = min(report.delay, heartbeat.remaining())
            if delay > 0:
                self.engine.wait(delay)
        finally:
            self._in_tick = False
        return 0.0

    def get_schedule(self) -> dict[str, beat.ScheduleEntry]:
        """The stored entries as celery schedule entries (read from the store on each call)."""
        if self.store is None:
            return {}
        schedule = {}
        for entry in self.store.list_entries(enabled=True):
            schedule[entry.id] = beat.ScheduleEntry(
                name=entry.id,
                task=entry.task,
                last_run_at=entry.state.last_run_at,
                total_run_count=entry.state.total_run_count,
                schedule=to_celery(entry.spec, app=self.app),
                args=entry.args,
                kwargs=dict(entry.kwargs),
                options=dict(entry.options),
                app=self.app,
            )
        return schedule

    def set_schedule(self, schedule: Any) -> None:
        """celery assigns an empty schedule in its constructor; stembeat keeps it in the store."""
        self.data = schedule

    schedule = property(get_schedule, set_schedule)

    def install_default_entries(self, data: Any) -> None:
        """celery's default entries are synced with ``beat_schedule`` instead."""

    def sync(self) -> None:
        """Nothing to flush: every run is recorded as it happens."""

    def close(self) -> None:
        """Record pending runs, release the store and the broker connection; safe twice.

        Called from a signal handler in the middle of a tick, it only asks for the close:
        celery calls it again once the loop has ended.
        """
        if self._in_tick:
            self._close_requested = True
            return
        self._closed = True
        engine, self.engine = self.engine, None
        store, self.store = self.store, None
        if engine is not None:
            engine.close()
        if self._heartbeat is not None:
            self._heartbeat.stop()
        if self._alerts is not None:
            self._alerts.close()
            self._alerts.store.close()
        if store is not None:
            store.close()
        if self._start is not None:
            self._start.close()
        if self._metrics_server is not None:
            self._metrics_server.shutdown()
            self._metrics_server.server_close()
        if self._store_view is not None:
            self._store_view.close()
        super().close()

    @property
    def info(self) -> str:
        """Shown in celery beat's banner."""
        return f"    . stembeat store -> {mask_url(self.stembeat.url)}"
