"""The Grafana dashboard and Prometheus alert rules in examples/ use the metrics that beat and
``stembeat metrics serve`` serve."""

from __future__ import annotations

import json
import re
from datetime import datetime, timezone
from pathlib import Path

import yaml
from prometheus_client import CollectorRegistry, generate_latest

from celery_stembeat.engine import TickReport
from celery_stembeat.entry import Entry
from celery_stembeat.health import HealthRules
from celery_stembeat.metrics import BeatMetrics, StoreCollector
from celery_stembeat.specs import IntervalSpec
from celery_stembeat.stores import open_store

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def served() -> set[str]:
    """Every series name a beat's /metrics has, and ``stembeat metrics serve``'s."""
    metrics = BeatMetrics()
    metrics.tick(TickReport(drifts=[0.01], batches=[1]), datetime.now(timezone.utc))
    store = open_store("memory://")
    long_ago = datetime(2026, 1, 1, tzinfo=timezone.utc)  # a missed entry: unhealthy
    store.upsert(Entry(id="e", task="t", spec=IntervalSpec(60)).with_state(next_run_at=long_ago))
    registry = CollectorRegistry()
    registry.register(StoreCollector(store, HealthRules(), entry_prefix=""))
    text = (generate_latest(metrics.registry) + generate_latest(registry)).decode()
    return {line.split("{")[0].split(" ")[0] for line in text.splitlines() if line[:1] != "#"}


def names_in(expression: str) -> set[str]:
    return set(re.findall(r"\bstembeat_[a-z_]+", expression))


def test_every_alert_rule_uses_served_metrics() -> None:
    rules = yaml.safe_load((EXAMPLES / "prometheus" / "stembeat-alerts.yml").read_text())
    (group,) = rules["groups"]
    expressions = [rule["expr"] for rule in group["rules"]]
    used = set().union(*(names_in(expression) for expression in expressions))
    assert used, "the rules name no stembeat metric"
    assert used <= served(), used - served()
    assert all(rule["alert"].startswith("Stembeat") for rule in group["rules"])


def test_every_dashboard_panel_queries_served_metrics() -> None:
    dashboard = json.loads((EXAMPLES / "grafana" / "stembeat-dashboard.json").read_text())
    expressions = [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]
    used = set().union(*(names_in(expression) for expression in expressions))
    assert len(dashboard["panels"]) >= 6
    assert used <= served(), used - served()
