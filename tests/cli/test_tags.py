"""``--tag`` on ``list``, ``export``, ``enable``, ``disable`` and ``remove``, on every store."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from celery_stembeat.specs import CronSpec, IntervalSpec
from celery_stembeat.stores import Store
from tests.cli.conftest import Invoke
from tests.cli.scenario import NOW, entry


@pytest.fixture
def tagged(store: Store) -> Store:
    """Four entries: two of team billing (one nightly), a nightly one of ops, one untagged."""
    store.upsert(entry("invoices", CronSpec("0 2 * * *"), NOW, tags=["team:billing", "nightly"]))
    store.upsert(entry("reminders", IntervalSpec(3600), NOW, tags=["team:billing"]))
    store.upsert(entry("backup", CronSpec("0 3 * * *"), NOW, tags=["nightly", "team:ops"]))
    store.upsert(entry("ping", IntervalSpec(60), NOW))
    return store


def _ids(output: str) -> list[str]:
    return [item["id"] for item in json.loads(output)]


def test_list_narrows_to_the_entries_holding_every_tag(cli: Invoke, tagged: Store) -> None:
    assert _ids(cli("list", "--tag", "nightly", "--json").stdout) == ["backup", "invoices"]
    both = cli("list", "--tag", "nightly", "--tag", "team:billing", "--json")
    assert _ids(both.stdout) == ["invoices"]
    assert json.loads(both.stdout)[0]["tags"] == ["nightly", "team:billing"]
    assert cli("list", "--tag", "team:billing", "--count").stdout == "2\n"
    assert cli("list", "--tag", "team:billing", "--disabled", "--count").stdout == "0\n"
    assert cli("list", "--tag", "nightly", "--prefix", "inv", "--count").stdout == "1\n"
    assert cli("list", "--tag", "nobody", "--count").stdout == "0\n"


@pytest.mark.parametrize(
    ("tag", "message"),
    [
        ("-x", "'tags[0]': '-x' is not a tag"),
        ("x" * 10_000, "'tags[0]': 'xxx"),
        ("a\x1bb", r"'tags[0]': 'a\x1bb' is not a tag"),
    ],
)
def test_a_bad_tag_is_a_usage_error(cli: Invoke, tagged: Store, tag: str, message: str) -> None:
    for verb in (["list"], ["export"], ["disable"], ["remove", "--yes"]):
        result = cli(*verb, "--tag", tag)
        assert result.exit_code == 2, verb
        assert message in result.stderr
        assert len(result.stderr) < 600
    assert [e.enabled for e in tagged.list_entries()] == [True] * 4


def test_export_writes_the_tagged_entries_with_their_tags(
    cli: Invoke, tagged: Store, tmp_path: Path
) -> None:
    result = cli("export", "--tag", "nightly")
    assert result.exit_code == 0, result.output
    entries = json.loads(result.stdout)["entries"]
    assert [(item["id"], item["tags"]) for item in entries] == [
        ("backup", ["nightly", "team:ops"]),
        ("invoices", ["nightly", "team:billing"]),
    ]
    path = tmp_path / "nightly.json"
    path.write_text(result.stdout, encoding="utf-8")
    assert cli("apply", str(path)).stdout.endswith("0 added, 0 changed, 2 unchanged, 0 removed\n")


def test_disable_and_enable_act_on_the_tagged_entries(cli: Invoke, tagged: Store) -> None:
    result = cli("disable", "--tag", "nightly")
    assert (result.exit_code, result.stdout) == (0, "disabled backup\ndisabled invoices\n")
    assert [e.id for e in tagged.list_entries(enabled=False)] == ["backup", "invoices"]
    result = cli("enable", "--tag", "nightly", "--tag", "team:ops", "--json")
    assert result.exit_code == 0, result.output
    assert _ids(result.stdout) == ["backup"]
    assert [e.id for e in tagged.list_entries(enabled=False)] == ["invoices"]


def test_ids_and_tags_do_not_combine_and_one_of_them_is_needed(cli: Invoke, tagged: Store) -> None:
    for verb in ("enable", "disable", "remove"):
        both = cli(verb, "ping", "--tag", "nightly")
        assert both.exit_code == 2
        assert "give entry IDs or --tag, not both" in both.stderr
        neither = cli(verb)
        assert neither.exit_code == 2
        assert "give entry IDs, or --tag to select by tag" in neither.stderr
    assert len(tagged.list_entries(enabled=True)) == 4


def test_a_tag_nobody_has_changes_nothing_and_is_not_an_error(cli: Invoke, tagged: Store) -> None:
    result = cli("disable", "--tag", "nobody")
    assert (result.exit_code, result.stdout) == (0, "")
    assert result.stderr == "no entries tagged nobody\n"
    assert cli("remove", "--tag", "nobody").exit_code == 0
    assert len(tagged.list_entries()) == 4


def test_remove_by_tag_asks_first_unless_yes(cli: Invoke, tagged: Store) -> None:
    declined = cli("remove", "--tag", "team:billing", input="n\n")
    assert declined.exit_code == 1
    assert "Remove 2 entries tagged team:billing (invoices, reminders)?" in declined.stderr
    assert len(tagged.list_entries()) == 4
    accepted = cli("remove", "--tag", "team:billing", input="y\n")
    assert accepted.exit_code == 0, accepted.output
    assert accepted.stdout == "removed invoices\nremoved reminders\n"
    assert [e.id for e in tagged.list_entries()] == ["backup", "ping"]
    assert tagged.ids_tagged(["team:billing"]) == []
    quiet = cli("remove", "--tag", "nightly", "--yes", "--json")
    assert quiet.exit_code == 0, quiet.output
    assert _ids(quiet.stdout) == ["backup"]
    assert [e.id for e in tagged.list_entries()] == ["ping"]


def test_removing_by_id_never_asks(cli: Invoke, tagged: Store) -> None:
    assert cli("remove", "ping").stdout == "removed ping\n"


def test_apply_names_a_change_of_tags_and_ignores_their_order(
    cli: Invoke, store: Store, tmp_path: Path
) -> None:
    path = tmp_path / "jobs.json"
    job = {"id": "job", "task": "t", "spec": "5m", "tags": ["b", "a"]}
    path.write_text(json.dumps([job]), encoding="utf-8")
    assert cli("apply", str(path)).exit_code == 0
    path.write_text(json.dumps([{**job, "tags": ["a", "b", "a"]}]), encoding="utf-8")
    assert cli("apply", str(path)).stdout == "0 added, 0 changed, 1 unchanged, 0 removed\n"
    path.write_text(json.dumps([{**job, "tags": ["c"]}]), encoding="utf-8")
    result = cli("apply", str(path))
    assert result.stdout.startswith("changed    job (tags)\n")
    assert (store.ids_tagged(["a"]), store.ids_tagged(["c"])) == ([], ["job"])
