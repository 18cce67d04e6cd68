"""Hostile entry files: a clean one-line error, exit 2, and nothing written, on every store."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from celery_stembeat.specs import IntervalSpec
from celery_stembeat.stores import Store
from tests.cli.conftest import Invoke, usage_error
from tests.cli.scenario import NOW, entry

GOOD = '{"id": "good", "task": "tasks.good", "spec": "5m"}'
#: Nine levels of nine aliases: 9**9 strings once expanded, from about 700 bytes.
ALIAS_BOMB = "".join(
    f"{name}: &{name} [{', '.join([f'*{previous}'] * 9)}]\n"
    for previous, name in zip("abcdefgh", "bcdefghi", strict=True)
)
ALIAS_BOMB = 'a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]\n' + ALIAS_BOMB


SURROGATE_KWARGS = json.dumps({"to": "x\udc80"})
SURROGATE_TAGS = json.dumps(["ok", "x\udc80"])
CONTROL_TAGS = json.dumps(["a\x1b[2Jb", "ok"])


def item(**fields: str) -> str:
    """An entry's JSON text with raw JSON ``fields`` beside id, task and spec."""
    extra = "".join(f', "{name}": {value}' for name, value in fields.items())
    return '{"id": "bad", "task": "tasks.bad", "spec": "5m"' + extra + "}"


def random_interval(up_to: str) -> str:
    """An entry's JSON text whose spec is every 5 minutes up to the raw JSON ``up_to``."""
    spec = '{"type": "interval", "every": 300, "up_to": ' + up_to + "}"
    return '{"id": "bad", "task": "tasks.bad", "spec": ' + spec + "}"


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        (
            "surrogate-id",
            f'[{GOOD}, {{"id": "bad\\udc80", "task": "t", "spec": "5m"}}]',
            r"item 2: entry 'bad\udc80': 'id': 'bad\udc80' is not valid UTF-8 text",
        ),
        (
            "surrogate-kwargs",
            f"[{GOOD}, {item(kwargs=SURROGATE_KWARGS)}]",
            "item 2: entry 'bad': 'kwargs': holds text that is not valid UTF-8",
        ),
        (
            "nested-1000",
            f"[{GOOD}, {item(args='[' * 1000 + ']' * 1000)}]",
            "nested too deeply",
        ),
        (
            "nested-900",
            f"[{GOOD}, {item(args='[' * 900 + ']' * 900)}]",
            "item 2: entry 'bad': 'args': nested more than 32 levels deep",
        ),
        ("int-5000-digits", f"[{GOOD}, {item(args='[' + '7' * 5000 + ']')}]", "5000 digits"),
        (
            "jitter-1e400",
            f"[{GOOD}, {item(jitter='1e400')}]",
            "item 2: entry 'bad': 'jitter': inf is not a number of seconds 0-86400",
        ),
        (
            "kwargs-1mb",
            f"[{GOOD}, {item(kwargs=json.dumps({'k': 'x' * 1_000_000}))}]",
            "item 2: entry 'bad': 'kwargs': 1000008 bytes of JSON, more than 65536",
        ),
        (
            "tag-1mb",
            f"[{GOOD}, {item(tags=json.dumps(['x' * 1_000_000]))}]",
            "item 2: entry 'bad': 'tags[0]': 'xxxxxxxxxx",
        ),
        (
            "tags-10000",
            f"[{GOOD}, {item(tags=json.dumps(['t'] * 10_000))}]",
            "item 2: entry 'bad': 'tags': 10000 tags, more than 32",
        ),
        (
            "tags-not-a-list",
            f"[{GOOD}, {item(tags=json.dumps({'team': 'x'}))}]",
            "item 2: entry 'bad': 'tags': expected a list of names, got {'team': 'x'}",
        ),
        (
            "tag-surrogate",
            f"[{GOOD}, {item(tags=SURROGATE_TAGS)}]",
            r"item 2: entry 'bad': 'tags[1]': 'x\udc80' is not a tag",
        ),
        (
            "tag-control",
            f"[{GOOD}, {item(tags=CONTROL_TAGS)}]",
            r"item 2: entry 'bad': 'tags[0]': 'a\x1b[2Jb' is not a tag",
        ),
        (
            "up-to-not-above-every",
            f"[{GOOD}, {random_interval('300')}]",
            "item 2: entry 'bad': 'spec': interval 'up_to': 300 must be more than 'every' (5m)",
        ),
        (
            "up-to-1e400",
            f"[{GOOD}, {random_interval('1e400')}]",
            "item 2: entry 'bad': 'spec': interval 'up_to': inf is not a finite number",
        ),
        (
            "up-to-1mb",
            f"[{GOOD}, {random_interval(json.dumps('x' * 1_000_000))}]",
            "item 2: entry 'bad': 'spec': interval 'up_to': 'xxxxxxxxxx",
        ),
        (
            "id-1mb",
            f'[{GOOD}, {{"id": "{"x" * 1_000_000}", "task": "t", "spec": "5m"}}]',
            "'id': 1000000 characters, more than 200",
        ),
    ],
)
def test_a_hostile_file_is_refused_whole(
    cli: Invoke, store: Store, tmp_path: Path, name: str, text: str, message: str
) -> None:
    store.upsert(entry("existing", IntervalSpec(60), NOW))
    before = [stored.to_dict() for stored in store.list_entries()]
    path = tmp_path / f"{name}.json"
    path.write_text(text, encoding="utf-8")
    result = cli("apply", str(path))
    assert result.exit_code == 2
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert len(result.stderr) < 400
    assert [stored.to_dict() for stored in store.list_entries()] == before
    exported = cli("export")
    assert exported.exit_code == 0
    assert [item["id"] for item in json.loads(exported.stdout)["entries"]] == ["existing"]


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("bomb.yaml", ALIAS_BOMB, "bomb.yaml: line 2 column 8: aliases (*name) are not accepted"),
        (
            "deep.yaml",
            "- id: a\n  task: t\n  spec: 5m\n  args: " + "[" * 1000 + "]" * 1000 + "\n",
            "deep.yaml: nested too deeply",
        ),
        (
            "int.yaml",
            "- id: a\n  task: t\n  spec: 5m\n  args: [" + "7" * 5000 + "]\n",
            "int.yaml: an integer of 5000 digits (at most 40)",
        ),
        (
            "merge.yaml",
            "- &base {id: a, task: t, spec: 5m}\n- <<: *base\n  id: b\n",
            "merge.yaml: line 2 column 7: aliases (*name) are not accepted",
        ),
    ],
)
def test_hostile_yaml_is_refused_at_once_even_in_a_dry_run(
    sqlite_cli: Invoke, sqlite_store: Store, tmp_path: Path, name: str, text: str, message: str
) -> None:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    started = time.monotonic()
    result = sqlite_cli("apply", "--dry-run", str(path))
    assert time.monotonic() - started < 5
    assert result.exit_code == 2
    assert result.stderr.strip() == f"Error: {tmp_path / message}"
    assert sqlite_store.list_entries() == []


def test_yaml_anchors_without_aliases_still_read(
    sqlite_cli: Invoke, sqlite_store: Store, tmp_path: Path
) -> None:
    path = tmp_path / "anchors.yaml"
    path.write_text("- &one {id: a, task: t, spec: 5m}\n", encoding="utf-8")
    result = sqlite_cli("apply", str(path))
    assert result.exit_code == 0, result.output
    assert [stored.id for stored in sqlite_store.list_entries()] == ["a"]


@pytest.mark.parametrize(
    "value",
    ["x" * 100_000, "wide\n\x1b[2J\t", "", "WIDE", "json"],
)
@pytest.mark.parametrize("verb", ["list", "observe", "beats"])
def test_a_hostile_output_option_is_refused_in_one_short_line(
    sqlite_cli: Invoke, verb: str, value: str
) -> None:
    result = sqlite_cli(verb, "-o", value)
    error = usage_error(result)
    assert error.startswith("Error: Invalid value for '-o' / '--output': ")
    assert error.endswith(" is not one of wide, tsv")
    assert "\x1b" not in result.stderr
