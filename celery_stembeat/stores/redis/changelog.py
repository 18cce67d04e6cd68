"""The audit log on Redis, Python's side: the change records a write adds, in the form its
script takes them (``lua/audit.lua``), what they are built from, and the records read back.
The keys are described in :mod:`.keys`.

A writing script stores its records only while the log's head, and the version and enabled
flag of each entry they are about, are still as read: a definition changes only with its
version (or, when a completion disables the entry, its flag), so while those hold, the records
describe the change the script makes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, NamedTuple

from celery_stembeat import audit
from celery_stembeat.audit import GENESIS, AuditHead, Change, ChangeNote, EntryChange
from celery_stembeat.entry import Entry
from celery_stembeat.stores.base import StoreError
from celery_stembeat.stores.redis.codec import definition_entry


def _text(value: Any) -> str | None:
    if value is None or value is False:
        return None
    return value.decode() if isinstance(value, bytes) else str(value)


def decode_head(values: Sequence[Any]) -> AuditHead:
    """The head from its fields ``s``, ``h``, ``f`` as ``HMGET`` or a script reads them
    (absent: ``None`` or ``false``); an absent head is an empty log's."""
    seq, digest, floor = (_text(value) for value in values)
    return AuditHead(int(seq or 0), digest or GENESIS, int(floor or 1))


class Stored(NamedTuple):
    """An entry as the store holds it, as far as change records go: its id, version and
    enabled flag (what a writing script checks), the texts of its definition and spec, and,
    after a write of this call, the entry written."""

    id: str
    version: str
    enabled: str
    definition: str
    spec: str
    written: Entry | None = None

    @classmethod
    def after(cls, entry: Entry, fields: Mapping[str, Any], version: int) -> Stored:
        """``entry`` once written as ``fields`` (:func:`~.codec.entry_fields`) at ``version``."""
        return cls(entry.id, str(version), fields["enabled"], fields["d"], fields["spec"], entry)

    def entry(self) -> Entry:
        """The entry whose definition this is."""
        if self.written is not None:
            return self.written
        return definition_entry(self.id, self.enabled, self.definition, self.spec)


def guard(stored: Stored | None) -> list[str]:
    """The version and enabled flag a writing script checks (``""``, ``""``: no entry)."""
    return ["", ""] if stored is None else [stored.version, stored.enabled]


def entry_change(
    entry: Entry, fields: Mapping[str, Any], stored: Stored | None
) -> EntryChange | None:
    """What writing ``entry`` (encoded as ``fields``) over ``stored`` changes, or ``None``: the
    stored texts are compared first, so an unchanged entry is not read back."""
    if stored is not None and (stored.enabled, stored.definition, stored.spec) == (
        fields["enabled"],
        fields["d"],
        fields["spec"],
    ):
        return None
    return audit.entry_change(entry.id, None if stored is None else stored.entry(), entry)


def record_args(
    head: AuditHead,
    note: ChangeNote,
    items: Iterable[EntryChange | None],
    limit: int,
    index_prefix: str,
) -> tuple[list[str], AuditHead]:
    """The arguments a writing script takes to append the records of ``items`` (``None``: no
    change) after ``head``, keeping ``limit``, and the head after them."""
    changes, after = audit.chained(head, note, (item for item in items if item is not None))
    after = audit.trimmed(after, limit)
    args = [str(head.seq), head.hash, str(after.floor), index_prefix]
    for change in changes:
        args += (change.hash, change.entry_id, change.text())
    return args, after


def decode_change(fields: Mapping[bytes, bytes]) -> Change:
    """A record as ``{P}:audit:log`` keeps it (fields ``h``, ``e``, ``t``)."""
    try:
        return Change.from_text(fields[b"t"].decode(), fields[b"h"].decode())
    except (KeyError, ValueError) as exc:
        raise StoreError(f"audit log: a record cannot be read ({exc})") from None
