"""What every page and action of one dashboard shares: its store and settings, the templates,
the session's flash messages, and who the audit log names for a change."""

from __future__ import annotations

import socket
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import jinja2
from starlette.requests import Request
from starlette.responses import HTMLResponse

from celery_stembeat import __version__, wording
from celery_stembeat.audit import MAX_ACTOR_LENGTH, ChangeNote
from celery_stembeat.health import HealthRules
from celery_stembeat.stores import Store
from celery_stembeat.web.auth import WebAuth
from celery_stembeat.web.security import USER_KEY, csrf_token
from celery_stembeat.web.signins import SignedOut, SignInThrottle

#: Where the session keeps the messages the next page shows.
FLASH_KEY = "flash"


@dataclass(frozen=True)
class Dashboard:
    """One dashboard: the store it opened, and how it was started."""

    store: Store
    rules: HealthRules
    clock: Callable[[], datetime]
    read_only: bool
    mask_kwargs: bool
    auth: WebAuth | None
    #: The celery app that sends "run now" messages; ``None``: running by hand is refused.
    celery_app: Any
    #: The addresses that failed to sign in too often, and the sessions signed out.
    throttle: SignInThrottle
    signed_out: SignedOut


def dashboard(request: Request) -> Dashboard:
    """The dashboard serving ``request``."""
    found: Dashboard = request.app.state.dashboard
    return found


def actor(request: Request) -> str:
    """Who the audit log names for a change made through ``request``: the signed-in user
    (``NAME@web``), else ``web@HOST`` (a token, or no authentication)."""
    user = request.session.get(USER_KEY)
    name = f"{user}@web" if user else f"web@{socket.gethostname()}"
    return name[:MAX_ACTOR_LENGTH]


def note(request: Request, verb: str) -> ChangeNote:
    """The :class:`ChangeNote` of a change made through ``request`` with ``verb``."""
    return ChangeNote(actor(request), verb, dashboard(request).clock())


def flash(request: Request, kind: str, text: str) -> None:
    """Leave ``text`` (``kind``: ``ok`` or ``error``) for the next page to show."""
    request.session[FLASH_KEY] = [*request.session.get(FLASH_KEY, []), [kind, text]]


def _environment() -> jinja2.Environment:
    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("celery_stembeat.web", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.globals.update(
        version=__version__, when=wording.when, local=wording.local, seconds=wording.seconds
    )
    environment.globals["counted"] = wording.counted
    environment.globals["history_held"] = wording.history_held
    return environment


_TEMPLATES = _environment()


def render(
    request: Request, name: str, context: dict[str, Any], status_code: int = 200
) -> HTMLResponse:
    """The page ``name`` (a template) with ``context``, the layout's values and the flash
    messages (which it takes out of the session)."""
    settings = dashboard(request)
    messages = request.session.pop(FLASH_KEY, [])
    page = _TEMPLATES.get_template(name).render(
        request=request,
        read_only=settings.read_only,
        auth=settings.auth,
        user=request.session.get(USER_KEY),
        csrf=csrf_token(request.session),
        messages=messages,
        now=settings.clock(),
        **context,
    )
    return HTMLResponse(page, status_code=status_code)


def render_fragment(name: str, context: dict[str, Any], status_code: int = 200) -> HTMLResponse:
    """The part of a page ``name`` (a template) makes of ``context`` alone, for a script to
    put in its place (the flash messages stay for the next page)."""
    return HTMLResponse(_TEMPLATES.get_template(name).render(**context), status_code=status_code)
