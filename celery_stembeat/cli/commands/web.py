"""``web``: serve the dashboard (extra ``[web]``) with uvicorn."""

from __future__ import annotations

import ipaddress

import click

from celery_stembeat.cli.errors import BadInput, Command, translated
from celery_stembeat.cli.session import current

#: Where the dashboard listens unless told otherwise.
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 5555


def is_loopback(host: str) -> bool:
    """Whether ``host`` is this machine only (``localhost``, 127.0.0.0/8, ``::1``)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@click.command("web", cls=Command)
@click.option("--host", default=DEFAULT_HOST, show_default=True, help="The address to listen on.")
@click.option(
    "--port",
    default=DEFAULT_PORT,
    show_default=True,
    type=click.IntRange(0, 65535),
    help="The port to listen on.",
)
@click.option("--read-only", is_flag=True, help="Show everything, change nothing.")
@click.option(
    "--mask-kwargs",
    is_flag=True,
    help="Hide the values of args, kwargs and options (they may hold secrets).",
)
@click.pass_context
def web(ctx: click.Context, host: str, port: int, read_only: bool, mask_kwargs: bool) -> None:
    """Serve the web dashboard (pip install 'celery-stembeat[web]').

    Listens on 127.0.0.1 unless --host says otherwise; another address needs authentication:
    $STEMBEAT_WEB_TOKEN, or $STEMBEAT_WEB_USER and $STEMBEAT_WEB_PASSWORD, or
    $STEMBEAT_WEB_AUTH_FILE (a JSON file of hashes). Under 'celery -A PROJ stembeat web' the
    dashboard can also run entries now, through the app.
    """
    import uvicorn

    from celery_stembeat.web import create_app
    from celery_stembeat.web.auth import AuthError, auth_from_environment

    try:
        auth = auth_from_environment()
    except AuthError as exc:
        raise BadInput(str(exc)) from None
    if auth is None and not is_loopback(host):
        raise BadInput(
            f"refusing to listen on {host} without authentication: set STEMBEAT_WEB_TOKEN "
            "(or STEMBEAT_WEB_USER and STEMBEAT_WEB_PASSWORD, or STEMBEAT_WEB_AUTH_FILE), "
            "or listen on 127.0.0.1"
        )
    session = current(ctx)
    with translated():
        app = create_app(
            session.target.url,
            read_only=read_only,
            mask_kwargs=mask_kwargs,
            auth=auth,
            grace=session.target.grace,
            celery_app=session.app,
        )
    shown = f"[{host}]" if ":" in host else host
    mode = " (read-only)" if read_only else ""
    click.echo(f"stembeat web: serving on http://{shown}:{port}/{mode}", err=True)
    uvicorn.run(app, host=host, port=port, log_level="warning")
