"""``export --to django-celery-beat`` (the back-out plan) and ``export --to celery``."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from celery.schedules import crontab, solar

from celery_stembeat.entry import Entry
from celery_stembeat.migrate.celery_export import beat_schedule_module
from celery_stembeat.migrate.dcb_export import to_dcb
from celery_stembeat.migrate.expressible import Inexpressible, check_celery_rules
from celery_stembeat.specs import CronSpec, IntervalSpec, parse_spec
from celery_stembeat.stores import Store
from tests.migrate import django_project, scenario
from tests.migrate.conftest import NOW, Invoke, invoker
from tests.migrate.test_dcb_import import import_args

#: Entries django-celery-beat cannot express, and the reason the export gives.
INEXPRESSIBLE = {
    "seconds": ("*/10 * * * * *", "has a seconds field"),
    "vixie-or": ("0 9 1 * mon", "restricts both day fields"),
}


def _add_inexpressible(store: Store) -> None:
    for name, (expression, _) in INEXPRESSIBLE.items():
        entry = Entry(id=name, task="proj.x", spec=CronSpec(expression, "UTC"))
        store.upsert(entry.with_state(next_run_at=entry.spec.next_after(NOW)))
    jitter = Entry(id="jittery", task="proj.x", spec=IntervalSpec(60), jitter=5.0)
    store.upsert(jitter.with_state(next_run_at=NOW + timedelta(minutes=1)))


def test_export_import_export_is_lossless(
    any_alias: str, cli: Invoke, store: Store, tmp_path: Path
) -> None:
    """On SQLite, PostgreSQL and MariaDB (there through a plain ``mysql://`` URL, as the
    docs say)."""
    scenario.build_all_fields(any_alias)
    assert cli(*import_args(any_alias)).exit_code == 0
    _add_inexpressible(store)
    first = {entry.id: entry for entry in store.list_entries()}

    django_project.fresh(any_alias)
    url = django_project.url(any_alias).replace("mysql+pymysql://", "mysql://")
    exported = cli("export", "--to", "django-celery-beat", "--db-url", url)
    assert exported.exit_code == 1
    assert "13 added, 0 updated, 0 unchanged, 3 skipped" in exported.stdout
    for name, (_, why) in INEXPRESSIBLE.items():
        assert f"skipped    {name}: " in exported.stderr
        assert why in exported.stderr
    assert "skipped    jittery: jitter=5 s" in exported.stderr

    # Back in a new store, every definition and run state is what it was.
    second_cli = invoker(f"sqlite:///{tmp_path / 'second.db'}")
    assert second_cli(*import_args(any_alias)).exit_code == 0
    from celery_stembeat.stores import open_store

    with open_store(f"sqlite:///{tmp_path / 'second.db'}") as second:
        back = {entry.id: entry for entry in second.list_entries()}
    assert sorted(back) == sorted(scenario.ALL_FIELDS)
    for name, entry in back.items():
        assert entry.definition() == first[name].definition(), name
        before, after = first[name].state, entry.state
        assert (after.last_run_at, after.total_run_count) == (
            before.last_run_at if first[name].enabled else None,
            before.total_run_count,
        ), name
        assert after.next_run_at == before.next_run_at, name

    again = cli("export", "--to", "django-celery-beat", "--db-url", url, "--allow-skips")
    assert again.exit_code == 0
    assert "0 added, 0 updated, 13 unchanged, 3 skipped" in again.stdout


@pytest.mark.parametrize(
    ("options", "why"),
    [
        ({"countdown": 5}, "options.countdown (django-celery-beat has no column for it)"),
        ({"expires": "2030-01-01T00:00:00Z"}, "options.expires 2030-01-01T00:00:00Z is an instant"),
    ],
)
def test_options_django_celery_beat_has_no_column_for_are_inexpressible(
    options: dict[str, object], why: str
) -> None:
    entry = Entry(id="x", task="proj.x", spec=IntervalSpec(60), options=options)
    with pytest.raises(Inexpressible, match=re.escape(why)):
        to_dcb(entry)
    nulls = Entry(id="x", task="proj.x", spec=IntervalSpec(60), options={"countdown": None})
    assert to_dcb(nulls).columns["queue"] is None


def test_export_to_celery_prints_a_beat_schedule_module(
    sqlite_alias: str, cli: Invoke, store: Store
) -> None:
    scenario.build_all_fields(sqlite_alias)
    assert cli(*import_args(sqlite_alias)).exit_code == 0
    result = cli("export", "--to", "celery", "--celery-timezone", "Europe/London")
    assert result.exit_code == 1
    namespace: dict[str, object] = {}
    exec(compile(result.stdout, "exported.py", "exec"), namespace)
    assert namespace["timezone"] == "Europe/London"
    schedule = namespace["beat_schedule"]
    assert isinstance(schedule, dict)
    assert sorted(schedule) == [
        "half-hourly-in-microseconds",
        "overdue-interval",
        "quarter-hours-london",
        "sunrise-nyc",
        "ttl",
    ]
    assert schedule["quarter-hours-london"]["schedule"] == crontab(minute="*/15")
    assert schedule["sunrise-nyc"]["schedule"] == solar("sunrise", 40.7128, -74.006)
    assert schedule["ttl"]["options"]["expires"] == 600.0
    assert schedule["half-hourly-in-microseconds"]["schedule"] == timedelta(minutes=30)
    assert (
        "skipped    report-ny: runs in America/New_York; the app's timezone is Europe/London"
        in result.stderr
    )
    assert "skipped    launch: run_once" in result.stderr
    assert "# not exported: disabled: disabled" in result.stdout


def test_plain_export_is_unchanged(sqlite_alias: str, cli: Invoke) -> None:
    scenario.build_all_fields(sqlite_alias)
    assert cli(*import_args(sqlite_alias)).exit_code == 0
    document = json.loads(cli("export").stdout)
    assert len(document["entries"]) == len(scenario.ALL_FIELDS)
    assert set(document["entries"][0]) >= {"id", "task", "spec", "options", "catch_up"}


def test_skipping_overlaps_is_inexpressible_in_django_celery_beat_and_celery() -> None:
    entry = Entry(id="x", task="proj.x", spec=IntervalSpec(60), overlap="skip")
    with pytest.raises(Inexpressible, match=re.escape("overlap=skip (celery sends every")):
        to_dcb(entry)
    with pytest.raises(Inexpressible, match=re.escape("overlap=skip (celery sends every")):
        check_celery_rules(entry)


def test_a_random_interval_is_inexpressible_in_django_celery_beat_and_celery() -> None:
    """Neither has a random interval: exporting only its `every` would change the schedule."""
    entry = Entry(id="x", task="proj.x", spec=IntervalSpec(300, up_to=600))
    with pytest.raises(Inexpressible, match=re.escape("a random interval (every 5-10m)")):
        to_dcb(entry)
    module = beat_schedule_module([entry], "UTC", NOW)
    assert module.skipped == {"x": "a random interval (every 5-10m)"}


def _tag(store: Store, entry_id: str, *tags: str) -> None:
    entry = store.get(entry_id)
    assert entry is not None
    store.upsert(replace(entry, tags=tags))


def test_tags_are_named_as_left_out_and_kept_by_a_new_import(
    sqlite_alias: str, cli: Invoke, store: Store
) -> None:
    """django-celery-beat has no tags: the export writes the entry without them and says so,
    a second export finds it unchanged, and importing the task again keeps the stored tags."""
    scenario.build_all_fields(sqlite_alias)
    assert cli(*import_args(sqlite_alias)).exit_code == 0
    _tag(store, "overdue-interval", "team:ops", "nightly")
    django_project.fresh(sqlite_alias)
    url = django_project.url(sqlite_alias)
    exported = cli("export", "--to", "django-celery-beat", "--db-url", url, "--allow-skips")
    assert exported.exit_code == 0, exported.output
    assert "left out   overdue-interval: tags (the target has no such field)" in exported.stdout
    again = cli("export", "--to", "django-celery-beat", "--db-url", url, "--allow-skips")
    assert "unchanged  overdue-interval" in again.stdout
    assert cli(*import_args(sqlite_alias)).exit_code == 0
    assert store.ids_tagged(["nightly"]) == ["overdue-interval"]


def test_export_to_celery_names_tags_as_left_out_and_takes_tag(
    sqlite_alias: str, cli: Invoke, store: Store
) -> None:
    scenario.build_all_fields(sqlite_alias)
    assert cli(*import_args(sqlite_alias)).exit_code == 0
    _tag(store, "ttl", "nightly")
    _tag(store, "sunrise-nyc", "nightly", "team:ops")
    result = cli(
        "export", "--to", "celery", "--celery-timezone", "Europe/London", "--tag", "nightly"
    )
    assert result.exit_code == 0, result.output
    namespace: dict[str, object] = {}
    exec(compile(result.stdout, "exported.py", "exec"), namespace)
    schedule = namespace["beat_schedule"]
    assert isinstance(schedule, dict)
    assert sorted(schedule) == ["sunrise-nyc", "ttl"]
    assert "# left out of ttl: tags" in result.stdout
    assert "left out   sunrise-nyc: tags (the target has no such field)" in result.stderr


def _window(store: Store, entry_id: str) -> None:
    """Give an imported entry blackout windows (its next run moves past the windows)."""
    entry = store.get(entry_id)
    assert entry is not None
    data = {**entry.spec.to_dict(), "except": ["2026-12-25"], "only": [{"weekdays": ["mon-fri"]}]}
    store.upsert(replace(entry, spec=parse_spec(data)))


def test_blackout_windows_are_named_as_left_out_by_both_exports(
    sqlite_alias: str, cli: Invoke, store: Store
) -> None:
    """Neither django-celery-beat nor celery can skip occurrences: the entry is written with
    its inner schedule, and the export names ``except`` and ``only`` as left out."""
    scenario.build_all_fields(sqlite_alias)
    assert cli(*import_args(sqlite_alias)).exit_code == 0
    _window(store, "quarter-hours-london")
    django_project.fresh(sqlite_alias)
    url = django_project.url(sqlite_alias)
    exported = cli("export", "--to", "django-celery-beat", "--db-url", url, "--allow-skips")
    assert exported.exit_code == 0, exported.output
    assert (
        "left out   quarter-hours-london: except, only (the target has no such field)"
        in exported.stdout
    )
    again = cli("export", "--to", "django-celery-beat", "--db-url", url, "--allow-skips")
    assert "unchanged  quarter-hours-london" in again.stdout

    result = cli("export", "--to", "celery", "--celery-timezone", "Europe/London")
    namespace: dict[str, object] = {}
    exec(compile(result.stdout, "exported.py", "exec"), namespace)
    schedule = namespace["beat_schedule"]
    assert isinstance(schedule, dict)
    assert schedule["quarter-hours-london"]["schedule"] == crontab(minute="*/15")
    assert "# left out of quarter-hours-london: except, only" in result.stdout
