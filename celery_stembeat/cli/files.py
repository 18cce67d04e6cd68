"""Entry files: JSON or YAML, a list of entries or ``{"entries": [...]}``; read and written.

A file named ``*.yaml``/``*.yml`` is YAML and ``*.json`` is JSON; for ``-`` (stdin) and any
other name, text starting with ``[`` or ``{`` is JSON and anything else YAML.
"""

from __future__ import annotations

import functools
import hashlib
import json
import sys
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from celery_stembeat import __version__
from celery_stembeat.cli.errors import BadInput
from celery_stembeat.cli.jsonstream import json_entries
from celery_stembeat.entry import Entry, EntryError
from celery_stembeat.extras import MissingExtra, require
from celery_stembeat.limits import MAX_DIGITS, shorten
from celery_stembeat.specs import Spec

STDIN = "-"
FORMATS = ("json", "yaml")


class _TooLong(ValueError):
    """An integer in a file has more than :data:`MAX_DIGITS` digits."""


def _integer(text: str) -> int:
    # int() of thousands of digits is slow, and refused past 4,300.
    if len(text.lstrip("-+")) > MAX_DIGITS:
        raise _TooLong(f"an integer of {len(text)} digits (at most {MAX_DIGITS})")
    return int(text)


def _yaml() -> ModuleType:
    try:
        return require("yaml")
    except MissingExtra as exc:
        raise BadInput(f"{exc} (or use a JSON file)") from None


@functools.cache
def _yaml_loader() -> Any:
    """PyYAML's safe loader without aliases (a few nested ones expand to gigabytes)."""
    yaml = _yaml()

    class Loader(yaml.SafeLoader):  # type: ignore[name-defined,misc]
        def compose_node(self, parent: Any, index: Any) -> Any:
            if self.check_event(yaml.AliasEvent):
                raise yaml.composer.ComposerError(
                    None, None, "aliases (*name) are not accepted", self.peek_event().start_mark
                )
            return super().compose_node(parent, index)

        def construct_yaml_int(self, node: Any) -> int:
            digits = sum(char.isdigit() for char in str(node.value))
            if digits > MAX_DIGITS:
                raise _TooLong(f"an integer of {digits} digits (at most {MAX_DIGITS})")
            return int(super().construct_yaml_int(node))

    Loader.add_constructor("tag:yaml.org,2002:int", Loader.construct_yaml_int)
    return Loader


def _format_of(name: str, text: str) -> str:
    suffix = Path(name).suffix.lower()
    if suffix in (".yaml", ".yml"):
        return "yaml"
    if suffix == ".json" or text.lstrip().startswith(("[", "{")):
        return "json"
    return "yaml"


def _parse(name: str, text: str) -> Any:
    try:
        return _document(name, text)
    except RecursionError:
        raise BadInput(f"{name}: nested too deeply") from None
    except _TooLong as exc:
        raise BadInput(f"{name}: {exc}") from None


def parse_json(name: str, text: str) -> Any:
    """``text`` read as a file's JSON is (integers of at most :data:`MAX_DIGITS` digits); a
    problem raises :class:`BadInput` naming ``name`` and where."""
    try:
        return json.loads(text, parse_int=_integer)
    except json.JSONDecodeError as exc:
        raise BadInput(f"{name}: line {exc.lineno} column {exc.colno}: {exc.msg}") from None
    except RecursionError:
        raise BadInput(f"{name}: nested too deeply") from None
    except _TooLong as exc:
        raise BadInput(f"{name}: {exc}") from None


def _document(name: str, text: str) -> Any:
    if _format_of(name, text) == "json":
        return parse_json(name, text)
    yaml = _yaml()
    try:
        return yaml.load(text, Loader=_yaml_loader())
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f"line {mark.line + 1} column {mark.column + 1}: " if mark else ""
        raise BadInput(f"{name}: {where}{exc.problem}") from None
    except yaml.YAMLError as exc:
        raise BadInput(f"{name}: {shorten(str(exc))}") from None


def _items(name: str, document: Any) -> Sequence[Any]:
    if isinstance(document, Mapping) and set(document) == {"entries"}:
        document = document["entries"]
    if not isinstance(document, list):
        raise BadInput(f'{name}: expected a list of entries or {{"entries": [...]}}')
    return document


def _spec_key(item: Any) -> str | None:
    """What identifies an item's spec among the specs already read: its text, or its JSON
    with sorted keys; ``None`` where it cannot be told (read afresh)."""
    if not isinstance(item, Mapping):
        return None
    spec = item.get("spec")
    if isinstance(spec, str):
        return "\0" + spec
    if not isinstance(spec, Mapping):
        return None
    try:
        return json.dumps(spec, sort_keys=True)
    except (TypeError, ValueError, RecursionError):
        return None


class BadItem(BadInput):
    """An item is not a valid entry; ``field`` names the field at fault, where one is."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


def _entry(where: str, item: Any, specs: dict[str, Spec]) -> Entry:
    """The entry of ``item``; ``specs`` (spec key → spec) spares parsing a spec seen before:
    files repeat a few specs many times."""
    key = _spec_key(item)
    known = specs.get(key) if key is not None else None
    try:
        entry = Entry.from_dict(item if known is None else {**item, "spec": known})
    except EntryError as exc:
        raise BadItem(f"{where}: {exc}", exc.field) from None
    if key is not None and known is None:
        specs[key] = entry.spec
    extra = sorted(set(item) - set(entry.definition()), key=str)
    if extra:
        raise BadItem(
            f"{where}: entry {shorten(entry.id)}: {shorten(extra[0])} is not part of a definition "
            "(files hold definitions only; the store keeps source, version and state)",
            str(extra[0]),
        )
    return entry


def _read_text(name: str) -> str:
    """The text of ``name``, or of stdin for ``-``."""
    if name == STDIN:
        return sys.stdin.read()
    try:
        return Path(name).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise BadInput(f"{name}: cannot read: {exc}") from None


@dataclass(frozen=True)
class Item:
    """One entry of a file as read, before it is checked."""

    #: ``FILE item N``, for messages.
    where: str
    data: Any

    @property
    def entry_id(self) -> str | None:
        """The id the item gives, when it gives one as text."""
        data = self.data
        entry_id = data.get("id") if isinstance(data, Mapping) else None
        return entry_id if isinstance(entry_id, str) else None


def text_items(name: str, text: str) -> list[Item]:
    """Every item of one file's ``text``, parsed but not checked (``name`` tells JSON from YAML
    and names the file in messages); a malformed file raises :class:`BadInput`."""
    return [
        Item(f"{name} item {number}", data)
        for number, data in enumerate(_items(name, _parse(name, text)), 1)
    ]


def read_items(names: Sequence[str]) -> list[Item]:
    """Every item of every file, parsed but not checked; a malformed file raises
    :class:`BadInput`."""
    found: list[Item] = []
    for name in names:
        found.extend(text_items("<stdin>" if name == STDIN else name, _read_text(name)))
    return found


def item_digest(item: Item) -> str | None:
    """A digest of ``item`` as written (its JSON, keys sorted) and of this release, which reads
    it into a definition: a stored entry carrying it was written from this very item, so the
    item needs no checking again. ``None`` for an item JSON cannot hold."""
    try:
        text = json.dumps([__version__, item.data], sort_keys=True)
    except (TypeError, ValueError, RecursionError):
        return None
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()


def checked_entries(items: Sequence[Item], known: Collection[str] = ()) -> list[Entry]:
    """The entries of ``items``, validated, in order; the first problem raises
    :class:`BadInput`. An id may appear once across all the items.

    Items whose ids are in ``known`` (the store holds them exactly as written: see
    :func:`item_digest`) are not checked again and left out, but still count as ids seen.
    """
    found: list[Entry] = []
    seen: dict[str, str] = {}
    specs: dict[str, Spec] = {}
    for item in items:
        entry_id = item.entry_id
        if entry_id is None or entry_id not in known:
            entry = _entry(item.where, item.data, specs)
            entry_id = entry.id
            found.append(entry)
        if entry_id in seen:
            raise BadInput(
                f"{item.where}: entry {shorten(entry_id)} is already defined by {seen[entry_id]}"
            )
        seen[entry_id] = item.where
    return found


def _canonical(value: Any) -> Any:
    """Mappings with sorted keys, all the way down (stores need not keep key order)."""
    if isinstance(value, Mapping):
        return {key: _canonical(value[key]) for key in sorted(value)}
    if isinstance(value, (list, tuple)):
        return [_canonical(item) for item in value]
    return value


def _definition(entry: Entry) -> dict[str, Any]:
    definition = entry.definition()
    for name in ("args", "kwargs", "options"):
        definition[name] = _canonical(definition[name])
    return definition


def write_entries(entries: Iterable[Entry], fmt: str, write: Callable[[str], object]) -> None:
    """Write what ``export`` prints, an entry at a time: the definitions, in a form
    :func:`read_items` and :func:`checked_entries` read back.

    Field order is the definition's; the keys inside ``args``, ``kwargs`` and ``options``
    are sorted, so the same definitions give the same bytes from every store.
    """
    definitions = (_definition(entry) for entry in entries)
    if fmt != "yaml":
        json_entries(definitions, write)
        return
    yaml = _yaml()
    write("entries:")
    empty = True
    for definition in definitions:
        if empty:
            write("\n")
            empty = False
        write(
            yaml.safe_dump(
                [definition], sort_keys=False, allow_unicode=True, default_flow_style=False
            )
        )
    if empty:
        write(" []\n")
