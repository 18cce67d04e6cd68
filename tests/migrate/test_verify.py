"""``--verify``: celery's own schedules (the oracle) against the imported entries, and the engine.

The window runs from NOW (6 March 2026) over the US (8 March) and EU (29 March) clock changes.
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta

from celery_stembeat.engine import Engine, EngineSettings
from celery_stembeat.migrate.convert import convert_task
from celery_stembeat.migrate.dcb_rows import DcbSettings, TaskRow, read_tasks
from celery_stembeat.migrate.dcb_schema import opened, reflect
from celery_stembeat.migrate.oracle import DcbOracle
from celery_stembeat.migrate.predict import predict_entry
from celery_stembeat.migrate.verify import DCB, STEMBEAT, verify
from celery_stembeat.specs import CronSpec, parse_instant
from celery_stembeat.stores import Store
from tests.engine.conftest import FakeClock, RecordingPublisher
from tests.migrate import django_project, scenario
from tests.migrate.conftest import NOW, Invoke
from tests.migrate.test_dcb_import import import_args

SETTINGS = DcbSettings()


def rows(alias: str) -> list[TaskRow]:
    with opened(django_project.url(alias)) as connection:
        return list(read_tasks(connection, reflect(connection), SETTINGS))


def test_verify_finds_no_divergence_across_both_dst_changes(
    alias: str, cli: Invoke, store: Store
) -> None:
    scenario.build_all_fields(alias)
    result = cli(*import_args(alias, "--verify", scenario.WINDOW))
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[-1] == "SAFE TO SWITCH"
    assert "divergences: 0" in lines
    assert (
        "  report-ny  [dst] spring-forward gap in America/New_York at 2026-03-08T07:00:00Z: "
        "celery's crontab moves or drops runs there; stembeat follows the ISC cron rule "
        "(docs/schedules.md)" in lines
    )
    assert "    django-celery-beat  2026-03-08T07:30:00Z" in lines
    assert "    stembeat            2026-03-08T07:00:00Z" in lines
    assert any("sunrise-nyc  [solar] sunrise (25 days)" in line for line in lines)
    assert any("overdue-interval  [interval-phase]" in line for line in lines)


def test_verify_reports_every_divergence_of_rows_that_were_not_imported(
    sqlite_alias: str, cli: Invoke
) -> None:
    scenario.build_broken(sqlite_alias)
    result = cli(*import_args(sqlite_alias, "--verify", "2d", "--allow-skips", "--json"))
    assert result.exit_code == 1
    report = json.loads(result.stdout)["verify"]
    assert report["verdict"] == "NOT SAFE TO SWITCH"
    # django-celery-beat would run the interval of the task with two schedules (at once, it is
    # overdue, then hourly), and re-send the repeating clocked task: switching loses those.
    diverging = {item["task"] for item in report["divergences"]}
    assert diverging == {"two-schedules", "clocked-repeating"}
    assert {item["side"] for item in report["divergences"]} == {DCB}
    assert len([item for item in report["divergences"] if item["task"] == "two-schedules"]) == 49
    assert report["notes"]["sunday-seven"].startswith(f"{DCB} cannot run it: celery refuses")


def test_the_oracle_is_independent_of_the_importer(sqlite_alias: str) -> None:
    """A wrong entry (a converter bug) shows up as divergences, with the exact instants."""
    scenario.build_all_fields(sqlite_alias)
    read = rows(sqlite_alias)
    entries = {}
    for row in read:
        entry = convert_task(row, SETTINGS, NOW).entry
        assert entry is not None
        entries[row.name] = entry
    # As if the converter had used Vixie's OR for the first-Monday crontab, and a UTC zone.
    for name, spec in (
        ("first-monday", CronSpec("0 9 1-7 * 1", "Europe/Berlin")),
        ("report-ny", CronSpec("30 2 * * *", "UTC")),
    ):
        wrong = replace(entries[name], spec=spec)
        last = wrong.state.last_run_at
        assert last is not None
        entries[name] = wrong.with_state(next_run_at=spec.next_after(last))
    end = NOW + timedelta(days=10)
    found = verify(read, entries, DcbOracle(SETTINGS), NOW, end)
    assert not found.safe
    by_task = {(item.task, item.side) for item in found.divergences}
    assert ("first-monday", STEMBEAT) in by_task
    assert ("report-ny", STEMBEAT) in by_task
    assert ("report-ny", DCB) in by_task
    monday = [item.at for item in found.divergences if item.task == "first-monday"]
    assert parse_instant("2026-03-09T08:00:00Z", "t") in monday  # a Monday, not the 1st-7th


def test_the_engine_fires_what_the_oracle_predicts(
    sqlite_alias: str, cli: Invoke, store: Store
) -> None:
    """The real engine, from the imported store, on a fixed clock over the US clock change."""
    scenario.build_all_fields(sqlite_alias)
    assert cli(*import_args(sqlite_alias)).exit_code == 0
    end = NOW + timedelta(days=3)
    imported = {entry.id: entry for entry in store.list_entries()}
    clock = FakeClock(NOW)
    publisher = RecordingPublisher(clock)
    engine = Engine(store, publisher, EngineSettings(owner="t"), clock=clock, sleep=clock.sleep)
    while True:
        engine.tick()
        due = store.next_due_at()
        if due is None or due > end:
            break
        clock.now = max(clock.now, due)
    engine.close()

    fired: dict[str, list[object]] = {name: [] for name in imported}
    for sent in publisher.sent:
        fired[sent.entry_id].append(sent.sent_at)
    for name, entry in imported.items():
        assert fired[name] == [fire.at for fire in predict_entry(entry, NOW, end)], name
    assert sum(len(times) for times in fired.values()) > 250

    found = verify(rows(sqlite_alias), imported, DcbOracle(SETTINGS), NOW, end)
    assert found.divergences == []
    oracle_fires, our_fires = found.fires
    assert our_fires == len(publisher.sent)
    assert {item.reason for item in found.intentional} == {"dst", "solar", "interval-phase"}
    assert oracle_fires == our_fires
