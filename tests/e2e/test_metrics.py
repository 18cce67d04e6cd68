"""A real beat serves Prometheus metrics on stembeat_metrics_port."""

from __future__ import annotations

import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.contract.faults import free_port
from tests.e2e.conftest import Harness, wait_for

pytestmark = pytest.mark.services


def scrape(port: int) -> dict[str, float]:
    """Every sample of ``/metrics``, by name (and ``le`` for histogram buckets)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            bucket = sample.labels.get("le")
            samples[sample.name + (f"[{bucket}]" if bucket else "")] = sample.value
    return samples


def test_beat_counts_what_it_sends(harness: Harness) -> None:
    """Sent occurrences, their lateness, claim batches, the last pass, the store's figures
    and its health; no series names an entry."""
    port = free_port()
    harness.settings = {"stembeat_metrics_port": port, "stembeat_metrics_address": "127.0.0.1"}
    harness.beat_schedule = {"every-second": {"task": "e2e.record", "schedule": "1s"}}
    harness.worker()
    beat = harness.beat()
    wait_for(lambda: len(harness.runs_of("every-second")) >= 3, 30, "three runs\n" + harness.logs())
    seen = wait_for(
        lambda: (found := scrape(port))["stembeat_occurrences_sent_total"] >= 3 and found,
        30,
        "three sends counted",
    )
    assert seen["stembeat_occurrences_send_failed_total"] == 0
    assert seen["stembeat_outages_total"] == 0
    assert seen["stembeat_lateness_seconds_count"] == seen["stembeat_occurrences_sent_total"]
    assert seen["stembeat_lateness_seconds_bucket[1.0]"] == seen["stembeat_lateness_seconds_count"]
    assert seen["stembeat_claim_batch_size_count"] >= 3
    assert seen["stembeat_last_pass_timestamp_seconds"] > 0
    assert "stembeat_store_latency_seconds" in seen
    # The store's health too: the beat itself is live, nothing is missed.
    assert (seen["stembeat_store_up"], seen["stembeat_store_live_beats"]) == (1, 1)
    assert seen["stembeat_store_oldest_missed_seconds"] == 0
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        assert "every-second" not in response.read().decode()
    assert beat.stop() == 0
    assert f"stembeat: metrics on http://127.0.0.1:{port}/metrics" in beat.output()
