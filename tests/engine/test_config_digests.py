"""Start-up sync by digest: an unchanged ``beat_schedule`` item is neither built nor read,
and anything that changed the stored entry since makes the sync compare it in full."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from celery.schedules import crontab

from celery_stembeat import config_entries
from celery_stembeat.config_entries import ConfigEntries, entries_from_config, sync_config
from celery_stembeat.entry import Entry
from celery_stembeat.specs import IntervalSpec
from celery_stembeat.stores import Store
from tests.contract.helpers import T0, at, published

CONFIG: dict[str, Any] = {
    "every-minute": {"task": "tasks.a", "schedule": 60.0, "args": [1]},
    "nightly": {"task": "tasks.b", "schedule": crontab(minute="30", hour="2")},
    "hourly": {"task": "tasks.c", "schedule": "1h", "options": {"queue": "q", "priority": 3}},
}


@pytest.fixture
def built(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The ids of the entries the sync builds from beat_schedule items."""
    names: list[str] = []
    real = config_entries.entry_from_config

    def counting(name: str, *args: Any, **kwargs: Any) -> Entry:
        names.append(name)
        return real(name, *args, **kwargs)

    monkeypatch.setattr(config_entries, "entry_from_config", counting)
    return names


def test_restart_with_the_same_schedule_builds_and_writes_nothing(
    store: Store, built: list[str]
) -> None:
    first = sync_config(store, entries_from_config(CONFIG, "UTC"), T0)
    assert sorted(first.added) == sorted(CONFIG)
    before = {entry.id: entry for entry in store.list_entries()}
    built.clear()
    again = sync_config(store, entries_from_config(CONFIG, "UTC"), at(100))
    assert (again.added, again.changed, again.unchanged) == ([], [], len(CONFIG))
    assert built == []
    assert {entry.id: entry for entry in store.list_entries()} == before


def test_a_changed_item_is_written_and_then_trusted(store: Store, built: list[str]) -> None:
    sync_config(store, entries_from_config(CONFIG, "UTC"), T0)
    changed = {**CONFIG, "every-minute": {**CONFIG["every-minute"], "args": [2]}}
    built.clear()
    report = sync_config(store, entries_from_config(changed, "UTC"), at(10))
    assert (report.changed, built) == (["every-minute"], ["every-minute"])
    built.clear()
    report = sync_config(store, entries_from_config(changed, "UTC"), at(20))
    assert (report.changed, report.unchanged, built) == ([], len(CONFIG), [])
    entry = store.get("every-minute")
    assert entry is not None
    assert entry.args == (2,)


def test_an_edit_in_the_store_is_undone_by_the_next_start(store: Store) -> None:
    """beat_schedule owns its items: an edit made elsewhere (the CLI, the API) moves the
    entry's version on, so the digest no longer vouches for it."""
    sync_config(store, entries_from_config(CONFIG, "UTC"), T0)
    edited = store.get("hourly")
    assert edited is not None
    store.upsert(Entry.from_dict({**edited.definition(), "source": "config", "args": [9]}))
    report = sync_config(store, entries_from_config(CONFIG, "UTC"), at(10))
    assert report.changed == ["hourly"]
    restored = store.get("hourly")
    assert restored is not None
    assert restored.args == ()


def test_an_entry_disabled_in_the_store_is_enabled_again(store: Store) -> None:
    sync_config(store, entries_from_config(CONFIG, "UTC"), T0)
    store.set_enabled("nightly", False, at(5))
    report = sync_config(store, entries_from_config(CONFIG, "UTC"), at(10))
    assert report.changed == ["nightly"]
    entry = store.get("nightly")
    assert entry is not None
    assert entry.enabled is True


def test_run_state_survives_a_trusted_restart(store: Store) -> None:
    sync_config(store, entries_from_config(CONFIG, "UTC"), T0)
    (claim,) = store.claim_due(at(60), 10, "beat", timedelta(seconds=30))
    store.complete(claim, published(claim))
    sync_config(store, entries_from_config(CONFIG, "UTC"), at(70))
    entry = store.get("every-minute")
    assert entry is not None
    assert (entry.state.total_run_count, entry.state.next_run_at) == (1, at(120))


def test_items_without_a_digest_are_compared_in_full(store: Store, built: list[str]) -> None:
    """pickle cannot hold a schedule with a lambda: such an item is built at every start,
    and still only written when it changed."""
    odd = {"odd": {"task": "tasks.d", "schedule": crontab(minute="5", nowfun=lambda: None)}}
    assert config_entries.item_digest("odd", odd["odd"], "UTC") == ""
    sync_config(store, entries_from_config(odd, "UTC"), T0)
    version = store.get("odd").version  # type: ignore[union-attr]
    built.clear()
    report = sync_config(store, entries_from_config(odd, "UTC"), at(10))
    assert (report.unchanged, built) == (1, ["odd"])
    assert store.get("odd").version == version  # type: ignore[union-attr]


def test_digests_depend_on_the_item_the_name_and_the_zone() -> None:
    digest = config_entries.item_digest
    item = CONFIG["every-minute"]
    assert digest("x", item, "UTC") == digest("x", dict(item), "UTC")
    assert digest("x", item, "UTC") != digest("y", item, "UTC")
    assert digest("x", item, "UTC") != digest("x", item, "Europe/Paris")
    assert digest("x", item, "UTC") != digest("x", {**item, "args": [2]}, "UTC")


def test_config_entries_read_like_a_list() -> None:
    entries = entries_from_config(CONFIG, "Europe/London")
    assert isinstance(entries, ConfigEntries)
    assert len(entries) == 3
    assert [entry.id for entry in entries] == list(CONFIG)
    assert entries[0].spec == IntervalSpec(60)
    assert entries == [
        config_entries.entry_from_config(n, i, "Europe/London") for n, i in CONFIG.items()
    ]
    assert entries[1] in entries
