"""Importing again and exporting back: what stembeat did stays done, and every report says
what changes.

Run on django-celery-beat databases that Django's own migrations made on SQLite, PostgreSQL and
MariaDB.
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta

from celery_stembeat.stores import Store
from tests.migrate import django_project, scenario
from tests.migrate.conftest import NOW, Invoke, invoker, run_beat
from tests.migrate.test_dcb_import import import_args


def _export_args(alias: str, *extra: str) -> tuple[str, ...]:
    url = django_project.url(alias)
    return ("export", "--to", "django-celery-beat", "--db-url", url, *extra)


def _statuses(output: str) -> dict[str, str]:
    """Entry id → its report line, from an import's or an export's output."""
    statuses = ("added", "updated", "refreshed", "unchanged", "skipped")
    lines = [line for line in output.splitlines() if line.split(" ", 1)[0] in statuses]
    return {line[11:].split(" ", 1)[0].rstrip(":"): line for line in lines}


def test_instants_are_compared_to_the_millisecond(any_alias: str, redis_store_url: str) -> None:
    """Django keeps microseconds, the Redis store milliseconds: importing again and exporting
    right after an import find nothing to write."""
    from django_celery_beat.models import PeriodicTask

    scenario.build_all_fields(any_alias)
    # A task that never ran: its first run counts from date_changed, microseconds and all.
    PeriodicTask.objects.using(any_alias).filter(name="one-off-interval").update(
        date_changed=NOW - timedelta(days=1, microseconds=1_234)
    )
    cli = invoker(redis_store_url)
    assert cli(*import_args(any_alias)).exit_code == 0
    again = cli(*import_args(any_alias))
    assert "0 added, 0 updated, 0 refreshed, 13 unchanged" in again.output, again.output
    back = cli(*_export_args(any_alias, "--dry-run"))
    assert "0 added, 0 updated, 13 unchanged" in back.output, back.output
    written = cli(*_export_args(any_alias))
    assert "0 added, 0 updated, 13 unchanged" in written.output, written.output


def test_importing_again_keeps_what_stembeat_disabled(
    any_alias: str, cli: Invoke, store: Store, store_url: str
) -> None:
    """One-offs stembeat ran and entries it found expired stay disabled; a task disabled in
    the Django admin is disabled in the store, and other edits of a done one-off still apply."""
    from django_celery_beat.models import PeriodicTask

    scenario.build_run_once(any_alias)
    assert cli(*import_args(any_alias)).exit_code == 0
    sent = run_beat(store, NOW, NOW + timedelta(days=3))
    assert [item.entry_id for item in sent.sent].count("launch") == 1
    assert sent.times("until-sunday")[-1] == NOW + timedelta(hours=35)
    assert sent.times("expired-unrun") == []
    done = {"launch", "once-tomorrow", "until-sunday", "expired-unrun"}
    assert {entry.id for entry in store.list_entries(enabled=False)} == done

    tasks = PeriodicTask.objects.using(any_alias)
    admin = tasks.get(name="admin-disabled")
    admin.enabled = False
    admin.save(using=any_alias)
    launch = tasks.get(name="launch")
    launch.kwargs = json.dumps({"loud": True})
    launch.save(using=any_alias)
    later = invoker(store_url, NOW + timedelta(days=3))
    again = later(*import_args(any_alias), "--verbose")
    assert again.exit_code == 0, again.output
    statuses = _statuses(again.output)
    assert statuses["admin-disabled"] == "updated    admin-disabled (enabled)"
    assert statuses["launch"] == "updated    launch (kwargs)"
    for name in done - {"launch"}:
        assert statuses[name] == f"unchanged  {name}"
    assert {entry.id for entry in store.list_entries(enabled=False)} == set(scenario.RUN_ONCE)
    relaunched = store.get("launch")
    assert relaunched is not None
    assert relaunched.kwargs == {"loud": True}

    # Back to django-celery-beat and in again: nothing to do either way.
    assert later(*_export_args(any_alias)).exit_code == 0
    assert "0 added, 0 updated, 0 refreshed, 5 unchanged" in later(*import_args(any_alias)).output
    assert "0 added, 0 updated, 5 unchanged" in later(*_export_args(any_alias)).output


def test_export_names_what_changes_as_import_does(
    sqlite_alias: str, cli: Invoke, store: Store, store_url: str
) -> None:
    from django_celery_beat.models import PeriodicTask

    scenario.build_all_fields(sqlite_alias)
    assert cli(*import_args(sqlite_alias)).exit_code == 0
    tasks = PeriodicTask.objects.using(sqlite_alias)
    tasks.filter(name="disabled").update(args="['a', 1]")  # not JSON: django-celery-beat fails
    ttl = store.get("ttl")
    assert ttl is not None
    store.upsert(replace(ttl, kwargs={"verbose": True}))
    run_beat(store, NOW, NOW + timedelta(hours=1))
    later = invoker(store_url, NOW + timedelta(hours=1))
    back = _statuses(later(*_export_args(sqlite_alias, "--dry-run")).output)
    assert back["ttl"] == "updated    ttl (kwargs)"
    assert back["quarter-hours-london"] == "updated    quarter-hours-london (run state)"
    assert back["report-ny"] == "unchanged  report-ny"
    assert back["disabled"] == "updated    disabled (all fields: the task there cannot run)"

    # The same change made in the Django admin: the import says it the same way.
    task = tasks.get(name="ttl")
    task.kwargs = json.dumps({"quiet": True})
    task.save(using=sqlite_alias)
    assert _statuses(later(*import_args(sqlite_alias)).output)["ttl"] == back["ttl"]


def test_a_real_import_says_that_the_django_admin_is_no_longer_read(
    sqlite_alias: str, cli: Invoke
) -> None:
    scenario.build_all_fields(sqlite_alias)
    dry = cli(*import_args(sqlite_alias, "--dry-run"))
    real = cli(*import_args(sqlite_alias))
    note = real.stderr.strip()
    assert "\n" not in note
    for words in (
        "edits in the Django admin",
        "until the next import",
        "django-celery-beat's beat",
    ):
        assert words in note, note
    assert note not in dry.output
    as_json = cli(*import_args(sqlite_alias, "--json"))
    assert json.loads(as_json.stdout)["unchanged"]
    assert as_json.stderr.strip() == note
