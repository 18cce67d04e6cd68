"""Rolling back from the entry page: the difference ``rollback --dry-run`` shows, then
confirm; run state kept, audited, checked against the version the difference was read at."""

from __future__ import annotations

import html
import re
from dataclasses import replace
from typing import Any

import pytest
from starlette.testclient import TestClient

from celery_stembeat.audit import ChangeNote
from celery_stembeat.cli.rollbacks import Rollback
from celery_stembeat.specs import IntervalSpec
from celery_stembeat.stores import Store
from celery_stembeat.web import rollbacks
from celery_stembeat.web.actions import BAD_CSRF, READ_ONLY
from tests.cli.conftest import invoker
from tests.cli.scenario import NOW, entry
from tests.web.conftest import Client, form_fields, messages
from tests.web.test_actions import WEB_ACTOR, newest_change

pytestmark = pytest.mark.services


def retask(store: Store, entry_id: str, task: str) -> int:
    """Change the entry's task as someone else would; the change's seq."""
    current = store.get(entry_id)
    assert current is not None
    store.upsert(replace(current, task=task), note=ChangeNote("ops@host", "write", NOW))
    *_, change = store.changes(entry_id)
    return change.seq


def rows(page: str) -> list[str]:
    """The difference a rollback page shows, as ``rollback --dry-run`` prints it."""
    table = page.split('<table class="diff">')[1].split("</table>")[0]
    found = re.findall(r"<tr><td>([^<]*)</td><td><code>([^<]*)</code></td><td><code>([^<]*)", table)
    return [html.unescape(f"{name}: {before} → {after}") for name, before, after in found]


def test_undo_shows_the_dry_runs_difference_then_restores_keeping_run_state(
    client: Client, store: Store, store_url: str
) -> None:
    runs = store.get("heartbeat").state.total_run_count  # type: ignore[union-attr]
    retask(store, "heartbeat", "tasks.other")
    web = client()
    page = web.get("/entry", params={"id": "heartbeat"}).text
    assert "/rollback?id=heartbeat&amp;to=" in page
    shown = web.get("/rollback", params={"id": "heartbeat"})
    assert shown.status_code == 200
    dry = invoker(store_url)("rollback", "heartbeat", "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert rows(shown.text) == [line.strip() for line in dry.output.splitlines()[1:]]
    assert rows(shown.text) == ['task: "tasks.other" → "tasks.heartbeat"']
    done = web.post("/rollback", data=form_fields(shown.text, "/rollback"))
    assert done.url.path == "/entry"
    assert messages(done.text)[0].startswith("rolled back heartbeat: its definition before change")
    back = store.get("heartbeat")
    assert back is not None
    assert back.task == "tasks.heartbeat"
    assert back.state.total_run_count == runs
    assert newest_change(store, "heartbeat") == (WEB_ACTOR, "rollback")


def test_rolling_back_to_a_change_restores_the_definition_after_it(
    client: Client, store: Store
) -> None:
    first = retask(store, "sync", "tasks.one")
    retask(store, "sync", "tasks.two")
    web = client()
    shown = web.get("/rollback", params={"id": "sync", "to": str(first)}).text
    assert rows(shown) == ['task: "tasks.two" → "tasks.one"']
    web.post("/rollback", data=form_fields(shown, "/rollback"))
    assert store.get("sync").task == "tasks.one"  # type: ignore[union-attr]


def test_a_removed_entry_is_created_again(client: Client, store: Store) -> None:
    store.delete("ping", note=ChangeNote("ops@host", "remove", NOW))
    web = client()
    shown = web.get("/rollback", params={"id": "ping"}).text
    assert "recreate ping" in shown
    done = web.post("/rollback", data=form_fields(shown, "/rollback"))
    assert messages(done.text)[0].startswith("recreated ping")
    assert store.get("ping") is not None


def test_a_change_meanwhile_is_reported_and_nothing_written(client: Client, store: Store) -> None:
    retask(store, "sync", "tasks.other")
    web = client()
    shown = web.get("/rollback", params={"id": "sync"}).text
    retask(store, "sync", "tasks.third")
    response = web.post("/rollback", data=form_fields(shown, "/rollback"))
    assert response.url.path == "/rollback"
    assert "changed since the difference was shown" in messages(response.text)[0]
    assert store.get("sync").task == "tasks.third"  # type: ignore[union-attr]
    assert rows(response.text) == ['task: "tasks.third" → "tasks.other"']


@pytest.mark.parametrize("created", [False, True])
def test_a_change_after_the_version_check_is_refused_by_the_store(
    client: Client, store: Store, monkeypatch: pytest.MonkeyPatch, created: bool
) -> None:
    """Another writer between the confirmation's check and its write: the store refuses the
    write, for a removal (undoing a creation) as for an update; the rival's change stays."""
    entry_id = "fresh" if created else "sync"
    if created:
        store.upsert(entry(entry_id, IntervalSpec(60), NOW))
    else:
        retask(store, entry_id, "tasks.other")
    web = client()
    shown = web.get("/rollback", params={"id": entry_id}).text
    checked = rollbacks.rollback_of

    def rival_after_the_check(*args: Any) -> Rollback:
        found = checked(*args)
        retask(store, entry_id, "tasks.rival")
        return found

    monkeypatch.setattr(rollbacks, "rollback_of", rival_after_the_check)
    response = web.post("/rollback", data=form_fields(shown, "/rollback"))
    assert response.url.path == "/entry"
    (message,) = messages(response.text)
    assert html.unescape(message) == f"entry {entry_id!r} changed meanwhile: nothing written"
    assert store.get(entry_id).task == "tasks.rival"  # type: ignore[union-attr]
    assert newest_change(store, entry_id) == ("ops@host", "write")


def test_what_the_cli_refuses_is_refused_in_its_words(client: Client, store: Store) -> None:
    web = client()
    missing = web.get("/rollback", params={"id": "sync", "to": "99999"})
    assert missing.status_code == 400
    assert "--to 99999: no such change in the audit log" in missing.text
    store.upsert(
        replace(store.get("cleanup"), task="tasks.x"),  # type: ignore[arg-type]
        note=ChangeNote("beat b", "write", NOW),
    )
    config = web.get("/rollback", params={"id": "cleanup"})
    assert config.status_code == 409
    assert "comes from beat_schedule" in config.text


def refused_post(web: TestClient, **fields: str) -> str:
    response = web.post("/rollback", data={"entry_id": "sync", "version": "2", **fields})
    assert response.status_code == 403
    return response.text


def test_read_only_shows_the_difference_and_refuses_the_rollback(
    client: Client, store: Store
) -> None:
    retask(store, "sync", "tasks.other")
    web = client(read_only=True)
    shown = web.get("/rollback", params={"id": "sync"}).text
    assert rows(shown) == ['task: "tasks.other" → "tasks.sync"']
    assert 'action="http://testserver/rollback"' not in shown
    assert READ_ONLY in refused_post(web, csrf="x")
    assert BAD_CSRF.replace("'", "&#39;") in refused_post(client(), csrf="forged")
    assert store.get("sync").task == "tasks.other"  # type: ignore[union-attr]


def test_a_masked_dashboard_hides_the_values_of_kwargs(client: Client, store: Store) -> None:
    current = store.get("report")
    assert current is not None
    store.upsert(replace(current, kwargs={"to": "secret@example.com"}))
    shown = client(mask_kwargs=True).get("/rollback", params={"id": "report"}).text
    assert "secret@example.com" not in shown
    assert rows(shown) == ["kwargs: ••• → •••"]
