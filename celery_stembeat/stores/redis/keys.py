"""The keys of one prefix of the Redis store.

Every key of one prefix ``P`` carries the hash tag ``{P}``, so all of them hash to one Redis
Cluster slot and every script can touch them atomically:

``{P}:entry:<id>`` (hash)
    One entry. Fields (all but ``d0``, ``s0``, ``e`` and ``v`` only while they hold a value):

    - ``d0``, ``d1``, … the definition without id, spec and enabled (task, args, kwargs,
      options, flags, source) as compact JSON, defaults left out;
    - ``s0``, ``s1``, … the spec as canonical JSON (sorted keys): "the schedule changed" is a
      string compare inside Lua;
    - ``e`` enabled (``1``/``0``), ``v`` the version;
    - run state, each field absent while empty (``None`` or zero): ``n`` next run, ``ls`` last
      scheduled for, ``lr`` last run, ``ca`` created, ``ua`` updated (all epoch
      milliseconds); ``tc`` total runs, ``fc`` failures, ``cf`` consecutive failures;
      ``ld``/``dm``/``dx`` last/mean/max drift (seconds, the float's ``repr``: exact);
      ``le0``, ``le1``, … the last error;
    - run state that workers' reports write (only ``record_outcomes`` does; completions, edits
      and enabling leave it alone), each field absent while empty: ``lo`` last outcome, ``lf``
      its occurrence (ms), ``sc`` successes, ``tf`` task failures, ``tk`` task failures in a
      row, ``rm``/``rx`` mean/max runtime (seconds, ``repr``), ``te0``, ``te1``, … the last
      task error. A hash written before these existed reads as their defaults;
    - ``t0``, ``t1``, … the entry's tags joined by spaces (absent without tags): what the
      scripts read to move the entry between tag sets (readers take the tags from ``d*``);
    - ``g``, only on entries from ``beat_schedule``: ``version:digest`` of the item start-up
      sync found this definition equal to, or empty;
    - while claimed: ``ct`` claim token, ``co`` owner, ``cs`` the claimed occurrence (ms),
      ``cv`` the version the claim saw. An edit that changes the schedule meanwhile moves
      ``n`` away from ``cs`` (or changes ``s*``); only then does ``n`` survive completion.

    Long text (definition, spec, last error) is cut into chunks ``name0``, ``name1``, … of at
    most 64 bytes, so that every value stays within ``hash-max-listpack-value`` (64 by
    default) and Redis keeps the hash in its compact *listpack* encoding: a typical entry
    takes about 450-500 bytes in its hash, where a single long field would switch it to a
    hashtable at roughly twice that. Hashes with more than 128 fields (definitions over ~7 KB)
    are hashtables anyway, and Redis never converts a hash back, even when it shrinks.

``{P}:due`` (sorted set)
    Ids of enabled, unclaimed entries with a next run, scored by ``next_run_at`` in epoch ms.
``{P}:leases`` (sorted set)
    Ids of claimed entries, scored by lease deadline in epoch ms.
``{P}:leases:unscheduled`` (set)
    The ids of ``{P}:leases`` whose entry an edit made during the claim left disabled or
    without a next run (usually none): the scheduled entries are those of ``{P}:due`` and
    ``{P}:leases`` less these. An edit adds or removes an id; completion, recovery and
    deletion remove it.
``{P}:failing`` (sorted set)
    Ids of enabled entries whose newest sends or tasks failed, scored by the longer streak,
    ``max(cf, tk)``; a member only while that is at least 1.
``{P}:open`` (sorted set)
    Ids of enabled entries a worker has reported on (``lo``) whose newest occurrence (``ls``)
    has no final outcome yet (``lf`` absent or before ``ls``), scored by ``lr`` (epoch ms; not
    a member without it).

    With ``{P}:due``, these two are what ``health_suspects`` reads. Every script that writes
    ``e``, ``cf``, ``tk``, ``lo``, ``lf``, ``ls`` or ``lr`` puts the entry in or out of both
    from its hash, by one rule (``add_health_slots`` in ``lua/helpers.lua``); deleting the
    entry removes it.
    Entries written before these keys existed join them at their next completion, report or
    edit.
``{P}:rank:lr``, ``{P}:rank:tc``, ``{P}:rank:dm`` (sorted sets)
    The ids of the entries that have a last run (``lr``), a run (``tc``) or a mean drift
    (``dm``), each scored by that value negated (epoch ms, count, the drift's float): a
    ``ZRANGE`` by rank reads them latest, most or largest first, and equal scores by id (Redis
    orders them by their bytes), as :data:`~celery_stembeat.ordering.SORTS` does; ``ranked``
    then lists the entries without the value in id order from ``{P}:ids``. An entry without
    the value is in no set, so idle entries cost nothing here. Every script that writes
    ``lr``, ``tc`` or ``dm`` (a completion, a new entry with run state) moves the entry by one
    rule (``add_rank_slots`` in ``lua/helpers.lua``); deleting it removes it. Scores are
    doubles: last runs (at most 2.5e14 ms) and drifts are exact, counts only below 2**53 (a
    page that reaches a larger one is sorted by reading every entry).
``{P}:layout`` (string)
    The prefix's layout version; each holds what the ones before it do. Absent: written before
    the rank sets. ``1``: the rank sets hold every entry's values, set (where absent) by
    ``index_ranks`` after it has put the entries of a prefix written before them into them (a
    batch of ids per call; any number of processes may do it at once, as each batch reads the
    hashes it indexes in the same step); ``ranked`` runs it first while the key is absent.
    ``2``: and ``{P}:history`` counts every entry's runs, set by ``count_history`` once its
    scan has counted a prefix written before the count (see :mod:`.history_count`), which
    ``history_size`` runs first while the version is below 2 (after ``index_ranks`` where the
    key is absent). The first entry written to a prefix without entries sets ``2``.
``{P}:tag:<name>`` (set)
    The ids of the entries holding tag ``<name>``, kept by the upsert scripts (from the entry's
    ``t*`` chunks) and by delete: ``ids_tagged`` is one ``SINTER``. A set that empties goes,
    as Redis removes empty sets.
``{P}:run_minutes:<minute>`` (string)
    How many runs (published or failed) were recorded in one minute, ``<minute>``
    being its start in epoch minutes (see :func:`~celery_stembeat.stores.base.run_minute`):
    the completion and manual-run scripts increment it and set it to expire after
    :data:`~celery_stembeat.stores.base.RUN_MINUTES_KEPT`; ``activity`` sums the minutes it
    counts with one ``MGET``.
``{P}:ids`` (sorted set, every score 0)
    Every id, in byte order (= code point order, as ``list`` sorts): ``list(prefix=…)`` is a
    ``ZRANGEBYLEX``.
``{P}:config`` (sorted set, every score 0)
    The ids of the entries from ``beat_schedule`` (those with field ``g``), in byte order.
``{P}:runs:<id>`` (stream)
    Run history, one stream entry per run, trimmed exactly to ``history_limit`` (``XTRIM
    MAXLEN``) and by ``history_max_age`` (``XTRIM MINID``) in the script that appends. A run's
    stream id is its stamp (see :func:`~celery_stembeat.stores.base.history_stamps`): the run's
    time in ms, or the id before when that is later, so ``MINID`` cuts by age. Fields: ``s``
    scheduled for (ms), ``o`` outcome, ``p`` published at (ms), ``d`` drift, ``j`` jitter, ``e``
    error, ``w`` owner, ``t`` task id (absent = ``None``), ``m`` ``1`` on a manual run
    (``stembeat run``; absent on scheduled ones). Redis 7 allocates a stream's first node whole
    (``stream-node-max-bytes``, 4 KB), so each history costs about 4.7 KB until it holds ~35
    runs, then ~130 bytes per run. Stream entries cannot change: what workers report on a run
    goes to ``{P}:outcomes:<id>``.
``{P}:history`` (string)
    How many runs every ``{P}:runs:<id>`` holds together: the scripts that append, trim or
    delete runs move it by as many, so ``history_size`` is one script call. Set to 0 by the
    first entry of a prefix; on a prefix written before it, exact once ``{P}:layout`` is ``2``
    (until then it holds the runs of the ids up to ``{P}:history:scan``, and the scripts move it
    only for those ids).
``{P}:history:scan`` (string)
    Only while ``count_history`` counts a prefix written before ``{P}:history``: the last id it
    has counted (see :mod:`.history_count`); deleted once it has passed the last.
``{P}:outcomes:<id>`` (hash)
    What workers reported on the runs of ``{P}:runs:<id>``: the stream id of a run → compact
    JSON ``{"o": outcome, "a": started (ms), "f": finished (ms), "r": runtime, "e": error,
    "w": worker}`` (absent = ``None``), which ``history`` lays over the run's fields. A
    completion whose runs make the stream trim older ones deletes theirs here, so the hash
    never holds more than the stream; it goes with the entry.
``{P}:beats`` (hash)
    The beats that recorded themselves: owner → compact JSON of
    :meth:`~celery_stembeat.stores.base.BeatInfo.to_dict`.
``{P}:beats:seen`` (sorted set)
    The owners of ``{P}:beats``, scored by ``last_pass_at`` in epoch ms: recording a beat
    forgets those scored more than ``BEAT_RETENTION`` before it, in both keys.
``{P}:incidents`` (hash)
    The open incidents: key → compact JSON ``{"state": state, "since": ISO instant}``. A
    resolved incident (state ``ok``) has no field; the ``transition_incident`` script reads
    and moves one incident atomically.
``{P}:calendars`` (set)
    The names of the holiday calendars. A name may outlive its dates (removing the last date
    empties the calendar's set, which Redis then deletes): readers skip it, and adding a date
    again brings the calendar back.
``{P}:calendar:<name>`` (set)
    The dates of holiday calendar ``<name>``, as ISO text (``2026-12-25``). Adding writes
    both keys in one ``MULTI``; removing a calendar deletes its set and its name in one.
``{P}:pause`` (hash)
    The store-wide pause, absent while there is none: ``j`` the compact JSON of
    :meth:`~celery_stembeat.stores.base.Pause.to_dict`, ``u`` its ``until`` in epoch ms (absent
    while open-ended). The ``claim_due`` script reads it first and claims nothing while it
    holds.
``{P}:audit`` (hash)
    The audit log's head (see :mod:`celery_stembeat.audit`), absent while the log is empty:
    ``s`` the newest record's number, ``h`` its hash, ``f`` the oldest number kept (the floor).
``{P}:audit:log`` (stream)
    The change records, stream id ``<seq>-0`` each, fields ``h`` the record's hash, ``e`` its
    entry id (``""`` for the pause) and ``t`` its text (:meth:`~celery_stembeat.audit.Change.text`,
    canonical JSON). A script that changes an entry (upsert, delete, enable/disable, a manual
    run, the pause) appends its records and moves the head in the same step, once it has
    checked that the head, and the version and flag of each entry changed, are what the records
    were built from; it deletes the records below the new floor, keeping ``audit_limit``.
``{P}:audit:entry:<id>`` (sorted set)
    The numbers of the records of entry ``<id>`` (``{P}:audit:entry:`` for the pause's), each
    scored by itself: ``changes(entry_id)`` reads them a page at a time. Trimming the log removes
    the numbers it deletes; an emptied set goes, as Redis removes empty sets. The set outlives
    its entry, as the records do.
``{P}:changes`` (pub/sub channel)
    The id of every entry whose definition changed (upsert, enable/disable, delete), and
    :data:`~celery_stembeat.stores.base.ANY_CHANGE` (``""``) when the pause is set or cleared.
    A feed that had to subscribe again reports ``ANY_CHANGE`` too.
"""

from __future__ import annotations


def _glob_escape(text: str) -> str:
    return "".join("\\" + char if char in "*?[]^\\{}-" else char for char in text)


class Keys:
    """The key names of prefix ``prefix``."""

    def __init__(self, prefix: str) -> None:
        tag = "{" + prefix + "}"
        self.entry_prefix = f"{tag}:entry:"
        self.runs_prefix = f"{tag}:runs:"
        self.outcomes_prefix = f"{tag}:outcomes:"
        self.due = f"{tag}:due"
        self.leases = f"{tag}:leases"
        self.unscheduled = f"{tag}:leases:unscheduled"
        self.failing = f"{tag}:failing"
        self.open = f"{tag}:open"
        self.ids = f"{tag}:ids"
        #: The rank sets by the :data:`~celery_stembeat.ordering.RANKINGS` they serve, in the
        #: order of ``RANK_FIELDS`` in ``lua/helpers.lua``.
        self.ranks = {
            "last": f"{tag}:rank:lr",
            "runs": f"{tag}:rank:tc",
            "drift": f"{tag}:rank:dm",
        }
        self.rank_keys = list(self.ranks.values())
        self.layout = f"{tag}:layout"
        self.tag_prefix = f"{tag}:tag:"
        self.config = f"{tag}:config"
        self.beats = f"{tag}:beats"
        self.beats_seen = f"{tag}:beats:seen"
        self.incidents = f"{tag}:incidents"
        self.calendars = f"{tag}:calendars"
        self.calendar_prefix = f"{tag}:calendar:"
        self.run_minutes_prefix = f"{tag}:run_minutes:"
        self.history = f"{tag}:history"
        self.history_scan = f"{tag}:history:scan"
        self.pause = f"{tag}:pause"
        self.channel = f"{tag}:changes"
        self.audit = f"{tag}:audit"
        self.audit_log = f"{tag}:audit:log"
        self.audit_entry_prefix = f"{tag}:audit:entry:"
        #: The keys a script that records changes takes after its own (head, then log).
        self.audit_keys = [self.audit, self.audit_log]
        #: The keys a script that moves the count of runs held takes for it, in this order:
        #: the layout marker, the count, and the scan that counts a prefix written before it.
        self.history_keys = [self.layout, self.history, self.history_scan]
        #: The indexes an upsert maintains (KEYS of the upsert scripts after the entry).
        self.indexes = [
            self.due,
            self.ids,
            self.config,
            self.unscheduled,
            self.failing,
            self.open,
            *self.rank_keys,
            *self.history_keys,
        ]
        #: The indexes a completion maintains, and the count of runs held (the complete
        #: script's first KEYS).
        self.completion_indexes = [
            self.due,
            self.leases,
            self.unscheduled,
            self.failing,
            self.open,
            *self.rank_keys,
            *self.history_keys,
        ]
        #: A ``SCAN MATCH`` pattern for every key of the prefix.
        self.pattern = _glob_escape(tag + ":") + "*"

    def entry(self, entry_id: str) -> str:
        return self.entry_prefix + entry_id

    def tag(self, name: str) -> str:
        return self.tag_prefix + name

    def runs(self, entry_id: str) -> str:
        return self.runs_prefix + entry_id

    def outcomes(self, entry_id: str) -> str:
        return self.outcomes_prefix + entry_id

    def run_state(self, entry_id: str) -> list[str]:
        """The keys of an entry that completions and reports write: entry, runs, outcomes."""
        return [self.entry(entry_id), self.runs(entry_id), self.outcomes(entry_id)]

    def audit_entry(self, entry_id: str) -> str:
        return self.audit_entry_prefix + entry_id

    def run_minute(self, epoch_minute: int) -> str:
        """The run counter of the minute starting ``epoch_minute`` minutes after the epoch."""
        return f"{self.run_minutes_prefix}{epoch_minute}"
