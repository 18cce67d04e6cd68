"""Input bounds: what an entry may hold, whichever way it comes in (file, import, API, config).

Every bound is listed in ``docs/stores.md`` ("Input bounds"). An error quotes a bad value
through :func:`shorten`, so that a message stays one short line however large the value.
"""

from __future__ import annotations

import json
import math
import re
import reprlib
from typing import Any

#: Characters of an entry id, and of a task name.
MAX_ID_LENGTH = 200
MAX_TASK_LENGTH = 200
#: Characters of a description.
MAX_DESCRIPTION_LENGTH = 1000
#: Characters of a text message option (``queue``, ``exchange``, ``routing_key``).
MAX_OPTION_TEXT_LENGTH = 200
#: Bytes of ``args``, of ``kwargs`` and of ``options``, each as UTF-8 JSON.
MAX_VALUE_BYTES = 64 * 1024
#: Nesting of lists and objects in ``args``, ``kwargs`` and ``options`` (the value itself is 1).
MAX_DEPTH = 32
#: Digits of an integer anywhere in args, kwargs and options.
MAX_DIGITS = 40
MIN_INT, MAX_INT = -(10**MAX_DIGITS - 1), 10**MAX_DIGITS - 1
#: Run counts and versions: what a signed 64-bit database column holds.
MAX_COUNT = 2**63 - 1
#: Tags of one entry, and characters of one tag.
MAX_TAGS = 32
MAX_TAG_LENGTH = 64
#: The largest ``jitter`` (seconds): one day.
MAX_JITTER = 86_400.0
#: The longest an entry with ``overlap: skip`` waits for its previous run (30 days).
MAX_OVERLAP_TIMEOUT = 2_592_000.0
#: The longest time a message option may give in seconds (``expires``, ``countdown``, time
#: limits, publish timeouts and retry intervals): 366 days.
MAX_OPTION_SECONDS = 366 * 86_400.0
#: Rules in a spec's ``except`` or ``only`` list, and dates in one rule.
MAX_WINDOW_ITEMS = 1000
#: Characters of a bad value that an error message quotes.
MAX_QUOTE = 80
#: Characters of an exception's text a run record keeps.
MAX_ERROR_LENGTH = 1000


def error_text(error: BaseException) -> str:
    """``Type: message`` of ``error``, cut to :data:`MAX_ERROR_LENGTH` characters."""
    return f"{type(error).__name__}: {error}"[:MAX_ERROR_LENGTH]


class LimitError(ValueError):
    """A value is outside its bound; the message says which bound, naming the field."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class _ShortRepr(reprlib.Repr):
    def __init__(self) -> None:
        super().__init__()
        self.maxlevel = 3
        self.maxstring = MAX_QUOTE
        self.maxother = MAX_QUOTE
        self.maxlong = 40

    def repr_int(self, x: int, level: int) -> str:
        # repr() itself refuses integers of more than 4,300 digits.
        if x.bit_length() > 128:
            return f"<integer of {x.bit_length()} bits>"
        return super().repr_int(x, level)


_short_repr = _ShortRepr().repr


def shorten(value: object) -> str:
    """``repr(value)`` on one line of at most :data:`MAX_QUOTE` characters, for messages."""
    try:
        text = _short_repr(value)
    except Exception:
        text = f"<{type(value).__name__}>"
    text = text.replace("\n", "\\n").replace("\r", "\\r")
    if len(text) > MAX_QUOTE:
        text = text[: MAX_QUOTE - 3] + "..."
    return text


def check_text(value: str, name: str, limit: int) -> None:
    """``value`` has at most ``limit`` characters and is valid UTF-8 (no lone surrogates)."""
    if len(value) > limit:
        raise LimitError(f"{name!r}: {len(value)} characters, more than {limit}", name)
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise LimitError(f"{name!r}: {shorten(value)} is not valid UTF-8 text", name) from None


def within(value: object, low: float, high: float) -> bool:
    """A number (not a bool) within ``low``..``high`` (NaN is not; huge integers compare)."""
    return not isinstance(value, bool) and isinstance(value, (int, float)) and low <= value <= high


def check_number(value: float, name: str) -> None:
    """An integer within :data:`MIN_INT`..:data:`MAX_INT`, or a finite float."""
    if isinstance(value, int):
        if not MIN_INT <= value <= MAX_INT:
            raise LimitError(f"{name!r}: {shorten(value)} has more than {MAX_DIGITS} digits", name)
    elif not math.isfinite(value):
        raise LimitError(f"{name!r}: {value!r} is not a finite number", name)


_LONG_DIGITS = re.compile(rf"\d{{{MAX_DIGITS + 1}}}")
_dumps = json.JSONEncoder(allow_nan=False, ensure_ascii=False, separators=(",", ":")).encode


def encoded_value(value: object, name: str) -> bytes:
    """``value`` (``args``, ``kwargs`` or ``options``) as UTF-8 JSON, within every bound.

    Raises :class:`LimitError` for a value nested more than :data:`MAX_DEPTH` deep, larger
    than :data:`MAX_VALUE_BYTES`, holding an out-of-range number or invalid text, and
    :class:`TypeError` or :class:`ValueError` for anything else JSON cannot hold.
    """
    try:
        text = _dumps(value)
    except (RecursionError, TypeError, ValueError):
        # The walk names a bound the value breaks; if it breaks none, JSON's error stands.
        _walk(value, name)
        raise
    try:
        data = text.encode("utf-8")
    except UnicodeEncodeError:
        raise LimitError(f"{name!r}: holds text that is not valid UTF-8", name) from None
    if len(data) > MAX_VALUE_BYTES:
        raise LimitError(f"{name!r}: {len(data)} bytes of JSON, more than {MAX_VALUE_BYTES}", name)
    # The walk can only find something when the text could break a bound: more opening
    # brackets than the depth allows, or a run of digits longer than any allowed integer
    # (JSON refuses NaN and infinities already). Most values skip it.
    if text.count("[") + text.count("{") > MAX_DEPTH or _LONG_DIGITS.search(text):
        _walk(value, name)
    return data


def _walk(value: object, name: str) -> None:
    """Check depth and numbers without recursion (a value may be nested thousands deep)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, (list, tuple)):
            children = item
        else:
            if isinstance(item, (int, float)) and not isinstance(item, bool):
                check_number(item, name)
            continue
        if depth > MAX_DEPTH:
            raise LimitError(f"{name!r}: nested more than {MAX_DEPTH} levels deep", name)
        stack.extend((child, depth + 1) for child in children)
