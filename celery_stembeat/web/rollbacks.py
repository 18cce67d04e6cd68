"""Rolling an entry back to a definition its audit trail recorded: the difference field by
field (GET ``/rollback``, what ``stembeat rollback --dry-run`` shows), then confirm (POST).

The target, the difference and the write are :mod:`celery_stembeat.cli.rollbacks`', which
``stembeat rollback`` uses too. The confirmation names the version the difference was read
at, and the store writes only while the entry still has it: run state kept, a removed entry
created again, an entry that did not exist then removed.
"""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from celery_stembeat.cli.errors import BadInput, Failed
from celery_stembeat.cli.rollbacks import VERB, Rollback, differences, rollback_of, write_rollback
from celery_stembeat.limits import shorten
from celery_stembeat.stores import VersionConflict
from celery_stembeat.web.actions import back_to_entry, change_form, refused
from celery_stembeat.web.dashboard import dashboard, flash, note, render
from celery_stembeat.web.forms import MASKED
from celery_stembeat.web.views import MASK


def _rows(found: Rollback, mask: bool) -> list[tuple[str, str, str]]:
    """The fields that differ (name, now, then), as ``rollback --dry-run`` lists them; with
    ``mask``, the values of args, kwargs and options hidden."""
    return [
        (name, MASK, MASK) if mask and name in MASKED else (name, before, after)
        for name, before, after in differences(found.old, found.new)
    ]


def _seq(text: object) -> int | None:
    """The change a form or query names (``None``: the newest, to undo)."""
    if isinstance(text, str) and text.isdigit() and len(text) < 19:
        return int(text)
    return None


def rollback_page(request: Request) -> HTMLResponse:
    """The difference rolling back makes, and the confirmation."""
    settings = dashboard(request)
    entry_id = request.query_params.get("id", "")
    try:
        found = rollback_of(settings.store, entry_id, _seq(request.query_params.get("to")))
    except (BadInput, Failed) as exc:
        return refused(request, 400 if isinstance(exc, BadInput) else 409, exc.message)
    return render(
        request,
        "rollback.html",
        {"rollback": found, "rows": _rows(found, settings.mask_kwargs)},
    )


async def roll_back(request: Request) -> Response:
    """Roll back as the confirmation says, while the entry has the version it was read at."""
    form = await change_form(request)
    if isinstance(form, Response):
        return form
    return await run_in_threadpool(_roll_back, request, form)


def _roll_back(request: Request, form: FormData) -> Response:
    settings = dashboard(request)
    store = settings.store
    entry_id, seq = str(form.get("entry_id", "")), _seq(form.get("to"))
    try:
        found = rollback_of(store, entry_id, seq)
    except (BadInput, Failed) as exc:
        return refused(request, 400 if isinstance(exc, BadInput) else 409, exc.message)
    if str(found.version) != form.get("version"):
        flash(
            request,
            "error",
            f"entry {shorten(entry_id)} changed since the difference was shown: nothing "
            "written; this is the difference now",
        )
        url = request.url_for("rollback_page").include_query_params(
            id=entry_id, **({} if seq is None else {"to": seq})
        )
        return RedirectResponse(url, status_code=303)
    if found.action != "none":
        try:
            write_rollback(store, found, settings.clock(), note(request, VERB))
        except VersionConflict:
            flash(request, "error", f"entry {shorten(entry_id)} changed meanwhile: nothing written")
            return back_to_entry(request, entry_id)
    flash(request, "ok", found.done())
    return back_to_entry(request, None if found.action == "remove" else entry_id)
