"""Starting beat while its store is unreachable: retried as an outage, bad settings still stop."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from celery import Celery, signature

from celery_stembeat.entry import EntryError
from celery_stembeat.scheduler import Scheduler
from celery_stembeat.startup import StoreStart, unreachable
from celery_stembeat.stores import Store, StoreError
from celery_stembeat.stores.memory import MemoryStore
from tests.engine.conftest import FakeClock

LOGGER = "celery_stembeat"
URL = "redis://:secret@127.0.0.1:1/0"


def driver_error(text: str) -> StoreError:
    """A store error as stores raise it for what the server said: from the driver's error."""
    try:
        raise StoreError(text) from ConnectionRefusedError(text)
    except StoreError as exc:
        return exc


class Opener:
    """Opens a memory store once ``errors`` are used up, raising the next one before that."""

    def __init__(self, *errors: Exception) -> None:
        self.errors = list(errors)
        self.store = MemoryStore()
        self.calls = 0

    def __call__(self, url: str) -> Store:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return self.store


def errors_logged(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]


def test_an_unreachable_store_is_retried_with_backoff_and_logged_once(
    clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    """Down for eight attempts: one ERROR (URL masked), pauses 0.5 s doubling up to the cap,
    then the sync runs once and one line says the store answered."""
    refused = driver_error("Connection refused")
    opener = Opener(*[refused] * 8)
    synced: list[Store] = []
    start = StoreStart(URL, synced.append, max_backoff=4, clock=clock, opener=opener)
    pauses = []
    with caplog.at_level(logging.DEBUG, logger=LOGGER):
        while (pause := start.attempt()) > 0:
            pauses.append(pause)
            clock.advance(pause)
    assert pauses == [0.5, 1, 2, 4, 4, 4, 4, 4]
    assert (opener.calls, synced) == (9, [opener.store])
    assert start.done
    assert start.store is opener.store
    (error,) = errors_logged(caplog)
    assert error == (
        "stembeat: store redis://:***@127.0.0.1:1/0 unreachable at start, retrying: "
        "Connection refused"
    )
    assert "secret" not in caplog.text
    assert "stembeat: store redis://:***@127.0.0.1:1/0 reachable after 23.5 s" in caplog.text
    assert start.attempt() == 0
    assert opener.calls == 9


def test_a_sync_that_fails_is_retried_on_the_open_store(clock: FakeClock) -> None:
    """The store opens but stops answering during the sync: the same store is synced again."""
    opener = Opener()
    failures = [driver_error("Connection reset by peer")]

    def sync(store: Store) -> None:
        if failures:
            raise failures.pop()

    start = StoreStart(URL, sync, clock=clock, opener=opener)
    assert start.attempt() == 0.5
    assert start.attempt() == 0
    assert opener.calls == 1


def test_a_changed_error_is_logged_again(
    clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    """The server comes up but refuses the login: the log says so, not only "refused"."""
    refused = driver_error("Connection refused")
    denied = driver_error('FATAL:  password authentication failed for user "beat"')
    opener = Opener(refused, refused, denied, denied, denied)
    start = StoreStart(URL, lambda store: None, clock=clock, opener=opener)
    with caplog.at_level(logging.DEBUG, logger=LOGGER):
        while (pause := start.attempt()) > 0:
            clock.advance(pause)
    assert errors_logged(caplog) == [
        "stembeat: store redis://:***@127.0.0.1:1/0 unreachable at start, retrying: "
        "Connection refused",
        "stembeat: store redis://:***@127.0.0.1:1/0 still unreachable, retrying: "
        'FATAL:  password authentication failed for user "beat"',
    ]


def test_what_is_not_an_outage_stops_at_once(clock: FakeClock) -> None:
    """A URL the store cannot use is raised, not retried."""
    opener = Opener(StoreError("store URL: unknown scheme 'foo'"))
    start = StoreStart("foo://x", lambda store: None, clock=clock, opener=opener)
    with pytest.raises(StoreError, match="unknown scheme"):
        start.attempt()


def test_a_bad_item_stops_at_start_even_with_the_store_down(clock: FakeClock) -> None:
    """The items are validated as soon as the store turns out to be unreachable."""

    def validate() -> None:
        raise EntryError("beat_schedule['x']: unknown key 'colour'", "x", "colour")

    opener = Opener(driver_error("Connection refused"))
    start = StoreStart(URL, lambda store: None, validate=validate, clock=clock, opener=opener)
    with pytest.raises(EntryError, match="colour"):
        start.attempt()


def test_what_counts_as_unreachable() -> None:
    assert unreachable(driver_error("refused"))
    assert unreachable(ConnectionRefusedError())
    assert not unreachable(StoreError("SQL store: cannot parse the URL"))
    assert not unreachable(ValueError("bad"))


# -- the celery adapter ------------------------------------------------------------------------


def make_app(**settings: object) -> Celery:
    app = Celery("t", set_as_current=False, broker="memory://")
    app.conf.update(result_expires=None, stembeat_max_backoff=1, **settings)
    return app


@pytest.fixture
def not_yet(tmp_path: Path) -> Path:
    """A SQLite store in a directory that does not exist yet (a volume not mounted yet)."""
    return tmp_path / "later" / "stembeat.db"


def test_beat_starts_without_its_store_and_syncs_when_it_appears(
    not_yet: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    app = make_app(
        stembeat_url=f"sqlite:///{not_yet}",
        beat_schedule={"ping": {"task": "tasks.ping", "schedule": 30.0}},
    )
    with caplog.at_level(logging.INFO, logger=LOGGER):
        # A short loop interval: the tick that reaches the store also waits for the next.
        scheduler = Scheduler(app, schedule_filename=str(tmp_path / "s"), max_interval=0.05)
        try:
            assert scheduler.engine is None
            assert scheduler.schedule == {}
            assert scheduler.tick() == 0.5
            assert scheduler.tick() == 1.0
            not_yet.parent.mkdir()
            assert scheduler.tick() == 0
            assert scheduler.engine is not None
            assert list(scheduler.schedule) == ["ping"]
        finally:
            scheduler.close()
            scheduler.close()
    assert len(errors_logged(caplog)) == 1
    assert "unable to open database file" in caplog.text
    assert "beat_schedule: 1 added" in caplog.text


def test_a_bad_item_stops_beat_with_its_store_down(tmp_path: Path, not_yet: Path) -> None:
    app = make_app(
        stembeat_url=f"sqlite:///{not_yet}",
        beat_schedule={"x": {"task": "tasks.x", "schedule": 30.0, "colour": "red"}},
    )
    with pytest.raises(EntryError, match="unknown key 'colour'"):
        Scheduler(app, schedule_filename=str(tmp_path / "s"))


def test_an_option_that_cannot_be_stored_stops_beat_naming_it(tmp_path: Path) -> None:
    item = {"task": "tasks.x", "schedule": 30.0, "options": {"link": signature("tasks.y")}}
    app = make_app(stembeat_url=f"sqlite:///{tmp_path / 'db'}", beat_schedule={"x": item})
    with pytest.raises(EntryError) as caught:
        Scheduler(app, schedule_filename=str(tmp_path / "s"))
    assert str(caught.value) == (
        "entry 'x': 'options.link': a signature (tasks to call with the result) cannot be "
        "stored as JSON"
    )


def test_a_bad_store_url_stops_beat(tmp_path: Path) -> None:
    app = make_app(stembeat_url="foo://x")
    with pytest.raises(StoreError, match="unknown scheme"):
        Scheduler(app, schedule_filename=str(tmp_path / "s"))
