"""Input bounds: every entry field refuses what is past its bound, in one short line."""

from __future__ import annotations

from typing import Any

import pytest

from celery_stembeat.entry import Entry, EntryError, RunState
from celery_stembeat.limits import (
    MAX_DEPTH,
    MAX_INT,
    MAX_QUOTE,
    MAX_VALUE_BYTES,
    MIN_INT,
    shorten,
)


def nested(depth: int) -> Any:
    """A list ``depth`` levels deep (``[]`` is one level)."""
    value: Any = []
    for _ in range(depth - 1):
        value = [value]
    return value


def build(**changes: Any) -> Entry:
    return Entry.from_dict({"id": "a", "task": "t", "spec": "5m", **changes})


HOSTILE = "x" * 1_000_000


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"id": "i" * 201}, "id", "'id': 201 characters, more than 200"),
        ({"task": "t" * 201}, "task", "'task': 201 characters, more than 200"),
        ({"description": "d" * 1001}, "description", "1001 characters, more than 1000"),
        ({"options": {"queue": "q" * 201}}, "options.queue", "201 characters, more than 200"),
        ({"id": "bad\udc80"}, "id", r"'id': 'bad\udc80' is not valid UTF-8 text"),
        ({"task": "t\ud800"}, "task", "is not valid UTF-8 text"),
        ({"description": "\udfff"}, "description", "is not valid UTF-8 text"),
        ({"kwargs": {"bad\udc80": 1}}, "kwargs", "holds text that is not valid UTF-8"),
        ({"args": [["x\udc80"]]}, "args", "holds text that is not valid UTF-8"),
        ({"options": {"headers": {"h": "\udc80"}}}, "options", "not valid UTF-8"),
        ({"options": {"routing_key": "\udc80"}}, "options.routing_key", "not valid UTF-8"),
        ({"args": nested(MAX_DEPTH + 1)}, "args", "nested more than 32 levels deep"),
        ({"args": nested(1000)}, "args", "nested more than 32 levels deep"),
        ({"kwargs": {"k": nested(MAX_DEPTH)}}, "kwargs", "nested more than 32 levels deep"),
        ({"options": {"headers": {"h": nested(40)}}}, "options", "nested more than 32"),
        ({"kwargs": {"k": HOSTILE}}, "kwargs", "1000008 bytes of JSON, more than 65536"),
        ({"args": list(range(20_000))}, "args", "bytes of JSON, more than 65536"),
        ({"args": [MAX_INT + 1]}, "args", "has more than 40 digits"),
        ({"args": [MIN_INT - 1]}, "args", "has more than 40 digits"),
        ({"kwargs": {"n": 10**5000}}, "kwargs", "<integer of 16610 bits> has more than 40"),
        ({"args": [float("nan")]}, "args", "nan is not a finite number"),
        ({"kwargs": {"f": float("inf")}}, "kwargs", "inf is not a finite number"),
        ({"jitter": float("inf")}, "jitter", "'jitter': inf is not a number of seconds 0-86400"),
        ({"jitter": 10**400}, "jitter", "<integer of 1329 bits> is not a number of seconds"),
        ({"jitter": 86_401}, "jitter", "86401 is not a number of seconds 0-86400"),
        ({"jitter": -1}, "jitter", "-1 is not a number of seconds 0-86400"),
        ({"overlap": [HOSTILE]}, "overlap", "is not one of allow, skip"),
        ({"overlap": "Skip"}, "overlap", "'Skip' is not one of allow, skip"),
        ({"overlap_timeout": 0}, "overlap_timeout", "0 is not a number of seconds 1-2592000"),
        ({"overlap_timeout": float("nan")}, "overlap_timeout", "nan is not a number of seconds"),
        ({"overlap_timeout": 10**400}, "overlap_timeout", "<integer of 1329 bits> is not a"),
        ({"overlap_timeout": "60"}, "overlap_timeout", "'60' is not a number of seconds"),
        ({"overlap_timeout": True}, "overlap_timeout", "True is not a number of seconds"),
        ({"options": {"expires": 10**5000}}, "options.expires", "is not a number of seconds"),
        ({"options": {"expires": float("inf")}}, "options.expires", "is not a number"),
        ({"options": {"priority": 10**5000}}, "options.priority", "is not an integer 0-255"),
        ({"spec": {"type": "interval", "every": 10**5000}}, "spec", "is more than 100 years"),
        ({"spec": "*/" + "9" * 5000 + " * * * *"}, "spec", "is more than 59"),
        ({"spec": {"type": "calendar", "minutes": [10**5000]}}, "spec", "is outside 0-59"),
        ({"spec": {"type": "cron", "expression": "0 9 * * *", "timezone": HOSTILE}}, "spec", ""),
        ({"expire_at": HOSTILE}, "expire_at", "is not an ISO 8601 instant"),
        ({"catch_up": [HOSTILE]}, "catch_up", "is not one of skip, fire_one, fire_all"),
        ({"id": HOSTILE}, "id", "1000000 characters, more than 200"),
        ({"task": {"t": HOSTILE}}, "task", "must be a task name"),
        ({"args": HOSTILE}, "args", "expected a list"),
    ],
)
def test_a_value_past_its_bound_is_refused_in_one_short_line(
    changes: dict[str, Any], field: str, message: str
) -> None:
    with pytest.raises(EntryError) as raised:
        build(**changes)
    text = str(raised.value)
    assert message in text
    assert raised.value.field == field
    assert "\n" not in text
    assert len(text) < 3 * MAX_QUOTE + 100


def test_values_at_their_bounds_are_accepted() -> None:
    entry = build(
        id="é" * 200,
        task="t" * 200,
        description="d" * 1000,
        args=[nested(MAX_DEPTH - 1), MAX_INT, MIN_INT, 1e308],
        kwargs={"k": "x" * (MAX_VALUE_BYTES - 8)},
        jitter=86_400,
        options={"queue": "q" * 200, "expires": 366 * 86_400, "headers": {"h": nested(30)}},
    )
    assert Entry.from_json(entry.to_json()) == entry


def test_run_state_counts_and_drifts_are_bounded() -> None:
    with pytest.raises(EntryError, match="is not a count"):
        RunState.from_dict({"total_run_count": 2**63})
    with pytest.raises(EntryError, match="is not a finite number"):
        RunState.from_dict({"drift_max": 10**400})


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("short", "'short'"),
        ("x" * 1_000, "'" + "x" * 37 + "..." + "x" * 38 + "'"),
        ("a\nb", r"'a\nb'"),
        ("bad\udc80", r"'bad\udc80'"),
        (10**5000, "<integer of 16610 bits>"),
        ([[[[[[1]]]]]], "[[[[...]]]]"),
    ],
    ids=["short", "long", "newline", "surrogate", "huge-int", "deep"],
)
def test_shorten_quotes_at_most_a_short_line(value: object, expected: str) -> None:
    assert shorten(value) == expected
    assert len(shorten(value)) <= MAX_QUOTE


def test_shorten_never_raises() -> None:
    class Broken:
        def __repr__(self) -> str:
            raise RuntimeError("no")

    assert shorten(Broken()).startswith("<Broken")
    assert len(shorten({str(n): "v" * 100 for n in range(1000)})) <= MAX_QUOTE
