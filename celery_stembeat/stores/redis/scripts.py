"""The Lua scripts behind :class:`~celery_stembeat.stores.redis.RedisStore`, from ``lua/``.

Each script is one atomic step of the store contract, in its own ``lua/<name>.lua`` whose
opening comment gives its ``KEYS``, ``ARGV`` and reply. Keys a script knows in advance come in
``KEYS``; entry hashes found through an index (``claim_due``, ``recover``) or named in a JSON
argument (``upsert_many``) are built from the key prefixes in ``ARGV``. Every key shares one
hash tag, so all of them live in one cluster slot (see :mod:`.keys`), and every call declares
at least one of them in ``KEYS``: a Redis Cluster client sends a call to the node of its first
key, a call without keys to any node. A script that knows no key in advance (``read``,
``definitions``, ``fingerprints_of``, ``outcome_runs``) takes its key prefixes as ``KEYS``
instead: names of the prefix's slot that no key has, only the start of the keys it builds.

Four files are not scripts but parts of them: ``layout.lua`` (the entry hash layout, mirrored
in :mod:`.codec`), ``helpers.lua`` (functions over entry hashes), ``write_entry.lua`` (one
entry's upsert) and ``audit.lua`` (appending change records to the audit log). A script that
needs them is sent with them in front, in that order (:data:`PARTS`); nothing in the text is
substituted.

Entries travel to Python as one JSON text per call (``cjson.encode``), a row per entry with the
fields at fixed positions and the chunked values (``d*``, ``s*``, ``le*``) joined again: one
bulk reply is much cheaper for redis-py to read than dozens. Every value in these JSON texts,
both ways, is a string (or ``false`` for absent), so no number passes through Lua's doubles.
"""

from __future__ import annotations

from importlib import resources

import redis
from redis.commands.core import Script

#: The files of ``lua/`` that scripts are sent with, in front of their own text.
ENTRY_PARTS = ("layout", "helpers")
UPSERT_PARTS = (*ENTRY_PARTS, "write_entry", "audit")
#: The parts of a script that changes entries and records it.
RECORDING_PARTS = (*ENTRY_PARTS, "audit")
#: Every script (by file name without ``.lua``) and the parts sent in front of it.
PARTS: dict[str, tuple[str, ...]] = {
    "read": ENTRY_PARTS,
    "soonest": ENTRY_PARTS,
    "ranked": ENTRY_PARTS,
    "unranked": ENTRY_PARTS,
    "index_ranks": ENTRY_PARTS,
    "count_history": ENTRY_PARTS,
    "definitions": ENTRY_PARTS,
    "claim_due": ENTRY_PARTS,
    "complete": ENTRY_PARTS,
    "record_manual_run": RECORDING_PARTS,
    "upsert": UPSERT_PARTS,
    "upsert_many": UPSERT_PARTS,
    "fingerprints": ENTRY_PARTS,
    "fingerprints_of": ENTRY_PARTS,
    "set_digests": (),
    "delete": RECORDING_PARTS,
    "set_enabled": RECORDING_PARTS,
    "renew": (),
    "recover": (),
    "history": (),
    "outcome_runs": ENTRY_PARTS,
    "record_outcomes": ENTRY_PARTS,
    "record_beat": (),
    "transition_incident": (),
    "activity": (),
    "set_pause": ("audit",),
}


def _load() -> dict[str, str]:
    """Every ``lua/*.lua`` file's text, by name without ``.lua``."""
    folder = resources.files("celery_stembeat.stores.redis") / "lua"
    return {
        item.name.removesuffix(".lua"): item.read_text(encoding="utf-8")
        for item in folder.iterdir()
        if item.name.endswith(".lua")
    }


_FILES = _load()
#: Each script's full text: its parts, then its own file.
SOURCES: dict[str, str] = {
    name: "".join(_FILES[part] for part in (*parts, name)) for name, parts in PARTS.items()
}


def register(client: redis.Redis) -> dict[str, Script]:
    """Every script registered with ``client`` (loaded on first use, again after a flush)."""
    return {name: client.register_script(source) for name, source in SOURCES.items()}
