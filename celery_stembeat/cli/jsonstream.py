"""JSON documents written an item at a time, so a verb's memory stays flat however many
entries it prints: an array holds one item per line, so that ``grep`` finds an entry's line,
a diff shows one line per changed entry, and the C encoder writes each line (the indenting
encoder is pure Python, several times slower)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

#: Indentation of each nesting level.
INDENT = "  "

_encode = json.JSONEncoder(ensure_ascii=False).encode


def json_array(items: Iterable[Any], write: Callable[[str], object], depth: int = 0) -> None:
    """Write the JSON array of ``items``, one item per line, nested ``depth`` levels deep
    (without a final newline)."""
    outer = INDENT * depth
    opened = False
    for item in items:
        write(f",\n{outer}{INDENT}" if opened else f"[\n{outer}{INDENT}")
        opened = True
        write(_encode(item))
    write(f"\n{outer}]" if opened else "[]")


def json_list(items: Iterable[Any], write: Callable[[str], object]) -> None:
    """A JSON array document of ``items``, with its final newline."""
    json_array(items, write)
    write("\n")


def json_entries(definitions: Iterable[Any], write: Callable[[str], object]) -> None:
    """``{"entries": [...]}``, an entry per line, then a newline: the file ``export``
    prints."""
    write('{\n  "entries": ')
    json_array(definitions, write, depth=1)
    write("\n}\n")
