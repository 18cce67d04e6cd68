"""The web dashboard (extra ``[web]``): the schedule at a glance, and the simple changes.

Server-rendered pages (Starlette, Jinja2), read and written through the store API as the CLI
does. :func:`create_app` makes the ASGI app; ``stembeat web`` serves it with uvicorn.
"""

from celery_stembeat.web.app import create_app
from celery_stembeat.web.auth import WebAuth, hash_secret

__all__ = ["WebAuth", "create_app", "hash_secret"]
