"""A store on which another process changes an entry between a verb's read and its write."""

from __future__ import annotations

from collections.abc import Container, Iterator
from typing import Any

import pytest

from celery_stembeat.cli import session as session_module
from celery_stembeat.entry import Entry
from celery_stembeat.stores import Store, open_store


class Racing:
    """A store whose ``upsert`` and ``delete`` let ``rival`` (another handle) change the entry
    first: the entries of ``contested``, or every one."""

    def __init__(self, store: Store, rival: Store, contested: Container[str] | None = None) -> None:
        self._store = store
        self._rival = rival
        self._contested = contested

    def _change(self, entry_id: str) -> None:
        if self._contested is not None and entry_id not in self._contested:
            return
        current = self._rival.get(entry_id)
        assert current is not None
        self._rival.upsert(Entry.from_dict({**current.definition(), "description": "rival"}))

    def upsert(self, entry: Entry, *args: Any, **kwargs: Any) -> Entry:
        self._change(entry.id)
        return self._store.upsert(entry, *args, **kwargs)

    def delete(self, entry_id: str, **kwargs: Any) -> bool:
        self._change(entry_id)
        return self._store.delete(entry_id, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)


def racing_cli(
    store_url: str, monkeypatch: pytest.MonkeyPatch, contested: Container[str] | None = None
) -> Iterator[None]:
    """Make every store the CLI opens a :class:`Racing` one, until the generator ends."""
    rival = open_store(store_url)
    monkeypatch.setattr(
        session_module, "open_store", lambda url: Racing(open_store(url), rival, contested)
    )
    yield
    rival.close()
