"""Tables for people and for pipes: fitted to the terminal, wide, or tab-separated.

On a terminal a table fits the width: the columns that may be shortened are cut with ``…``
down to a floor, then the lowest-ranked columns are left out; no cell or heading ever wraps.
``-o wide`` shows every column in full. Piped (or ``-o tsv``) each row is one line of
tab-separated values, with a heading line first. Rows are read lazily: the widths come from
the first :data:`SAMPLE` rows, so output starts before the last row is read.
"""

from __future__ import annotations

import sys
import unicodedata
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import chain, islice
from typing import Literal

import click
from rich.cells import cell_len
from rich.console import Console, Group, RenderableType
from rich.text import Text

#: Spaces between two columns.
GAP = 3
#: Rows read before the widths are fixed; later rows are cut to those widths on a terminal.
SAMPLE = 100
#: The narrowest a shortened column gets, unless its heading is wider.
FLOOR = 16

Layout = Literal["wide", "tsv"]
#: ``-o``/``--output`` choices; without one the layout follows stdout (terminal or not).
LAYOUTS: tuple[Layout, ...] = ("wide", "tsv")


@dataclass(frozen=True)
class Column:
    """A column: its name, its rank (1 is left out last), and how it may be shortened.

    ``cut`` is ``"end"`` (keep the start: messages, schedules), ``"middle"`` (keep both ends:
    ids and task names, which often share a prefix) or ``None`` (never shortened).
    """

    name: str
    rank: int
    cut: Literal["end", "middle"] | None = None
    floor: int = FLOOR

    @property
    def heading(self) -> str:
        """The name in upper case."""
        return self.name.upper()


@dataclass(frozen=True)
class Cell:
    """A value shown one way on a terminal and another in tab-separated output."""

    shown: str
    plain: str


Value = str | Cell
Row = Sequence[Value]


@dataclass(frozen=True)
class Table:
    """Columns in display order, rows of values (read once), and the lines around them.

    ``title`` is printed above the table, ``empty`` instead of it when there are no rows;
    in tab-separated output both go to stderr, so stdout holds only the heading and the rows.
    """

    columns: Sequence[Column]
    rows: Iterable[Row]
    title: str | None = None
    empty: str | None = None


@dataclass(frozen=True)
class Output:
    """How a verb prints tables: the ``-o`` layout (else by stdout), and ``--no-headers``."""

    layout: Layout | None = None
    headers: bool = True


_ESCAPES = {"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"}
_BREAKING = {"Cc", "Zl", "Zp"}


def escape(text: str) -> str:
    """``text`` on one line: backslash, tab, newline and other control characters escaped."""
    if text.isprintable() and "\\" not in text:
        return text
    return "".join(_escape_character(character) for character in text)


def _escape_character(character: str) -> str:
    if character in _ESCAPES:
        return _ESCAPES[character]
    if unicodedata.category(character) not in _BREAKING:
        return character
    code = ord(character)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def _prefix(text: str, width: int) -> str:
    """The longest start of ``text`` at most ``width`` cells wide."""
    used = 0
    for index, character in enumerate(text):
        used += cell_len(character)
        if used > width:
            return text[:index]
    return text


def _suffix(text: str, width: int) -> str:
    """The longest end of ``text`` at most ``width`` cells wide."""
    return _prefix(text[::-1], width)[::-1]


def shorten(text: str, width: int, cut: Literal["end", "middle"] | None) -> str:
    """``text`` cut to ``width`` cells with ``…`` (at the end, or in the middle)."""
    if cell_len(text) <= width:
        return text
    room = max(width - 1, 0)
    if cut == "middle":
        head = _prefix(text, (room + 1) // 2)
        return head + "…" + _suffix(text, room - cell_len(head))
    return _prefix(text, room) + "…"


def measure(columns: Sequence[Column], rows: Sequence[Sequence[str]]) -> list[int]:
    """Each column's natural width: its widest cell or its heading."""
    return [
        max([cell_len(column.heading), *(cell_len(row[index]) for row in rows)])
        for index, column in enumerate(columns)
    ]


def fit(columns: Sequence[Column], natural: Sequence[int], width: int) -> list[int | None]:
    """Each column's width on a terminal ``width`` cells wide; ``None`` for a left-out column.

    The columns kept are those of the best ranks whose narrowest widths fit together; then
    the widest shortenable column (of equals, the lowest-ranked) gives up a cell at a time
    until the row fits, so the shortened columns end up about as wide as each other.
    """
    least = [
        min(size, max(column.floor, cell_len(column.heading))) if column.cut else size
        for size, column in zip(natural, columns, strict=True)
    ]
    kept = sorted(range(len(columns)), key=lambda index: columns[index].rank)

    def needed(sizes: Sequence[int]) -> int:
        return sum(sizes[index] for index in kept) + GAP * (len(kept) - 1)

    while len(kept) > 1 and needed(least) > width:
        kept.pop()
    sizes = list(natural)
    for _ in range(needed(sizes) - width):
        shrinkable = [index for index in reversed(kept) if sizes[index] > least[index]]
        if not shrinkable:
            break
        sizes[max(shrinkable, key=lambda index: sizes[index])] -= 1
    return [sizes[index] if index in kept else None for index in range(len(columns))]


def _texts(row: Row, plain: bool) -> list[str]:
    return [
        escape(value if isinstance(value, str) else value.plain if plain else value.shown)
        for value in row
    ]


def _line(texts: Sequence[str], columns: Sequence[Column], widths: Sequence[int | None]) -> str:
    """One fitted line: each kept cell shortened to its width and padded; no trailing space."""
    cells = []
    for text, column, width in zip(texts, columns, widths, strict=True):
        if width is not None:
            cut = shorten(text, width, column.cut or "end")
            cells.append(cut + " " * (width - cell_len(cut)))
    return (" " * GAP).join(cells).rstrip()


def _wide(texts: Sequence[str], widths: Sequence[int]) -> str:
    """One wide line: every cell whole and padded to its width (a longer one pushes on)."""
    pairs = zip(texts, widths, strict=True)
    cells = (text + " " * (width - cell_len(text)) for text, width in pairs)
    return (" " * GAP).join(cells).rstrip()


def is_tsv(output: Output) -> bool:
    """Whether tables come out tab-separated: ``-o tsv``, or no ``-o`` and stdout piped."""
    return output.layout == "tsv" or (output.layout is None and not sys.stdout.isatty())


def _row_text(line: str, style: str = "") -> Text:
    """A table line: never wrapped (printed whole; cropped only in a live display)."""
    return Text(line, style=style, no_wrap=True, overflow="crop")


def lines(table: Table, console: Console, output: Output) -> Iterator[Text]:
    """The table for people: the title, the heading line and one line per row."""
    rows = iter(table.rows)
    sample = [_texts(row, plain=False) for row in islice(rows, SAMPLE)]
    if table.title and output.headers:
        yield Text(table.title)
    if not sample:
        if table.empty:
            yield Text(table.empty)
        return
    columns = table.columns
    natural = measure(columns, sample)
    widths = None if output.layout == "wide" else fit(columns, natural, console.width)

    def line(texts: Sequence[str]) -> str:
        return _wide(texts, natural) if widths is None else _line(texts, columns, widths)

    if output.headers:
        yield _row_text(line([column.heading for column in columns]), style="bold")
    for texts in chain(sample, (_texts(row, plain=False) for row in rows)):
        yield _row_text(line(texts))


def renderable(table: Table, console: Console, output: Output) -> RenderableType:
    """The table for people as one renderable (for a live display)."""
    return Group(*lines(table, console, output))


def tsv(table: Table, output: Output) -> None:
    """Print the heading line and one tab-separated line per row; title and notes to stderr."""
    rows = iter(table.rows)
    first = next(rows, None)
    if output.headers:
        notes = (table.title, table.empty if first is None else None)
        for note in filter(None, notes):
            click.echo(note, err=True)
        sys.stdout.write("\t".join(column.heading for column in table.columns) + "\n")
    if first is not None:
        for row in chain([first], rows):
            sys.stdout.write("\t".join(_texts(row, plain=True)) + "\n")
    sys.stdout.flush()


def emit(table: Table, console: Console, output: Output) -> None:
    """Print ``table`` as ``output`` and stdout call for, row by row."""
    if is_tsv(output):
        tsv(table, output)
        return
    batch: list[Text] = []
    for line in lines(table, console, output):
        if not line.no_wrap:  # a title or note: prose, wrapped to the width
            console.print(line)
            continue
        batch.append(line)
        if len(batch) == SAMPLE:
            _print_rows(console, batch)
    _print_rows(console, batch)


def _print_rows(console: Console, batch: list[Text]) -> None:
    """Print table lines whole, many at a time (one print per line costs 7 times as much)."""
    if batch:
        console.print(Text("\n").join(batch), soft_wrap=True)
        batch.clear()
