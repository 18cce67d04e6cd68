"""What every response carries, what every request must show: security headers, the sign-in
gate and the CSRF token of the session's forms."""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Container

from starlette.datastructures import MutableHeaders
from starlette.requests import HTTPConnection
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

#: Sent with every response: nothing from other hosts, no inline script or style, never in a
#: frame, no MIME sniffing, no referrer to other sites, no caching of pages that hold entries.
HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}

#: Where the session keeps the signed-in user, the session's id (what signing out revokes),
#: and the CSRF token of its forms.
USER_KEY = "user"
SESSION_ID_KEY = "sid"
CSRF_KEY = "csrf"
#: The form field that carries the CSRF token.
CSRF_FIELD = "csrf"


class SecurityHeaders:
    """ASGI middleware: :data:`HEADERS` on every HTTP response, errors included."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in HEADERS.items():
                    headers[name] = value
            await send(message)

        await self.app(scope, receive, send_with_headers)


class SignInGate:
    """ASGI middleware (inside the session's): with authentication on, a request that is not
    signed in is sent to the login page (a read) or refused with 403 (a write); the login
    page and the stylesheet are open. A session in ``signed_out`` is not signed in, even with
    a cookie copied before it signed out."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        required: bool,
        open_paths: tuple[str, ...],
        signed_out: Container[object],
    ) -> None:
        self.app = app
        self.required = required
        self.open_paths = open_paths
        self.signed_out = signed_out

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.required:
            await self.app(scope, receive, send)
            return
        connection = HTTPConnection(scope)
        session = connection.session
        if session.get(SESSION_ID_KEY) in self.signed_out:
            session.clear()
        path = scope["path"][len(scope.get("root_path", "")) :] or "/"
        if session.get(USER_KEY) is not None or path.startswith(self.open_paths):
            await self.app(scope, receive, send)
            return
        response: Response
        if scope["method"] in ("GET", "HEAD"):
            response = RedirectResponse(connection.url_for("login"), status_code=303)
        else:
            response = PlainTextResponse("sign in first", status_code=403)
        await response(scope, receive, send)


def csrf_token(session: dict[str, object]) -> str:
    """The session's CSRF token, made on first use."""
    token = session.get(CSRF_KEY)
    if not isinstance(token, str):
        token = secrets.token_urlsafe(32)
        session[CSRF_KEY] = token
    return token


def csrf_valid(session: dict[str, object], given: object) -> bool:
    """Whether ``given`` (a form's field) is the session's CSRF token."""
    token = session.get(CSRF_KEY)
    return (
        isinstance(token, str)
        and isinstance(given, str)
        and hmac.compare_digest(token.encode(), given.encode())
    )
