"""The actions: enable, disable, run now and remove through the store API, audited with the
web user; refused without the CSRF token, in read-only mode, by GET, and on a concurrent
change."""

from __future__ import annotations

import html
import socket
import uuid
from collections.abc import Iterator

import pytest
import redis

from celery_stembeat.stores import Store
from celery_stembeat.web.actions import BAD_CSRF, NO_APP, READ_ONLY
from tests.cli.scenario import NOW
from tests.cli.test_run import DEAD_BROKER, at_broker, make_app
from tests.web.conftest import Client, csrf_of, messages, post_action

pytestmark = pytest.mark.services

WEB_ACTOR = f"web@{socket.gethostname()}"


def newest_change(store: Store, entry_id: str) -> tuple[str, str]:
    *_, change = store.changes(entry_id)
    return change.actor, change.verb


def test_disable_then_enable(client: Client, store: Store) -> None:
    web = client()
    response = post_action(web, "disable", "heartbeat")
    assert response.url.path == "/entry"
    assert messages(response.text) == ["disabled heartbeat"]
    assert not store.get("heartbeat").enabled  # type: ignore[union-attr]
    assert newest_change(store, "heartbeat") == (WEB_ACTOR, "disable")
    response = post_action(web, "enable", "heartbeat")
    assert messages(response.text) == ["enabled heartbeat"]
    enabled = store.get("heartbeat")
    assert enabled is not None
    assert enabled.enabled
    assert enabled.state.next_run_at is not None
    assert enabled.state.next_run_at > NOW
    assert newest_change(store, "heartbeat") == (WEB_ACTOR, "enable")
    # The page's audit trail names the web user.
    page = web.get("/entry", params={"id": "heartbeat"}).text
    assert WEB_ACTOR in page.split("<h2>Changes</h2>")[1]


def test_remove(client: Client, store: Store) -> None:
    response = post_action(client(), "remove", "ping", confirm="yes")
    assert response.url.path == "/entries"
    assert messages(response.text) == ["removed ping"]
    assert store.get("ping") is None
    assert newest_change(store, "ping") == (WEB_ACTOR, "remove")


def test_a_concurrent_change_is_reported_not_overwritten(client: Client, store: Store) -> None:
    """Every action names the version its page showed; the entry moved on since: nothing."""
    web = client()
    page = web.get("/entry", params={"id": "sync"}).text
    store.set_enabled("sync", False, NOW)
    head = store.audit_head()
    form = {"csrf": csrf_of(page), "entry_id": "sync", "version": "1"}
    for verb in ("remove", "enable", "disable", "run"):
        response = web.post(f"/actions/{verb}", data={**form, "confirm": "yes"})
        (message,) = messages(response.text)
        assert html.unescape(message) == (
            "entry 'sync' changed since this page was read (version '1', now 2): nothing was "
            "done; look again and retry"
        )
    kept = store.get("sync")
    assert kept is not None
    assert (kept.enabled, kept.version) == (False, 2)
    assert store.audit_head() == head


def test_an_action_on_a_flag_already_set_at_the_version_shown_changes_nothing(
    client: Client, store: Store
) -> None:
    web = client()
    store.set_enabled("sync", False, NOW)
    head = store.audit_head()
    response = post_action(web, "disable", "sync")
    assert messages(response.text) == ["disabled sync"]
    assert store.get("sync").version == 2  # type: ignore[union-attr]
    assert store.audit_head() == head


def test_an_entry_removed_meanwhile_is_reported(client: Client, store: Store) -> None:
    web = client()
    page = web.get("/entry", params={"id": "sync"}).text
    store.delete("sync")
    form = {"csrf": csrf_of(page), "entry_id": "sync", "version": "1", "confirm": "yes"}
    for verb in ("disable", "enable", "remove", "run"):
        response = web.post(f"/actions/{verb}", data=form)
        assert response.url.path == "/entry"
        message = messages(response.text)[0]
        assert html.unescape(message) == "no entry 'sync': removed meanwhile? nothing was done"
    assert store.get("sync") is None


@pytest.mark.parametrize("token", [None, "", "forged"])
def test_actions_need_the_sessions_csrf_token(
    client: Client, store: Store, token: str | None
) -> None:
    web = client()
    web.get("/entry", params={"id": "sync"})
    form = {"entry_id": "sync", "version": "1", **({} if token is None else {"csrf": token})}
    response = web.post("/actions/disable", data=form)
    assert response.status_code == 403
    assert BAD_CSRF.replace("'", "&#39;") in response.text
    assert store.get("sync").enabled  # type: ignore[union-attr]


def test_another_sessions_token_is_refused(client: Client, store: Store) -> None:
    theirs = csrf_of(client().get("/entry", params={"id": "sync"}).text)
    web = client()
    web.get("/")
    response = web.post(
        "/actions/disable", data={"csrf": theirs, "entry_id": "sync", "version": "1"}
    )
    assert response.status_code == 403
    assert store.get("sync").enabled  # type: ignore[union-attr]


def test_read_only_refuses_every_action_and_offers_none(client: Client, store: Store) -> None:
    web = client(read_only=True)
    page = web.get("/entry", params={"id": "sync"}).text
    assert "/actions/" not in page
    assert "read-only" in page
    form = {"entry_id": "sync", "version": "1", "confirm": "yes"}
    for verb in ("enable", "disable", "run", "remove"):
        response = web.post(f"/actions/{verb}", data=form)
        assert response.status_code == 403
        assert READ_ONLY in response.text
    assert store.get("sync").enabled  # type: ignore[union-attr]
    assert newest_change(store, "sync")[1] != "disable"


def test_actions_are_post_only(client: Client) -> None:
    web = client()
    for verb in ("enable", "disable", "run", "remove"):
        assert web.get(f"/actions/{verb}").status_code == 405
    assert web.get("/logout").status_code == 405


def test_run_now_without_an_app_says_how(client: Client, store: Store) -> None:
    web = client()
    assert "/actions/run" not in web.get("/entry", params={"id": "sync"}).text
    response = post_action(web, "run", "sync")
    assert [message.replace("&#39;", "'") for message in messages(response.text)] == [NO_APP]
    assert all(not run.manual for run in store.history("sync"))


@pytest.fixture
def queue(redis_url: str) -> Iterator[str]:
    """A queue on the test Redis that no worker reads; deleted afterwards."""
    name = f"web-{uuid.uuid4().hex[:8]}"
    yield name
    client = redis.Redis.from_url(redis_url)
    client.delete(name)
    client.close()


def test_run_now_sends_and_records_a_manual_run(
    client: Client, store: Store, store_url: str, redis_url: str, queue: str
) -> None:
    web = client(celery_app=make_app(redis_url, queue, store_url))
    assert "/actions/run" in web.get("/entry", params={"id": "sync"}).text
    response = post_action(web, "run", "sync")
    (message,) = messages(response.text)
    assert message.startswith("sent sync: task id ")
    (manual,) = [run for run in store.history("sync") if run.manual]
    assert manual.owner == WEB_ACTOR
    assert message.endswith(str(manual.task_id))
    (sent,) = at_broker(redis_url, queue)
    assert sent["headers"]["id"] == manual.task_id
    assert newest_change(store, "sync") == (WEB_ACTOR, "run")
    runs = web.get("/entry", params={"id": "sync"}).text.split("<h2>Runs</h2>")[1]
    assert "(manual)" in runs


def test_run_now_reports_a_send_that_failed(
    client: Client, store: Store, store_url: str, queue: str
) -> None:
    web = client(celery_app=make_app(DEAD_BROKER, queue, store_url))
    (message,) = messages(post_action(web, "run", "sync").text)
    assert message.startswith("not sent sync: ")
