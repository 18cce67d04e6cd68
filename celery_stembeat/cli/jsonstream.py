"""JSON and YAML documents written an item at a time, so a verb's memory stays flat however
many entries it prints; the bytes are those of dumping the whole document at once."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

#: Indentation of every JSON document the CLI prints.
INDENT = 2


def _json(value: Any) -> str:
    return json.dumps(value, indent=INDENT, ensure_ascii=False)


def json_array(items: Iterable[Any], write: Callable[[str], object], depth: int = 0) -> None:
    """Write the JSON array of ``items`` as ``json.dumps(list(items), indent=2)`` would, nested
    ``depth`` levels deep (without a final newline)."""
    outer = " " * (INDENT * depth)
    inner = outer + " " * INDENT
    opened = False
    for item in items:
        write(",\n" if opened else "[\n")
        opened = True
        write(inner + _json(item).replace("\n", "\n" + inner))
    write(f"\n{outer}]" if opened else "[]")


def json_list(items: Iterable[Any], write: Callable[[str], object]) -> None:
    """A JSON array document of ``items``, with its final newline."""
    json_array(items, write)
    write("\n")


def json_entries(definitions: Iterable[Any], write: Callable[[str], object]) -> None:
    """``{"entries": [...]}`` as ``json.dumps(document, indent=2)`` would write it, then a
    newline: the file ``export`` prints."""
    write('{\n  "entries": ')
    json_array(definitions, write, depth=1)
    write("\n}\n")
