"""``celery -A app stembeat …``: the real celery executable finds the verbs and the app's store."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from celery_stembeat.cli.session import actor
from celery_stembeat.specs import IntervalSpec, format_instant
from celery_stembeat.stores import Store
from tests.cli.scenario import NOW, entry, seed

ROOT = Path(__file__).resolve().parents[2]
CELERY = str(Path(sys.executable).with_name("celery"))


def celery(url: str, *args: str, decoy: Path) -> subprocess.CompletedProcess[str]:
    """Run ``celery -A tests.cli.celery_app stembeat ARGS…`` with the store at ``url``.

    ``STEMBEAT_URL`` points at ``decoy``: the app's ``stembeat_url`` must win over it.
    """
    env = {
        **os.environ,
        "STEMBEAT_CLI_TEST_URL": url,
        "STEMBEAT_URL": f"sqlite:///{decoy}",
        "COLUMNS": "160",
        "NO_COLOR": "1",
    }
    return subprocess.run(
        [CELERY, "-A", "tests.cli.celery_app", "stembeat", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.fixture
def seeded(sqlite_store: Store) -> Store:
    seed(sqlite_store)
    return sqlite_store


@pytest.mark.usefixtures("seeded")
def test_celery_stembeat_list_reads_the_apps_store(sqlite_url: str, tmp_path: Path) -> None:
    done = celery(sqlite_url, "list", "--json", decoy=tmp_path / "decoy.db")
    assert done.returncode == 0, done.stderr
    assert [item["id"] for item in json.loads(done.stdout)] == [
        "cleanup", "heartbeat", "lights", "new-year", "ping", "report", "sync"
    ]  # fmt: skip
    assert not (tmp_path / "decoy.db").exists()


@pytest.mark.usefixtures("seeded")
def test_celery_stembeat_observe_uses_the_apps_grace(sqlite_url: str, tmp_path: Path) -> None:
    now = format_instant(NOW)
    done = celery(sqlite_url, "--now", now, "observe", "--json", decoy=tmp_path / "decoy.db")
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout)
    # stembeat_grace = 90 in the app: sync, 4 minutes late, is overdue; ping, 10 s late, is not
    assert (seen["grace"], seen["due_now"], seen["overdue"]) == (90.0, 2, 1)


def test_celery_stembeat_fails_like_stembeat(sqlite_url: str, tmp_path: Path) -> None:
    done = celery(sqlite_url, "show", "nope", decoy=tmp_path / "decoy.db")
    assert done.returncode == 1
    assert done.stderr.strip().splitlines()[-1] == "Error: no entry 'nope'"
    done = celery(sqlite_url, "dry-run", "--spec", "0 25 * * *", decoy=tmp_path / "decoy.db")
    assert done.returncode == 2
    assert "cron field 'hour': 25 is outside 0-23" in done.stderr


def test_celery_stembeat_help_lists_every_verb(sqlite_url: str, tmp_path: Path) -> None:
    done = celery(sqlite_url, "--help", decoy=tmp_path / "decoy.db")
    assert done.returncode == 0, done.stderr
    verbs = ("apply", "disable", "dry-run", "enable", "export", "history", "list", "log", "observe")
    for verb in (*verbs, "rollback"):
        assert f"  {verb} " in done.stdout


@pytest.mark.usefixtures("seeded")
def test_celery_preload_options_reach_the_app(sqlite_url: str, tmp_path: Path) -> None:
    done = celery(sqlite_url, "--tenant", "acme", "list", "--json", decoy=tmp_path / "decoy.db")
    assert done.returncode == 0, done.stderr
    assert "tenant=acme" in done.stderr
    assert len(json.loads(done.stdout)) == 7


def test_celery_stembeat_rollback_and_log(
    sqlite_url: str, sqlite_store: Store, tmp_path: Path
) -> None:
    sqlite_store.upsert(entry("job", IntervalSpec(60), NOW))
    sqlite_store.upsert(entry("job", IntervalSpec(90), NOW))
    now = format_instant(NOW)
    done = celery(sqlite_url, "--now", now, "rollback", "job", decoy=tmp_path / "decoy.db")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0] == "rolled back job: its definition before change 2"
    done = celery(sqlite_url, "log", "--json", "--limit", "1", decoy=tmp_path / "decoy.db")
    (newest,) = json.loads(done.stdout)
    assert (newest["seq"], newest["verb"], newest["actor"]) == (3, "rollback", actor())
    assert (newest["at"], newest["after"]["spec"]["every"]) == (now, 60.0)
