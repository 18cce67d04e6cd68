"""Change the audit log behind the store's back, as someone with access to its database would:
edit a record's text (its hash left as it was) or delete a record."""

from __future__ import annotations

import dataclasses
import json

import sqlalchemy as sa

from celery_stembeat.stores import Store

EDITED_ACTOR = "mallory"


def _edited(text: str, how: str = "edit") -> str:
    """A record's text with another actor (``edit``) or a definition that is not an object
    (``garble``)."""
    changed = {"actor": EDITED_ACTOR} if how == "edit" else {"after": [1, 2]}
    return json.dumps({**json.loads(text), **changed}, sort_keys=True)


def tamper(store: Store, backend: str, seq: int, how: str) -> None:
    """``how``: ``edit`` (the record's actor becomes ``mallory``), ``garble`` (its definition
    after becomes a list) or ``delete`` record ``seq``."""
    assert how in ("edit", "garble", "delete")
    if backend == "memory":
        kept = store._backend.changes  # type: ignore[attr-defined]
        index = next(i for i, change in enumerate(kept) if change.seq == seq)
        if how == "edit":
            kept[index] = dataclasses.replace(kept[index], actor=EDITED_ACTOR)
        else:
            del kept[index]
    elif backend == "redis":
        _tamper_redis(store, seq, how)
    else:
        _tamper_sql(store, seq, how)


def _tamper_sql(store: Store, seq: int, how: str) -> None:
    log = store._schema.audit  # type: ignore[attr-defined]
    where = log.c.seq == seq
    with store._engine.begin() as conn:  # type: ignore[attr-defined]
        if how == "delete":
            assert conn.execute(sa.delete(log).where(where)).rowcount == 1
            return
        text = conn.execute(sa.select(log.c.text).where(where)).scalar_one()
        conn.execute(sa.update(log).where(where).values(text=_edited(text, how)))


def _tamper_redis(store: Store, seq: int, how: str) -> None:
    """A stream keeps its records in order of id: an edit rewrites the whole stream."""
    client, log = store._client.redis, store._keys.audit_log  # type: ignore[attr-defined]
    if how == "delete":
        assert client.xdel(log, f"{seq}-0") == 1
        return
    records = client.xrange(log)
    client.delete(log)
    for record_id, fields in records:
        if record_id == f"{seq}-0".encode():
            fields = {**fields, b"t": _edited(fields[b"t"].decode(), how).encode()}
        client.xadd(log, fields, id=record_id)
