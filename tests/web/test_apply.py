"""Applying a file from the dashboard: the plan, then confirm; the CLI's checks, messages and
writes; a confirmation that trusts nothing the browser kept."""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from celery_stembeat.stores import Store
from celery_stembeat.web.actions import BAD_CSRF, READ_ONLY
from celery_stembeat.web.applying import CHANGED_MEANWHILE, MAX_UPLOAD, TOO_LARGE
from tests.cli.conftest import invoker
from tests.web.conftest import Client, csrf_of, form_fields, messages
from tests.web.test_actions import WEB_ACTOR, newest_change

pytestmark = pytest.mark.services

ITEMS = [
    {"id": "fresh", "task": "tasks.fresh", "spec": "10m"},
    {"id": "sync", "task": "tasks.sync2", "spec": "5m", "catch_up": "skip"},
    {"id": "ping", "task": "tasks.ping", "spec": "1m"},
]


def upload(web: TestClient, text: str, name: str = "entries.json", **fields: str) -> Any:
    """Post ``text`` as the file ``name`` with the upload form's token and ``fields``."""
    page = web.get("/apply").text
    data = {"csrf": csrf_of(page), **fields}
    return web.post("/apply", data=data, files={"file": (name, text.encode(), "text/plain")})


def confirm(web: TestClient, plan_page: str) -> Any:
    """Post the plan page's confirmation as it stands."""
    return web.post("/apply", data=confirmation(plan_page))


def confirmation(plan_page: str) -> dict[str, str]:
    """The fields of the plan page's confirmation."""
    return form_fields(plan_page.split("<h2>Plan for")[1], "/apply")


def test_the_plan_then_confirm_writes_it_keeping_run_state(client: Client, store: Store) -> None:
    runs = store.get("sync").state.total_run_count  # type: ignore[union-attr]
    web = client()
    planned = upload(web, json.dumps(ITEMS))
    assert planned.status_code == 200
    page = planned.text
    assert "1 added, 1 changed, 1 unchanged, 0 removed (not pruning)" in page
    assert '<td class="plan-added">added</td><td>fresh</td>' in page
    assert '<td class="plan-changed">changed</td><td>sync</td><td>task</td>' in page
    assert store.get("fresh") is None
    done = confirm(web, page)
    assert done.url.path == "/entries"
    assert messages(done.text) == [
        "applied entries.json: 1 added, 1 changed, 1 unchanged, 0 removed"
    ]
    synced = store.get("sync")
    assert synced is not None
    assert synced.task == "tasks.sync2"
    assert synced.state.total_run_count == runs
    assert store.get("fresh") is not None
    assert newest_change(store, "fresh") == (WEB_ACTOR, "apply")
    assert newest_change(store, "sync") == (WEB_ACTOR, "apply")


def test_prune_lists_and_removes_the_entries_left_out_never_config_ones(
    client: Client, store: Store
) -> None:
    web = client()
    page = upload(web, "entries:\n  - {id: ping, task: tasks.ping, spec: 1m}\n", "e.yaml").text
    assert "0 removed (not pruning)" in page
    page = upload(
        web, "entries:\n  - {id: ping, task: tasks.ping, spec: 1m}\n", "e.yaml", prune="on"
    ).text
    removed = ["heartbeat", "lights", "new-year", "report", "sync"]
    for entry_id in removed:
        assert f'<td class="plan-removed">removed</td><td>{entry_id}</td>' in page
    confirm(web, page)
    assert [entry.id for entry in store.list_entries()] == ["cleanup", "ping"]
    assert newest_change(store, "sync") == (WEB_ACTOR, "apply")


def cli_message(store_url: str, tmp_path: Path, name: str, text: str) -> str:
    """What ``stembeat apply`` says of the file ``name`` holding ``text``, the path as
    the name."""
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    result = invoker(store_url)("apply", str(path))
    assert result.exit_code == 2, result.output
    return result.output.removeprefix("Error: ").strip().replace(str(path), name)


BAD_FILES = {
    "not JSON": ("e.json", '[{"id": "x",]'),
    "not YAML": ("e.yaml", "entries: [unclosed"),
    "not a list": ("e.json", '{"id": "x"}'),
    "bad spec": ("e.json", '[{"id": "x", "task": "t", "spec": "61 * * * *"}]'),
    "twice": ("e.yaml", "- {id: a, task: t, spec: 1m}\n- {id: a, task: t, spec: 2m}\n"),
    "a YAML alias": ("e.yaml", "- &a {id: a, task: t, spec: 1m}\n- *a\n"),
    "deep": ("e.json", "[" * 5000 + "]" * 5000),
}


@pytest.mark.parametrize("case", list(BAD_FILES))
def test_a_bad_file_is_refused_in_the_clis_words_and_nothing_written(
    client: Client, store: Store, store_url: str, tmp_path: Path, case: str
) -> None:
    name, text = BAD_FILES[case]
    response = upload(client(), text, name)
    assert response.status_code == 400
    (message,) = messages(response.text)
    assert html.unescape(message) == cli_message(store_url, tmp_path, name, text)
    assert "Apply this plan" not in response.text


def test_an_entry_of_beat_schedule_is_refused_as_the_cli_does(client: Client, store: Store) -> None:
    text = json.dumps([{"id": "cleanup", "task": "tasks.other", "spec": "1m"}])
    response = upload(client(), text)
    assert response.status_code == 409
    assert "comes from beat_schedule" in messages(response.text)[0]
    assert store.get("cleanup").task == "tasks.cleanup"  # type: ignore[union-attr]


def test_the_confirmation_is_checked_again_not_trusted(client: Client, store: Store) -> None:
    web = client()
    page = upload(web, json.dumps(ITEMS)).text
    fields = confirmation(page)
    # A file swapped for a bad one: read and checked again, refused.
    bad = {**fields, "content": '[{"id": "fresh", "task": "t", "spec": "61 * * * *"}]'}
    response = web.post("/apply", data=bad)
    assert response.status_code == 400
    assert "61" in messages(response.text)[0]
    # A file swapped for another: its plan is not the one confirmed; shown, not written.
    other = {**fields, "content": json.dumps([{"id": "other", "task": "t", "spec": "1m"}])}
    response = web.post("/apply", data=other)
    assert response.status_code == 409
    assert messages(response.text) == [CHANGED_MEANWHILE]
    assert "<td>other</td>" in response.text
    assert store.get("other") is None
    assert store.get("fresh") is None
    assert store.get("sync").task == "tasks.sync"  # type: ignore[union-attr]


def test_a_store_changed_after_the_plan_shows_the_new_plan(client: Client, store: Store) -> None:
    web = client()
    page = upload(web, json.dumps(ITEMS)).text
    store.delete("ping")
    response = confirm(web, page)
    assert response.status_code == 409
    assert messages(response.text) == [CHANGED_MEANWHILE]
    assert "2 added, 1 changed, 0 unchanged" in response.text
    assert store.get("fresh") is None
    done = confirm(web, response.text)
    assert done.url.path == "/entries"
    assert store.get("ping") is not None


def test_a_file_over_the_limit_is_refused_in_one_line(client: Client, store: Store) -> None:
    text = json.dumps([{"id": "big", "task": "t", "spec": "1m", "description": "x"}])
    text = text + " " * (MAX_UPLOAD + 1 - len(text))
    response = upload(client(), text)
    assert response.status_code == 413
    assert messages(response.text) == [TOO_LARGE]
    assert store.get("big") is None


def test_read_only_and_csrf_refuse_the_upload(client: Client, store: Store) -> None:
    web = client(read_only=True)
    assert "/apply" not in web.get("/").text
    assert web.get("/apply").status_code == 403
    files = {"file": ("e.json", json.dumps(ITEMS).encode(), "text/plain")}
    response = web.post("/apply", data={"csrf": "x"}, files=files)
    assert response.status_code == 403
    assert READ_ONLY in response.text
    web = client()
    web.get("/apply")
    response = web.post("/apply", data={"csrf": "forged"}, files=files)
    assert response.status_code == 403
    assert BAD_CSRF.replace("'", "&#39;") in response.text
    assert store.get("fresh") is None
