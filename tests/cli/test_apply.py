"""``apply`` and ``export`` on every store: definitions in, run state kept, nothing half-written."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import yaml

from celery_stembeat.audit import ChangeNote
from celery_stembeat.cli import session as session_module
from celery_stembeat.cli.apply import carry_out, plan_items
from celery_stembeat.cli.files import read_items
from celery_stembeat.entry import Entry
from celery_stembeat.specs import CronSpec, IntervalSpec
from celery_stembeat.stores import Store, open_store
from tests.cli.conftest import Invoke, invoker
from tests.cli.files import ENTRIES, write
from tests.cli.racing import racing_cli
from tests.cli.scenario import NOW, beat, entry, minutes
from tests.test_options import EVERY_OPTION


def definitions(store: Store) -> dict[str, dict[str, Any]]:
    return {stored.id: stored.definition() for stored in store.list_entries()}


def test_apply_stores_every_field_of_every_kind(cli: Invoke, store: Store, tmp_path: Path) -> None:
    result = cli("apply", str(write(tmp_path / "jobs.json", ENTRIES)))
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[-1] == "5 added, 0 changed, 0 unchanged, 0 removed"
    stored = definitions(store)
    assert stored == {item["id"]: Entry.from_dict(item).definition() for item in ENTRIES}
    report = store.get("report")
    assert report is not None
    assert report.source == "store"
    assert report.args == ("daily", {"pages": [1, 2], "format": "pdf"})
    assert report.options["headers"] == {"team": "ops", "cost": 2}


def test_apply_carries_every_message_option(cli: Invoke, store: Store, tmp_path: Path) -> None:
    jobs = [
        {"id": "every", "task": "tasks.every", "spec": "5m", "options": EVERY_OPTION},
        {
            "id": "at",
            "task": "tasks.at",
            "spec": "5m",
            "options": {"eta": "2030-01-01T10:00+02:00"},
        },
    ]
    result = cli("apply", str(write(tmp_path / "jobs.json", jobs)))
    assert result.exit_code == 0, result.output
    stored = {item.id: item.options for item in store.list_entries()}
    assert stored == {"every": EVERY_OPTION, "at": {"eta": "2030-01-01T08:00:00Z"}}


def test_new_entries_start_at_their_first_run_after_now(
    cli: Invoke, store: Store, tmp_path: Path
) -> None:
    cli("apply", str(write(tmp_path / "jobs.json", ENTRIES)))
    for item in ENTRIES:
        stored = store.get(item["id"])
        assert stored is not None
        assert stored.state.next_run_at == Entry.from_dict(item).first_run_after(NOW)
        assert stored.state.created_at == NOW
    launch = store.get("launch")
    assert launch is not None
    assert launch.state.next_run_at == datetime(2026, 3, 1, 12, tzinfo=timezone.utc)  # missed


def test_reapplying_keeps_run_state_and_a_changed_spec_starts_afresh(
    cli: Invoke, store: Store, tmp_path: Path
) -> None:
    jobs = [
        {"id": "tick", "task": "tasks.tick", "spec": "10m"},
        {"id": "tock", "task": "tasks.tock", "spec": "10m"},
    ]
    path = write(tmp_path / "jobs.json", jobs)
    assert cli("apply", str(path)).exit_code == 0
    assert sorted(beat(store, minutes(10), drift=0.5)) == ["tick", "tock"]
    before = {stored.id: stored for stored in store.list_entries()}

    jobs[0]["kwargs"] = {"loud": True}
    jobs[1]["spec"] = "15m"
    result = cli("apply", str(write(path, jobs)))
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        "changed    tick (kwargs)",
        "changed    tock (spec)",
        "0 added, 2 changed, 0 unchanged, 0 removed",
    ]
    tick, tock = store.get("tick"), store.get("tock")
    assert tick is not None
    assert tock is not None
    assert tick.kwargs == {"loud": True}
    assert tick.state == replace(before["tick"].state, updated_at=NOW)
    assert tock.spec == IntervalSpec(900)
    assert (tock.state.total_run_count, tock.state.last_drift) == (1, 0.5)
    assert tock.state.next_run_at == NOW + timedelta(minutes=15)
    assert (tick.version, tock.version) == (2, 2)

    result = cli("apply", str(path))
    assert result.stdout.splitlines()[-1] == "0 added, 0 changed, 2 unchanged, 0 removed"
    assert [stored.version for stored in store.list_entries()] == [2, 2]


def test_apply_lists_what_it_changed_all_with_verbose_nothing_with_quiet(
    sqlite_cli: Invoke, sqlite_store: Store, tmp_path: Path
) -> None:
    """A re-apply of thousands of entries prints its changes and the counts, not a line per
    unchanged entry; ``--quiet`` prints nothing, and still writes."""
    path = write(tmp_path / "jobs.json", ENTRIES)
    ids = sorted(item["id"] for item in ENTRIES)
    assert sqlite_cli("apply", "--quiet", str(path)).stdout == ""
    assert sorted(entry.id for entry in sqlite_store.list_entries()) == ids
    edited = [
        {**item, "description": "edited"} if item["id"] == ids[0] else item for item in ENTRIES
    ]
    write(path, edited)
    result = sqlite_cli("apply", str(path))
    assert result.stdout.splitlines() == [
        f"changed    {ids[0]} (description)",
        "0 added, 1 changed, 4 unchanged, 0 removed",
    ]
    verbose = sqlite_cli("apply", "-v", str(path))
    assert verbose.stdout.splitlines() == [
        *(f"unchanged  {item['id']}" for item in ENTRIES),
        "0 added, 0 changed, 5 unchanged, 0 removed",
    ]
    bad = sqlite_cli("apply", "--quiet", str(write(tmp_path / "bad.json", [{"id": "x"}])))
    assert (bad.exit_code, bad.stdout) == (2, "")
    assert "'task' is missing" in bad.stderr


def test_the_file_decides_enabled(cli: Invoke, store: Store, tmp_path: Path) -> None:
    path = write(tmp_path / "jobs.json", [{"id": "tick", "task": "tasks.tick", "spec": "10m"}])
    cli("apply", str(path))
    cli("disable", "tick")
    result = cli("apply", "--json", str(path))
    assert json.loads(result.stdout)["changed"] == {"tick": ["enabled"]}
    tick = store.get("tick")
    assert tick is not None
    assert tick.enabled


def test_dry_run_prints_the_diff_and_writes_nothing(
    cli: Invoke, store: Store, tmp_path: Path
) -> None:
    store.upsert(entry("heartbeat", IntervalSpec(60), NOW))
    store.upsert(entry("old", IntervalSpec(60), NOW))
    store.upsert(entry("cleanup", CronSpec("0 4 * * *"), NOW, source="config"))
    before = definitions(store)
    path = write(tmp_path / "jobs.json", {"entries": ENTRIES[:2]})
    result = cli("apply", "--dry-run", "--prune", str(path))
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        "added      report",
        "changed    heartbeat (spec)",
        "removed    old",
        "1 added, 1 changed, 0 unchanged, 1 removed (dry run: nothing written)",
    ]
    assert definitions(store) == before
    data = json.loads(cli("apply", "--dry-run", "--json", str(path)).stdout)
    assert data == {
        "added": ["report"],
        "changed": {"heartbeat": ["spec"]},
        "unchanged": [],
        "removed": [],
        "dry_run": True,
    }


def test_prune_removes_store_entries_absent_from_the_files_but_never_config_ones(
    cli: Invoke, store: Store, tmp_path: Path
) -> None:
    store.upsert(entry("old", IntervalSpec(60), NOW))
    store.upsert(entry("cleanup", CronSpec("0 4 * * *"), NOW, source="config"))
    path = str(write(tmp_path / "jobs.json", ENTRIES[1:2]))

    declined = cli("apply", "--prune", path, input="n\n")
    assert declined.exit_code == 1
    assert "Remove 1 entry absent from the files (old)?" in declined.stderr
    assert sorted(definitions(store)) == ["cleanup", "old"]

    accepted = cli("apply", "--prune", path, input="y\n")
    assert accepted.exit_code == 0, accepted.output
    assert sorted(definitions(store)) == ["cleanup", "heartbeat"]

    store.upsert(entry("old", IntervalSpec(60), NOW))
    assert cli("apply", "--prune", "--yes", path).exit_code == 0
    assert sorted(definitions(store)) == ["cleanup", "heartbeat"]


@pytest.fixture
def racing_old(store_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Another process changes ``old`` between apply's plan and its removal."""
    yield from racing_cli(store_url, monkeypatch, {"old"})


@pytest.mark.usefixtures("racing_old")
def test_prune_keeps_an_entry_changed_since_planned_and_stops(
    cli: Invoke, store: Store, tmp_path: Path
) -> None:
    for entry_id in ("gone", "old", "older"):
        store.upsert(entry(entry_id, IntervalSpec(60), NOW))
    path = str(write(tmp_path / "jobs.json", ENTRIES[1:2]))
    result = cli("apply", "--prune", "--yes", path)
    assert result.exit_code == 1
    assert result.stderr == (
        "Error: entry 'old' changed while pruning: nothing more removed (see stembeat log old)\n"
    )
    assert sorted(definitions(store)) == ["heartbeat", "old", "older"]
    assert store.get("old").description == "rival"  # type: ignore[union-attr]


def test_prune_leaves_an_entry_removed_since_planned_removed(store: Store, tmp_path: Path) -> None:
    for entry_id in ("gone", "old"):
        store.upsert(entry(entry_id, IntervalSpec(60), NOW))
    planned = plan_items(store, read_items([str(write(tmp_path / "jobs.json", []))]), prune=True)
    assert planned.plan.absent == {"gone": 1, "old": 1}
    store.delete("gone")
    carry_out(store, planned, NOW, ChangeNote("ops@host-1", "apply", NOW))
    assert store.list_entries() == []


def test_prune_from_stdin_needs_yes(sqlite_cli: Invoke) -> None:
    result = sqlite_cli("apply", "--prune", "-", input=json.dumps(ENTRIES))
    assert result.exit_code == 2
    assert "--prune with a file on stdin needs --yes" in result.stderr


def test_apply_reads_stdin_and_yaml(
    sqlite_cli: Invoke, sqlite_store: Store, tmp_path: Path
) -> None:
    assert sqlite_cli("apply", "-", input=json.dumps(ENTRIES[:1])).exit_code == 0
    as_yaml = tmp_path / "more.yaml"
    as_yaml.write_text(yaml.safe_dump({"entries": ENTRIES[1:3]}), encoding="utf-8")
    result = sqlite_cli(
        "apply", str(as_yaml), "-", input="- {id: launch, task: t.launch, spec: 5m}\n"
    )
    assert result.exit_code == 0, result.output
    assert sorted(definitions(sqlite_store)) == ["heartbeat", "launch", "lights", "report"]


def test_unquoted_yaml_timestamps_are_instants(sqlite_cli: Invoke, sqlite_store: Store) -> None:
    text = "- id: once\n  task: t.once\n  spec: {type: clocked, at: 2026-06-01T09:00:00Z}\n"
    assert sqlite_cli("apply", "-", input=text).exit_code == 0
    once = sqlite_store.get("once")
    assert once is not None
    assert once.spec.to_dict() == {"type": "clocked", "at": "2026-06-01T09:00:00Z"}


def test_apply_refuses_to_take_over_an_entry_of_beat_schedule(
    cli: Invoke, store: Store, tmp_path: Path
) -> None:
    store.upsert(entry("heartbeat", IntervalSpec(60), NOW, source="config"))
    before = definitions(store)
    result = cli("apply", str(write(tmp_path / "jobs.json", ENTRIES)))
    assert result.exit_code == 1
    assert "entry 'heartbeat' comes from beat_schedule (source=config)" in result.stderr
    assert definitions(store) == before


@pytest.mark.parametrize("fmt", ["json", "yaml"])
def test_export_apply_round_trip_is_lossless_and_byte_identical(
    cli: Invoke, store: Store, tmp_path: Path, sqlite_url: str, fmt: str
) -> None:
    """Export from the backend under test, apply into a fresh SQLite store, export again."""
    store.upsert(entry("cleanup", CronSpec("0 4 * * *"), NOW, source="config"))
    assert cli("apply", str(write(tmp_path / "jobs.json", ENTRIES))).exit_code == 0
    exported = cli("export", "--format", fmt)
    assert exported.exit_code == 0, exported.output
    document = (json.loads if fmt == "json" else yaml.safe_load)(exported.stdout)
    assert [item["id"] for item in document["entries"]] == sorted(item["id"] for item in ENTRIES)

    path = tmp_path / f"exported.{fmt}"
    path.write_text(exported.stdout, encoding="utf-8")
    copy = invoker(sqlite_url)
    assert copy("apply", str(path)).exit_code == 0
    again = copy("export", "--format", fmt)
    assert again.stdout == exported.stdout
    with open_store(sqlite_url) as copied:
        assert definitions(copied) == {
            key: value for key, value in definitions(store).items() if key != "cleanup"
        }


class Interfering:
    """A store whose ``write_checked`` of ``heartbeat`` lets a second, real handle change that
    entry first: a concurrent upsert landing between the CLI's read and its write.
    """

    def __init__(self, store: Store, other: Store, times: int) -> None:
        self._store = store
        self._other = other
        self.times = times

    def write_checked(
        self,
        entries: Sequence[Entry],
        expected_versions: Mapping[str, int],
        digests: Mapping[str, str] | None = None,
        *,
        note: ChangeNote | None = None,
    ) -> list[str]:
        if self.times and any(entry.id == "heartbeat" for entry in entries):
            self.times -= 1
            current = self._store.get("heartbeat")
            rival = current or entry("heartbeat", IntervalSpec(60), NOW)
            self._other.upsert(
                replace(rival, description=f"rival {self.times}"),
                expected_version=current.version if current else 0,
            )
        return self._store.write_checked(entries, expected_versions, digests, note=note)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)


@pytest.fixture
def interfere(store_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[int], None]]:
    """``interfere(times)``: the CLI's store meets ``times`` rival writes from another handle."""
    rival = open_store(store_url)

    def start(times: int) -> None:
        monkeypatch.setattr(
            session_module, "open_store", lambda url: Interfering(open_store(url), rival, times)
        )

    yield start
    rival.close()


@pytest.mark.parametrize("existing", [True, False], ids=["update", "create"])
def test_a_concurrent_upsert_between_read_and_write_is_retried(
    cli: Invoke, store: Store, tmp_path: Path, interfere: Callable[[int], None], existing: bool
) -> None:
    if existing:
        store.upsert(entry("heartbeat", IntervalSpec(60), minutes(-1)))
        assert beat(store, minutes(-1)) == ["heartbeat"]
    interfere(times=4)
    result = cli("apply", str(write(tmp_path / "jobs.json", ENTRIES[1:2])))
    assert result.exit_code == 0, result.output
    stored = store.get("heartbeat")
    assert stored is not None
    assert stored.definition() == Entry.from_dict(ENTRIES[1]).definition()
    assert stored.version == (1 if existing else 0) + 4 + 1  # four rival writes, then ours
    assert stored.state.total_run_count == (1 if existing else 0)


def test_apply_gives_up_after_five_conflicts_naming_what_it_wrote(
    cli: Invoke, store: Store, tmp_path: Path, interfere: Callable[[int], None]
) -> None:
    store.upsert(entry("heartbeat", IntervalSpec(60), NOW))
    interfere(times=5)
    result = cli("apply", str(write(tmp_path / "jobs.json", ENTRIES[:2])))
    assert result.exit_code == 1
    assert result.stderr.strip() == (
        "Error: entry 'heartbeat': still changing under us after 5 attempts (1 written; apply "
        "the files again to finish)"
    )
    stored = store.get("heartbeat")
    assert stored is not None
    assert (stored.description, stored.version) == ("rival 0", 6)
    assert store.get("report") is not None


class Counting:
    """A store that counts the entries read in full (``get_many``)."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self.read: list[str] = []

    def get_many(self, entry_ids: Iterable[str]) -> list[Entry]:
        ids = list(entry_ids)
        self.read += ids
        return self._store.get_many(ids)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)


def test_reapplying_a_file_reads_only_the_entries_changed_since(
    cli: Invoke, store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each written entry carries the digest of its file item: the same items again are
    neither read in full nor checked again; an entry another writer changed since is."""
    path = write(tmp_path / "jobs.json", ENTRIES)
    assert cli("apply", str(path)).exit_code == 0
    opened: list[Counting] = []

    def counting(url: str) -> Counting:
        opened.append(Counting(open_store(url)))
        return opened[-1]

    monkeypatch.setattr(session_module, "open_store", counting)
    again = cli("apply", str(path))
    assert again.stdout.endswith(f"0 added, 0 changed, {len(ENTRIES)} unchanged, 0 removed\n")
    assert opened[-1].read == []
    heartbeat = store.get("heartbeat")
    assert heartbeat is not None
    store.upsert(replace(heartbeat, description="edited elsewhere"))
    restored = cli("apply", str(path))
    assert "changed    heartbeat (description)" in restored.stdout
    assert opened[-1].read == ["heartbeat"]
    stored = store.get("heartbeat")
    assert stored is not None
    assert stored.definition() == Entry.from_dict(ENTRIES[1]).definition()
