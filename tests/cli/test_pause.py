"""``pause`` and ``resume`` on every store, the banner of ``list`` and ``observe`` while paused,
and bad input refused with one line, exit 2 and nothing written."""

from __future__ import annotations

import json

import pytest

from celery_stembeat.cli.session import actor
from celery_stembeat.specs import IntervalSpec
from celery_stembeat.stores import BeatInfo, Pause, Store
from tests.cli.conftest import Invoke, usage_error
from tests.cli.scenario import NOW, entry, minutes, seed

ACTOR = actor()


def test_pause_then_resume(cli: Invoke, store: Store) -> None:
    result = cli("pause", "--reason", "database upgrade", "--until", "2026-03-02T10:30:00+01:00")
    assert (result.exit_code, result.stderr) == (0, "")
    assert result.stdout == (
        f"paused since 2026-03-02T09:00:00Z by {ACTOR} until 2026-03-02T09:30:00Z: "
        "database upgrade\n"
    )
    assert store.paused() == Pause(NOW, minutes(30), "database upgrade", ACTOR)

    result = cli("resume")
    assert (result.exit_code, result.stderr) == (0, "")
    assert result.stdout == (
        f"resumed: cleared the pause since 2026-03-02T09:00:00Z by {ACTOR} until "
        "2026-03-02T09:30:00Z: database upgrade\n"
    )
    assert store.paused() is None
    result = cli("resume")
    assert (result.exit_code, result.stdout) == (0, "not paused\n")


def test_pausing_again_replaces_the_pause(cli: Invoke, store: Store) -> None:
    store.pause(Pause(minutes(-5), None, "first", "a@h"))
    result = cli("pause")
    assert result.exit_code == 0, result.output
    assert result.stdout == (
        f"paused since 2026-03-02T09:00:00Z by {ACTOR} until resumed: no reason given\n"
        "replaced the pause since 2026-03-02T08:55:00Z by a@h until resumed: first\n"
    )
    assert store.paused() == Pause(NOW, None, "", ACTOR)


def test_pause_and_resume_json(cli: Invoke, store: Store) -> None:
    result = cli("pause", "--reason", "incident 42", "--json")
    assert result.exit_code == 0, result.output
    paused = {"since": "2026-03-02T09:00:00Z", "until": None, "reason": "incident 42"}
    assert json.loads(result.stdout) == {"paused": {**paused, "actor": ACTOR}, "replaced": None}
    result = cli("resume", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"resumed": {**paused, "actor": ACTOR}}
    assert json.loads(cli("resume", "--json").stdout) == {"resumed": None}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--until", "tomorrow"), "Invalid value for '--until': instant: 'tomorrow' is not"),
        (("--until", "2026-03-02T09:00:00"), "Invalid value for '--until': instant:"),
        (("--until", "2026-03-02T08:59:59Z"), "--until: 2026-03-02T08:59:59Z is not after since"),
        (("--until", "2026-03-02T09:00:00Z"), "--until: 2026-03-02T09:00:00Z is not after since"),
        (("--reason", "two\nlines"), r"--reason: 'two\nlines' holds characters that are not"),
        (("--reason", "\x1b[31mred\x1b[0m"), r"--reason: '\x1b[31mred\x1b[0m' holds characters"),
        (("--reason", "r" * 501), "--reason: 'rrrrrrrrrrrr"),
        (("--reason", "nul\x00"), r"--reason: 'nul\x00' holds characters that are not"),
        (("--reason", "bad\udc80"), r"--reason: 'bad\udc80' holds characters that are not"),
    ],
)
def test_bad_input_is_one_line_exit_2_and_nothing_written(
    cli: Invoke, store: Store, args: tuple[str, ...], message: str
) -> None:
    result = cli("pause", *args)
    assert message in usage_error(result)
    assert store.paused() is None


def test_list_shows_the_pause_on_stderr_only(sqlite_cli: Invoke, sqlite_store: Store) -> None:
    seed(sqlite_store)
    before = sqlite_cli("list")
    sqlite_store.pause(Pause(minutes(-10), minutes(20), "deploy", "ops@host-1"))
    result = sqlite_cli("list")
    assert result.exit_code == 0, result.output
    assert result.stdout == before.stdout
    assert result.stderr == (
        "PAUSED since 2026-03-02T08:50:00Z by ops@host-1 until 2026-03-02T09:20:00Z: deploy "
        "(stembeat resume ends it)\n"
    )
    ids = [row["id"] for row in json.loads(sqlite_cli("list", "--json").stdout)]
    assert len(ids) == 7
    sqlite_store.pause(Pause(minutes(-10), minutes(-1), "deploy", "ops@host-1"))
    assert sqlite_cli("list").stderr == ""  # ended by its until


def test_observe_while_paused(sqlite_cli: Invoke, sqlite_store: Store) -> None:
    """The banner first; the entry due for 4 minutes is not missed while the store is paused,
    and neither is it for the grace after the pause's until."""
    seed(sqlite_store)
    sqlite_store.pause(Pause(minutes(-10), None, "deploy", "ops@host-1"))
    result = sqlite_cli("observe")
    assert result.exit_code == 0, result.output
    lines = result.stderr.splitlines()  # piped: the table on stdout, its title on stderr
    assert lines[0] == (
        "PAUSED since 2026-03-02T08:50:00Z by ops@host-1 until resumed: deploy "
        "(stembeat resume ends it)"
    )
    assert lines[2] == (
        "health: 6 ok, 0 late, 0 failing, 0 missed, 0 stuck, 1 disabled; 0 live beats"
    )
    seen = json.loads(sqlite_cli("observe", "--json").stdout)
    assert seen["paused"]["reason"] == "deploy"
    assert seen["health"]["missed"] == 0

    sqlite_store.pause(Pause(minutes(-10), minutes(-0.25), "deploy", "ops@host-1"))
    seen = json.loads(sqlite_cli("observe", "--json").stdout)
    assert (seen["paused"], seen["health"]["missed"]) == (None, 0)
    sqlite_store.pause(Pause(minutes(-10), minutes(-1), "deploy", "ops@host-1"))
    seen = json.loads(sqlite_cli("observe", "--json").stdout)
    assert seen["health"]["missed"] == 1


def test_observe_check_reports_the_pause_without_failing(
    sqlite_cli: Invoke, sqlite_store: Store
) -> None:
    """A pause is a line of its own, first; by itself it is no problem (exit 0)."""
    sqlite_store.upsert(entry("tick", IntervalSpec(60), minutes(-10)))
    sqlite_store.record_beat(BeatInfo("beat-1", "host-1", 42, "1.0", minutes(-60), NOW))
    sqlite_store.pause(Pause(minutes(-15), None, "deploy", "ops@host-1"))
    result = sqlite_cli("observe", "--check")
    assert result.stdout.splitlines() == [
        "paused: since 2026-03-02T08:45:00Z by ops@host-1 until resumed: deploy",
        "ok: health: 1 ok, 0 late, 0 failing, 0 missed, 0 stuck, 0 disabled; 1 live beat",
    ]
    assert result.exit_code == 0
    sqlite_store.resume()
    result = sqlite_cli("observe", "--check")
    assert result.stdout.startswith("missed tick: due 10m ago, not sent")
    assert result.exit_code == 1
