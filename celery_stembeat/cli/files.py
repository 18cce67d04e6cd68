"""Entry files: JSON or YAML, a list of entries or ``{"entries": [...]}``; read and written.

A file named ``*.yaml``/``*.yml`` is YAML and ``*.json`` is JSON; for ``-`` (stdin) and any
other name, text starting with ``[`` or ``{`` is JSON and anything else YAML.
"""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

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


def _document(name: str, text: str) -> Any:
    if _format_of(name, text) == "json":
        try:
            return json.loads(text, parse_int=_integer)
        except json.JSONDecodeError as exc:
            raise BadInput(f"{name}: line {exc.lineno} column {exc.colno}: {exc.msg}") from None
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


def _entry(where: str, item: Any, specs: dict[str, Spec]) -> Entry:
    """The entry of ``item``; ``specs`` (spec key → spec) spares parsing a spec seen before:
    files repeat a few specs many times."""
    key = _spec_key(item)
    known = specs.get(key) if key is not None else None
    try:
        entry = Entry.from_dict(item if known is None else {**item, "spec": known})
    except EntryError as exc:
        raise BadInput(f"{where}: {exc}") from None
    if key is not None and known is None:
        specs[key] = entry.spec
    extra = sorted(set(item) - set(entry.definition()), key=str)
    if extra:
        raise BadInput(
            f"{where}: entry {shorten(entry.id)}: {shorten(extra[0])} is not part of a definition "
            "(files hold definitions only; the store keeps source, version and state)"
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


def read_entries(names: Sequence[str]) -> list[Entry]:
    """Every entry of every file, validated; the first problem raises :class:`BadInput`.

    An id may appear once across all the files.
    """
    found: list[Entry] = []
    seen: dict[str, str] = {}
    specs: dict[str, Spec] = {}
    for name in names:
        label = "<stdin>" if name == STDIN else name
        for number, item in enumerate(_items(label, _parse(label, _read_text(name))), 1):
            where = f"{label} item {number}"
            entry = _entry(where, item, specs)
            if entry.id in seen:
                raise BadInput(
                    f"{where}: entry {shorten(entry.id)} is already defined by {seen[entry.id]}"
                )
            seen[entry.id] = where
            found.append(entry)
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
    :func:`read_entries` reads back.

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
