"""Bad input exits 2 with a message naming the file, entry and field; failures exit 1."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from celery_stembeat.cli import main
from celery_stembeat.specs import IntervalSpec
from celery_stembeat.stores import Store
from tests.cli.conftest import ENVIRONMENT, Invoke
from tests.cli.files import ENTRIES, write
from tests.cli.scenario import NOW, entry

GOOD = {"id": "good", "task": "tasks.good", "spec": "5m"}


def error_line(stderr: str) -> str:
    return stderr.strip().splitlines()[-1]


MARS = {"type": "cron", "expression": "0 9 * * *", "timezone": "Mars/Base"}
POLE = {"type": "solar", "event": "sunrise", "latitude": 95, "longitude": 0}


@pytest.mark.parametrize(
    ("item", "message"),
    [
        (
            {"id": "bad", "task": "t", "spec": "0 25 * * *"},
            "{jobs} item 2: entry 'bad': 'spec': cron field 'hour': 25 is outside 0-23",
        ),
        (
            {"id": "bad", "task": "t", "spec": MARS},
            "{jobs} item 2: entry 'bad': 'spec': unknown time zone 'Mars/Base'",
        ),
        (
            {"id": "bad", "task": "t", "spec": POLE},
            "{jobs} item 2: entry 'bad': 'spec': latitude 95 is outside -90..90",
        ),
        (
            {"id": "bad", "task": "t", "spec": "5m", "colour": "red"},
            "{jobs} item 2: entry 'bad': unknown field 'colour'",
        ),
        (
            {"id": "bad", "task": "t", "spec": "5m", "options": {"queue": 7}},
            "{jobs} item 2: entry 'bad': 'options.queue': expected text, got 7",
        ),
        (
            {"id": "bad", "task": "t", "spec": "5m", "options": {"countdown": -5}},
            "{jobs} item 2: entry 'bad': 'options.countdown': -5 is not a number of seconds "
            "0 to 31622400",
        ),
        (
            {"id": "bad", "task": "t", "spec": "5m", "options": {"link": {"task": "t2"}}},
            "{jobs} item 2: entry 'bad': 'options.link': a signature (tasks to call with the "
            "result) cannot be stored as JSON",
        ),
        (
            {"id": "bad", "task": "t", "spec": "5m", "options": {"retry_policy": {"x": 1}}},
            "{jobs} item 2: entry 'bad': 'options.retry_policy': unknown key 'x' (use "
            "max_retries, interval_start, interval_step, interval_max)",
        ),
        (
            {"id": "bad", "task": "t", "spec": "5m", "state": {"total_run_count": 3}},
            "{jobs} item 2: entry 'bad': 'state' is not part of a definition (files hold "
            "definitions only; the store keeps source, version and state)",
        ),
        ({"id": "bad", "spec": "5m"}, "{jobs} item 2: entry 'bad': 'task' is missing"),
        (
            {"id": "good", "task": "t", "spec": "5m"},
            "{jobs} item 2: entry 'good' is already defined by {jobs} item 1",
        ),
    ],
)
def test_one_bad_entry_rejects_the_whole_apply(
    cli: Invoke, store: Store, tmp_path: Path, item: dict[str, object], message: str
) -> None:
    store.upsert(entry("existing", IntervalSpec(60), NOW))
    before = [stored.to_dict() for stored in store.list_entries()]
    other = write(tmp_path / "other.json", ENTRIES)
    path = write(tmp_path / "jobs.json", [GOOD, item])
    result = cli("apply", str(other), str(path))
    assert result.exit_code == 2
    assert error_line(result.stderr) == "Error: " + message.format(jobs=path)
    assert result.stdout == ""
    assert [stored.to_dict() for stored in store.list_entries()] == before


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        (
            "jobs.json",
            '[\n  {"id": "a", "task": "t", "spec": "5m"}\n  {"id": "b"}\n]\n',
            "jobs.json: line 3 column 3: Expecting ',' delimiter",
        ),
        ("jobs.json", "", "jobs.json: line 1 column 1: Expecting value"),
        (
            "jobs.yaml",
            "- id: a\n  task: t\n   spec: 5m\n",
            "jobs.yaml: line 3 column 8: mapping values are not allowed here",
        ),
        (
            "jobs.json",
            '{"jobs": []}',
            'jobs.json: expected a list of entries or {"entries": [...]}',
        ),
        ("jobs.json", '["5m"]', "jobs.json item 1: entry: expected an object, got '5m'"),
    ],
)
def test_unreadable_files_name_the_file_and_line(
    sqlite_cli: Invoke, sqlite_store: Store, tmp_path: Path, name: str, text: str, message: str
) -> None:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    result = sqlite_cli("apply", str(write(tmp_path / "good.json", [GOOD])), str(path))
    assert result.exit_code == 2
    assert error_line(result.stderr) == f"Error: {tmp_path / message}"
    assert sqlite_store.list_entries() == []


def test_malformed_json_on_stdin(sqlite_cli: Invoke) -> None:
    result = sqlite_cli("apply", "-", input='[{"id": "a",}]')
    assert result.exit_code == 2
    assert error_line(result.stderr) == (
        "Error: <stdin>: line 1 column 13: Expecting property name enclosed in double quotes"
    )


def test_yaml_without_pyyaml_says_what_to_install(
    sqlite_cli: Invoke, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "yaml", None)
    path = tmp_path / "jobs.yaml"
    path.write_text("- {id: a, task: t, spec: 5m}\n", encoding="utf-8")
    for args in (("apply", str(path)), ("export", "--format", "yaml")):
        result = sqlite_cli(*args)
        assert result.exit_code == 2
        assert error_line(result.stderr) == (
            "Error: YAML needs PyYAML: pip install 'celery-stembeat[yaml]' (or use a JSON file)"
        )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ("--spec", "0 25 * * *"),
            "Invalid value for '--spec': cron field 'hour': 25 is outside 0-23",
        ),
        (
            ("--spec", json.dumps(MARS)),
            "Invalid value for '--spec': unknown time zone 'Mars/Base'",
        ),
        (
            ("--spec", "5m", "--tz", "Mars/Base"),
            "Invalid value for '--tz': unknown time zone 'Mars/Base'",
        ),
        (
            ("--spec", json.dumps(POLE)),
            "Invalid value for '--spec': latitude 95 is outside -90..90",
        ),
        (
            ("--spec", '{"type": "cron", "expression": "0 9 * * *"'),
            "Invalid value for '--spec': spec JSON: Expecting ',' delimiter at line 1 column 43",
        ),
        (
            ("--spec", "5m", "--after", "2026-03-02T09:00"),
            "Invalid value for '--after': instant: 2026-03-02T09:00:00 has no time zone",
        ),
        ((), "give either an entry ID or --spec SPEC"),
        (("report", "--spec", "5m"), "give either an entry ID or --spec SPEC"),
    ],
)
def test_dry_run_bad_input(sqlite_cli: Invoke, args: tuple[str, ...], message: str) -> None:
    result = sqlite_cli("dry-run", *args)
    assert result.exit_code == 2
    assert error_line(result.stderr) == f"Error: {message}"


@pytest.mark.parametrize(
    "args",
    [
        ("show", "nope"),
        ("history", "nope"),
        ("dry-run", "nope"),
        ("enable", "nope"),
        ("disable", "nope"),
        ("remove", "nope"),
    ],
)
def test_an_unknown_id_fails_naming_it(cli: Invoke, args: tuple[str, ...]) -> None:
    result = cli(*args)
    assert result.exit_code == 1
    assert error_line(result.stderr) == "Error: no entry 'nope'"


def test_without_a_store_url_is_a_usage_error() -> None:
    result = CliRunner().invoke(main, ["list"], env=ENVIRONMENT)
    assert result.exit_code == 2
    assert error_line(result.stderr) == "Error: no store: pass --url or set STEMBEAT_URL"


def test_the_url_may_come_from_the_environment(sqlite_url: str, sqlite_store: Store) -> None:
    sqlite_store.upsert(entry("tick", IntervalSpec(60), NOW))
    result = CliRunner().invoke(
        main, ["list", "--json"], env={**ENVIRONMENT, "STEMBEAT_URL": sqlite_url}
    )
    assert result.exit_code == 0, result.output
    assert [item["id"] for item in json.loads(result.stdout)] == ["tick"]


def test_help_needs_no_store() -> None:
    result = CliRunner().invoke(main, ["list", "--help"], env=ENVIRONMENT)
    assert result.exit_code == 0
    assert "--enabled / --disabled" in result.stdout


@pytest.mark.parametrize(
    ("url", "message"),
    [
        (
            "postgresql+psycopg://nobody:secret@127.0.0.1:1/x",
            "Error: SQL store postgresql+psycopg://nobody:***@127.0.0.1:1/x:",
        ),
    ],
)
def test_a_store_that_cannot_be_opened_fails(url: str, message: str) -> None:
    result = CliRunner().invoke(main, ["--url", url, "list"], env=ENVIRONMENT)
    assert result.exit_code == 1
    assert error_line(result.stderr).startswith(message)
    assert "secret" not in result.stderr


MALFORMED_URLS = [
    (
        "redis://:secret@127.0.0.1:xx/0",
        "store URL redis://:***@127.0.0.1:xx/0: Port could not be cast to integer value as 'xx'",
    ),
    ("redis://:secret@[::1/0", "store URL <unparsable URL>: Invalid IPv6 URL"),
    (
        "postgresql://u:secret@127.0.0.1:99999/test",
        "store URL postgresql://u:***@127.0.0.1:99999/test: Port out of range 0-65535",
    ),
    ("sqlite:///x.db?history_limit=zz", "store URL: history_limit 'zz' is not a number"),
    (
        "redis://127.0.0.1/0?history_max_age=-30d",
        "store URL: history_max_age '-30d' is not a duration from 0 to 3650d (seconds, or a "
        "number with s, m, h or d)",
    ),
    (
        "ftp://example.com/x",
        "store URL: unknown scheme 'ftp' (use memory://, sqlite:///, postgresql://, redis://, "
        "redis+cluster://, sentinel://)",
    ),
]


@pytest.mark.parametrize("value", ["-1", "99999999999d", "1e999", "soon", "9" * 2**20])
def test_a_hostile_history_max_age_is_refused_and_nothing_is_written(
    tmp_path: Path, value: str
) -> None:
    """One line naming the option, exit 2, and no store file made."""
    path = tmp_path / "never.db"
    url = f"sqlite:///{path}?history_max_age={value}"
    files = write(tmp_path / "entries.json", ENTRIES)
    result = CliRunner().invoke(main, ["--url", url, "apply", str(files)], env=ENVIRONMENT)
    assert result.exit_code == 2
    assert result.stderr.startswith("Error: store URL: history_max_age ")
    assert result.stderr.count("\n") == 1
    assert len(result.stderr) < 300
    assert not path.exists()


@pytest.mark.parametrize(("url", "message"), MALFORMED_URLS)
@pytest.mark.parametrize("via", ["--url", "STEMBEAT_URL"])
def test_a_malformed_store_url_is_a_usage_error(url: str, message: str, via: str) -> None:
    if via == "--url":
        result = CliRunner().invoke(main, ["--url", url, "list"], env=ENVIRONMENT)
    else:
        result = CliRunner().invoke(main, ["list"], env={**ENVIRONMENT, "STEMBEAT_URL": url})
    assert result.exit_code == 2
    assert result.stderr == f"Error: {message}\n"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ("import", "--from", "redbeat", "--redis-url", "redis://:secret@127.0.0.1:xx/0"),
            "RedBeat URL redis://:***@127.0.0.1:xx/0: Port could not be cast to integer "
            "value as 'xx'",
        ),
        (
            ("import", "--from", "redbeat", "--redis-url", "redis://:secret@[::1/0"),
            "RedBeat URL <unparsable URL>: Invalid IPv6 URL",
        ),
        (
            ("import", "--from", "django-celery-beat", "--db-url", "postgresql://u:secret@h:x/d"),
            "database URL postgresql://u:***@h:x/d: Port could not be cast to integer value as 'x'",
        ),
        (
            ("export", "--to", "django-celery-beat", "--db-url", "postgresql://u:secret@[::1/d"),
            "database URL <unparsable URL>: Invalid IPv6 URL",
        ),
    ],
)
def test_a_malformed_source_url_is_a_usage_error(
    sqlite_cli: Invoke, args: tuple[str, ...], message: str
) -> None:
    result = sqlite_cli(*args)
    assert result.exit_code == 2
    assert result.stderr == f"Error: {message}\n"


def test_an_unreachable_redbeat_does_not_show_its_password(sqlite_cli: Invoke) -> None:
    url = "redis://:secret@127.0.0.1:1/0"
    result = sqlite_cli("import", "--from", "redbeat", "--redis-url", url)
    assert result.exit_code == 1
    assert error_line(result.stderr).startswith("Error: RedBeat at redis://:***@127.0.0.1:1/0: ")
    assert "secret" not in result.output
