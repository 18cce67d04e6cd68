"""``stembeat import --from django-celery-beat``: every field, broken rows, idempotence, old
schemas.

The databases are made by django-celery-beat's own models (``scenario.py``) on SQLite and
PostgreSQL; the importer reads them with SQLAlchemy alone.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import sqlalchemy as sa

from celery_stembeat.migrate.convert import Conversion, convert_task
from celery_stembeat.migrate.dcb_rows import DcbSettings, ScheduleRow, TaskRow
from celery_stembeat.specs import (
    CalendarSpec,
    ClockedSpec,
    CronSpec,
    IntervalSpec,
    SolarSpec,
    parse_instant,
)
from celery_stembeat.stores import Store
from tests.migrate import django_project, scenario
from tests.migrate.conftest import NOW, UTC, Invoke


def utc(text: str) -> datetime:
    return parse_instant(text, "test")


def import_args(alias: str, *extra: str) -> tuple[str, ...]:
    return ("import", "--from", "django-celery-beat", "--db-url", django_project.url(alias), *extra)


def test_every_field_carries_over(alias: str, cli: Invoke, store: Store) -> None:
    scenario.build_all_fields(alias)
    result = cli(*import_args(alias))
    assert result.exit_code == 0, result.output
    assert "13 added, 0 updated, 0 refreshed, 0 unchanged, 0 skipped" in result.output
    entries = {entry.id: entry for entry in store.list_entries()}
    assert sorted(entries) == sorted(scenario.ALL_FIELDS)

    report = entries["report-ny"]
    assert report.spec == CronSpec("30 2 * * *", "America/New_York")
    assert report.task == "proj.report_ny"
    assert report.args == ("daily", 2)
    assert report.kwargs == {"to": "ops@example.com"}
    assert report.options == {
        "queue": "reports",
        "exchange": "reports-x",
        "routing_key": "reports.daily",
        "priority": 7,
        "headers": {"tenant": "acme", "periodic_task_name": "report-ny"},
    }
    assert report.description == "the New York report"
    assert report.state.last_run_at == utc("2026-03-06T07:30:00Z")
    assert report.state.total_run_count == 41
    assert report.state.next_run_at == utc("2026-03-07T07:30:00Z")  # 02:30 EST
    assert report.source == "store"

    # Both day fields restricted: celery's AND, as a calendar spec.
    assert entries["first-monday"].spec == CalendarSpec(
        weekdays=(1,),
        monthdays=tuple(range(1, 8)),
        hours=(9,),
        minutes=(0,),
        timezone="Europe/Berlin",
    )
    assert entries["first-monday"].state.next_run_at == utc("2026-04-06T07:00:00Z")
    assert entries["quarter-hours-london"].spec == CronSpec("*/15 * * * *", "Europe/London")

    paris = entries["weekdays-paris"]
    assert paris.expire_at == utc("2026-03-20T07:59:59.999Z")  # it stops once now >= expires
    assert "expires" not in paris.options

    micro = entries["half-hourly-in-microseconds"]
    assert micro.spec == IntervalSpec(1800)
    assert micro.state.next_run_at == NOW + timedelta(minutes=20, microseconds=-250)

    sunrise = entries["sunrise-nyc"].spec
    assert sunrise == SolarSpec("sunrise", 40.7128, -74.006)

    launch = entries["launch"]
    assert launch.spec == ClockedSpec(utc("2026-03-10T15:00:00Z"))
    assert launch.run_once
    assert launch.state.next_run_at == utc("2026-03-10T15:00:00Z")

    one_off = entries["one-off-interval"]
    assert one_off.run_once
    assert one_off.state.next_run_at == NOW + timedelta(days=1)  # date_changed + 2 days

    later = entries["start-later"]
    assert later.state.next_run_at == utc("2026-03-09T10:30:00Z")
    assert entries["interval-start"].spec == IntervalSpec(
        43200, start_at=utc("2026-03-07T06:00:00Z")
    )
    assert not entries["disabled"].enabled
    assert entries["ttl"].options["expires"] == 600.0
    assert "start_time 2026-03-09T10:30:00Z is kept as the first run only" in result.output


def test_broken_rows_are_reported_not_copied(alias: str, cli: Invoke, store: Store) -> None:
    scenario.build_broken(alias)
    scenario.build_all_fields(alias)
    result = cli(*import_args(alias))
    assert result.exit_code == 1
    for name, why in scenario.BROKEN.items():
        line = next(line for line in result.output.splitlines() if f" {name}:" in line)
        assert line.startswith("skipped"), line
        assert why in line, line
    assert "7 task(s) skipped" in result.output
    assert {entry.id for entry in store.list_entries()} == set(scenario.ALL_FIELDS)
    allowed = cli(*import_args(alias, "--allow-skips"))
    assert allowed.exit_code == 0, allowed.output


def test_importing_twice_changes_nothing_and_edits_keep_run_state(
    alias: str, cli: Invoke, store: Store
) -> None:
    scenario.build_all_fields(alias)
    assert cli(*import_args(alias)).exit_code == 0
    before = {entry.id: entry for entry in store.list_entries()}
    again = cli(*import_args(alias))
    assert "0 added, 0 updated, 0 refreshed, 13 unchanged" in again.output
    assert {entry.id: entry for entry in store.list_entries()} == before

    # Edits in the Django admin: a new argument, and a new hour for the report.
    from django_celery_beat.models import CrontabSchedule, PeriodicTask

    task = PeriodicTask.objects.using(alias).get(name="ttl")
    task.kwargs = json.dumps({"verbose": True})
    task.save(using=alias)
    report = PeriodicTask.objects.using(alias).get(name="report-ny")
    CrontabSchedule.objects.using(alias).filter(pk=report.crontab_id).update(hour="3")
    edited = cli(*import_args(alias))
    assert "updated    report-ny (spec)" in edited.output
    assert "updated    ttl (kwargs)" in edited.output
    assert "0 added, 2 updated, 0 refreshed, 11 unchanged" in edited.output
    entries = {entry.id: entry for entry in store.list_entries()}
    assert entries["ttl"].kwargs == {"verbose": True}
    assert entries["report-ny"].spec == CronSpec("30 3 * * *", "America/New_York")
    assert entries["report-ny"].state.total_run_count == 41
    # 03:30 EST came after the last run (02:30 EST) and before now: due at once, as in dcb.
    assert entries["report-ny"].state.next_run_at == utc("2026-03-06T08:30:00Z")
    for name in set(before) - {"ttl", "report-ny"}:
        assert entries[name] == before[name]


def test_run_state_that_moved_on_at_the_source_is_copied_until_stembeat_runs(
    sqlite_alias: str, cli: Invoke, store: Store
) -> None:
    scenario.build_all_fields(sqlite_alias)
    assert cli(*import_args(sqlite_alias)).exit_code == 0
    from django_celery_beat.models import PeriodicTask

    PeriodicTask.objects.using(sqlite_alias).filter(name="overdue-interval").update(
        last_run_at=NOW - timedelta(minutes=30), total_run_count=3
    )
    result = cli(*import_args(sqlite_alias))
    assert "refreshed  overdue-interval (run state)" in result.output
    entry = store.get("overdue-interval")
    assert entry is not None
    assert entry.state.total_run_count == 3
    assert entry.state.next_run_at == NOW + timedelta(hours=3, minutes=30)


def test_dry_run_writes_nothing(sqlite_alias: str, cli: Invoke, store: Store) -> None:
    scenario.build_all_fields(sqlite_alias)
    result = cli(*import_args(sqlite_alias, "--dry-run"))
    assert result.exit_code == 0
    assert "(dry run: nothing written)" in result.output
    assert store.list_entries() == []


def test_an_old_schema_is_read_by_column_name(
    django_databases: None, cli: Invoke, store: Store
) -> None:
    """A database migrated only to 0005: no crontab zone, one-off, start time, headers…"""
    django_project.fresh("old")
    engine = sa.create_engine(django_project.url("old"))
    with engine.begin() as connection:
        columns = {
            column["name"]
            for column in sa.inspect(connection).get_columns("django_celery_beat_periodictask")
        }
        assert "priority" not in columns
        assert "headers" not in columns
        connection.execute(
            sa.text(
                "INSERT INTO django_celery_beat_crontabschedule "
                "(id, minute, hour, day_of_week, day_of_month, month_of_year) "
                "VALUES (1, '0', '6', 'mon-fri', '*', '*')"
            )
        )
        connection.execute(
            sa.text(
                "INSERT INTO django_celery_beat_periodictask (id, name, task, args, kwargs, "
                "enabled, total_run_count, date_changed, description, crontab_id, last_run_at) "
                "VALUES (1, 'morning', 'proj.morning', '[]', '{}', 1, 4, '2026-03-01 00:00:00', "
                "'', 1, '2026-03-06 06:00:00')"
            )
        )
    engine.dispose()
    result = cli(*import_args("old", "--celery-timezone", "Europe/Madrid"))
    assert result.exit_code == 0, result.output
    assert "at migration 0005_add_solarschedule_events_choices; lacks" in result.output
    assert "crontab.timezone" in result.output
    entry = store.get("morning")
    assert entry is not None
    # Without a zone column the crontab runs in celery's zone.
    assert entry.spec == CronSpec("0 6 * * 1-5", "Europe/Madrid")
    assert entry.state.total_run_count == 4
    assert entry.state.next_run_at == utc("2026-03-09T05:00:00Z")


def _row(**fields: object) -> TaskRow:
    values: dict[str, object] = {"id": 1, "name": "t", "task": "proj.t", "date_changed": NOW}
    values.update(fields)
    return TaskRow(**values)  # type: ignore[arg-type]


def _convert(row: TaskRow, settings: DcbSettings | None = None) -> Conversion:
    return convert_task(row, settings or DcbSettings(), NOW)


def test_sub_millisecond_intervals_are_rounded_or_skipped() -> None:
    def interval(every: int) -> TaskRow:
        row = ScheduleRow("interval", 1, {"every": every, "period": "microseconds"})
        return _row(links={"interval": 1}, schedules={"interval": row})

    rounded = _convert(interval(1500))
    assert rounded.entry is not None
    assert rounded.entry.spec == IntervalSpec(0.002)
    assert rounded.changes == (
        "interval of 1500 microseconds rounded to 2ms (stembeat keeps whole milliseconds)",
    )
    assert "shorter than stembeat's 1 ms" in str(_convert(interval(400)).skipped)


def test_naive_instants_follow_use_tz_and_time_zone() -> None:
    naive = datetime(2026, 3, 6, 9, 0)
    assert DcbSettings().aware(naive) == datetime(2026, 3, 6, 9, 0, tzinfo=UTC)
    local = DcbSettings(use_tz=False, time_zone="America/New_York")
    assert local.aware(naive) == datetime(2026, 3, 6, 14, 0, tzinfo=UTC)
    assert local.aware("2026-03-06 09:00:00.5") == datetime(
        2026, 3, 6, 14, 0, 0, 500000, tzinfo=UTC
    )


def test_without_tz_aware_a_crontab_runs_in_celerys_zone() -> None:
    values = {"minute": "0", "hour": "9", "timezone": "Asia/Tokyo"}
    row = _row(links={"crontab": 1}, schedules={"crontab": ScheduleRow("crontab", 1, values)})
    aware = _convert(row)
    plain = _convert(row, DcbSettings(tz_aware=False, celery_timezone="Europe/Oslo"))
    assert aware.entry is not None
    assert aware.entry.spec == CronSpec("0 9 * * *", "Asia/Tokyo")
    assert plain.entry is not None
    assert plain.entry.spec == CronSpec("0 9 * * *", "Europe/Oslo")
    assert plain.changes == (
        "crontab zone Asia/Tokyo is not used (DJANGO_CELERY_BEAT_TZ_AWARE is off): "
        "runs in Europe/Oslo",
    )
