"""The celery adapter: settings, the lazy banner instance, the alias, close()."""

from __future__ import annotations

import logging
from datetime import timedelta
from importlib.metadata import entry_points
from pathlib import Path

import pytest
import sqlalchemy as sa
from celery import Celery
from celery.beat import ScheduleEntry

import celery_stembeat
from celery_stembeat.config import ConfigError, StembeatConfig, embedded_url
from celery_stembeat.scheduler import Scheduler
from celery_stembeat.stores import open_store
from tests.contract.helpers import with_option


def make_app(**settings: object) -> Celery:
    app = Celery("t", set_as_current=False, broker="memory://")
    app.conf.update(result_expires=None, **settings)
    return app


def test_lazy_instance_does_no_io(tmp_path: Path) -> None:
    """celery's banner instance opens nothing: the URL may point at a server that is down."""
    app = make_app(stembeat_url="redis://:secret@127.0.0.1:1/0")
    scheduler = Scheduler(app, schedule_filename=str(tmp_path / "s"), lazy=True)
    assert scheduler.store is None
    assert scheduler.schedule == {}
    assert "secret" not in scheduler.info
    assert "redis://:***@127.0.0.1:1/0" in scheduler.info
    scheduler.close()
    scheduler.close()


def test_settings_have_celery_names_and_defaults(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("STEMBEAT_URL", raising=False)
    config = StembeatConfig.from_app(make_app(), str(tmp_path / "celerybeat-schedule"))
    assert config.url == embedded_url(str(tmp_path / "celerybeat-schedule"))
    assert config.url.endswith("celerybeat-schedule-stembeat.db")
    assert config.engine.lease == timedelta(seconds=10)
    assert config.engine.grace == timedelta(seconds=30)
    assert config.engine.lookahead == timedelta(milliseconds=20)
    assert config.max_skew == 1.0
    assert (config.metrics_port, config.metrics_address) == (None, "0.0.0.0")
    monkeypatch.setenv("STEMBEAT_URL", "redis://127.0.0.1:6379/3")
    app = make_app(
        stembeat_lease=5,
        stembeat_grace=timedelta(minutes=2),
        stembeat_catch_up_limit=7,
        stembeat_lookahead=0,
        stembeat_owner="beat-a",
        stembeat_max_skew=timedelta(milliseconds=250),
        stembeat_metrics_port=9808,
        stembeat_metrics_address="127.0.0.1",
        timezone="Europe/Berlin",
    )
    config = StembeatConfig.from_app(app)
    assert config.url == "redis://127.0.0.1:6379/3"
    assert config.engine.lease == timedelta(seconds=5)
    assert config.engine.grace == timedelta(minutes=2)
    assert (config.engine.catch_up_limit, config.engine.owner) == (7, "beat-a")
    assert config.engine.lookahead == timedelta(0)
    assert config.timezone == "Europe/Berlin"
    assert config.max_skew == 0.25
    assert (config.metrics_port, config.metrics_address) == (9808, "127.0.0.1")
    app.conf.stembeat_url = "postgresql://db/x"
    assert StembeatConfig.from_app(app).url == "postgresql://db/x"


def test_alert_thresholds_come_from_their_settings_and_the_grace() -> None:
    app = make_app(
        stembeat_grace=45,
        stembeat_alert_failures=5,
        stembeat_alert_start_within=60,
        stembeat_alert_finish_within=7200,
    )
    rules = StembeatConfig.from_app(app).alert_rules
    assert (rules.missed_after, rules.start_within, rules.finish_within, rules.failures) == (
        timedelta(seconds=45),
        timedelta(seconds=60),
        timedelta(hours=2),
        5,
    )


@pytest.mark.parametrize(
    ("setting", "value"),
    [
        ("stembeat_lease", 0),
        ("stembeat_grace", "soon"),
        ("stembeat_batch_size", 0),
        ("stembeat_lookahead", 2),
        ("stembeat_lookahead", float("nan")),
        ("stembeat_max_skew", 0),
        ("stembeat_max_skew", float("inf")),
        ("stembeat_metrics_port", 0),
        ("stembeat_metrics_port", 65536),
        ("stembeat_metrics_port", "9808"),
        ("stembeat_metrics_port", True),
        ("stembeat_alert_failures", 0),
        ("stembeat_alert_failures", 2.5),
        ("stembeat_alert_start_within", 0.5),
        ("stembeat_alert_finish_within", "1h"),
    ],
)
def test_bad_settings_name_the_setting(setting: str, value: object) -> None:
    with pytest.raises(ConfigError, match=setting):
        StembeatConfig.from_app(make_app(**{setting: value}))


def test_short_alias_is_registered() -> None:
    """``celery beat -S stembeat`` finds the scheduler through celery's entry-point group."""
    (found,) = [ep for ep in entry_points(group="celery.beat_schedulers") if ep.name == "stembeat"]
    assert found.load() is Scheduler
    assert celery_stembeat.Scheduler is Scheduler


def test_schedule_shows_stored_entries_to_celery(tmp_path: Path) -> None:
    """``scheduler.schedule`` keeps celery's introspection working."""
    app = make_app(
        beat_schedule={"ping": {"task": "tasks.ping", "schedule": 30.0, "args": (1,)}},
        stembeat_url=f"sqlite:///{tmp_path / 'x.db'}",
    )
    scheduler = Scheduler(app, schedule_filename=str(tmp_path / "s"))
    try:
        schedule = scheduler.schedule
        assert list(schedule) == ["ping"]
        entry = schedule["ping"]
        assert isinstance(entry, ScheduleEntry)
        assert (entry.task, entry.args) == ("tasks.ping", (1,))
        assert entry.schedule.remaining_estimate(entry.default_now()) <= timedelta(seconds=30)
    finally:
        scheduler.close()
        scheduler.close()
    with pytest.raises(SystemExit):
        scheduler.tick()


def test_a_beat_on_postgres_logs_what_autovacuum_lacks_once(
    postgres_url: str, unique_prefix: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The server's autovacuum is read as the beat starts: one warning line when it is off."""
    engine = sa.create_engine(postgres_url)
    try:
        with engine.connect() as conn:
            autovacuum = conn.scalar(sa.text("SHOW autovacuum"))
    finally:
        engine.dispose()
    url = with_option(postgres_url, "prefix", unique_prefix)
    caplog.set_level(logging.WARNING, logger="celery_stembeat")
    scheduler = Scheduler(make_app(stembeat_url=url), schedule_filename=str(tmp_path / "s"))
    try:
        assert scheduler.store is not None  # started: the store opened and synced
        warned = [r.getMessage() for r in caplog.records if "autovacuum" in r.getMessage()]
    finally:
        scheduler.close()
        with open_store(url) as store:
            store.drop()
    if autovacuum == "on":
        assert warned == []
        return
    (line,) = warned
    assert line.startswith("stembeat: SQL store postgresql")
    assert "autovacuum = off: " in line
    assert "Set autovacuum = on" in line
