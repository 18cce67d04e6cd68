"""The SQL store's claim statements: the claim that leases due entries, its renewal, the
recovery of lapsed leases, and the due index's head."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from celery_stembeat.stores.sql.codec import CLEARED_CLAIM
from celery_stembeat.stores.sql.schema import Schema


def claim_statement(
    schema: Schema, columns: Sequence[sa.ColumnElement[Any]], skip_locked: bool, limit: int
) -> Any:
    """The claim of up to ``limit`` entries, returning ``columns`` (build it once per limit:
    building costs more than running it); it claims nothing while a pause holds at ``b_now``.

    With ``skip_locked`` (where writers run concurrently) the rows are picked ``FOR UPDATE SKIP
    LOCKED`` and the statement's first column, ``b_head``, is the index head left after the
    claim, on a row of its own when nothing was claimed; without it (where every write
    transaction runs alone) it is a plain ``UPDATE … RETURNING``.
    """
    entries = schema.entries
    c = entries.c
    now = sa.bindparam("b_now", type_=c.next_run_at.type)
    due = entries.alias("due")
    held = schema.pause.c
    paused = sa.exists().where(sa.or_(held.until.is_(None), held.until > now))
    picked = (
        sa.select(due.c.id)
        .where(due.c.enabled == sa.true(), due.c.next_run_at <= now, ~paused)
        .order_by(due.c.next_run_at, due.c.id)
        .limit(limit)
    )
    claim = sa.update(entries).values(
        claimed_for=c.next_run_at,
        next_run_at=None,
        claim_token=sa.bindparam("b_token", type_=c.claim_token.type),
        claim_owner=sa.bindparam("b_owner", type_=c.claim_owner.type),
        lease_until=sa.bindparam("b_until", type_=c.lease_until.type),
        claim_version=c.version,
    )
    statement: Any
    if skip_locked:
        chosen = picked.with_for_update(skip_locked=True).cte("picked")
        claimed = claim.where(c.id == chosen.c.id).returning(*columns).cte("claimed")
        # The sibling query sees the table as it was before the claim: leave out the
        # rows just claimed.
        left = (
            head_query(schema)
            .where(c.id.not_in(sa.select(chosen.c.id)))
            .scalar_subquery()
            .label("b_head")
        )
        head = sa.select(left).subquery("head")
        statement = sa.select(head.c.b_head, claimed).select_from(
            head.outerjoin(claimed, sa.true())
        )
    else:
        statement = claim.where(c.id.in_(picked)).returning(*columns)
    return statement


def head_query(schema: Schema) -> sa.Select[Any]:
    """The earliest ``next_run_at`` among enabled, unclaimed entries."""
    c = schema.entries.c
    return (
        sa.select(c.next_run_at)
        .where(c.enabled == sa.true(), c.next_run_at.is_not(None))
        .order_by(c.next_run_at)
        .limit(1)
    )


def renew_statement(schema: Schema, token: str, ids: Sequence[str], until: datetime) -> Any:
    """Extend to ``until`` the leases of ``ids`` still held with ``token``; returns their ids."""
    c = schema.entries.c
    return (
        sa.update(schema.entries)
        .where(c.claim_token == token, c.id.in_(ids))
        .values(lease_until=until)
        .returning(c.id)
    )


def recover_statement(schema: Schema, skip_locked: bool, now: datetime) -> Any:
    """Return the leases that ran out before ``now`` to the due index; returns their ids
    (``skip_locked``: rows another writer holds are left for a later look)."""
    entries = schema.entries
    c = entries.c
    stmt = sa.update(entries).values(next_run_at=c.claimed_for, **CLEARED_CLAIM)
    if skip_locked:
        lapsed = entries.alias("lapsed")
        chosen = (
            sa.select(lapsed.c.id)
            .where(lapsed.c.lease_until <= now)
            .order_by(lapsed.c.id)
            .with_for_update(skip_locked=True)
            .subquery("chosen")
        )
        stmt = stmt.where(c.id == chosen.c.id)
    else:
        stmt = stmt.where(c.lease_until <= now)
    return stmt.returning(c.id)
