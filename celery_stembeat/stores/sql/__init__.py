"""The SQL store: SQLite (the embedded default) and PostgreSQL, on SQLAlchemy Core.

``sqlite:///PATH`` or ``postgresql://…`` (``postgres://`` and ``postgresql+psycopg://`` too; the
driver is always psycopg 3; a libpq host list, ``postgresql://h1:p1,h2:p2/db``, names a primary
and its standbys: see ``celery_stembeat.stores._hosts``). The store's own options, ``prefix``
(default ``stembeat_``), ``history_limit``, ``history_max_age`` and ``audit_limit``, are
keyword arguments (``open_store`` takes them from the URL's query).

Tables (named with the prefix)
------------------------------

``{prefix}entries``
    One row per entry: the definition (``task``; ``spec``, ``args``, ``kwargs``, ``options``,
    ``tags`` as JSON, JSONB on PostgreSQL; ``spec_key``, the spec's canonical JSON text, so
    "the schedule changed" is an exact text compare; the flags and ``version``), one column per
    :class:`~celery_stembeat.entry.RunState` field, and the claim: ``claim_token``,
    ``claim_owner``, ``lease_until``, ``claimed_for``, ``claim_version``; and
    ``history_stamp`` (added by schema version 14), the stamp of the newest run recorded. Of
    the run state, workers' reports alone write the
    :data:`~celery_stembeat.entry.TRACKED_FIELDS` (``last_outcome``, ``last_outcome_for``,
    ``success_count``, ``task_failure_count``, ``consecutive_task_failures``,
    ``last_task_error``, ``runtime_mean``, ``runtime_max``); completions, edits and enabling
    leave them as stored.

    The due index is ``(enabled, next_run_at, id)`` and the due query is just ``enabled AND
    next_run_at <= now ORDER BY next_run_at, id``: a claim moves ``next_run_at`` into
    ``claimed_for`` and sets it to NULL, so leased entries are not in the index at all. While
    claimed, ``claimed_for`` *is* the entry's ``next_run_at`` (an edit during the claim writes
    its new next run there); completion or lease recovery moves it back. The edit's next run
    wins at completion when the schedule changed since the claim: ``spec_key`` differs from
    the claimed entry's, or ``claimed_for`` no longer is the claimed occurrence (enabled
    again). ``claim_version`` records the version the claim saw. ``lease_until`` is indexed
    for recovery. Three partial indexes, added by schema version 7, serve
    :meth:`SQLStore.health_suspects` and :meth:`SQLStore.entry_counts`:
    ``{prefix}entries_failing`` on ``(enabled, id)`` over the entries with a failure in a row,
    ``{prefix}entries_open`` on ``(enabled, last_run_at)`` over the entries whose newest
    occurrence has no final outcome, and ``{prefix}entries_unscheduled`` on ``id`` over the
    entries disabled or without a next run.
``{prefix}runs``
    History, one row per run, oldest first by the autoincrement ``id``; indexed on
    ``(entry_id, id)``. Each row holds its ``stamp`` (added by schema version 14; see
    :func:`~celery_stembeat.stores.base.history_stamps`), and history is trimmed to the
    newest ``history_limit`` runs per entry stamped at most ``history_max_age`` before the
    newest by the store's maintenance pass, at most every
    ``maintenance.MAINTENANCE_INTERVAL`` seconds (see ``maintenance.py``; reads never return
    runs beyond either limit meanwhile).
    A completion writes what the beat did (``scheduled_for``, ``published_at``, ``outcome``,
    ``drift``, ``jitter``, ``error``, ``owner``, ``task_id``); workers' reports then update the
    newest row of their occurrence: ``outcome``, ``started_at``, ``finished_at``, ``runtime``,
    ``error`` and ``worker``. ``manual`` (added by schema version 10) marks a run sent out of
    schedule (:meth:`SQLStore.record_manual_run`), which only history holds.
``{prefix}beats``
    One row per beat that records itself, by ``owner`` (the primary key, sorted by code point
    like entry ids): ``host``, ``pid``, ``version``, ``started_at``, ``last_pass_at``,
    ``store_latency``, ``clock_offset`` (added by schema version 4). Recording a beat upserts
    its row and deletes the rows whose ``last_pass_at`` is more than
    :data:`~celery_stembeat.stores.base.BEAT_RETENTION` older than its own, in one write
    transaction.
``{prefix}incidents``
    One row per open :class:`~celery_stembeat.stores.base.Incident`, by ``key`` (the primary
    key, sorted by code point): ``state``, ``since`` (added by schema version 6). A resolved
    incident has no row. A transition reads the row ``FOR UPDATE`` and writes it in one write
    transaction.
``{prefix}entry_tags``
    The tag index (added by schema version 9): a row ``(tag, entry_id)`` per tag of each entry,
    primary key ``(tag, entry_id)``, indexed on ``entry_id``; the transaction that writes or
    deletes an entry replaces or removes its rows (see ``tags.py``).
``{prefix}run_minutes``
    The run counter (added by schema version 11): ``minute`` (the start of a minute, UTC, the
    primary key) and ``runs``, the runs completions recorded in that minute (see
    :meth:`~celery_stembeat.stores.base.Store.activity`). Each completion batch adds its runs
    in its own transaction (on PostgreSQL, in its one statement) and deletes the minutes
    :data:`~celery_stembeat.stores.base.RUN_MINUTES_KEPT` older than its own.
``{prefix}audit``
    The audit log (added by schema version 12; see :mod:`celery_stembeat.audit`): one row per
    change record kept, ``seq`` (the primary key), ``entry_id`` (``""`` for the pause), ``at``,
    ``text`` (the record's canonical JSON, what its hash is taken of) and ``hash``; indexed on
    ``(entry_id, seq)``. The newest ``audit_limit`` records are kept.
``{prefix}audit_head``
    The log's head (added by schema version 12), one row (``slot`` 1): ``seq`` and ``hash`` of
    the newest record, ``floor``, the oldest kept. A store upgraded to version 12 starts with an
    empty log (the changes made before have no records).
``{prefix}meta``
    ``schema_version`` and ``changes``, a counter every definition change increments.
    Migrations (``schema.MIGRATIONS``) take the schema up from ``schema_version``.
``{prefix}changes`` (SQLite only)
    The change log: ``seq`` (the counter's value) and the changed ``entry_id``; the newest
    10 000 rows are kept. SQLite feeds poll it; PostgreSQL uses ``NOTIFY`` on the channel
    ``{prefix}changes`` with the entry id as payload.

Instants are stored as UTC with microsecond resolution and read back as aware UTC. Floats in
JSON are written so that JSONB (which keeps a number's digits, not its notation) gives back the
same float. PostgreSQL cannot hold NUL characters: entries refuse them in their definitions
(:class:`~celery_stembeat.entry.EntryError`); in run errors (``last_error``, history) they are
replaced by U+FFFD, as they are in workers' reports (errors and worker names) on both databases.

Concurrency: SQLite runs in WAL mode with a 30 s busy timeout, and every write is one ``BEGIN
IMMEDIATE`` transaction, so several processes can share the file. On PostgreSQL a claim is one
``UPDATE … FROM (SELECT … FOR UPDATE SKIP LOCKED)`` statement; completions lock their rows in id
order, and so does a batch of workers' reports (one write transaction, ``FOR UPDATE``).
Every write that changes a definition or the pause (and ``record_manual_run``) is audited: its
transaction reads the audit log's head first, ``FOR UPDATE`` on PostgreSQL, before it locks any
entry row, so audited writers queue on the head in one order and never deadlock with each
other; it appends its change records and moves the head in the same transaction. Claims,
completions and workers' reports are not audited and never touch the head.
Schema creation and upgrades run on open, under an advisory lock (PostgreSQL) or a write
transaction (SQLite); an upgrade never drops rows.

Files
-----

``store.py``
    :class:`SQLStore`: reads, writes, claims, completions, feeds and lifecycle, as one
    algorithm for every database.
``dialects.py``
    What differs between PostgreSQL and SQLite: the claim's round trips, the bulk upsert and
    completion, the read-back, announcements and feeds, the server clock, the schema lock.
``codec.py``
    Rows and values: an entry, its run state, a run and a fingerprint read from a row; the
    columns an entry and a run write; JSON text that JSONB keeps exactly.
``schema.py``
    Tables, column types, schema versions and migrations.
``engine.py``
    The URL (parsed, secrets masked), engines with SQLite's settings, the LISTEN connection.
``pool.py``
    Pinging pooled PostgreSQL connections that sat idle.
``claims.py``
    The claim, renewal and lease-recovery statements, and the due index's head.
``upserts.py``
    Definition writes: one entry's ``UPDATE``, enabling, the bulk upsert of many rows.
``driver.py``
    SQLite's bulk writes: a statement compiled once, rows as tuples of driver values.
``audit_log.py``
    The audit log: the head read and locked, a write's records made and inserted, the head
    moved and the log trimmed; the reads of ``changes`` and ``change``.
``tags.py``
    The tag index: an entry's rows replaced or removed with it, and ``ids_tagged``'s query.
``complete.py``
    Completions: PostgreSQL's one-statement batch, SQLite's transaction, history trimming.
``outcomes.py``
    Workers' reports: the entries locked, the newest run of each occurrence read, the reports
    folded, the changed rows written back; the same statements on both databases.
``manual.py``
    Manual runs (``stembeat run``): the entry locked, the run inserted, history trimmed.
``health.py``
    Health from indexes: the entry counts, and the suspects' three index lookups in one query.
``activity.py``
    :meth:`SQLStore.activity`: index counts and the run counter's minutes in one query; the
    counter's upsert on SQLite.
``beats.py``
    Beats recording themselves: the upsert and pruning, the removal, the listing; the same
    statements on both databases.
``incidents.py``
    Incidents: the transition under the row's lock, the listing; the same statements on both
    databases.
``feed.py``
    The change counter, ``NOTIFY`` and the change log, and the feeds reading them:
    ``LISTEN`` on PostgreSQL, the polled change log on SQLite.
``batches.py``
    Ids per ``IN (…)`` list, runs of distinct ids.
"""

from __future__ import annotations

from celery_stembeat.stores.base import ANY_CHANGE
from celery_stembeat.stores.sql.store import DEFAULT_PREFIX, SQLStore

__all__ = ["ANY_CHANGE", "DEFAULT_PREFIX", "SQLStore"]
