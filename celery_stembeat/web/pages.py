"""The pages (GET): the overview, the entries, one entry, and the login form.

Each reads through the store API as the CLI's verbs do (``observe``, ``list``, ``show``,
``history``, ``log``), with the same modules; sync handlers, so Starlette runs them in its
thread pool and a slow store never blocks the event loop.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import urlencode

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse

from celery_stembeat.audit import newest
from celery_stembeat.entry import Entry, is_entry_id
from celery_stembeat.health import STATES
from celery_stembeat.observation import observe
from celery_stembeat.ordering import SORTS
from celery_stembeat.selection import in_state, select, stored
from celery_stembeat.web import views
from celery_stembeat.web.chart import run_chart
from celery_stembeat.web.dashboard import dashboard, render
from celery_stembeat.wording import change_summary, spec_zone

#: Entries the overview lists as next to fire.
NEXT_ACROSS = 10
#: Runs and changes an entry's page lists.
HISTORY_SHOWN = 50
CHANGES_SHOWN = 20
#: Page sizes of the entries page, the first the default.
PAGE_SIZES = (50, 25, 100, 200, 500)


def overview(request: Request) -> HTMLResponse:
    """Health counts, live beats, the pause, the next fires and the entries not healthy."""
    settings = dashboard(request)
    store, now = settings.store, settings.clock()
    seen = observe(store, now, settings.rules)
    alive = {beat.owner for beat in seen.survey.live}
    upcoming = select(stored(store, enabled=True), sort="next", limit=NEXT_ACROSS)
    return render(
        request,
        "overview.html",
        {
            "seen": seen,
            "alive": alive,
            "upcoming": [entry for entry in upcoming if entry.state.next_run_at is not None],
            "spec_zone": spec_zone,
        },
    )


@dataclass(frozen=True)
class Query:
    """What the entries page was asked for (its query string, checked)."""

    text: str
    tag: str
    state: str
    sort: str
    page: int
    size: int

    @classmethod
    def of(cls, request: Request) -> Query:
        """The query of ``request``; unknown values fall back to the defaults."""
        params = request.query_params
        state = params.get("state", "")
        sort = params.get("sort", "id")
        size = _number(params.get("size"), PAGE_SIZES[0])
        return cls(
            text=params.get("q", "").strip(),
            tag=params.get("tag", "").strip(),
            state=state if state in STATES else "",
            sort=sort if sort in SORTS else "id",
            page=max(1, _number(params.get("page"), 1)),
            size=size if size in PAGE_SIZES else PAGE_SIZES[0],
        )

    def matches(self, entry: Entry) -> bool:
        """Whether the search text is in the entry's id or task, or is one of its tags."""
        text = self.text
        return not text or text in entry.id or text in entry.task or text in entry.tags

    def link(self, **changes: object) -> str:
        """This query's string with ``changes``, for the page's links."""
        values = {
            "q": self.text,
            "tag": self.tag,
            "state": self.state,
            "sort": self.sort,
            "size": self.size,
            "page": self.page,
        }
        values.update(changes)
        return "?" + urlencode({name: value for name, value in values.items() if value})


def _number(text: str | None, default: int) -> int:
    return int(text) if text is not None and text.isdigit() and len(text) < 10 else default


def entries(request: Request) -> HTMLResponse:
    """One page of entries: searched, filtered by tag and health state, sorted.

    Streamed from the store: by id, only the entries up to the end of the page are read and
    one page is held; sorted otherwise, every entry is read and at most the entries up to the
    end of the page are held.
    """
    settings = dashboard(request)
    store, now = settings.store, settings.clock()
    query = Query.of(request)
    try:
        tags = (query.tag,) if query.tag else ()
        found: Iterator[Entry] = (e for e in stored(store, tags=tags) if query.matches(e))
        if query.state:
            found = in_state(store, found, query.state, now, settings.rules, store.paused())
        first = (query.page - 1) * query.size
        end = first + query.size
        chosen = select(found, sort=query.sort, limit=end + 1)
        rows = list(itertools.islice(chosen, first, end + 1))
    except ValueError as exc:
        return render(request, "entries.html", _entries_context(query, [], False, str(exc)))
    more = len(rows) > query.size
    return render(request, "entries.html", _entries_context(query, rows[: query.size], more, ""))


def _entries_context(
    query: Query, rows: list[Entry], more: bool, problem: str
) -> dict[str, object]:
    return {
        "query": query,
        "rows": rows,
        "more": more,
        "problem": problem,
        "states": STATES,
        "sorts": list(SORTS),
        "sizes": PAGE_SIZES,
        "spec_zone": spec_zone,
        "next_run": views.next_run,
    }


def entry(request: Request) -> HTMLResponse:
    """One entry: its spec in words and JSON, its next fires, runs and changes."""
    settings = dashboard(request)
    store, now = settings.store, settings.clock()
    entry_id = request.query_params.get("id", "")
    found = store.get(entry_id) if is_entry_id(entry_id) else None
    if found is None:
        raise HTTPException(404, f"no entry {entry_id!r}")
    changes, changed = newest(store, entry_id, None, CHANGES_SHOWN)
    runs = store.history(entry_id, HISTORY_SHOWN)
    zone = spec_zone(found.spec)
    return render(
        request,
        "entry.html",
        {
            "entry": found,
            "zone": zone,
            "definition": views.definition_json(found, settings.mask_kwargs),
            "fires": views.next_fires(found, now),
            "spec_problem": "",
            "runs": runs,
            "chart": run_chart(runs, zone),
            "changes": changes,
            "changed": changed,
            "change_summary": change_summary,
            "next_run": views.next_run(found),
            "can_run": settings.celery_app is not None,
        },
    )


def login(request: Request) -> HTMLResponse:
    """The sign-in form (a token, or a user and password)."""
    return render(request, "login.html", {"problem": ""})
