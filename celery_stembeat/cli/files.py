"""Entry files: JSON or YAML, a list of entries or ``{"entries": [...]}``; read and written.

A file named ``*.yaml``/``*.yml`` is YAML and ``*.json`` is JSON; for ``-`` (stdin) and any
other name, text starting with ``[`` or ``{`` is JSON and anything else YAML.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

from celery_stembeat.cli.errors import BadInput
from celery_stembeat.entry import Entry, EntryError

STDIN = "-"
FORMATS = ("json", "yaml")


def _yaml() -> ModuleType:
    try:
        import yaml
    except ImportError:
        raise BadInput(
            "YAML needs PyYAML: pip install 'celery-stembeat[yaml]' (or use a JSON file)"
        ) from None
    return yaml


def _format_of(name: str, text: str) -> str:
    suffix = Path(name).suffix.lower()
    if suffix in (".yaml", ".yml"):
        return "yaml"
    if suffix == ".json" or text.lstrip().startswith(("[", "{")):
        return "json"
    return "yaml"


def _parse(name: str, text: str) -> Any:
    if _format_of(name, text) == "json":
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise BadInput(f"{name}: line {exc.lineno} column {exc.colno}: {exc.msg}") from None
    yaml = _yaml()
    try:
        return yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f"line {mark.line + 1} column {mark.column + 1}: " if mark else ""
        raise BadInput(f"{name}: {where}{exc.problem}") from None
    except yaml.YAMLError as exc:
        raise BadInput(f"{name}: {exc}") from None


def _items(name: str, document: Any) -> Sequence[Any]:
    if isinstance(document, Mapping) and set(document) == {"entries"}:
        document = document["entries"]
    if not isinstance(document, list):
        raise BadInput(f'{name}: expected a list of entries or {{"entries": [...]}}')
    return document


def _entry(where: str, item: Any) -> Entry:
    try:
        entry = Entry.from_dict(item)
    except EntryError as exc:
        raise BadInput(f"{where}: {exc}") from None
    extra = sorted(set(item) - set(entry.definition()))
    if extra:
        raise BadInput(
            f"{where}: entry {entry.id!r}: {extra[0]!r} is not part of a definition "
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
    for name in names:
        label = "<stdin>" if name == STDIN else name
        for number, item in enumerate(_items(label, _parse(label, _read_text(name))), 1):
            where = f"{label} item {number}"
            entry = _entry(where, item)
            if entry.id in seen:
                raise BadInput(
                    f"{where}: entry {entry.id!r} is already defined by {seen[entry.id]}"
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


def dump_entries(entries: Sequence[Entry], fmt: str) -> str:
    """What ``export`` prints: the definitions, in a form :func:`read_entries` reads back.

    Field order is the definition's; the keys inside ``args``, ``kwargs`` and ``options``
    are sorted, so the same definitions give the same bytes from every store.
    """
    definitions = []
    for entry in entries:
        definition = entry.definition()
        for name in ("args", "kwargs", "options"):
            definition[name] = _canonical(definition[name])
        definitions.append(definition)
    document = {"entries": definitions}
    if fmt == "yaml":
        text: str = _yaml().safe_dump(
            document, sort_keys=False, allow_unicode=True, default_flow_style=False
        )
        return text
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"
