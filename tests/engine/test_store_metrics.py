"""The store's metrics (``stembeat metrics serve``), scraped from a real store on every backend
and read back with prometheus_client's own parser."""

from __future__ import annotations

from datetime import timedelta

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from celery_stembeat.engine import Engine
from celery_stembeat.health import HealthRules
from celery_stembeat.metrics import StoreCollector
from celery_stembeat.specs import IntervalSpec
from celery_stembeat.stores import BeatInfo, Pause, Store, TaskReport
from tests.contract.helpers import at
from tests.engine.conftest import FakeClock
from tests.engine.test_engine import FlakyStore, add, run_until

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(collector: StoreCollector) -> Samples:
    registry = CollectorRegistry()
    registry.register(collector)
    text = generate_latest(registry).decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_a_scrape_counts_states_names_tasks_and_beats(
    store: Store, engine: Engine, clock: FakeClock
) -> None:
    add(store, "report", IntervalSpec(10))
    add(store, "sync", IntervalSpec(10))
    add(store, "off", IntervalSpec(10), enabled=False)
    run_until(engine, clock, at(20))
    for seconds in (10, 20):
        failed = TaskReport("report", at(seconds), "failure", at(seconds + 1), error="E: x")
        store.record_outcomes([failed])
    add(store, "nightly", IntervalSpec(3600), first=at(-100))  # due 2 minutes ago, unsent
    store.record_beat(BeatInfo("beat-1", "h", 1, "0", at(0), at(19), 0.001, None))
    collector = StoreCollector(
        store, HealthRules(failures=2), entry_prefix="re", clock=lambda: at(20)
    )
    samples = scrape(collector)
    assert samples[("stembeat_store_up", ())] == 1
    states = {
        dict(labels)["state"]: value
        for (name, labels), value in samples.items()
        if name == "stembeat_store_entries"
    }
    assert states == {
        "ok": 1,
        "late": 0,
        "failing": 1,
        "missed": 1,
        "stuck": 0,
        "disabled": 1,
    }
    unhealthy = {
        labels: value
        for (name, labels), value in samples.items()
        if name == "stembeat_store_unhealthy_entries"
    }
    assert unhealthy == {
        (("state", "failing"), ("task", "tasks.report")): 1,
        (("state", "missed"), ("task", "tasks.nightly")): 1,
    }
    assert samples[("stembeat_store_oldest_missed_seconds", ())] == 120
    assert samples[("stembeat_store_oldest_late_seconds", ())] == 0
    assert samples[("stembeat_store_survey_cut", ())] == 0
    assert samples[("stembeat_store_live_beats", ())] == 1
    assert samples[("stembeat_store_beat_last_pass_timestamp_seconds", (("owner", "beat-1"),))] == (
        at(19).timestamp()
    )
    assert samples[("stembeat_entry_health", (("entry", "report"), ("state", "failing")))] == 1
    assert samples[("stembeat_entry_consecutive_failures", (("entry", "report"),))] == 2
    assert samples[("stembeat_entry_runs_total", (("entry", "report"),))] == 2
    assert ("stembeat_entry_health", (("entry", "sync"), ("state", "ok"))) not in samples
    assert samples[("stembeat_store_scrape_seconds", ())] >= 0


def test_without_a_selection_no_entry_has_series_of_its_own(store: Store, clock: FakeClock) -> None:
    add(store, "report", IntervalSpec(10))
    samples = scrape(StoreCollector(store, HealthRules(), clock=clock))
    assert not [name for name, _ in samples if name.startswith("stembeat_entry_")]
    assert samples[("stembeat_store_entries", (("state", "ok"),))] == 1


def test_a_scrape_while_the_store_is_down_says_so(
    store: Store, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    flaky = FlakyStore(store)
    flaky.down = True
    collector = StoreCollector(flaky, HealthRules(), clock=clock)  # type: ignore[arg-type]
    assert scrape(collector) == {("stembeat_store_up", ()): 0}
    assert caplog.messages == ["stembeat: the store did not answer a scrape: connection refused"]
    flaky.down = False
    clock.now += timedelta(seconds=1)
    assert scrape(collector)[("stembeat_store_up", ())] == 1


def test_stembeat_paused_is_1_while_a_pause_holds(store: Store, clock: FakeClock) -> None:
    """0 unpaused, 1 while paused, 0 again once the pause's until has passed; an entry due
    meanwhile is not missed."""
    add(store, "report", IntervalSpec(10), first=at(-60))
    collector = StoreCollector(store, HealthRules(), clock=clock)
    assert scrape(collector)[("stembeat_paused", ())] == 0
    store.pause(Pause(at(-120), at(60), "deploy", "ops@host-1"))
    samples = scrape(collector)
    assert samples[("stembeat_paused", ())] == 1
    assert samples[("stembeat_store_entries", (("state", "missed"),))] == 0
    clock.now = at(60)
    assert scrape(collector)[("stembeat_paused", ())] == 0
