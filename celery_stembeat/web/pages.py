"""The pages (GET): the overview, the entries, one entry, and the login form.

Each reads through the store API as the CLI's verbs do (``observe``, ``list``, ``show``,
``history``, ``log``), with the same modules; sync handlers, so Starlette runs them in its
thread pool and a slow store never blocks the event loop.
"""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse

from celery_stembeat.audit import newest
from celery_stembeat.entry import is_entry_id
from celery_stembeat.health import STATES
from celery_stembeat.observation import observe
from celery_stembeat.ordering import SORTS
from celery_stembeat.web import views
from celery_stembeat.web.chart import run_chart
from celery_stembeat.web.dashboard import dashboard, render
from celery_stembeat.web.listing import PAGE_SIZES, Page, Query, page_of
from celery_stembeat.wording import change_summary, spec_zone

#: Entries the overview lists as next to fire.
NEXT_ACROSS = 10
#: Runs and changes an entry's page lists.
HISTORY_SHOWN = 50
CHANGES_SHOWN = 20


def overview(request: Request) -> HTMLResponse:
    """Health counts, live beats, the pause, the next fires and the entries not healthy."""
    settings = dashboard(request)
    store, now = settings.store, settings.clock()
    seen = observe(store, now, settings.rules)
    alive = {beat.owner for beat in seen.survey.live}
    upcoming = store.soonest(NEXT_ACROSS)
    return render(
        request,
        "overview.html",
        {
            "seen": seen,
            "alive": alive,
            "upcoming": upcoming,
            "spec_zone": spec_zone,
        },
    )


def entries(request: Request) -> HTMLResponse:
    """One page of entries: searched, filtered by tag, task and health state, sorted (see
    :mod:`celery_stembeat.web.listing` for what each costs)."""
    settings = dashboard(request)
    query = Query.of(request.query_params)
    try:
        found = page_of(settings.store, query, settings.clock(), settings.rules)
    except ValueError as exc:
        return render(request, "entries.html", _entries_context(query, Page([], False), str(exc)))
    return render(request, "entries.html", _entries_context(query, found, ""))


def _entries_context(query: Query, found: Page, problem: str) -> dict[str, object]:
    return {
        "query": query,
        "rows": found.rows,
        "more": found.more,
        "next_after": found.next_after,
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
