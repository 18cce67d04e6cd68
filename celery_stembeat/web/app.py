"""The dashboard's app factory: :func:`create_app`."""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import AsyncIterator, Callable
from datetime import datetime, timedelta, timezone
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from celery_stembeat.health import HealthRules
from celery_stembeat.setting import DEFAULT_GRACE
from celery_stembeat.stores import open_store
from celery_stembeat.web import actions, applying, editing, pages, rollbacks
from celery_stembeat.web.auth import WebAuth
from celery_stembeat.web.dashboard import Dashboard, render
from celery_stembeat.web.security import SecurityHeaders, SignInGate
from celery_stembeat.web.signins import SignedOut, SignInThrottle

#: A key to sign session cookies with, shared by the processes serving one dashboard; unset,
#: each app makes its own (sessions then end when it restarts).
SECRET_VARIABLE = "STEMBEAT_WEB_SECRET"
#: The session cookie's name, and how long a session lasts.
SESSION_COOKIE = "stembeat_session"
SESSION_AGE = timedelta(hours=12)


def _utc_now() -> datetime:
    return datetime.now(timezone.utc)


async def _error_page(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    return render(request, "error.html", {"message": exc.detail}, status_code=exc.status_code)


def create_app(
    url: str,
    *,
    read_only: bool = False,
    mask_kwargs: bool = False,
    auth: WebAuth | None = None,
    grace: timedelta = DEFAULT_GRACE,
    celery_app: Any = None,
    secret_key: str | None = None,
    https_only: bool = False,
    clock: Callable[[], datetime] | None = None,
) -> Starlette:
    """The dashboard of the store at ``url``, as an ASGI app (serve it with uvicorn, or mount
    it in another ASGI app).

    The store is opened here, once, and closed when the app shuts down (its lifespan; mounted
    in another app, call ``app.state.dashboard.store.close()`` at that app's shutdown).
    ``read_only`` refuses every change; ``mask_kwargs`` hides the values of args, kwargs and
    options; ``auth`` (see :mod:`celery_stembeat.web.auth`) requires signing in; ``grace``
    is how late an entry may be before it is missed; ``celery_app`` sends "run now" messages
    (without it, running by hand is refused). Sessions are cookies signed with
    ``secret_key`` (else ``$STEMBEAT_WEB_SECRET``, else a random key), ``Secure`` with
    ``https_only``. ``clock`` fixes the time (tests).
    """
    store = open_store(url)
    settings = Dashboard(
        store=store,
        rules=HealthRules(missed_after=grace),
        clock=clock or _utc_now,
        read_only=read_only,
        mask_kwargs=mask_kwargs,
        auth=auth,
        celery_app=celery_app,
        throttle=SignInThrottle(),
        signed_out=SignedOut(lifetime=SESSION_AGE),
    )

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            store.close()

    static = StaticFiles(packages=[("celery_stembeat.web", "static")])
    routes = [
        Route("/", pages.overview, name="overview"),
        Route("/entries", pages.entries, name="entries"),
        Route("/entry", pages.entry, name="entry"),
        Route("/new", editing.new_entry, name="new"),
        Route("/edit", editing.edit_entry, name="edit"),
        Route("/edit", editing.save, methods=["POST"], name="save"),
        Route("/preview", editing.preview, name="preview"),
        Route("/apply", applying.upload_form, name="upload"),
        Route("/apply", applying.plan_or_apply, methods=["POST"], name="apply"),
        Route("/rollback", rollbacks.rollback_page, name="rollback_page"),
        Route("/rollback", rollbacks.roll_back, methods=["POST"], name="rollback"),
        Route("/login", pages.login, name="login"),
        Route("/login", actions.login, methods=["POST"], name="sign_in"),
        Route("/logout", actions.logout, methods=["POST"], name="logout"),
        Route("/actions/enable", actions.enable, methods=["POST"], name="enable"),
        Route("/actions/disable", actions.disable, methods=["POST"], name="disable"),
        Route("/actions/run", actions.run, methods=["POST"], name="run"),
        Route("/actions/remove", actions.remove, methods=["POST"], name="remove"),
        Mount("/static", app=static, name="static"),
    ]
    key = secret_key or os.environ.get(SECRET_VARIABLE) or secrets.token_urlsafe(32)
    middleware = [
        Middleware(SecurityHeaders),
        Middleware(
            SessionMiddleware,
            secret_key=key,
            session_cookie=SESSION_COOKIE,
            max_age=int(SESSION_AGE.total_seconds()),
            same_site="strict",
            https_only=https_only,
        ),
        Middleware(
            SignInGate,
            required=auth is not None,
            open_paths=("/login", "/static/"),
            signed_out=settings.signed_out,
        ),
    ]
    app = Starlette(
        routes=routes,
        middleware=middleware,
        exception_handlers={HTTPException: _error_page},
        lifespan=lifespan,
    )
    app.state.dashboard = settings
    return app
