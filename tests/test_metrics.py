"""The beat's collectors: what a pass adds, and the one-line error without the extra."""

from __future__ import annotations

import sys
from datetime import datetime, timezone

import pytest
from prometheus_client import generate_latest

from celery_stembeat.engine import TickReport
from celery_stembeat.extras import MissingExtra
from celery_stembeat.metrics import BeatMetrics

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)


def value(metrics: BeatMetrics, name: str, **labels: str) -> float | None:
    return metrics.registry.get_sample_value(name, labels or None)


def test_a_pass_adds_its_counts_lateness_and_batches() -> None:
    metrics = BeatMetrics()
    metrics.tick(
        TickReport(published=3, failed=1, missed=2, skipped=4, taken_over=1,
                   drifts=[0.002, 0.3, -0.001], batches=[3, 1]),
        NOW,
    )  # fmt: skip
    metrics.tick(TickReport(outage_started=True), NOW)
    metrics.tick(TickReport(), NOW)
    assert value(metrics, "stembeat_occurrences_sent_total") == 3
    assert value(metrics, "stembeat_occurrences_send_failed_total") == 1
    assert value(metrics, "stembeat_occurrences_missed_total") == 2
    assert value(metrics, "stembeat_occurrences_skipped_total") == 4
    assert value(metrics, "stembeat_claims_taken_over_total") == 1
    assert value(metrics, "stembeat_outages_total") == 1
    assert value(metrics, "stembeat_lateness_seconds_count") == 3
    assert value(metrics, "stembeat_lateness_seconds_bucket", le="0.0025") == 2
    assert value(metrics, "stembeat_claim_batch_size_sum") == 4
    assert value(metrics, "stembeat_last_pass_timestamp_seconds") == NOW.timestamp()
    metrics.heartbeat(0.004, -0.25)
    metrics.heartbeat(None, None)
    assert value(metrics, "stembeat_store_latency_seconds") == 0.004
    assert value(metrics, "stembeat_clock_offset_seconds") == -0.25
    names = {line.split(b" ")[2] for line in generate_latest(metrics.registry).splitlines()
             if line.startswith(b"# TYPE")}  # fmt: skip
    assert all(name.startswith(b"stembeat_") for name in names)


def test_two_beats_in_one_process_keep_their_own_registries() -> None:
    first, second = BeatMetrics(), BeatMetrics()
    first.tick(TickReport(published=2), NOW)
    assert value(second, "stembeat_occurrences_sent_total") == 0


def test_without_the_extra_the_error_names_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "prometheus_client", None)
    with pytest.raises(MissingExtra) as caught:
        BeatMetrics()
    assert str(caught.value) == (
        "Serving Prometheus metrics needs prometheus_client: pip install 'celery-stembeat[metrics]'"
    )
