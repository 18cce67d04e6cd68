"""The pages: overview, entries, one entry, 404, escaping, masking, headers."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from celery_stembeat import __version__
from celery_stembeat.entry import Entry
from celery_stembeat.ordering import SORTS
from celery_stembeat.specs import CronSpec, IntervalSpec
from celery_stembeat.stores import BeatInfo, Pause, Store
from celery_stembeat.web.security import HEADERS
from celery_stembeat.wording import counted
from tests.cli.scenario import NOW, entry
from tests.web.conftest import Client

pytestmark = pytest.mark.services


def count_of(page: str, state: str) -> int:
    found = re.search(rf"<strong>(\d+)</strong> {state}</a>", page)
    assert found, f"no {state} count"
    return int(found.group(1))


def ids_listed(page: str) -> list[str]:
    return re.findall(r'<tr><td><a href="[^"]*/entry\?id=[^"]*">([^<]*)</a>', page)


def test_overview_shows_observes_counts_beats_next_fires_and_problems(
    client: Client, store: Store
) -> None:
    store.record_beat(BeatInfo("beat-7", "host-a", 42, __version__, NOW, NOW))
    page = client().get("/").text
    assert [count_of(page, state) for state in ("ok", "missed", "failing", "disabled")] == [
        5,
        1,
        0,
        1,
    ]
    assert "beat-7" in page
    assert "host-a" in page
    assert "PAUSED" not in page
    assert f"{counted(store.history_size().runs, 'run')} in history" in page
    upcoming = page.split("<h2>Next fires</h2>")[1].split("<h2>")[0]
    assert ids_listed(upcoming)[:2] == ["sync", "ping"]
    problems = page.split("<h2>Failures and other problems</h2>")[1]
    assert ids_listed(problems) == ["sync"]
    assert "due 4m ago, not sent" in problems


def test_overview_shows_the_pause(client: Client, store: Store) -> None:
    store.pause(Pause(since=NOW - timedelta(minutes=1), reason="deploy", actor="ops@h"))
    page = client().get("/").text
    assert "PAUSED since" in page
    assert "deploy" in page


def test_entries_lists_every_entry_by_id(client: Client) -> None:
    page = client().get("/entries").text
    assert ids_listed(page) == sorted(
        ["cleanup", "heartbeat", "lights", "new-year", "ping", "report", "sync"]
    )


def test_entries_search_by_id_prefix_or_tag_and_filter_by_tag_and_task(
    client: Client, store: Store
) -> None:
    store.upsert(entry("tagged", IntervalSpec(60), NOW, tags=("nightly", "report")))
    web = client()
    assert ids_listed(web.get("/entries", params={"q": "repo"}).text) == ["report"]
    assert ids_listed(web.get("/entries", params={"q": "eport"}).text) == []
    assert ids_listed(web.get("/entries", params={"q": "report"}).text) == ["report", "tagged"]
    assert ids_listed(web.get("/entries", params={"q": "nightly"}).text) == ["tagged"]
    assert ids_listed(web.get("/entries", params={"q": "a b"}).text) == []
    assert ids_listed(web.get("/entries", params={"tag": "nightly"}).text) == ["tagged"]
    by_task = web.get("/entries", params={"task": "tasks.ping", "sort": "next"}).text
    assert ids_listed(by_task) == ["ping"]
    both = {"q": "report", "tag": "nightly", "sort": "runs"}
    assert ids_listed(web.get("/entries", params=both).text) == ["tagged"]


def test_entries_refuse_a_bad_tag_with_the_stores_message(client: Client) -> None:
    page = client().get("/entries", params={"tag": "no spaces"}).text
    assert "is not a tag" in page
    assert ids_listed(page) == []


def test_entries_filter_by_health_state(client: Client) -> None:
    web = client()
    assert ids_listed(web.get("/entries", params={"state": "missed"}).text) == ["sync"]
    assert ids_listed(web.get("/entries", params={"state": "disabled"}).text) == ["new-year"]
    missed = {"state": "missed", "q": "sy", "sort": "next"}
    assert ids_listed(web.get("/entries", params=missed).text) == ["sync"]
    assert ids_listed(web.get("/entries", params={**missed, "q": "pi"}).text) == []


def test_entries_sort_by_runs_and_next(client: Client) -> None:
    web = client()
    assert ids_listed(web.get("/entries", params={"sort": "runs"}).text)[0] == "heartbeat"
    assert ids_listed(web.get("/entries", params={"sort": "next"}).text)[:2] == ["sync", "ping"]


def test_entries_by_next_run_are_paged_by_key(client: Client, store: Store) -> None:
    store.upsert_many(
        entry(f"bulk-{n:02}", IntervalSpec(60), NOW + timedelta(hours=1)) for n in range(30)
    )
    web = client()
    seen: list[str] = []
    link = "/entries?sort=next&size=25"
    while True:
        page = web.get(link).text
        seen += ids_listed(page)
        found = re.search(r'<a rel="next" href="([^"]+)"', page)
        if not found:
            break
        link = "/entries" + found.group(1).replace("&amp;", "&")
    ordered = sorted(store.list_entries(), key=SORTS["next"])
    scheduled = [e.id for e in ordered if e.enabled and e.state.next_run_at is not None]
    assert seen == scheduled
    assert len(seen) == 36
    assert 'rel="first"' in page


@pytest.mark.parametrize("sort", ["last", "runs", "drift"])
def test_entries_ranked_pages_follow_the_sort(client: Client, store: Store, sort: str) -> None:
    web = client()
    first = ids_listed(web.get("/entries", params={"sort": sort, "size": 25}).text)
    everything = [e.id for e in sorted(store.list_entries(), key=SORTS[sort])]
    assert first == everything[:25]


def test_entries_are_paged(client: Client, store: Store) -> None:
    store.upsert_many(entry(f"bulk-{n:02}", IntervalSpec(60), NOW) for n in range(30))
    web = client()
    first = web.get("/entries", params={"size": 25}).text
    assert len(ids_listed(first)) == 25
    assert 'rel="next"' in first
    second = web.get("/entries", params={"size": 25, "page": 2}).text
    assert len(ids_listed(second)) == 37 - 25
    assert 'rel="next"' not in second
    assert 'rel="prev"' in second
    assert not set(ids_listed(first)) & set(ids_listed(second))


def test_entry_page_shows_spec_json_fires_runs_and_changes(client: Client) -> None:
    page = client().get("/entry", params={"id": "report"}).text
    assert "cron 0 9 * * 1-5 (America/New_York)" in page
    assert "&#34;expression&#34;: &#34;0 9 * * 1-5&#34;" in page
    fires = page.split("<h2>Next 10 fires</h2>")[1].split("<h2>")[0]
    assert "2026-03-02 09:00:00 EST" in fires
    assert "2026-03-02T14:00:00Z" in fires
    assert fires.count("<tr><td>") == 10
    assert "<th>America/New_York</th><th>UTC</th>" in fires
    assert '<td class="viewer-time" data-instant="2026-03-02T14:00:00Z" hidden></td>' in fires
    runs = page.split("<h2>Runs</h2>")[1].split("<h2>")[0]
    assert "published" in runs
    changes = page.split("<h2>Changes</h2>")[1]
    assert "created" in changes


def test_entry_page_in_utc_has_one_zone_column_and_the_viewers(client: Client) -> None:
    page = client().get("/entry", params={"id": "heartbeat"}).text
    fires = page.split("<h2>Next 10 fires</h2>")[1].split("<h2>")[0]
    assert "<th>#</th><th>UTC</th><th" in fires
    assert fires.count('class="viewer-time" data-instant="') == 10
    assert "/static/zone.js" in page


def test_entry_page_of_an_unknown_id_is_a_404(client: Client) -> None:
    web = client()
    for entry_id in ("nothing", "", "x" * 1000):
        response = web.get("/entry", params={"id": entry_id})
        assert response.status_code == 404
        assert "no entry" in response.text
    assert web.get("/no-such-page").status_code == 404


HOSTILE = "<script>alert(1)</script>"


def test_every_value_is_escaped(client: Client, store: Store) -> None:
    store.upsert(
        Entry(
            id=HOSTILE,
            task="tasks.<b>bold</b>",
            spec=CronSpec("0 9 * * *"),
            description=f"{HOSTILE} & more",
            kwargs={"note": HOSTILE},
        )
    )
    web = client()
    pages = [
        web.get("/").text,
        web.get("/entries").text,
        web.get("/entries", params={"q": HOSTILE}).text,
        web.get("/entry", params={"id": HOSTILE}).text,
    ]
    for page in pages:
        assert "<script>alert" not in page
        assert "<b>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; more" in pages[3]


def test_mask_kwargs_hides_args_kwargs_and_options(client: Client, store: Store) -> None:
    store.upsert(
        entry(
            "secretive",
            IntervalSpec(60),
            NOW,
            args=("arg-secret",),
            kwargs={"password": "kwarg-secret"},
            options={"queue": "queue-secret"},
        )
    )
    shown = client().get("/entry", params={"id": "secretive"}).text
    masked = client(mask_kwargs=True).get("/entry", params={"id": "secretive"}).text
    for secret in ("arg-secret", "kwarg-secret", "queue-secret"):
        assert secret in shown
        assert secret not in masked
    assert "password" in masked
    assert "•••" in masked


def test_security_headers_on_every_response(client: Client) -> None:
    web = client()
    responses = [
        web.get("/"),
        web.get("/entries"),
        web.get("/entry", params={"id": "nothing"}),
        web.get("/static/style.css"),
        web.get("/actions/enable"),
        web.post("/actions/enable", data={}),
    ]
    for response in responses:
        for name, value in HEADERS.items():
            assert response.headers[name] == value
    csp = HEADERS["Content-Security-Policy"]
    assert "default-src 'self'" in csp
    assert "frame-ancestors 'none'" in csp
    assert "unsafe-inline" not in csp


def test_pages_hold_no_inline_script_nor_assets_from_elsewhere(client: Client) -> None:
    web = client()
    for path in ("/", "/entries", "/entry?id=report", "/login"):
        page = web.get(path).text
        scripts = re.findall(r"<script([^>]*)>(.*?)</script>", page, re.S)
        expected = [(' src="http://testserver/static/zone.js" defer', "")]
        assert scripts == (expected if path.startswith("/entry?") else [])
        assert " style=" not in page
        assert not re.search(r'(src|href)="(https?:)?//(?!testserver)', page)
