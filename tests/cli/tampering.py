"""Change the audit log behind the store's back, as someone with access to its database would:
edit a record's text (its hash left as it was) or delete a record."""

from __future__ import annotations

import dataclasses

from celery_stembeat.stores import Store


def tamper(store: Store, backend: str, seq: int, how: str) -> None:
    """``how``: ``edit`` (the record's actor becomes ``mallory``) or ``delete`` record ``seq``."""
    assert how in ("edit", "delete")
    if backend == "memory":
        kept = store._backend.changes  # type: ignore[attr-defined]
        index = next(i for i, change in enumerate(kept) if change.seq == seq)
        if how == "edit":
            kept[index] = dataclasses.replace(kept[index], actor="mallory")
        else:
            del kept[index]
        return
    raise NotImplementedError(backend)
