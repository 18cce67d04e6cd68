"""Rolling an entry back to a definition its audit trail recorded: the difference field by
field (GET ``/rollback``, what ``stembeat rollback --dry-run`` shows), then confirm (POST).

The target and the difference come from ``stembeat rollback``'s own functions. The
confirmation is made only while the entry still has the version the difference was read at,
and writes as ``rollback`` does: run state kept, a removed entry created again, an entry that
did not exist then removed.
"""

from __future__ import annotations

from dataclasses import dataclass

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from celery_stembeat.cli.apply import config_owned, write_definition
from celery_stembeat.cli.commands.rollback import (
    Target,
    _restored,
    differences,
    to_target,
    undo_target,
)
from celery_stembeat.cli.errors import BadInput, Failed
from celery_stembeat.entry import Entry, is_entry_id
from celery_stembeat.limits import shorten
from celery_stembeat.stores import Store, VersionConflict
from celery_stembeat.web.actions import back_to_entry, change_form, refused
from celery_stembeat.web.dashboard import dashboard, flash, note, render
from celery_stembeat.web.forms import MASKED
from celery_stembeat.web.views import MASK

#: The audit log's verb, as the CLI's.
ROLLBACK = "rollback"


@dataclass(frozen=True)
class Rollback:
    """What rolling an entry back to a target does."""

    entry_id: str
    target: Target
    #: The entry as read (``None``: it does not exist), and what the target makes of it.
    current: Entry | None
    restored: Entry | None
    #: ``none``, ``update``, ``recreate`` or ``remove``.
    action: str

    @property
    def version(self) -> int:
        """The version the entry was read at (``0``: absent)."""
        return 0 if self.current is None else self.current.version

    def rows(self, mask: bool) -> list[tuple[str, str, str]]:
        """The fields that differ (name, now, then), as ``rollback --dry-run`` lists them;
        with ``mask``, the values of args, kwargs and options hidden."""
        old = None if self.current is None else self.current.definition()
        new = None if self.restored is None else self.restored.definition()
        return [
            (name, MASK, MASK) if mask and name in MASKED else (name, before, after)
            for name, before, after in differences(old, new)
        ]

    def headline(self) -> str:
        """What the rollback does, in a line."""
        when, entry_id = self.target.describe(), self.entry_id
        return {
            "none": f"{entry_id} already has its definition {when}: nothing to roll back",
            "remove": f"remove {entry_id}: it did not exist {when}",
            "recreate": f"recreate {entry_id}: its definition {when}",
            "update": f"roll {entry_id} back to its definition {when}",
        }[self.action]


def rollback_of(store: Store, entry_id: str, seq: int | None) -> Rollback:
    """What rolling ``entry_id`` back to change ``seq`` (``None``: undoing its newest change)
    does; the CLI's :class:`BadInput` or :class:`Failed` when it cannot."""
    if not is_entry_id(entry_id):
        raise BadInput(f"{shorten(entry_id)} is not an entry id")
    current = store.get(entry_id)
    target = undo_target(store, entry_id) if seq is None else to_target(store, entry_id, seq)
    restored = _restored(target)
    old = None if current is None else current.definition()
    new = None if restored is None else restored.definition()
    if old == new:
        action = "none"
    elif current is not None and current.source == "config":
        raise config_owned(entry_id)
    else:
        action = "remove" if new is None else "recreate" if old is None else "update"
    return Rollback(entry_id, target, current, restored, action)


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
        {"rollback": found, "rows": found.rows(settings.mask_kwargs)},
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
            _write(request, found)
        except VersionConflict:
            flash(request, "error", f"entry {shorten(entry_id)} changed meanwhile: nothing written")
            return back_to_entry(request, entry_id)
    flash(request, "ok", _done(found))
    return back_to_entry(request, None if found.action == "remove" else entry_id)


def _write(request: Request, found: Rollback) -> None:
    settings = dashboard(request)
    made = note(request, ROLLBACK)
    if found.restored is None:
        if not settings.store.delete(found.entry_id, note=made):
            raise VersionConflict(found.entry_id, found.version, None)
        return
    write_definition(settings.store, found.restored, found.current, settings.clock(), made)


def _done(found: Rollback) -> str:
    when, entry_id = found.target.describe(), found.entry_id
    return {
        "none": found.headline(),
        "remove": f"removed {entry_id}: it did not exist {when}",
        "recreate": f"recreated {entry_id}: its definition {when}",
        "update": f"rolled back {entry_id}: its definition {when}",
    }[found.action]
