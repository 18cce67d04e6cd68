"""The actions (POST, with the session's CSRF token): enable, disable, run now and remove an
entry, signing in and out.

Each change goes through the store API with a :class:`~celery_stembeat.audit.ChangeNote`
naming the web user, is refused in read-only mode, and is made only while the entry still
has the version its page showed, which the store checks as it writes: a concurrent change is
reported, never overwritten. Each redirects back with a message.
"""

from __future__ import annotations

import math
import secrets
from collections.abc import Callable
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from celery_stembeat.audit import DISABLE, ENABLE, REMOVE
from celery_stembeat.entry import is_entry_id
from celery_stembeat.limits import shorten
from celery_stembeat.manual import expired, run_now
from celery_stembeat.publisher import CeleryPublisher
from celery_stembeat.stores import PUBLISHED, VersionConflict
from celery_stembeat.web.dashboard import Dashboard, actor, dashboard, flash, note, render
from celery_stembeat.web.forms import form_version
from celery_stembeat.web.security import CSRF_FIELD, SESSION_ID_KEY, USER_KEY, csrf_valid

READ_ONLY = "this dashboard is read-only (started with --read-only): nothing was changed"
BAD_CSRF = "the form's security token is missing or out of date: reload the page and try again"
NO_APP = (
    "run now sends the task through your celery app: start the dashboard with "
    "'celery -A PROJ stembeat web' (PROJ: the module of your app)"
)

#: The bytes a field of a multipart form may hold (Starlette's default).
MAX_FIELD = 1024 * 1024

#: What an action does to the entry a form names (its id and the version its page showed),
#: checked against that version as it is made: a message.
Change = Callable[[Request, Dashboard, str, int], str]


def refused(request: Request, status_code: int, message: str) -> HTMLResponse:
    """The error page saying ``message``."""
    return render(request, "error.html", {"message": message}, status_code=status_code)


async def checked_form(request: Request, max_part_size: int = MAX_FIELD) -> FormData | HTMLResponse:
    """The request's form, or the refusal to send instead when its CSRF token is wrong.
    ``max_part_size``: the bytes a field of a multipart form may hold."""
    form = await request.form(max_part_size=max_part_size)
    if not csrf_valid(request.session, form.get(CSRF_FIELD)):
        return refused(request, 403, BAD_CSRF)
    return form


async def change_form(request: Request, max_part_size: int = MAX_FIELD) -> FormData | HTMLResponse:
    """:func:`checked_form` of a change, refused at once on a read-only dashboard."""
    if dashboard(request).read_only:
        return refused(request, 403, READ_ONLY)
    return await checked_form(request, max_part_size)


def back_to_entry(request: Request, entry_id: str | None) -> RedirectResponse:
    """To the entry's page, or (it is gone) to the entries."""
    if entry_id is None:
        return RedirectResponse(request.url_for("entries"), status_code=303)
    url = request.url_for("entry").include_query_params(id=entry_id)
    return RedirectResponse(url, status_code=303)


def _conflict(entry_id: str, shown: str, actual: int | None) -> str:
    """Why an action on version ``shown`` of the entry did nothing: it is at version
    ``actual`` now (``None``: gone)."""
    if actual is None:
        return f"no entry {shorten(entry_id)}: removed meanwhile? nothing was done"
    return (
        f"entry {shorten(entry_id)} changed since this page was read (version "
        f"{shorten(shown)}, now {actual}): nothing was done; look again and retry"
    )


def _act(change: Change) -> Callable[[Request], Any]:
    """The endpoint that makes ``change`` to the entry a form names (``entry_id`` and the
    ``version`` its page showed)."""

    async def endpoint(request: Request) -> Response:
        settings = dashboard(request)
        form = await change_form(request)
        if isinstance(form, Response):
            return form
        entry_id, shown = str(form.get("entry_id", "")), str(form.get("version", ""))

        def act() -> tuple[str, str]:
            if not is_entry_id(entry_id):
                return "error", _conflict(entry_id, shown, None)
            try:
                return "ok", change(request, settings, entry_id, form_version(shown))
            except VersionConflict as conflict:
                return "error", _conflict(entry_id, shown, conflict.actual)
            except ValueError as exc:
                return "error", str(exc)

        kind, message = await run_in_threadpool(act)
        flash(request, kind, message)
        gone = kind == "ok" and change is _remove
        return back_to_entry(request, None if gone else entry_id)

    endpoint.__doc__ = change.__doc__
    return endpoint


def _enable(request: Request, settings: Dashboard, entry_id: str, version: int) -> str:
    """Enable the entry, starting afresh from now."""
    made = note(request, ENABLE)
    settings.store.set_enabled(
        entry_id, True, settings.clock(), expected_version=version, note=made
    )
    return f"enabled {entry_id}"


def _disable(request: Request, settings: Dashboard, entry_id: str, version: int) -> str:
    """Disable the entry (its run state and history stay)."""
    made = note(request, DISABLE)
    settings.store.set_enabled(
        entry_id, False, settings.clock(), expected_version=version, note=made
    )
    return f"disabled {entry_id}"


def _remove(request: Request, settings: Dashboard, entry_id: str, version: int) -> str:
    """Delete the entry and its history."""
    made = note(request, REMOVE)
    if not settings.store.delete(entry_id, expected_version=version, note=made):
        raise VersionConflict(entry_id, version, None)
    return f"removed {entry_id}"


def _run(request: Request, settings: Dashboard, entry_id: str, version: int) -> str:
    """Send the entry's task once, now, out of schedule."""
    entry = settings.store.get(entry_id)
    if entry is None or entry.version != version:
        raise VersionConflict(entry_id, version, None if entry is None else entry.version)
    if settings.celery_app is None:
        raise ValueError(NO_APP)
    if expired([entry], settings.clock()):
        raise ValueError(
            f"entry {shorten(entry.id)} expired (expire_at has passed): its message would "
            "expire unrun; nothing sent"
        )
    publisher = CeleryPublisher(settings.celery_app, clock=settings.clock)
    (ran,) = run_now(settings.store, publisher, [entry], settings.clock, actor(request))
    record = ran.record
    if record.outcome != PUBLISHED:
        raise ValueError(f"not sent {entry.id}: {record.error}")
    return f"sent {entry.id}: task id {record.task_id}"


enable = _act(_enable)
disable = _act(_disable)
remove = _act(_remove)
run = _act(_run)


async def login(request: Request) -> Response:
    """Sign in: the session remembers the user (a fresh session, with a fresh id and CSRF
    token). An address that failed too often is refused (429) without checking."""
    form = await checked_form(request)
    if isinstance(form, Response):
        return form
    settings = dashboard(request)
    if settings.auth is None:
        return RedirectResponse(request.url_for("overview"), status_code=303)
    address, now = request.client.host if request.client else "", settings.clock()
    wait = settings.throttle.wait(address, now)
    if wait is not None:
        seconds = max(1, math.ceil(wait.total_seconds()))
        problem = f"too many failed sign-ins: try again in {seconds} s"
        response = render(request, "login.html", {"problem": problem}, status_code=429)
        response.headers["Retry-After"] = str(seconds)
        return response
    user, secret = str(form.get("user", "")), str(form.get("secret", ""))
    who = await run_in_threadpool(settings.auth.check, user, secret)
    if who is None:
        settings.throttle.failed(address, now)
        wrong = "wrong token" if settings.auth.uses_token else "wrong user name or password"
        return render(request, "login.html", {"problem": wrong}, status_code=401)
    settings.throttle.succeeded(address)
    request.session.clear()
    request.session[USER_KEY] = who
    request.session[SESSION_ID_KEY] = secrets.token_urlsafe(16)
    return RedirectResponse(request.url_for("overview"), status_code=303)


async def logout(request: Request) -> Response:
    """Sign out: the session is cleared, and its id revoked in this process, so a copy of
    its cookie no longer signs in."""
    form = await checked_form(request)
    if isinstance(form, Response):
        return form
    session_id = request.session.get(SESSION_ID_KEY)
    if session_id is not None:
        settings = dashboard(request)
        settings.signed_out.add(session_id, settings.clock())
    request.session.clear()
    return RedirectResponse(request.url_for("login"), status_code=303)
