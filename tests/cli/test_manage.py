"""``enable``, ``disable`` and ``remove`` on every store."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from celery_stembeat.specs import CronSpec, IntervalSpec
from celery_stembeat.stores import Store
from tests.cli.conftest import Invoke
from tests.cli.racing import racing_cli
from tests.cli.scenario import NOW, beat, entry, minutes

BEAT_SCHEDULE_WARNING = "warning: entry 'cleanup' comes from beat_schedule"


def test_disable_then_enable_starts_afresh_from_now(cli: Invoke, store: Store) -> None:
    store.upsert(entry("tick", IntervalSpec(600), minutes(-30)))
    assert beat(store, minutes(-30)) == ["tick"]
    result = cli("disable", "tick")
    assert (result.exit_code, result.stdout, result.stderr) == (0, "disabled tick\n", "")
    tick = store.get("tick")
    assert tick is not None
    assert not tick.enabled
    assert tick.state.total_run_count == 1

    result = cli("enable", "tick", "--json")
    assert result.exit_code == 0, result.output
    [shown] = json.loads(result.stdout)
    assert (shown["id"], shown["enabled"]) == ("tick", True)
    tick = store.get("tick")
    assert tick is not None
    assert tick.enabled
    assert tick.state.next_run_at == NOW + IntervalSpec(600).period  # no backlog
    assert tick.version == 3


def test_enable_and_disable_are_idempotent(cli: Invoke, store: Store) -> None:
    store.upsert(entry("tick", IntervalSpec(60), NOW))
    assert cli("enable", "tick").exit_code == 0
    tick = store.get("tick")
    assert tick is not None
    assert tick.version == 1


def test_unknown_ids_fail_after_the_known_ones_are_done(cli: Invoke, store: Store) -> None:
    store.upsert(entry("tick", IntervalSpec(60), NOW))
    result = cli("disable", "tick", "nope", "gone")
    assert result.exit_code == 1
    assert result.stdout == "disabled tick\n"
    assert "no entry 'nope', 'gone'" in result.stderr
    tick = store.get("tick")
    assert tick is not None
    assert not tick.enabled


def test_disabling_an_entry_of_beat_schedule_warns(cli: Invoke, store: Store) -> None:
    store.upsert(entry("cleanup", CronSpec("0 4 * * *"), NOW, source="config"))
    result = cli("disable", "cleanup")
    assert result.exit_code == 0, result.output
    assert BEAT_SCHEDULE_WARNING in result.stderr
    assert "enables it again at its next start" in result.stderr
    assert cli("enable", "cleanup").stderr == ""


def test_remove_deletes_entries_and_their_history(cli: Invoke, store: Store) -> None:
    store.upsert(entry("tick", IntervalSpec(60), minutes(-1)))
    store.upsert(entry("tock", IntervalSpec(60), NOW))
    assert beat(store, minutes(-1)) == ["tick"]
    result = cli("remove", "tick", "nope")
    assert result.exit_code == 1
    assert result.stdout == "removed tick\n"
    assert "no entry 'nope'" in result.stderr
    assert [stored.id for stored in store.list_entries()] == ["tock"]
    assert store.history("tick") == []


@pytest.fixture
def racing_tock(store_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Another process changes ``tock`` between a verb's read of it and its write."""
    yield from racing_cli(store_url, monkeypatch, {"tock"})


@pytest.mark.usefixtures("racing_tock")
def test_remove_stops_at_an_entry_changed_since_read(cli: Invoke, store: Store) -> None:
    for entry_id in ("tick", "tock", "zzz"):
        store.upsert(entry(entry_id, IntervalSpec(60), NOW))
    result = cli("remove", "tick", "tock", "zzz")
    assert result.exit_code == 1
    assert result.stdout == "removed tick\n"
    assert result.stderr == (
        "Error: entry 'tock' changed while removing: nothing more removed (see stembeat log tock)\n"
    )
    assert [stored.id for stored in store.list_entries()] == ["tock", "zzz"]
    assert store.get("tock").description == "rival"  # type: ignore[union-attr]


def test_removing_an_entry_of_beat_schedule_warns(cli: Invoke, store: Store) -> None:
    store.upsert(entry("cleanup", CronSpec("0 4 * * *"), NOW, source="config"))
    result = cli("remove", "cleanup", "--json")
    assert result.exit_code == 0, result.output
    assert [item["id"] for item in json.loads(result.stdout)] == ["cleanup"]
    assert BEAT_SCHEDULE_WARNING in result.stderr
    assert "adds it again at its next start" in result.stderr
    assert store.list_entries() == []
