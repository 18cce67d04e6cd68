"""Editing an entry, or making one: the form (GET ``/edit``, ``/new``), the preview of the
next fires a spec makes (GET ``/preview``, an HTML fragment the form's script fetches as the
spec is typed), and saving (POST ``/edit``, whose "Preview" button shows the same fires
without script).

A save is checked as ``apply`` checks a file's item (see :mod:`.forms`) and written as
``apply`` writes one entry, run state kept, only while the entry still has the version the
form was filled from: a concurrent change is shown with the entry's current values, never
overwritten.
"""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from celery_stembeat.calendars import bind
from celery_stembeat.cli.apply import config_owned, write_definition
from celery_stembeat.cli.errors import BadInput
from celery_stembeat.entry import CATCH_UP_POLICIES, OVERLAP_POLICIES, Entry, is_entry_id
from celery_stembeat.limits import shorten
from celery_stembeat.specs import SpecError, calendar_names
from celery_stembeat.stores import VersionConflict
from celery_stembeat.web import views
from celery_stembeat.web.actions import READ_ONLY, back_to_entry, change_form, refused
from celery_stembeat.web.dashboard import dashboard, flash, note, render, render_fragment
from celery_stembeat.web.forms import BLANK, MASKED, EntryForm, spec_of
from celery_stembeat.wording import spec_zone

#: The audit log's verb for a save.
EDIT = "edit"


def new_entry(request: Request) -> HTMLResponse:
    """An empty form, for a new entry."""
    if dashboard(request).read_only:
        return refused(request, 403, READ_ONLY)
    return _page(request, EntryForm.blank())


def edit_entry(request: Request) -> HTMLResponse:
    """The form filled from the entry ``id`` names."""
    settings = dashboard(request)
    if settings.read_only:
        return refused(request, 403, READ_ONLY)
    entry_id = request.query_params.get("id", "")
    found = settings.store.get(entry_id) if is_entry_id(entry_id) else None
    if found is None:
        raise HTTPException(404, f"no entry {entry_id!r}")
    if found.source == "config":
        return refused(request, 409, config_owned(found.id).message)
    return _page(request, EntryForm.of(found))


def preview(request: Request) -> HTMLResponse:
    """The next fires of the spec ``spec`` says, as a fragment (a table, or the problem)."""
    return render_fragment("fires.html", _fires(request, request.query_params.get("spec", "")))


async def save(request: Request) -> Response:
    """Save the posted form (or, for its "Preview" button, show it with the spec's fires)."""
    form = await change_form(request)
    if isinstance(form, Response):
        return form
    if form.get("preview"):
        posted = EntryForm.posted(form)
        return _page(request, _kept_masked(request, posted, form), preview=True)
    return await run_in_threadpool(_save, request, form)


def _save(request: Request, form: FormData) -> Response:
    settings = dashboard(request)
    store = settings.store
    posted = EntryForm.posted(form)
    entry_id = posted.values["id"]
    current = store.get(entry_id) if is_entry_id(entry_id) else None
    if current is None and not posted.is_new:
        flash(request, "error", f"no entry {shorten(entry_id)}: removed meanwhile; nothing saved")
        return back_to_entry(request, None)
    if current is not None and current.version != posted.version:
        return _conflict(request, posted, current)
    if current is not None and current.source == "config":
        return refused(request, 409, config_owned(current.id).message)
    posted = _kept_masked(request, posted, form, current)
    try:
        entry = posted.entry()
    except BadInput as exc:
        return _page(request, posted, exc.message, getattr(exc, "field", None), 400)
    if calendar_names(entry.spec):
        try:
            entry = bind(entry, store.calendars())
        except SpecError as exc:
            problem = f"the form: entry {shorten(entry.id)}: 'spec': {exc}"
            return _page(request, posted, problem, "spec", 400)
    if current is not None and current.definition() == entry.definition():
        flash(request, "ok", f"{entry.id} unchanged: nothing saved")
        return back_to_entry(request, entry.id)
    try:
        stored = write_definition(store, entry, current, settings.clock(), note(request, EDIT))
    except VersionConflict:
        return _conflict(request, posted, store.get(entry.id))
    verb = "created" if current is None else "saved"
    flash(request, "ok", f"{verb} {stored.id} (version {stored.version})")
    return back_to_entry(request, stored.id)


def _kept_masked(
    request: Request, posted: EntryForm, form: FormData, current: Entry | None = None
) -> EntryForm:
    """On a masked dashboard, an existing entry's form carries no args, kwargs or options:
    they stay as stored (``current``, read when not given)."""
    if not dashboard(request).mask_kwargs or posted.is_new:
        return posted
    if current is None:
        current = dashboard(request).store.get(posted.values["id"])
    if current is None:
        return posted
    stored = EntryForm.of(current).values
    return posted.with_values(**{name: stored[name] for name in MASKED})


def _conflict(request: Request, posted: EntryForm, current: Entry | None) -> HTMLResponse:
    """The form refilled with the entry as it is now, saying that it changed."""
    entry_id = shorten(posted.values["id"])
    if current is None:
        form, message = posted, f"entry {entry_id} was removed meanwhile: nothing saved"
    elif posted.is_new:
        form, message = posted, f"entry {entry_id} already exists: nothing saved; edit it instead"
    else:
        form = EntryForm.of(current)
        message = (
            f"entry {entry_id} changed since the form was filled (version {posted.version}, "
            f"now {current.version}): nothing saved; the form shows it as it is now"
        )
    return _page(request, form, message, None, 409)


def _fires(request: Request, text: str) -> dict[str, Any]:
    """What the fires fragment shows for the spec ``text``: its next fires, or the problem."""
    if not text.strip():
        return {"fires": None, "zone": "UTC", "spec_problem": ""}
    try:
        spec = spec_of(text)
    except BadInput as exc:
        return {"fires": None, "zone": "UTC", "spec_problem": exc.message}
    except ValueError as exc:
        return {"fires": None, "zone": "UTC", "spec_problem": f"'spec': {exc}"}
    return {
        "fires": views.spec_fires(spec, dashboard(request).clock()),
        "zone": spec_zone(spec),
        "spec_problem": "",
    }


def _page(
    request: Request,
    form: EntryForm,
    problem: str = "",
    field: str | None = None,
    status_code: int = 200,
    *,
    preview: bool = False,
) -> HTMLResponse:
    """The form page; ``problem`` beside ``field`` (at the top when it names no field)."""
    settings = dashboard(request)
    fires = _fires(request, form.values["spec"]) if preview or not form.is_new else {}
    return render(
        request,
        "edit.html",
        {
            "form": form,
            "problem": problem,
            "field": field if field in BLANK else None,
            "masked": settings.mask_kwargs and not form.is_new,
            "catch_ups": CATCH_UP_POLICIES,
            "overlaps": OVERLAP_POLICIES,
            "preview": {"fires": None, "zone": "UTC", "spec_problem": "", **fires},
        },
        status_code=status_code,
    )
