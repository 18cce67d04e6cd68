"""Editing and making entries: the form, checked as ``apply`` checks a file (same messages),
saved with the version check (a concurrent change is shown, never overwritten), run state
kept, audited with the web user; the preview of the next fires."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from celery_stembeat.specs import IntervalSpec, format_instant
from celery_stembeat.stores import Store
from celery_stembeat.web.actions import BAD_CSRF, READ_ONLY
from tests.cli.conftest import invoker
from tests.cli.scenario import NOW
from tests.web.conftest import Client, form_fields, messages
from tests.web.test_actions import WEB_ACTOR, newest_change

pytestmark = pytest.mark.services


def edit_form(web: TestClient, entry_id: str | None = None) -> dict[str, str]:
    """The fields of the entry's edit form (a new entry's without ``entry_id``)."""
    page = web.get("/new") if entry_id is None else web.get("/edit", params={"id": entry_id})
    assert page.status_code == 200
    return form_fields(page.text, "/edit")


def problems(page: str) -> dict[str, str]:
    """The problem shown beside each field of the form."""
    found = re.findall(
        r'name="([a-z_]+)"[^<]*>(?:[^<]*</textarea>|(?:<option[^>]*>[^<]*</option>)*'
        r"</select>)?<span class=\"problem\" role=\"alert\">([^<]*)</span>",
        page,
    )
    return dict(found)


def test_a_new_entry_starts_at_its_first_run_and_is_audited(client: Client, store: Store) -> None:
    web = client()
    form = edit_form(web)
    assert form["args"] == "[]"
    assert form["enabled"] == "on"
    form.update(id="nightly", task="tasks.nightly", spec="*/30 * * * *", tags="a, b")
    response = web.post("/edit", data=form)
    assert response.url.path == "/entry"
    assert messages(response.text) == ["created nightly (version 1)"]
    made = store.get("nightly")
    assert made is not None
    assert made.state.next_run_at == NOW + timedelta(minutes=30)
    assert made.tags == ("a", "b")
    assert newest_change(store, "nightly") == (WEB_ACTOR, "edit")


def test_an_edit_keeps_run_state_and_only_changes_what_the_form_changed(
    client: Client, store: Store
) -> None:
    before = store.get("heartbeat")
    assert before is not None
    web = client()
    form = edit_form(web, "heartbeat")
    assert json.loads(form["spec"]) == IntervalSpec(1200).to_dict()
    assert form["jitter"] == "5.0"
    form.update(task="tasks.beat", jitter="2", kwargs='{"loud": true}')
    response = web.post("/edit", data=form)
    assert messages(response.text) == [f"saved heartbeat (version {before.version + 1})"]
    after = store.get("heartbeat")
    assert after is not None
    assert (after.task, after.jitter, after.kwargs) == ("tasks.beat", 2.0, {"loud": True})
    assert after.spec == before.spec
    assert after.state.total_run_count == before.state.total_run_count
    assert after.state.next_run_at == before.state.next_run_at
    *_, change = store.changes("heartbeat")
    assert change.actor == WEB_ACTOR
    assert change.fields_changed() == ["jitter", "kwargs", "task"]


def test_a_changed_spec_starts_afresh_from_now(client: Client, store: Store) -> None:
    web = client()
    form = edit_form(web, "heartbeat")
    form["spec"] = "7m"
    web.post("/edit", data=form)
    after = store.get("heartbeat")
    assert after is not None
    assert after.state.next_run_at == NOW + timedelta(minutes=7)
    assert after.state.total_run_count == 4


def test_saving_the_form_unchanged_writes_nothing(client: Client, store: Store) -> None:
    web = client()
    version = store.get("report").version  # type: ignore[union-attr]
    response = web.post("/edit", data=edit_form(web, "report"))
    assert messages(response.text) == ["report unchanged: nothing saved"]
    assert store.get("report").version == version  # type: ignore[union-attr]


def apply_message(store_url: str, tmp_path: Path, item: dict[str, object]) -> str:
    """What ``stembeat apply`` says of a file holding ``item``, after the file's name."""
    path = tmp_path / "item.json"
    path.write_text(json.dumps([item]), encoding="utf-8")
    result = invoker(store_url)("apply", str(path))
    assert result.exit_code == 2, result.output
    prefix = f"Error: {path} item 1: "
    assert result.output.startswith(prefix), result.output
    return result.output[len(prefix) :].strip()


HUGE_ID = "x" * 1_000_000
DEEP = "[" * 1000 + "]" * 1000
BAD = {
    "huge id": ("id", HUGE_ID, {"id": HUGE_ID}),
    "lone surrogate": ("kwargs", '{"to": "\\ud800"}', {"kwargs": {"to": "\ud800"}}),
    "unknown zone": (
        "spec",
        '{"type": "cron", "expression": "0 9 * * *", "timezone": "Mars/Olympus"}',
        {"spec": {"type": "cron", "expression": "0 9 * * *", "timezone": "Mars/Olympus"}},
    ),
    "bad cron field": ("spec", "61 * * * *", {"spec": "61 * * * *"}),
    "jitter not a number": ("jitter", "soon", {"jitter": "soon"}),
    "bad tag": ("tags", "ok no!pe", {"tags": ["ok", "no!pe"]}),
    "bad instant": ("expire_at", "tomorrow", {"expire_at": "tomorrow"}),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_input_is_shown_beside_its_field_in_applys_words(
    client: Client, store: Store, store_url: str, tmp_path: Path, case: str
) -> None:
    field, typed, item_values = BAD[case]
    web = client()
    form = edit_form(web)
    form.update(id="bad", task="tasks.bad", spec="5m")
    form[field] = typed
    response = web.post("/edit", data=form)
    assert response.status_code == 400
    shown = problems(response.text)
    assert list(shown) == [field], shown
    item = {"id": "bad", "task": "tasks.bad", "spec": "5m", **item_values}
    expected = apply_message(store_url, tmp_path, item)
    assert shown[field].replace("&#39;", "'") == f"the form: {expected}"
    assert store.get("bad") is None
    # The form comes back as typed (a huge id too, escaped).
    assert form_fields(response.text, "/edit")[field] == typed


def test_json_nested_1000_deep_is_refused_beside_its_field(client: Client, store: Store) -> None:
    web = client()
    form = edit_form(web)
    form.update(id="deep", task="tasks.deep", spec="5m", args=DEEP)
    response = web.post("/edit", data=form)
    assert response.status_code == 400
    (message,) = problems(response.text).values()
    assert list(problems(response.text)) == ["args"]
    assert "nested" in message
    assert store.get("deep") is None


def test_a_json_field_that_is_not_json_names_where(client: Client) -> None:
    web = client()
    form = edit_form(web)
    form.update(id="x", task="t", spec="5m", options='{"queue": }')
    response = web.post("/edit", data=form)
    assert problems(response.text) == {"options": "options: line 1 column 11: Expecting value"}


def test_a_concurrent_change_is_shown_never_overwritten(client: Client, store: Store) -> None:
    web = client()
    form = edit_form(web, "sync")
    store.set_enabled("sync", False, NOW)
    current = store.get("sync")
    assert current is not None
    form.update(task="tasks.mine")
    response = web.post("/edit", data=form)
    assert response.status_code == 409
    (message,) = messages(response.text)
    assert "changed since the form was filled" in message
    assert "nothing saved" in message
    shown = form_fields(response.text, "/edit")
    assert shown["task"] == "tasks.sync"
    assert "enabled" not in shown
    assert shown["version"] == str(current.version)
    kept = store.get("sync")
    assert kept is not None
    assert (kept.task, kept.version) == ("tasks.sync", current.version)


def test_a_new_entry_whose_id_exists_is_not_overwritten(client: Client, store: Store) -> None:
    web = client()
    form = edit_form(web)
    form.update(id="sync", task="tasks.other", spec="1m")
    response = web.post("/edit", data=form)
    assert response.status_code == 409
    assert "already exists" in messages(response.text)[0]
    assert store.get("sync").task == "tasks.sync"  # type: ignore[union-attr]


def test_entries_of_beat_schedule_are_not_edited(client: Client, store: Store) -> None:
    web = client()
    assert "/edit?id=cleanup" not in web.get("/entry", params={"id": "cleanup"}).text
    page = web.get("/edit", params={"id": "cleanup"})
    assert page.status_code == 409
    assert "comes from beat_schedule" in page.text
    form = edit_form(web, "sync")
    form.update(id="cleanup", version=str(store.get("cleanup").version))  # type: ignore[union-attr]
    response = web.post("/edit", data=form)
    assert response.status_code == 409
    assert store.get("cleanup").task == "tasks.cleanup"  # type: ignore[union-attr]


def test_the_preview_button_shows_the_next_fires_and_saves_nothing(
    client: Client, store: Store
) -> None:
    web = client()
    form = edit_form(web)
    form.update(id="soon", task="tasks.soon", spec="*/15 * * * *", preview="1")
    response = web.post("/edit", data=form)
    assert response.status_code == 200
    fires = response.text.split('id="preview"')[1]
    assert format_instant(NOW + timedelta(minutes=15)) in fires
    assert fires.count("<tr><td>") == 10
    assert form_fields(response.text, "/edit")["spec"] == "*/15 * * * *"
    assert store.get("soon") is None


def test_the_preview_fragment_in_the_specs_zone_and_utc(client: Client) -> None:
    web = client()
    spec = '{"type": "cron", "expression": "0 9 * * *", "timezone": "Europe/Paris"}'
    response = web.get("/preview", params={"spec": spec})
    assert response.status_code == 200
    assert "<html" not in response.text
    assert "<th>Europe/Paris</th>" in response.text
    assert "2026-03-03 09:00:00 CET" in response.text
    assert "2026-03-03T08:00:00Z" in response.text
    assert response.text.count("<tr><td>") == 10
    bad = web.get("/preview", params={"spec": "61 * * * *"}).text
    assert 'class="flash error"' in bad
    assert "61" in bad


def test_the_form_uses_a_script_file_never_an_inline_script(client: Client) -> None:
    web = client()
    page = web.get("/new").text
    scripts = re.findall(r"<script([^>]*)>(.*?)</script>", page, re.S)
    assert scripts == [
        (' src="http://testserver/static/form.js" defer', ""),
        (' src="http://testserver/static/zone.js" defer', ""),
    ]
    script = web.get("/static/form.js")
    assert script.status_code == 200
    assert "/preview" not in script.text  # the URL comes from the page
    assert "fetch(" in script.text


def test_a_masked_dashboard_neither_shows_nor_loses_args_kwargs_and_options(
    client: Client, store: Store
) -> None:
    web = client(mask_kwargs=True)
    form = edit_form(web, "report")
    assert not {"args", "kwargs", "options"} & set(form)
    assert "ops@example.com" not in web.get("/edit", params={"id": "report"}).text
    form["description"] = "weekday report, edited"
    web.post("/edit", data=form)
    edited = store.get("report")
    assert edited is not None
    assert edited.description == "weekday report, edited"
    assert edited.kwargs == {"to": "ops@example.com"}
    assert edited.options == {"queue": "reports", "priority": 5}


def test_read_only_refuses_the_form_and_the_save(client: Client, store: Store) -> None:
    web = client(read_only=True)
    assert "/new" not in web.get("/entries").text
    assert "/edit?" not in web.get("/entry", params={"id": "sync"}).text
    for path in ("/new", "/edit?id=sync"):
        response = web.get(path)
        assert response.status_code == 403
        assert READ_ONLY in response.text
    response = web.post("/edit", data={"id": "sync", "version": "1", "task": "tasks.x"})
    assert response.status_code == 403
    assert store.get("sync").task == "tasks.sync"  # type: ignore[union-attr]


def test_a_save_needs_the_sessions_csrf_token(client: Client, store: Store) -> None:
    web = client()
    form = edit_form(web, "sync")
    form.update(csrf="forged", task="tasks.x")
    response = web.post("/edit", data=form)
    assert response.status_code == 403
    assert BAD_CSRF.replace("'", "&#39;") in response.text
    assert store.get("sync").task == "tasks.sync"  # type: ignore[union-attr]


def test_a_spec_naming_a_calendar_is_bound_to_its_dates_or_refused(
    client: Client, store: Store
) -> None:
    web = client()
    form = edit_form(web)
    spec = {"type": "cron", "expression": "0 10 * * *", "except": [{"calendar": "holidays"}]}
    form.update(id="closing", task="tasks.closing", spec=json.dumps(spec))
    refused = web.post("/edit", data=form)
    assert refused.status_code == 400
    shown = problems(refused.text)["spec"].replace("&#39;", "'")
    assert shown == "the form: entry 'closing': 'spec': except[0]: unknown calendar 'holidays'"
    assert store.get("closing") is None
    store.add_calendar_dates("holidays", [NOW.date()])
    saved = web.post("/edit", data=form)
    assert messages(saved.text) == ["created closing (version 1)"]
    made = store.get("closing")
    assert made is not None
    assert made.state.next_run_at == NOW.replace(hour=10) + timedelta(days=1)
