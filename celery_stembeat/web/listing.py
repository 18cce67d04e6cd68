"""The entries page's query and the page of entries it selects.

Each page is read the cheapest way its query allows:

- by id: the store's entries streamed in id order up to the end of the page;
- by next run, unfiltered: a keyset page of the due index (:meth:`Store.soonest`), however
  far on; an entry without a next run (disabled, or nothing left to run) is not listed;
- by last run, runs or drift, unfiltered: :meth:`Store.ranked` (SQL sorts on the server;
  memory and Redis read every entry and hold the page's end);
- filtered: the candidates streamed in id order, from an index where there is one (an id
  prefix, a tag, a problem state), then sorted holding at most the page's end.

The search text is an id prefix (the ids index) or a tag (the tag index); ``task`` is a task
name, matched exactly by reading the candidates.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlencode

from starlette.datastructures import QueryParams

from celery_stembeat.entry import Entry
from celery_stembeat.health import PROBLEMS, STATES, HealthRules
from celery_stembeat.ordering import RANKINGS, SORTS, next_key
from celery_stembeat.selection import in_state, select, stored
from celery_stembeat.stores import Store
from celery_stembeat.stores.base import checked_selection
from celery_stembeat.survey import survey

#: Page sizes of the entries page, the first the default.
PAGE_SIZES = (50, 25, 100, 200, 500)


def _number(text: str | None, default: int) -> int:
    return int(text) if text is not None and text.isdigit() and len(text) < 10 else default


def _key(text: str) -> tuple[datetime, str] | None:
    """A :func:`next_key` as :meth:`Query.link` writes it (``ISO-instant id``), else ``None``."""
    at, _, entry_id = text.partition(" ")
    try:
        instant = datetime.fromisoformat(at)
    except ValueError:
        return None
    return (instant, entry_id) if instant.utcoffset() is not None and entry_id else None


@dataclass(frozen=True)
class Query:
    """What the entries page was asked for (its query string, checked)."""

    text: str
    tag: str
    task: str
    state: str
    sort: str
    page: int
    size: int
    #: Where a page by next run starts (the previous page's last key), ``None``: the first.
    after: tuple[datetime, str] | None = None

    @classmethod
    def of(cls, params: QueryParams) -> Query:
        """The query of a request's ``params``; unknown values fall back to the defaults."""
        state = params.get("state", "")
        sort = params.get("sort", "id")
        size = _number(params.get("size"), PAGE_SIZES[0])
        return cls(
            text=params.get("q", "").strip(),
            tag=params.get("tag", "").strip(),
            task=params.get("task", "").strip(),
            state=state if state in STATES else "",
            sort=sort if sort in SORTS else "id",
            page=max(1, _number(params.get("page"), 1)),
            size=size if size in PAGE_SIZES else PAGE_SIZES[0],
            after=_key(params.get("after", "")),
        )

    @property
    def filtered(self) -> bool:
        """Whether anything narrows the entries down."""
        return bool(self.text or self.tag or self.task or self.state)

    @property
    def keyset(self) -> bool:
        """Whether pages go by key (by next run, unfiltered) rather than by number."""
        return self.sort == "next" and not self.filtered

    def link(self, **changes: object) -> str:
        """This query's string with ``changes``, for the page's links (``after`` as a key)."""
        values: dict[str, object] = {
            "q": self.text,
            "tag": self.tag,
            "task": self.task,
            "state": self.state,
            "sort": self.sort,
            "size": self.size,
            "page": self.page,
        }
        values.update(changes)
        after = values.pop("after", None)
        if isinstance(after, tuple):
            values["after"] = f"{after[0].isoformat()} {after[1]}"
        return "?" + urlencode({name: value for name, value in values.items() if value})


@dataclass(frozen=True)
class Page:
    """One page of entries, and whether more follow (by next run: from ``next_after``)."""

    rows: list[Entry]
    more: bool
    next_after: tuple[datetime, str] | None = None


def _searched(store: Store, text: str) -> Iterator[Entry]:
    """The entries whose id starts with ``text`` or that hold the tag ``text``, by id."""
    by_prefix = store.iter_entries(prefix=text)
    try:
        checked_selection([text])
    except ValueError:  # not a tag's name
        tagged: Iterator[Entry] = iter(())
    else:
        tagged = stored(store, tags=(text,))
    last = None
    for entry in heapq.merge(by_prefix, tagged, key=lambda entry: entry.id):
        if entry.id != last:
            yield entry
        last = entry.id


def _candidates(store: Store, query: Query, now: datetime, rules: HealthRules) -> Iterator[Entry]:
    """The entries the filters of ``query`` let through, by id."""
    if query.state in PROBLEMS:
        # The survey's problems: from the health suspects' indexes, not every entry.
        seen = survey(store, now, rules)
        found: Iterator[Entry] = (e for e, health in seen.problems if health.state == query.state)
    elif query.text:
        found = _searched(store, query.text)
    else:
        found = stored(store, tags=(query.tag,) if query.tag else ())
    if query.text and query.state in PROBLEMS:
        found = (e for e in found if e.id.startswith(query.text) or query.text in e.tags)
    if query.tag and (query.text or query.state in PROBLEMS):
        found = (e for e in found if query.tag in e.tags)
    if query.task:
        found = (e for e in found if e.task == query.task)
    if query.state and query.state not in PROBLEMS:
        found = in_state(store, found, query.state, now, rules, store.paused())
    return found


def page_of(store: Store, query: Query, now: datetime, rules: HealthRules) -> Page:
    """The page of entries ``query`` asks for at ``now`` (health states by ``rules``).

    Raises ValueError for a tag that is not one (the store's message).
    """
    first = (query.page - 1) * query.size
    if query.keyset:
        rows = store.soonest(query.size + 1, after=query.after)
        after = next_key(rows[query.size - 1]) if len(rows) > query.size else None
        return Page(rows[: query.size], after is not None, after)
    if query.sort in RANKINGS and not query.filtered:
        rows = store.ranked(query.sort, query.size + 1, offset=first)
    else:
        chosen = select(
            _candidates(store, query, now, rules), sort=query.sort, limit=first + query.size + 1
        )
        rows = list(itertools.islice(chosen, first, first + query.size + 1))
    return Page(rows[: query.size], len(rows) > query.size)
