"""A beat's Prometheus metrics (extra ``[metrics]``), served on ``stembeat_metrics_port``.

Every name starts with ``stembeat_``; no label carries an entry id or any other unbounded
value, so a beat exports the same few series whatever its store holds.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from celery_stembeat.extras import require

if TYPE_CHECKING:
    from celery_stembeat.engine import TickReport

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
