"""What the PostgreSQL store needs of the server's autovacuum, checked as a beat starts."""

from __future__ import annotations

import sqlalchemy as sa

from celery_stembeat.stores.sql.schema import Schema

_SETTINGS = sa.text(
    "SELECT current_setting('autovacuum') AS autovacuum, "
    "current_setting('track_counts') AS track_counts, "
    "coalesce((SELECT string_agg(c.relname, ', ' ORDER BY c.relname) FROM pg_class AS c "
    "WHERE c.oid IN (SELECT to_regclass(t) FROM unnest(CAST(:tables AS text[])) AS t) "
    "AND c.reloptions @> ARRAY['autovacuum_enabled=false']), '') AS disabled"
)


def autovacuum_warning(conn: sa.Connection, schema: Schema) -> str | None:
    """One line saying which autovacuum setting is off for the store's tables and what to do;
    ``None`` when autovacuum covers them.

    The store vacuums the tables every fire rewrites itself (see ``maintenance.py``); the
    others (the audit log, beats, tags) and the planner's statistics need autovacuum.
    """
    names = [table.name for table in schema.tables(conn.dialect.name)]
    row = conn.execute(_SETTINGS, {"tables": names}).one()
    if row.autovacuum != "on":
        setting = "autovacuum = off"
    elif row.track_counts != "on":
        setting = "track_counts = off (autovacuum needs it)"
    elif row.disabled:
        setting = f"autovacuum_enabled = false on {row.disabled}"
    else:
        return None
    return (
        f"{setting}: only the tables every fire rewrites are vacuumed, by the store itself; "
        "its other tables keep their dead rows and the planner gets no statistics. Set "
        "autovacuum = on and track_counts = on in postgresql.conf (then SELECT "
        "pg_reload_conf()), and reset autovacuum_enabled on the store's tables"
    )
