"""What every verb needs, whichever entry point ran it: the store, the clock, the grace, and
who makes the changes."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

import click

from celery_stembeat.audit import MAX_ACTOR_LENGTH, ChangeNote, local_actor
from celery_stembeat.cli.errors import translated
from celery_stembeat.cli.tables import Output
from celery_stembeat.setting import DEFAULT_GRACE, URL_VARIABLE
from celery_stembeat.stores import Store, open_store

#: Where the group callbacks leave the session for the verbs (``click.Context.meta``).
META_KEY = "celery_stembeat.session"


def actor() -> str:
    """``user@host`` of whoever runs the CLI, as long as a change record (and a pause) keeps
    it."""
    return local_actor()[:MAX_ACTOR_LENGTH]


@dataclass(frozen=True)
class Target:
    """The store to open and the grace window that makes an occurrence overdue."""

    url: str
    grace: timedelta


def target_from_app(app: Any) -> Target:
    """The store and grace in a celery app's config (``stembeat_url``, ``stembeat_grace``)."""
    from celery_stembeat.config import StembeatConfig

    config = StembeatConfig.from_app(app)
    return Target(config.url, config.engine.grace)


def target_from_url(url: str | None) -> Target:
    """The store at ``url`` (``--url`` or ``$STEMBEAT_URL``), with the default grace."""
    if not url:
        raise click.UsageError(f"no store: pass --url or set {URL_VARIABLE}")
    return Target(url, DEFAULT_GRACE)


class Session:
    """The store, the clock, the output settings and (under ``celery stembeat``) the celery
    app of one CLI invocation.

    The target is located on first use, so ``--help`` works without a store.
    """

    def __init__(
        self,
        locate: Callable[[], Target],
        now: datetime | None = None,
        color: bool = True,
        app: Any = None,
    ) -> None:
        self._locate = locate
        self._now = now
        self.color = color
        #: How tables print (``-o`` and ``--no-headers`` of the verb that runs).
        self.output = Output()
        #: The celery app to send tasks with; ``None`` for the standalone ``stembeat``.
        self.app = app

    @functools.cached_property
    def target(self) -> Target:
        """The located store URL and grace."""
        with translated():
            return self._locate()

    def now(self) -> datetime:
        """The current instant (fixed by the hidden ``--now`` option, for tests and docs)."""
        return self._now or datetime.now(timezone.utc)

    def note(self, verb: str) -> ChangeNote:
        """How the audit log records this invocation's changes: :func:`actor`, ``verb``, and
        :meth:`now`."""
        return ChangeNote(actor(), verb, self.now())

    @contextmanager
    def store(self) -> Iterator[Store]:
        """The open store; store and validation errors raised inside become exit codes."""
        url = self.target.url
        with translated():
            store = open_store(url)
            try:
                yield store
            finally:
                store.close()


def install(ctx: click.Context, session: Session) -> None:
    """Make ``session`` the one the verbs below ``ctx`` use."""
    ctx.meta[META_KEY] = session


def current(ctx: click.Context) -> Session:
    """The session a group callback installed."""
    session: Session = ctx.meta[META_KEY]
    return session
