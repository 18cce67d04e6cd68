"""``celery -A proj stembeat run ID…``: the entries' messages reach the real broker, history
records manual runs, and the schedule is untouched."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
import redis
from celery import Celery
from celery.bin.base import CLIContext
from click.testing import CliRunner, Result

from celery_stembeat.audit import local_actor
from celery_stembeat.cli import celery_command
from celery_stembeat.publisher import occurrence_task_id
from celery_stembeat.specs import format_instant
from celery_stembeat.stores import FAILED, PUBLISHED, RunRecord, Store
from tests.cli.conftest import ENVIRONMENT, Invoke
from tests.cli.scenario import NOW, entry, seed

pytestmark = pytest.mark.services

#: A port nothing listens on: a broker there refuses every connection at once.
DEAD_BROKER = "redis://127.0.0.1:1/0"


@pytest.fixture
def queue(redis_url: str) -> Iterator[str]:
    """A queue on the test Redis that no worker reads; deleted afterwards."""
    name = f"run-{uuid.uuid4().hex[:8]}"
    yield name
    client = redis.Redis.from_url(redis_url)
    client.delete(name)
    client.close()


def make_app(broker: str, queue: str, store_url: str) -> Celery:
    app = Celery("run-test", broker=broker, set_as_current=False)
    app.conf.update(
        stembeat_url=store_url,
        task_default_queue=queue,
        task_publish_retry=False,
        broker_connection_retry_on_startup=False,
    )
    return app


def run_with(app: Celery, *args: str) -> Result:
    """``celery -A app stembeat --now NOW ARGS…``, in-process."""
    return CliRunner().invoke(
        celery_command,
        ["--now", format_instant(NOW), *args],
        obj=CLIContext(app, no_color=True, workdir=None),
        env=ENVIRONMENT,
        catch_exceptions=False,
    )


def at_broker(broker: str, queue: str) -> list[dict[str, Any]]:
    """The messages waiting in ``queue``: headers, args and kwargs."""
    client = redis.Redis.from_url(broker)
    try:
        raw = client.lrange(queue, 0, -1)
    finally:
        client.close()
    found = []
    for item in reversed(raw):  # kombu pushes on the left: oldest last
        message = json.loads(item)
        args, kwargs, _ = json.loads(base64.b64decode(message["body"]))
        found.append({"headers": message["headers"], "args": args, "kwargs": kwargs})
    return found


@pytest.fixture
def seeded(store: Store) -> Store:
    seed(store)
    store.upsert(entry("job", "5m", NOW, args=(1, "two"), kwargs={"to": "ops"}))
    return store


def test_run_sends_each_entry_once_and_leaves_the_schedule(
    seeded: Store, store_url: str, redis_url: str, queue: str
) -> None:
    """Two entries (one disabled): one message each with the entry's args, kwargs and
    options, a task id of its own, and the manual header; history gains a manual run owned
    by ``user@host``; the entries' definition and run state stay as they were."""
    before = {e.id: e for e in seeded.get_many(["job", "new-year"])}
    assert not before["new-year"].enabled
    result = run_with(make_app(redis_url, queue, store_url), "run", "job", "new-year", "job")
    assert result.exit_code == 0, result.output
    sent = at_broker(redis_url, queue)
    assert [m["headers"]["stembeat_entry"] for m in sent] == ["job", "new-year"]
    task_ids = [m["headers"]["id"] for m in sent]
    assert result.stdout.splitlines() == [
        f"sent job: task id {task_ids[0]}",
        f"sent new-year: task id {task_ids[1]}",
    ]
    job = sent[0]
    assert (job["args"], job["kwargs"]) == ([1, "two"], {"to": "ops"})
    assert job["headers"]["task"] == "tasks.job"
    assert job["headers"]["stembeat_manual"] is True
    assert job["headers"]["stembeat_scheduled_for"] == format_instant(NOW)
    assert len(set(task_ids)) == 2
    assert task_ids[0] != occurrence_task_id("job", NOW)
    assert uuid.UUID(task_ids[0]).version == 4
    for entry_id, task_id in zip(("job", "new-year"), task_ids, strict=True):
        newest = seeded.history(entry_id)[0]
        assert newest == RunRecord(
            entry_id=entry_id,
            scheduled_for=NOW,
            outcome=PUBLISHED,
            published_at=NOW,
            drift=0.0,
            owner=local_actor(),
            task_id=task_id,
            manual=True,
        )
        assert seeded.get(entry_id) == before[entry_id]
    assert "@" in local_actor()
    runs = [(c.verb, c.entry_id, c.actor, c.at, c.before, c.after) for c in seeded.changes()][-2:]
    assert runs == [
        ("run", entry_id, local_actor(), NOW, None, None) for entry_id in ("job", "new-year")
    ]


def test_run_json_prints_the_manual_runs(
    seeded: Store, store_url: str, redis_url: str, queue: str
) -> None:
    result = run_with(make_app(redis_url, queue, store_url), "run", "job", "--json")
    assert result.exit_code == 0, result.output
    (printed,) = json.loads(result.stdout)
    assert printed == seeded.history("job")[0].to_dict()
    assert (printed["manual"], printed["outcome"]) == (True, PUBLISHED)


def test_history_shows_the_manual_run(
    seeded: Store, store_url: str, redis_url: str, queue: str, cli: Invoke
) -> None:
    assert run_with(make_app(redis_url, queue, store_url), "run", "heartbeat").exit_code == 0
    header, manual, scheduled = cli("history", "heartbeat", "--limit", "2").stdout.splitlines()
    assert header.split("\t")[4] == "OUTCOME"
    assert manual.split("\t")[4] == "published (manual)"
    assert manual.split("\t")[-1] == local_actor()
    assert "(manual)" not in scheduled
    runs = json.loads(cli("history", "heartbeat", "--limit", "2", "--json").stdout)
    assert [run["manual"] for run in runs] == [True, False]


@pytest.mark.parametrize(
    "ids",
    [
        ("job", "nope"),
        ("nope", "ghost", "job"),
        ("bad\nid",),
        ("x" * 100_000,),
        ("\x00",),
        ("",),
        ("bad\udc80",),
        ("job", "\x1b[31mred"),
    ],
    ids=["one-unknown", "two-unknown", "newline", "huge", "nul", "empty", "surrogate", "escape"],
)
def test_unknown_ids_send_nothing(
    seeded: Store, store_url: str, redis_url: str, queue: str, ids: tuple[str, ...]
) -> None:
    """Unknown (or impossible) ids: one short line naming them, exit 2, nothing sent or
    recorded."""
    before = seeded.history("job")
    result = run_with(make_app(redis_url, queue, store_url), "run", *ids)
    assert result.exit_code == 2, result.output
    (line,) = result.stderr.splitlines()
    assert line.startswith("Error: no entry ")
    assert line.endswith("; nothing sent")
    assert len(line) < 300
    assert line.isprintable()
    assert "job" not in line
    assert at_broker(redis_url, queue) == []
    assert seeded.history("job") == before


def test_many_unknown_ids_are_counted_past_five(
    seeded: Store, store_url: str, redis_url: str, queue: str
) -> None:
    ids = [f"nope{n}" for n in range(8)]
    result = run_with(make_app(redis_url, queue, store_url), "run", *ids)
    assert result.exit_code == 2
    assert result.stderr.strip() == (
        "Error: no entry 'nope0', 'nope1', 'nope2', 'nope3', 'nope4' and 3 more; nothing sent"
    )


def test_an_expired_entry_is_not_sent(
    seeded: Store, store_url: str, redis_url: str, queue: str
) -> None:
    """Past its ``expire_at`` the message would expire unrun: refused, nothing sent."""
    job = seeded.get("job")
    assert job is not None
    seeded.upsert(replace(job, expire_at=NOW - timedelta(seconds=1)))
    result = run_with(make_app(redis_url, queue, store_url), "run", "heartbeat", "job")
    assert result.exit_code == 2
    assert result.stderr.strip() == (
        "Error: entry 'job' expired (expire_at has passed): its message would expire unrun; "
        "nothing sent"
    )
    assert at_broker(redis_url, queue) == []


def test_an_unreachable_broker_is_a_failed_manual_run(
    seeded: Store, store_url: str, queue: str
) -> None:
    """Nothing reaches the broker: exit 1, and history records the failed send."""
    result = run_with(make_app(DEAD_BROKER, queue, store_url), "run", "job")
    assert result.exit_code == 1
    assert result.stdout.startswith("not sent job: OperationalError")
    assert result.stderr.strip() == "Error: not sent: 'job'"
    newest = seeded.history("job")[0]
    assert (newest.manual, newest.outcome, newest.published_at) == (True, FAILED, None)
    assert newest.error is not None
    assert newest.error.startswith("OperationalError")
    state = seeded.get("job")
    assert state is not None
    assert (state.state.failure_count, state.state.consecutive_failures) == (0, 0)


def test_stembeat_without_an_app_says_how_to_run(sqlite_cli: Invoke) -> None:
    """The standalone ``stembeat`` has no app to send with: one line, exit 2."""
    result = sqlite_cli("run", "job")
    assert result.exit_code == 2
    assert result.stderr.strip() == (
        "Error: run sends tasks through your celery app: call it as "
        "'celery -A PROJ stembeat run ID...' (PROJ: the module of your app)"
    )


def test_run_tag_sends_every_entry_holding_the_tags(
    seeded: Store, store_url: str, redis_url: str, queue: str
) -> None:
    """``--tag`` selects as for enable and disable: the entries holding every tag given;
    ids and ``--tag`` together are a usage error and send nothing."""
    for entry_id, tags in (("job", ("nightly", "team:ops")), ("new-year", ("nightly",))):
        stored = seeded.get(entry_id)
        assert stored is not None
        seeded.upsert(replace(stored, tags=tags))
    app = make_app(redis_url, queue, store_url)
    both = run_with(app, "run", "job", "--tag", "nightly")
    assert both.exit_code == 2
    assert "give entry IDs or --tag, not both" in both.stderr
    assert at_broker(redis_url, queue) == []
    result = run_with(app, "run", "--tag", "nightly", "--tag", "team:ops")
    assert result.exit_code == 0, result.output
    assert [m["headers"]["stembeat_entry"] for m in at_broker(redis_url, queue)] == ["job"]
    result = run_with(app, "run", "--tag", "nightly")
    assert result.exit_code == 0, result.output
    sent = [m["headers"]["stembeat_entry"] for m in at_broker(redis_url, queue)]
    assert sent == ["job", "job", "new-year"]
    nobody = run_with(app, "run", "--tag", "nobody")
    assert (nobody.exit_code, nobody.stdout) == (0, "")
    assert "no entries tagged nobody" in nobody.stderr
