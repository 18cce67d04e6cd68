"""``import --from celery`` (the beat_schedule conversion beat uses) and ``--from redbeat``."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta

import pytest
import redis
from celery import Celery
from celery.schedules import crontab, schedule

from celery_stembeat.config_entries import entry_from_config
from celery_stembeat.specs import CalendarSpec, CronSpec, IntervalSpec
from celery_stembeat.stores import Store
from tests.cli.racing import racing_cli
from tests.migrate import celery_app
from tests.migrate.conftest import NOW, Invoke


def test_celery_beat_schedule_imports_as_beat_converts_it(cli: Invoke, store: Store) -> None:
    result = cli("import", "--from", "celery", "--app", "tests.migrate.celery_app:app")
    assert result.exit_code == 1
    assert (
        "skipped    broken: beat_schedule['broken']: 'schedule': cron field 'hour': 25"
        in result.output
    )
    assert "relative=True is read as a plain interval" in result.output
    entries = {entry.id: entry for entry in store.list_entries()}
    assert sorted(entries) == ["dawn", "first-monday", "heartbeat", "relative", "seconds"]
    schedule_items = celery_app.app.conf.beat_schedule
    for name, entry in entries.items():
        expected = entry_from_config(name, schedule_items[name], "Europe/Paris")
        assert entry.definition() == expected.definition()
        assert entry.source == "store"
        assert entry.state.next_run_at == expected.first_run_after(NOW)
    assert isinstance(entries["first-monday"].spec, CalendarSpec)
    again = cli("import", "--from", "celery", "--app", "tests.migrate.celery_app:app")
    assert "0 added, 0 updated, 0 refreshed, 5 unchanged, 1 skipped" in again.output


@pytest.fixture
def racing_heartbeat(store_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Another process changes ``heartbeat`` between the import's read of it and its write."""
    yield from racing_cli(store_url, monkeypatch, {"heartbeat"})


@pytest.mark.usefixtures("racing_heartbeat")
def test_an_entry_changed_while_importing_stops_the_import(cli: Invoke, store: Store) -> None:
    """Edited in stembeat, ``heartbeat`` and ``dawn`` are replaced by the next import, each
    removed at the version read: ``heartbeat`` changed meanwhile, so it and ``dawn`` after it
    stay as they are."""
    app = "tests.migrate.celery_app:app"
    cli("import", "--from", "celery", "--app", app)
    for entry_id in ("heartbeat", "dawn"):
        stored = store.get(entry_id)
        assert stored is not None
        store.upsert(replace(stored, description="edited"))
    result = cli("import", "--from", "celery", "--app", app)
    assert result.exit_code == 1
    assert result.output.endswith(
        "Error: entry 'heartbeat' changed while importing: nothing more written (see "
        "stembeat log heartbeat)\n"
    )
    assert store.get("heartbeat").description == "rival"  # type: ignore[union-attr]
    assert store.get("dawn").description == "edited"  # type: ignore[union-attr]


@pytest.fixture
def redbeat_app(redis_url: str, unique_prefix: str) -> Iterator[Celery]:
    """An app configured for RedBeat on a private key prefix, cleaned up afterwards."""
    app = Celery("stembeat-redbeat-test", set_as_current=False)
    app.conf.update(
        redbeat_redis_url=redis_url, redbeat_key_prefix=f"{unique_prefix}redbeat:", timezone="UTC"
    )
    yield app
    client = redis.Redis.from_url(redis_url)
    for key in client.scan_iter(f"{unique_prefix}*"):
        client.delete(key)
    client.close()


def test_redbeat_keys_import_with_run_state(
    redbeat_app: Celery, redis_url: str, cli: Invoke, store: Store
) -> None:
    from redbeat import RedBeatSchedulerEntry

    last = NOW - timedelta(minutes=3)
    made = RedBeatSchedulerEntry(
        "every-5m", "proj.poll", schedule(timedelta(minutes=5)), args=[1], app=redbeat_app
    ).save()
    made = made._next_instance(last_run_at=last - timedelta(minutes=5))
    made._next_instance(last_run_at=last)
    RedBeatSchedulerEntry(
        "weekday-9",
        "proj.report",
        crontab(minute=0, hour=9, day_of_week="1-5"),
        kwargs={"to": "ops"},
        options={"queue": "reports"},
        last_run_at=NOW - timedelta(hours=1),
        app=redbeat_app,
    ).save()
    RedBeatSchedulerEntry(
        "off", "proj.off", schedule(timedelta(hours=1)), enabled=False, app=redbeat_app
    ).save()
    prefix = redbeat_app.conf.redbeat_key_prefix
    result = cli(
        "import", "--from", "redbeat", "--redis-url", redis_url, "--key-prefix", prefix,
        "--celery-timezone", "America/New_York",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    entries = {entry.id: entry for entry in store.list_entries()}
    poll = entries["every-5m"]
    assert poll.spec == IntervalSpec(300)
    assert poll.args == (1,)
    assert poll.state.total_run_count == 2
    assert poll.state.last_run_at == last
    assert poll.state.next_run_at == last + timedelta(minutes=5)
    report = entries["weekday-9"]
    assert report.spec == CronSpec("0 9 * * 1-5", "America/New_York")
    assert report.options == {"queue": "reports"}
    assert report.state.next_run_at == NOW + timedelta(hours=2)  # 09:00 EST
    assert not entries["off"].enabled
