"""``rollback`` on every store: an entry's earlier definition restored from the audit log, its
run state kept, the write checked and recorded; a dry run, JSON, and every refusal."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from celery_stembeat.audit import ChangeNote
from celery_stembeat.cli.session import actor
from celery_stembeat.entry import Entry
from celery_stembeat.specs import IntervalSpec
from celery_stembeat.stores import PUBLISHED, Pause, RunRecord, Store, open_store
from tests.cli.conftest import Invoke, usage_error
from tests.cli.files import write
from tests.cli.racing import racing_cli
from tests.cli.scenario import NOW, beat, entry, minutes
from tests.cli.tampering import tamper
from tests.contract.helpers import with_option

OPS = ChangeNote("ops@host-1", "apply", minutes(-30))


def apply_spec(cli: Invoke, tmp_path: Path, spec: str, **fields: Any) -> None:
    """``stembeat apply`` of ``job``, every ``spec``."""
    item = {"id": "job", "task": "tasks.job", "spec": spec, **fields}
    result = cli("apply", str(write(tmp_path / "job.json", [item])))
    assert result.exit_code == 0, result.output


@pytest.fixture
def job(store: Store) -> Entry:
    """``job``, every 5 minutes, created half an hour ago, which beat has run twice."""
    store.upsert(entry("job", IntervalSpec(300), minutes(-10)), note=OPS)
    assert beat(store, minutes(-10)) == ["job"]
    assert beat(store, minutes(-5)) == ["job"]
    stored = store.get("job")
    assert stored is not None
    return stored


def test_rollback_undoes_the_newest_change_and_keeps_run_state(
    cli: Invoke, store: Store, job: Entry, tmp_path: Path
) -> None:
    apply_spec(cli, tmp_path, "1m", description="faster")
    record = RunRecord("job", NOW, PUBLISHED, NOW, 0.0, owner="x@y", task_id="t", manual=True)
    assert store.record_manual_run(record)  # a run: skipped by the undo
    changed = store.get("job")
    assert changed is not None
    assert changed.state.next_run_at == minutes(1)
    result = cli("rollback", "job")
    assert (result.exit_code, result.stderr) == (0, "")
    assert result.stdout.splitlines() == [
        "rolled back job: its definition before change 2",
        '  spec: {"type": "interval", "every": 60.0, "start_at": null, "end_at": null} → '
        '{"type": "interval", "every": 300.0, "start_at": null, "end_at": null}',
        '  description: "faster" → ""',
    ]
    restored = store.get("job")
    assert restored is not None
    assert restored.definition() == job.definition()
    assert restored.version == changed.version + 1
    assert restored.state.total_run_count == 2
    assert restored.state.last_run_at == job.state.last_run_at
    # as apply would: the restored schedule starts afresh from now, for beat to follow at once
    assert restored.state.next_run_at == minutes(5)
    newest = list(store.changes("job"))[-1]
    assert (newest.seq, newest.verb, newest.actor, newest.at) == (4, "rollback", actor(), NOW)
    assert (newest.before, newest.after) == (changed.definition(), job.definition())
    again = cli("rollback", "job")  # undoing the rollback: the change it undid, again
    assert again.stdout.splitlines()[0] == "rolled back job: its definition before change 4"
    assert store.get("job").definition() == changed.definition()  # type: ignore[union-attr]


def test_rollback_to_restores_the_definition_right_after_that_change(
    cli: Invoke, store: Store, job: Entry, tmp_path: Path
) -> None:
    apply_spec(cli, tmp_path, "1m")
    apply_spec(cli, tmp_path, "2m", tags=["fast"])
    result = cli("rollback", "job", "--to", "2")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        "rolled back job: its definition after change 2",
        '  spec: {"type": "interval", "every": 120.0, "start_at": null, "end_at": null} → '
        '{"type": "interval", "every": 60.0, "start_at": null, "end_at": null}',
        '  tags: ["fast"] → []',
    ]
    assert store.get("job").spec == IntervalSpec(60)  # type: ignore[union-attr]
    result = cli("rollback", "job", "--to", "1")
    assert store.get("job").definition() == job.definition()  # type: ignore[union-attr]
    result = cli("rollback", "job", "--to", "1")
    assert (result.exit_code, result.stdout) == (
        0, "job already has its definition after change 1: nothing to roll back\n",
    )  # fmt: skip
    assert store.audit_head().seq == 5


def test_a_removed_entry_is_created_again_and_a_new_one_removed(
    cli: Invoke, store: Store, job: Entry
) -> None:
    assert cli("remove", "job").exit_code == 0
    result = cli("rollback", "job")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == "recreated job: its definition before change 2"
    assert lines[1:4] == ['  id: - → "job"', '  task: - → "tasks.job"',
                          '  spec: - → {"type": "interval", "every": 300.0, "start_at": null, '
                          '"end_at": null}']  # fmt: skip
    recreated = store.get("job")
    assert recreated is not None
    assert recreated.definition() == job.definition()
    assert (recreated.version, recreated.state.total_run_count) == (1, 0)
    assert (recreated.state.created_at, recreated.state.next_run_at) == (NOW, minutes(5))
    result = cli("rollback", "job", "--to", "2")
    lines = result.stdout.splitlines()
    assert lines[:2] == ["removed job: it did not exist after change 2", '  id: "job" → -']
    assert len(lines) == 1 + len(job.definition())
    assert store.get("job") is None
    store.upsert(entry("fresh", IntervalSpec(60), NOW))
    result = cli("rollback", "fresh")
    assert result.stdout.splitlines()[0] == "removed fresh: it did not exist before change 5"
    assert store.get("fresh") is None
    assert [(c.verb, c.entry_id) for c in store.changes()][-3:] == [
        ("rollback", "job"), ("write", "fresh"), ("rollback", "fresh"),
    ]  # fmt: skip


def test_a_dry_run_shows_the_difference_and_writes_nothing(
    cli: Invoke, store: Store, job: Entry, tmp_path: Path
) -> None:
    apply_spec(cli, tmp_path, "1m", kwargs={"to": "ops\nteam"})
    head, before = store.audit_head(), store.get("job")
    result = cli("rollback", "job", "--dry-run")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        "rolled back job: its definition before change 2 (dry run: nothing written)",
        '  spec: {"type": "interval", "every": 60.0, "start_at": null, "end_at": null} → '
        '{"type": "interval", "every": 300.0, "start_at": null, "end_at": null}',
        '  kwargs: {"to": "ops\\nteam"} → {}',
    ]
    assert (store.audit_head(), store.get("job")) == (head, before)
    document = json.loads(cli("rollback", "job", "--dry-run", "--json").stdout)
    assert document == {
        "entry": "job", "change": 2, "restored": "before", "action": "update", "dry_run": True,
        "current": before.definition(), "definition": job.definition(), "version": None,  # type: ignore[union-attr]
    }  # fmt: skip
    assert store.audit_head() == head


def test_rollback_json(cli: Invoke, store: Store, job: Entry, tmp_path: Path) -> None:
    apply_spec(cli, tmp_path, "1m")
    document = json.loads(cli("rollback", "job", "--json").stdout)
    assert (document["action"], document["restored"], document["change"]) == ("update", "before", 2)
    assert (document["definition"], document["version"]) == (job.definition(), 3)
    assert document["current"]["spec"]["every"] == 60.0


@pytest.fixture
def racing(store_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    yield from racing_cli(store_url, monkeypatch)


@pytest.mark.usefixtures("racing")
def test_a_change_meanwhile_fails_and_writes_nothing(
    cli: Invoke, store: Store, job: Entry, tmp_path: Path
) -> None:
    store.upsert(Entry.from_dict({**job.definition(), "jitter": 2}))
    result = cli("rollback", "job")
    assert result.exit_code == 1
    assert result.stderr == (
        "Error: entry 'job' changed while rolling back: nothing written (see stembeat log job)\n"
    )
    assert [c.verb for c in store.changes("job")] == ["apply", "write", "write"]
    assert store.get("job").description == "rival"  # type: ignore[union-attr]


@pytest.mark.usefixtures("racing")
def test_a_change_meanwhile_keeps_the_entry_a_rollback_would_remove(
    cli: Invoke, store: Store
) -> None:
    store.upsert(entry("fresh", IntervalSpec(60), NOW))
    result = cli("rollback", "fresh")
    assert result.exit_code == 1
    assert result.stderr == (
        "Error: entry 'fresh' changed while rolling back: nothing written (see stembeat log "
        "fresh)\n"
    )
    assert [c.verb for c in store.changes("fresh")] == ["write", "write"]
    assert store.get("fresh").description == "rival"  # type: ignore[union-attr]


def test_an_entry_of_beat_schedule_is_refused(cli: Invoke, store: Store) -> None:
    store.upsert(entry("cleanup", IntervalSpec(60), NOW, source="config"))
    store.upsert(entry("cleanup", IntervalSpec(90), NOW, source="config"))
    head = store.audit_head()
    result = cli("rollback", "cleanup")
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: entry 'cleanup' comes from beat_schedule")
    assert store.audit_head() == head


def test_an_edited_record_is_refused(
    cli: Invoke, store: Store, job: Entry, backend: str, tmp_path: Path
) -> None:
    apply_spec(cli, tmp_path, "1m")
    tamper(store, backend, 2, "edit")
    head = store.audit_head()
    result = cli("rollback", "job")
    assert result.exit_code == 1
    assert result.stderr == (
        "Error: change 2 was edited: its hash does not match its content (see stembeat log "
        "--verify); nothing written\n"
    )
    assert store.audit_head() == head


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("\x1b[2J",), r"'\x1b[2J' is not an entry id (1 to 200 printable characters)"),
        (("j" * 201,), "is not an entry id (1 to 200 printable characters)"),
        (("",), "'' is not an entry id"),
        (("nope",), "the audit log holds no change of entry 'nope' to undo"),
        (("job", "--to", "0"), "Invalid value for '--to': 0 is not in the range x>=1"),
        (("job", "--to", "-3"), "Invalid value for '--to': -3 is not in the range x>=1"),
        (("job", "--to", "two"), "Invalid value for '--to': 'two' is not a valid integer"),
        (("job", "--to", "9" * 40), f"--to {'9' * 40}: no such change in the audit log"),
        (("job", "--to", "6"), "--to 6: no such change in the audit log (it holds changes 1-5)"),
        (("job", "--to", "2"), "--to 2: change 2 is about entry 'other', not entry 'job'"),
        (("job", "--to", "3"), "--to 3: change 3 is about the pause, not entry 'job'"),
        (("job", "--to", "4"), "--to 4: change 4 is a run, which left the definition alone"),
        (("nope", "--to", "1"), "--to 1: change 1 is about entry 'job', not entry 'nope'"),
    ],
)
def test_bad_input_is_one_line_exit_2_and_nothing_written(
    cli: Invoke, store: Store, job: Entry, args: tuple[str, ...], message: str
) -> None:
    store.upsert(entry("other", IntervalSpec(60), NOW))
    store.pause(Pause(NOW, None, "", "ops@host-1"))
    record = RunRecord("job", NOW, PUBLISHED, NOW, 0.0, owner="x@y", task_id="t", manual=True)
    assert store.record_manual_run(record)
    store.resume()
    head, entries = store.audit_head(), store.list_entries()
    result = cli("rollback", *args)
    assert message in usage_error(result)
    assert (store.audit_head(), store.list_entries()) == (head, entries)


def test_a_change_no_longer_kept_is_refused(cli: Invoke, store_url: str, store: Store) -> None:
    with open_store(with_option(store_url, "audit_limit", 2)) as limited:
        for every in (60, 90, 120):
            limited.upsert(entry("job", IntervalSpec(every), NOW))
    result = cli("rollback", "job", "--to", "1")
    assert result.exit_code == 2
    assert result.stderr == (
        "Error: --to 1: no such change in the audit log (it holds changes 2-3)\n"
    )
