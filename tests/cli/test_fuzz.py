"""Generated hostile files: ``apply`` exits 0 or 2, writes all or nothing, and ``export``
reads back whatever was accepted, on every store."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from celery_stembeat.stores import Store
from tests.cli.conftest import Invoke

#: Raw JSON values past some bound, or at its edge.
HOSTILE = st.sampled_from(
    [
        '"bad\\udc80"',
        '"\\u0000"',
        '"' + "x" * 70_000 + '"',
        "[" * 1_000 + "]" * 1_000,
        "[" * 900 + "]" * 900,
        "[" * 33 + "]" * 33,
        "[" * 31 + "]" * 31,
        "7" * 5_000,
        "9223372036854775808",
        "-9223372036854775808",
        "1e400",
        "-1e400",
        "NaN",
        "Infinity",
        "1e308",
        '{"\\udc80": 1}',
        '{"queue": "' + "q" * 201 + '"}',
        '{"headers": ' + "[" * 40 + "]" * 40 + "}",
        '{"expires": 1e400}',
        '{"priority": ' + "1" * 50 + "}",
        '{"type": "interval", "every": ' + "9" * 5_000 + "}",
        '"*/' + "9" * 5_000 + ' * * * *"',
        '{"type": "cron", "expression": "0 9 * * *", "timezone": "' + "z" * 5_000 + '"}',
        '{"type": []}',
        '"' + "i" * 201 + '"',
        '["ok", "' + "t" * 65 + '"]',
        '["a b", "\\u0000"]',
        json.dumps(["t"] * 33),
        '""',
        "null",
        "true",
        "{}",
        "[]",
    ]
)
#: Ordinary JSON values, so that some files are accepted.
PLAIN = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats() | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=4), children, max_size=3)
    ),
    max_leaves=6,
).map(lambda value: json.dumps(value))
FIELDS = (
    "id",
    "task",
    "spec",
    "args",
    "kwargs",
    "options",
    "jitter",
    "description",
    "catch_up",
    "expire_at",
    "overlap",
    "overlap_timeout",
    "tags",
)
BASE = {"task": '"tasks.fuzz"', "spec": '"5m"'}
#: A valid value of each field, so that some files are accepted.
VALID = {
    "id": '"e-\u00e9"',
    "task": '"tasks.other"',
    "spec": '"*/5 * * * *"',
    "args": '[1, "a", {"b": null}, ' + "[" * 30 + "]" * 30 + "]",
    "kwargs": '{"k": [1.5, -9223372036854775808], "s": "' + "s" * 60_000 + '"}',
    "options": '{"queue": "q", "priority": 255, "headers": {"h": "v"}, "expires": 60}',
    "jitter": "86400",
    "description": '"' + "d" * 1_000 + '"',
    "catch_up": '"skip"',
    "expire_at": '"2027-01-01T00:00:00Z"',
    "overlap": '"skip"',
    "overlap_timeout": "2592000",
    "tags": json.dumps(
        ["team:x/y", "a" * 64, "0.9-b_c", "team:x/y"] + [f"t{i}" for i in range(28)]
    ),
}


@st.composite
def entry_texts(draw: st.DrawFn) -> str:
    fields = {"id": json.dumps(f"e{draw(st.integers(0, 5))}"), **BASE}
    for name in draw(st.lists(st.sampled_from(FIELDS), max_size=3, unique=True)):
        fields[name] = draw(st.just(VALID[name]) | HOSTILE | PLAIN)
    return "{" + ", ".join(f'"{name}": {value}' for name, value in fields.items()) + "}"


def exported(cli: Invoke) -> str:
    result = cli("export")
    assert result.exit_code == 0, result.output
    return result.stdout


@settings(
    max_examples=80,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(entries=st.lists(entry_texts(), min_size=1, max_size=4))
def test_apply_writes_all_or_nothing_and_export_reads_it_back(
    cli: Invoke, store: Store, entries: list[str]
) -> None:
    before = exported(cli)
    result = cli("apply", "-", input="[" + ", ".join(entries) + "]")
    assert result.exit_code in (0, 2), result.output
    after = exported(cli)
    if result.exit_code == 2:
        assert after == before
        assert len(result.stderr.strip().splitlines()) == 1
        assert len(result.stderr) < 500
    again = cli("apply", "--dry-run", "-", input=after)
    assert again.exit_code == 0, again.output
