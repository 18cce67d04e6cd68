"""Prometheus metrics (extra ``[metrics]``): a beat's own, served on
``stembeat_metrics_port``, and the store's, served by ``stembeat metrics serve``.

Every name starts with ``stembeat_``. No label carries an entry id or any other unbounded
value, except the per-entry series of the entries ``stembeat metrics serve --entries`` selects:
a beat exports the same few series whatever its store holds.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import TYPE_CHECKING, Any

from celery_stembeat.engine import utc_now
from celery_stembeat.entry import Entry
from celery_stembeat.extras import require
from celery_stembeat.health import LATE, MISSED, Health, HealthRules
from celery_stembeat.stores import Store
from celery_stembeat.survey import Survey, healths, survey

if TYPE_CHECKING:
    from celery_stembeat.engine import TickReport

logger = logging.getLogger(__name__)

#: Seconds late a sent occurrence can be, as the histogram's buckets count it.
LATENESS_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
#: Claims per batch.
BATCH_BUCKETS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000)


class BeatMetrics:
    """The collectors of one beat, in a registry of their own."""

    def __init__(self) -> None:
        client = require("prometheus_client", "metrics")
        self.registry = client.CollectorRegistry()

        def counter(name: str, text: str) -> Any:
            return client.Counter(name, text, registry=self.registry)

        def gauge(name: str, text: str) -> Any:
            return client.Gauge(name, text, registry=self.registry)

        self.sent = counter("stembeat_occurrences_sent", "Occurrences published to the broker.")
        self.send_failed = counter(
            "stembeat_occurrences_send_failed", "Occurrences the broker did not take."
        )
        self.missed = counter(
            "stembeat_occurrences_missed", "Occurrences left out by the entries' catch-up policy."
        )
        self.skipped = counter(
            "stembeat_occurrences_skipped",
            "Occurrences not sent because the entry's previous run had not finished.",
        )
        self.taken_over = counter(
            "stembeat_claims_taken_over", "Claims found lost to another beat before sending."
        )
        self.outages = counter(
            "stembeat_outages", "Times the store or the broker became unavailable."
        )
        self.lateness = client.Histogram(
            "stembeat_lateness_seconds",
            "How late each occurrence was sent, after its scheduled time.",
            buckets=LATENESS_BUCKETS,
            registry=self.registry,
        )
        self.batch_size = client.Histogram(
            "stembeat_claim_batch_size",
            "Occurrences claimed per batch.",
            buckets=BATCH_BUCKETS,
            registry=self.registry,
        )
        self.store_latency = gauge(
            "stembeat_store_latency_seconds", "Duration of the beat's last heartbeat write."
        )
        self.clock_offset = gauge(
            "stembeat_clock_offset_seconds", "The store's clock minus this host's."
        )
        self.last_pass = gauge(
            "stembeat_last_pass_timestamp_seconds", "When the beat last finished a pass."
        )

    def tick(self, report: TickReport, now: datetime) -> None:
        """Count what one pass of the engine did."""
        self.sent.inc(report.published)
        self.send_failed.inc(report.failed)
        self.missed.inc(report.missed)
        self.skipped.inc(report.skipped)
        self.taken_over.inc(report.taken_over)
        self.outages.inc(report.outage_started)
        for drift in report.drifts:
            self.lateness.observe(max(drift, 0.0))
        for size in report.batches:
            self.batch_size.observe(size)
        self.last_pass.set(now.timestamp())

    def heartbeat(self, latency: float | None, offset: float | None) -> None:
        """Set the store figures the beat's last heartbeat measured."""
        if latency is not None:
            self.store_latency.set(latency)
        if offset is not None:
            self.clock_offset.set(offset)

    def serve(self, port: int, address: str) -> Any:
        """Serve ``/metrics`` on ``address:port`` from a daemon thread; the server."""
        client = require("prometheus_client", "metrics")
        server, _ = client.start_http_server(port, addr=address, registry=self.registry)
        return server


class StoreCollector:
    """The store's view for ``stembeat metrics serve``, computed at each scrape from the
    store's indexes (:func:`~celery_stembeat.survey.survey`): entries per health state, the
    unhealthy ones per task, the oldest missed and late occurrences, the beats. Entries whose
    id starts with ``entry_prefix`` also get series of their own (``None``: none do)."""

    def __init__(
        self,
        store: Store,
        rules: HealthRules,
        *,
        entry_prefix: str | None = None,
        clock: Callable[[], datetime] = utc_now,
        elapsed: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.store = store
        self.rules = rules
        self.entry_prefix = entry_prefix
        self.clock = clock
        self.elapsed = elapsed

    def collect(self) -> Iterator[Any]:
        """The metric families of one scrape (prometheus_client's collector protocol)."""
        core = require("prometheus_client.core", "metrics")
        started = self.elapsed()
        now = self.clock()
        up = core.GaugeMetricFamily("stembeat_store_up", "Whether the store answered the scrape.")
        try:
            seen = survey(self.store, now, self.rules)
            selected = self._selected(now, seen)
        except Exception as exc:
            logger.warning("stembeat: the store did not answer a scrape: %s", exc)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield from self._store_families(core, seen, now)
        yield from self._entry_families(core, selected)
        took = core.GaugeMetricFamily(
            "stembeat_store_scrape_seconds", "How long reading the store for this scrape took."
        )
        took.add_metric([], self.elapsed() - started)
        yield took

    def _selected(self, now: datetime, seen: Survey) -> list[tuple[Entry, Health]]:
        if self.entry_prefix is None:
            return []
        entries = self.store.list_entries(prefix=self.entry_prefix)
        found = healths(self.store, entries, now, self.rules, seen.pause)
        return list(zip(entries, found, strict=True))

    def _store_families(self, core: Any, seen: Survey, now: datetime) -> Iterator[Any]:
        entries = core.GaugeMetricFamily(
            "stembeat_store_entries", "Entries in the store, by health state.", labels=["state"]
        )
        for state, number in seen.counts.items():
            entries.add_metric([state], number)
        yield entries
        unhealthy = core.GaugeMetricFamily(
            "stembeat_store_unhealthy_entries",
            "Entries that are late, failing, missed or stuck, by task and state.",
            labels=["task", "state"],
        )
        for (task, state), number in sorted(
            Counter((entry.task, health.state) for entry, health in seen.problems).items()
        ):
            unhealthy.add_metric([task, state], number)
        yield unhealthy
        cut = core.GaugeMetricFamily(
            "stembeat_store_survey_cut",
            "1 when more entries were suspect than a scrape reads (problem counts are lower "
            "bounds).",
        )
        cut.add_metric([], int(seen.cut))
        yield cut
        for name, state, since, text in (
            ("missed", MISSED, "next_run_at", "due and not sent"),
            ("late", LATE, "last_run_at", "sent and not started"),
        ):
            oldest = core.GaugeMetricFamily(
                f"stembeat_store_oldest_{name}_seconds",
                f"How long the oldest occurrence {text} has waited (0: none).",
            )
            waits = [
                (now - moment).total_seconds()
                for entry, health in seen.problems
                if health.state == state and (moment := getattr(entry.state, since)) is not None
            ]
            oldest.add_metric([], max(waits, default=0.0))
            yield oldest
        paused = core.GaugeMetricFamily(
            "stembeat_paused", "1 while the store is paused (stembeat pause), else 0."
        )
        paused.add_metric([], int(seen.paused is not None))
        yield paused
        live = core.GaugeMetricFamily("stembeat_store_live_beats", "Beats heard from lately.")
        live.add_metric([], len(seen.live))
        yield live
        last_pass = core.GaugeMetricFamily(
            "stembeat_store_beat_last_pass_timestamp_seconds",
            "When each recorded beat last finished a pass.",
            labels=["owner"],
        )
        for beat in seen.beats:
            last_pass.add_metric([beat.owner], beat.last_pass_at.timestamp())
        yield last_pass

    def _entry_families(self, core: Any, selected: list[tuple[Entry, Health]]) -> Iterator[Any]:
        if self.entry_prefix is None:
            return
        health = core.GaugeMetricFamily(
            "stembeat_entry_health", "1 for the entry's health state.", labels=["entry", "state"]
        )
        failures = core.GaugeMetricFamily(
            "stembeat_entry_consecutive_failures",
            "The entry's task failures in a row.",
            labels=["entry"],
        )
        runs = core.CounterMetricFamily(
            "stembeat_entry_runs", "Occurrences of the entry sent.", labels=["entry"]
        )
        last_run = core.GaugeMetricFamily(
            "stembeat_entry_last_run_timestamp_seconds",
            "When the entry's newest occurrence was sent.",
            labels=["entry"],
        )
        runtime = core.GaugeMetricFamily(
            "stembeat_entry_runtime_mean_seconds",
            "The mean runtime of the entry's successful runs.",
            labels=["entry"],
        )
        for entry, verdict in selected:
            state = entry.state
            health.add_metric([entry.id, verdict.state], 1)
            failures.add_metric([entry.id], state.consecutive_task_failures)
            runs.add_metric([entry.id], state.total_run_count)
            if state.last_run_at is not None:
                last_run.add_metric([entry.id], state.last_run_at.timestamp())
            if state.runtime_mean is not None:
                runtime.add_metric([entry.id], state.runtime_mean)
        yield from (health, failures, runs, last_run, runtime)


def serve_store_metrics(collector: StoreCollector, port: int, address: str) -> Any:
    """Serve ``collector`` on ``address:port`` from a daemon thread; the server (its
    ``server_address`` holds the port it got, for port 0)."""
    client = require("prometheus_client", "metrics")
    registry = client.CollectorRegistry()
    registry.register(collector)
    server, _ = client.start_http_server(port, addr=address, registry=registry)
    return server
