"""Applying an entry file from the dashboard: upload it (JSON or YAML, as ``stembeat apply``
reads), see the plan, confirm.

The file is read, checked and planned by the CLI's own code (:func:`~celery_stembeat.cli.
files.text_items`, :func:`~celery_stembeat.cli.apply.plan_items`), so a bad file gets the
same one-line message. The confirmation trusts nothing the browser kept: it sends the file's
text back, which is read, checked and planned again; should the plan differ from the one
shown (the store changed meanwhile), the new plan is shown to confirm instead. Then the plan
is written as the CLI writes it: all of it or, on a bad file, nothing, each entry checked
against the version just read.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import PurePath

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from celery_stembeat._collector import collector_paused
from celery_stembeat.changes import listed
from celery_stembeat.cli.apply import ItemsPlan, carry_out, plan_items
from celery_stembeat.cli.errors import BadInput, Failed
from celery_stembeat.cli.files import text_items
from celery_stembeat.limits import MAX_ID_LENGTH
from celery_stembeat.web.actions import READ_ONLY, change_form, refused
from celery_stembeat.web.dashboard import dashboard, flash, note, render

#: The largest file applied here (larger ones: ``stembeat apply``), and the bytes the rest of
#: an upload's form may add.
MAX_UPLOAD = 20 * 1024 * 1024
_FORM_SLACK = 64 * 1024
TOO_LARGE = (
    f"the file is larger than {MAX_UPLOAD // 2**20} MB: nothing was read (apply it with "
    "stembeat apply)"
)
CHANGED_MEANWHILE = (
    "the store changed since the plan was shown: nothing was written; this is the plan now, "
    "confirm it again"
)
#: The audit log's verb, as the CLI's.
APPLY = "apply"


@dataclass(frozen=True)
class Upload:
    """A file to apply: its name (which tells JSON from YAML) and its text."""

    name: str
    text: str


def upload_form(request: Request) -> HTMLResponse:
    """The upload form."""
    if dashboard(request).read_only:
        return refused(request, 403, READ_ONLY)
    return _page(request, None, None, "", prune=False)


async def plan_or_apply(request: Request) -> Response:
    """Show the plan of the uploaded file; with ``confirm``, write the plan shown."""
    length = request.headers.get("content-length", "")
    if not length.isdigit() or int(length) > MAX_UPLOAD + _FORM_SLACK:
        return refused(request, 413, TOO_LARGE)
    form = await change_form(request, max_part_size=MAX_UPLOAD + 1)
    if isinstance(form, Response):
        return form
    prune = form.get("prune") == "on"
    given = form.get("file")
    if isinstance(given, UploadFile):
        data = await given.read(MAX_UPLOAD + 1)
        if len(data) > MAX_UPLOAD:
            return refused(request, 413, TOO_LARGE)
        name = _file_name(given.filename)
        try:
            upload = Upload(name, data.decode("utf-8"))
        except UnicodeDecodeError as exc:
            return _page(request, None, None, f"{name}: cannot read: {exc}", prune, 400)
    else:
        upload = Upload(_file_name(str(form.get("name", ""))), str(form.get("content", "")))
    confirmed = str(form.get("plan", "")) if form.get("confirm") == "yes" else None
    return await run_in_threadpool(_plan_or_apply, request, upload, prune, confirmed)


def _plan_or_apply(
    request: Request, upload: Upload, prune: bool, confirmed: str | None
) -> Response:
    settings = dashboard(request)
    store = settings.store
    try:
        with collector_paused():
            planned = plan_items(store, text_items(upload.name, upload.text), prune=prune)
            fingerprint = _fingerprint(planned)
            if confirmed != fingerprint:
                problem = CHANGED_MEANWHILE if confirmed else ""
                return _page(request, upload, planned, problem, prune, 409 if confirmed else 200)
            carry_out(store, planned, settings.clock(), note(request, APPLY))
    except BadInput as exc:
        return _page(request, upload, None, exc.message, prune, 400)
    except Failed as exc:
        return _page(request, upload, None, exc.message, prune, 409)
    plan = planned.plan
    flash(
        request,
        "ok",
        f"applied {upload.name}: {len(plan.added)} added, {len(plan.updated)} changed, "
        f"{len(plan.unchanged)} unchanged, {len(plan.absent)} removed",
    )
    return RedirectResponse(request.url_for("entries"), status_code=303)


def _file_name(given: str | None) -> str:
    """The name messages call the file: its last part (``upload`` when it has none)."""
    name = PurePath((given or "").replace("\\", "/")).name
    return name[:MAX_ID_LENGTH] or "upload"


def _fingerprint(planned: ItemsPlan) -> str:
    """What tells one plan from another: a digest of what it adds, changes and removes."""
    plan = planned.plan
    text = json.dumps(plan.to_dict(plan.absent), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


def _page(
    request: Request,
    upload: Upload | None,
    planned: ItemsPlan | None,
    problem: str,
    prune: bool,
    status_code: int = 200,
) -> HTMLResponse:
    rows: list[tuple[str, str, str]] = []
    if planned is not None:
        plan = planned.plan
        rows = [("added", entry_id, "") for entry_id in plan.added]
        rows += [("changed", key, ", ".join(names)) for key, names in plan.updated.items()]
        rows += [("removed", entry_id, "") for entry_id in plan.absent]
    return render(
        request,
        "apply.html",
        {
            "upload": upload,
            "plan": None if planned is None else planned.plan,
            "fingerprint": "" if planned is None else _fingerprint(planned),
            "rows": listed(rows, verbose=False),
            "unlisted": len(rows) - len(listed(rows, verbose=False)),
            "problem": problem,
            "prune": prune,
            "max_megabytes": MAX_UPLOAD // 2**20,
        },
        status_code=status_code,
    )
