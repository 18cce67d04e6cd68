"""The audit log through the CLI on every store: each verb records its change as the CLI's
user; ``log`` shows the trail (a table, piped rows, JSON); ``log --verify`` finds a record
edited in the store itself; bad input is one line, exit 2."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from rich.cells import cell_len

from celery_stembeat.audit import Change, ChangeNote
from celery_stembeat.cli import session as session_module
from celery_stembeat.cli.session import actor
from celery_stembeat.specs import IntervalSpec, format_instant
from celery_stembeat.stores import Pause, Store, open_store
from tests.cli.conftest import Invoke, invoker, usage_error
from tests.cli.files import write
from tests.cli.scenario import NOW, entry, minutes
from tests.cli.tampering import tamper
from tests.cli.terminal import in_terminal, piped
from tests.contract.helpers import with_option

ACTOR = actor()
JOBS: list[dict[str, Any]] = [
    {"id": "report", "task": "proj.report", "spec": "0 9 * * 1-5", "description": "weekday"},
    {"id": "heartbeat", "task": "proj.heartbeat", "spec": "10s"},
]


def trail(store: Store, entry_id: str | None = None) -> list[tuple[str, str, str]]:
    """(verb, entry, what changed) of each record, oldest first, after checking that each names
    the CLI's user and its clock."""
    changes = list(store.changes(entry_id))
    assert {(change.actor, change.at) for change in changes} <= {(ACTOR, NOW)}
    return [(c.verb, c.entry_id, summary(c)) for c in changes]


def summary(change: Change) -> str:
    if change.before is None:
        return "run" if change.after is None else "created"
    return "removed" if change.after is None else ",".join(change.fields_changed())


def applied(cli: Invoke, tmp_path: Path, jobs: list[dict[str, Any]], *args: str) -> None:
    result = cli("apply", *args, str(write(tmp_path / "jobs.json", jobs)))
    assert result.exit_code == 0, result.output


def test_each_verb_records_its_changes_as_the_cli_user(
    cli: Invoke, store: Store, tmp_path: Path
) -> None:
    later = [{**JOBS[0], "spec": "0 10 * * 1-5"}, JOBS[1]]
    applied(cli, tmp_path, JOBS)
    applied(cli, tmp_path, later)
    applied(cli, tmp_path, later)  # the same again: no change, nothing recorded
    for args in (
        ("disable", "heartbeat"),
        ("disable", "heartbeat"),  # already disabled: nothing recorded
        ("enable", "heartbeat"),
        ("pause", "--reason", "upgrade"),
        ("resume",),
        ("resume",),  # not paused: nothing recorded
        ("remove", "heartbeat"),
        ("rollback", "report"),
        ("import", "--from", "celery", "--app", "tests.migrate.celery_app:app", "--allow-skips"),
    ):
        result = cli(*args)
        assert result.exit_code == 0, (args, result.output)
    applied(cli, tmp_path, JOBS[:1], "--prune", "--yes")
    imported = ["first-monday", "heartbeat", "relative", "dawn", "seconds"]
    assert trail(store) == [
        ("apply", "report", "created"),
        ("apply", "heartbeat", "created"),
        ("apply", "report", "spec"),
        ("disable", "heartbeat", "enabled"),
        ("enable", "heartbeat", "enabled"),
        ("pause", "", "created"),
        ("resume", "", "removed"),
        ("remove", "heartbeat", "removed"),
        ("rollback", "report", "spec"),
        *(("import", entry_id, "created") for entry_id in imported),
        *(("apply", entry_id, "removed") for entry_id in sorted(imported)),
    ]
    report = store.get("report")
    assert report is not None
    assert report.spec.describe() == "cron 0 9 * * 1-5 (UTC)"


OPS = "ops@host-1"


@pytest.fixture
def logged(store: Store) -> Store:
    """A store whose log holds entries created, changed, disabled and removed, and a pause
    and its end, by beat and by an operator over five minutes."""

    def note(who: str, verb: str, at: float) -> ChangeNote:
        return ChangeNote(who, verb, minutes(at))

    store.upsert(entry("sync", IntervalSpec(300), NOW), note=note("beat beat-1:4242", "sync", -5))
    store.upsert(entry("report", IntervalSpec(60), NOW), note=note(OPS, "apply", -4))
    store.upsert(
        entry("report", IntervalSpec(120), NOW, description="every other minute"),
        note=note(OPS, "apply", -3),
    )
    store.pause(Pause(minutes(-3), minutes(30), "deploy", OPS), note=note(OPS, "pause", -3))
    store.set_enabled("sync", False, minutes(-2), note=note(OPS, "disable", -2))
    store.resume(note=note(OPS, "resume", -1))
    store.delete("sync", note=note(OPS, "remove", 0))
    return store


TSV = [
    "#\tWHEN\tACTOR\tVERB\tENTRY\tCHANGED",
    "7\t2026-03-02T09:00:00Z\tops@host-1\tremove\tsync\tremoved",
    "6\t2026-03-02T08:59:00Z\tops@host-1\tresume\t-\tresumed",
    "5\t2026-03-02T08:58:00Z\tops@host-1\tdisable\tsync\tenabled",
    "4\t2026-03-02T08:57:00Z\tops@host-1\tpause\t-\tpaused until 2026-03-02T09:30:00Z: deploy",
    "3\t2026-03-02T08:57:00Z\tops@host-1\tapply\treport\tdescription, spec",
    "2\t2026-03-02T08:56:00Z\tops@host-1\tapply\treport\tcreated",
    "1\t2026-03-02T08:55:00Z\tbeat beat-1:4242\tsync\tsync\tcreated",
]


def test_log_lists_the_trail_newest_first(cli: Invoke, logged: Store) -> None:
    result = cli("log")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == TSV
    assert result.stderr == "audit log: 7 changes, newest first, times in UTC\n"
    result = cli("log", "report")
    assert result.stdout.splitlines() == [TSV[0], TSV[5], TSV[6]]
    assert result.stderr == "report: 2 changes, newest first, times in UTC\n"
    result = cli("log", "--limit", "2", "--since", "2026-03-02T08:56:00Z")
    assert result.stdout.splitlines() == TSV[:3]
    assert result.stderr == "audit log: the newest 2 of 6 changes, times in UTC\n"
    result = cli("log", "--since", "2026-03-02T10:00:00+01:00", "--no-headers")
    assert (result.stdout, result.stderr) == (TSV[1] + "\n", "")
    result = cli("log", "nothing-here")
    assert (result.exit_code, result.stdout) == (0, TSV[0] + "\n")
    assert result.stderr == "no changes of nothing-here\n"


class Counting:
    """A store that counts the change records it hands out, and how often it counts them."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self.read = 0
        self.counted = 0

    def changes(self, *args: Any, **kwargs: Any) -> Iterator[Change]:
        for change in self._store.changes(*args, **kwargs):
            self.read += 1
            yield change

    def count_changes(self, *args: Any, **kwargs: Any) -> int:
        self.counted += 1
        return self._store.count_changes(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)


LATE = "2026-03-02T08:58:00Z"


@pytest.mark.parametrize(
    ("args", "title", "read", "counted"),
    [
        (("--limit", "2"), "audit log: the newest 2 of 7 changes,", 2, 1),
        (("report", "--limit", "1"), "report: the newest 1 of 2 changes,", 1, 1),
        (("--since", LATE, "--limit", "1"), "audit log: the newest 1 of 3 changes,", 1, 1),
        (("--limit", "7"), "audit log: 7 changes, newest first,", 7, 1),
        (("--limit", "8"), "audit log: 7 changes, newest first,", 7, 0),
        (("--json", "--limit", "3"), None, 3, 0),
    ],
)
def test_log_reads_only_the_changes_it_shows(
    store_url: str,
    logged: Store,
    monkeypatch: pytest.MonkeyPatch,
    args: tuple[str, ...],
    title: str | None,
    read: int,
    counted: int,
) -> None:
    """The store reads the newest ``--limit`` changes alone, and counts the selection only
    when there may be more."""
    opened: list[Counting] = []

    def counting(url: str) -> Counting:
        opened.append(Counting(open_store(url)))
        return opened[-1]

    monkeypatch.setattr(session_module, "open_store", counting)
    result = invoker(store_url)("log", *args)
    assert result.exit_code == 0, result.output
    if title is not None:
        assert result.stderr == f"{title} times in UTC\n"
    assert (opened[0].read, opened[0].counted) == (read, counted)


def test_log_json_is_the_records_newest_first(cli: Invoke, logged: Store) -> None:
    result = cli("log", "--json", "--limit", "3")
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document == [change.to_dict() for change in list(logged.changes())[:-4:-1]]
    assert (document[0]["before"]["enabled"], document[0]["after"]) == (False, None)
    assert len(result.stdout.splitlines()) == 5  # one record a line
    assert json.loads(cli("log", "nothing-here", "--json").stdout) == []


def test_an_empty_log(cli: Invoke, store: Store) -> None:
    result = cli("log")
    assert (result.exit_code, result.stdout, result.stderr) == (0, TSV[0] + "\n", "no changes\n")
    result = cli("log", "--verify")
    assert (result.exit_code, result.stdout) == (0, "audit log intact: 0 changes\n")


def test_verify_says_the_log_is_intact(cli: Invoke, logged: Store) -> None:
    result = cli("log", "--verify")
    assert (result.exit_code, result.stdout, result.stderr) == (
        0, "audit log intact: 7 changes, 1-7\n", "",
    )  # fmt: skip
    document = json.loads(cli("log", "--verify", "--json").stdout)
    head = logged.audit_head()
    assert document == {
        "intact": True, "checked": 7, "first": 1, "last": 7, "problem": None,
        "head": {"seq": 7, "hash": head.hash, "floor": 1},
    }  # fmt: skip


@pytest.mark.parametrize(
    ("how", "problem"),
    [
        ("edit", "change 3 was edited: its hash does not match its content"),
        ("delete", "change 3 is missing"),
    ],
)
def test_verify_finds_a_record_changed_in_the_store_itself(
    cli: Invoke, logged: Store, backend: str, how: str, problem: str
) -> None:
    tamper(logged, backend, 3, how)
    result = cli("log", "--verify")
    assert (result.exit_code, result.stdout) == (1, f"audit log broken: {problem}\n")
    document = json.loads(cli("log", "--verify", "--json").stdout)
    assert (document["intact"], document["checked"], document["problem"]) == (False, 2, problem)


def test_a_record_that_no_longer_reads_is_one_line_and_exit_1(
    cli: Invoke, logged: Store, backend: str
) -> None:
    tamper(logged, backend, 3, "garble")
    for args in (("log",), ("log", "--verify"), ("log", "--json")):
        result = cli(*args)
        assert result.exit_code == 1, args
        assert result.stdout == ""
        (line,) = result.stderr.splitlines()
        assert line.startswith("Error: audit log")
        assert "'after' is neither an object nor null" in line
        assert len(line) < 400


class Trimmed:
    """A store whose first reading of the log is overtaken, after its first record, by writes
    of another process that trim the log (``audit_limit`` 3), as a bulk apply may."""

    def __init__(self, store: Store, rival: Store) -> None:
        self._store = store
        self._rival = rival
        self.readings = 0

    def changes(self, *args: Any, **kwargs: Any) -> Iterator[Change]:
        self.readings += 1
        if self.readings > 1:
            yield from self._store.changes(*args, **kwargs)
            return
        first = next(self._store.changes(*args, **kwargs))
        yield first
        for number in range(4):
            self._rival.upsert(entry(f"new-{number}", IntervalSpec(60), NOW))
        yield from (c for c in self._store.changes(*args, **kwargs) if c.seq > first.seq)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)


def test_verify_reads_again_when_a_concurrent_write_trimmed_the_log(
    store_url: str, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    limited = with_option(store_url, "audit_limit", 3)
    rival = open_store(limited)
    for number in range(3):
        rival.upsert(entry(f"old-{number}", IntervalSpec(60), NOW))
    opened: list[Trimmed] = []

    def trimmed(url: str) -> Trimmed:
        opened.append(Trimmed(open_store(url), rival))
        return opened[-1]

    monkeypatch.setattr(session_module, "open_store", trimmed)
    try:
        result = invoker(limited)("log", "--verify")
    finally:
        rival.close()
    assert (result.exit_code, result.stdout) == (0, "audit log intact: 3 changes, 5-7\n")
    assert opened[0].readings == 2


def test_a_broken_start_is_not_taken_for_a_trim(cli: Invoke, logged: Store, backend: str) -> None:
    tamper(logged, backend, 1, "delete")
    result = cli("log", "--verify")
    assert (result.exit_code, result.stdout) == (1, "audit log broken: change 1 is missing\n")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("\x1b[2J",), r"'\x1b[2J' is not an entry id"),
        (("x" * 201,), "is not an entry id (1 to 200 printable characters)"),
        (("  ",), "'  ' is not an entry id"),
        (("--since", "yesterday"), "Invalid value for '--since': instant: 'yesterday' is not"),
        (("--since", "2026-03-02T09:00:00"), "Invalid value for '--since': instant:"),
        (("--limit", "0"), "Invalid value for '--limit': 0 is not in the range 1<=x<=100000000"),
        (("--limit", "9" * 40), "Invalid value for '--limit': 9999"),
        (("--limit", "ten"), "Invalid value for '--limit': 'ten' is not a valid integer"),
        (("--verify", "report"), "--verify checks the whole log: give no ID, --since or --limit"),
        (("--verify", "--limit", "3"), "--verify checks the whole log"),
        (("--json", "-o", "wide"), "--output and --json cannot be combined"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    cli: Invoke, logged: Store, args: tuple[str, ...], message: str
) -> None:
    result = cli("log", *args)
    assert message in usage_error(result)


# -- in a terminal, at 80 columns, and piped: the stembeat script itself ---------------------


@pytest.fixture
def log_url(tmp_path: Path) -> str:
    """An SQLite store whose log holds changes of long ids by long actors."""
    url = f"sqlite:///{tmp_path / 'log.db'}"
    with open_store(url) as store:
        long_id = "reports-weekly-summary-for-the-operations-team"
        note = ChangeNote("alice@build-server-01.example.com", "apply", minutes(-2))
        store.upsert(entry(long_id, IntervalSpec(60), NOW), note=note)
        store.upsert(entry(long_id, IntervalSpec(90), NOW, description="slower"), note=note)
        store.upsert(entry("tab", IntervalSpec(60), NOW), note=ChangeNote("ops@h", "sync", NOW))
    return url


def stembeat(url: str, *args: str) -> tuple[str, ...]:
    return ("--url", url, "--now", format_instant(NOW), *args)


def test_the_log_fits_80_columns_and_pipes_whole(log_url: str) -> None:
    shown = in_terminal(*stembeat(log_url, "log"), columns=80).splitlines()
    assert max(cell_len(line) for line in shown) <= 80
    assert shown[0] == "audit log: 3 changes, newest first, times in UTC"
    assert shown[1].split() == ["#", "WHEN", "ACTOR", "VERB", "ENTRY", "CHANGED"]
    assert shown[3].split()[:5] == ["2", "2026-03-02", "08:58:00", "UTC", "alice@…e.com"]
    assert len(shown) == 5
    wide = in_terminal(*stembeat(log_url, "log", "-o", "wide"), columns=80).splitlines()
    assert "alice@build-server-01.example.com" in wide[3]
    assert "reports-weekly-summary-for-the-operations-team   description, spec" in wide[3]
    done = piped(*stembeat(log_url, "log"))
    assert (done.returncode, done.stderr) == (0, shown[0] + "\n")
    rows = [line.split("\t") for line in done.stdout.splitlines()]
    assert rows[2] == [
        "2", "2026-03-02T08:58:00Z", "alice@build-server-01.example.com", "apply",
        "reports-weekly-summary-for-the-operations-team", "description, spec",
    ]  # fmt: skip
    assert {len(row) for row in rows} == {6}
