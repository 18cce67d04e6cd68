"""Entry: validation naming the field, JSON round trips, and where a new entry starts."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from celery_stembeat.entry import Entry, EntryError, RunState
from celery_stembeat.specs import ClockedSpec, CronSpec, IntervalSpec

T0 = datetime(2026, 5, 1, 8, 0, tzinfo=timezone.utc)


def full_entry() -> Entry:
    return Entry(
        id="reports.daily",
        task="reports.build",
        spec=CronSpec("0 9 * * 1-5", "Europe/London"),
        args=(1, "a"),
        kwargs={"k": [1, {"x": None}]},
        options={
            "queue": "q",
            "exchange": "ex",
            "routing_key": "rk",
            "priority": 9,
            "headers": {"h": "v"},
            "expires": 120,
        },
        enabled=False,
        expire_at=T0 + timedelta(days=30),
        catch_up="skip",
        jitter=1.5,
        description="weekday report",
        overlap="skip",
        overlap_timeout=600.0,
        tags=["team:reports", "nightly"],
        source="config",
        version=4,
        state=RunState(
            next_run_at=T0,
            last_scheduled_for=T0 - timedelta(days=1),
            last_run_at=T0 - timedelta(days=1, seconds=-1),
            total_run_count=10,
            failure_count=2,
            consecutive_failures=1,
            last_error="boom",
            last_drift=0.01,
            drift_mean=0.02,
            drift_max=0.5,
            created_at=T0 - timedelta(days=9),
            updated_at=T0 - timedelta(days=2),
        ),
    )


def test_json_round_trip_is_exact() -> None:
    """Every field, definition and state, survives to_json/from_json."""
    entry = full_entry()
    text = entry.to_json()
    assert Entry.from_json(text) == entry
    assert json.loads(text)["state"]["next_run_at"] == "2026-05-01T08:00:00Z"


def test_definition_holds_only_what_entry_files_hold() -> None:
    """definition() is the apply/export form: no version, source or run state."""
    definition = full_entry().definition()
    assert set(definition) == {
        "id",
        "task",
        "spec",
        "args",
        "kwargs",
        "options",
        "enabled",
        "run_once",
        "expire_at",
        "catch_up",
        "jitter",
        "description",
        "overlap",
        "overlap_timeout",
        "tags",
    }
    restored = Entry.from_dict(definition)
    assert restored.spec == full_entry().spec
    assert restored.state == RunState()


def test_spec_may_be_written_in_any_form_parse_spec_reads() -> None:
    """Entry files may use cron/interval strings for the spec."""
    assert Entry.from_dict({"id": "a", "task": "t", "spec": "*/5 * * * *"}).spec == CronSpec(
        "*/5 * * * *"
    )
    assert Entry.from_dict({"id": "a", "task": "t", "spec": "30s"}).spec == IntervalSpec(30)


def test_clocked_entries_are_run_once() -> None:
    """A clocked spec makes the entry run-once whatever the file says."""
    entry = Entry(id="x", task="t", spec=ClockedSpec(T0))
    assert entry.run_once is True


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"task": "t", "spec": "5m"}, "id", "'id' is missing"),
        ({"id": "", "task": "t", "spec": "5m"}, "id", "non-empty"),
        ({"id": "a\nb", "task": "t", "spec": "5m"}, "id", "printable"),
        ({"id": "a", "spec": "5m"}, "task", "'task' is missing"),
        ({"id": "a", "task": "t", "spec": "0 25 * * *"}, "spec", "25 is outside 0-23"),
        ({"id": "a", "task": "t", "spec": "5m", "args": "x"}, "args", "expected a list"),
        ({"id": "a", "task": "t", "spec": "5m", "kwargs": [1]}, "kwargs", "expected an object"),
        ({"id": "a", "task": "t", "spec": "5m", "catch_up": "all"}, "catch_up", "'all'"),
        ({"id": "a", "task": "t", "spec": "5m", "jitter": -1}, "jitter", "-1"),
        ({"id": "a", "task": "t", "spec": "5m", "enabled": "yes"}, "enabled", "true or false"),
        ({"id": "a", "task": "t", "spec": "5m", "expire_at": "2026-01-01"}, "expire_at", "zone"),
        ({"id": "a", "task": "t", "spec": "5m", "colour": "red"}, "colour", "unknown field"),
        ({"id": "a", "task": "t", "spec": "5m", "options": {"qeue": "x"}}, None, "'qeue'"),
        ({"id": "a", "task": "t", "spec": "5m", "options": {"priority": 300}}, None, "0-255"),
        ({"id": "a", "task": "t", "spec": "5m", "state": {"total_run_count": -1}}, None, "count"),
    ],
)
def test_bad_input_names_entry_and_field(data: dict[str, object], field: str, message: str) -> None:
    """Each kind of bad input raises EntryError naming the entry and the problem."""
    with pytest.raises(EntryError, match=message) as raised:
        Entry.from_dict(data)
    assert f"entry {data.get('id')!r}" in str(raised.value)
    if field is not None:
        assert raised.value.field == field


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"id": "a\x00b"}, "id"),
        ({"task": "tasks.\x00ping"}, "task"),
        ({"description": "nightly\x00"}, "description"),
        ({"args": [1, ["deep", "x\x00"]]}, "args"),
        ({"kwargs": {"k": {"inner": "\x00"}}}, "kwargs"),
        ({"kwargs": {"key\x00": 1}}, "kwargs"),
        ({"options": {"queue": "q\x00"}}, "options"),
        ({"options": {"headers": {"h": ["\x00"]}}}, "options"),
        ({"options": {"headers": {"\x00": "v"}}}, "options"),
    ],
)
def test_nul_characters_are_refused_naming_the_field(
    changes: dict[str, object], field: str
) -> None:
    """No text of an entry may hold NUL (PostgreSQL cannot store it); the error names the field."""
    data = {"id": "a", "task": "t", "spec": "5m", **changes}
    with pytest.raises(EntryError, match="NUL") as raised:
        Entry.from_dict(data)
    assert raised.value.field == field


def test_tags_are_normalised_without_duplicates_sorted() -> None:
    entry = Entry(id="a", task="t", spec=IntervalSpec(5), tags=["b", "a", "a"])
    assert entry == Entry(id="a", task="t", spec=IntervalSpec(5), tags=("a", "b"))
    assert entry.definition()["tags"] == ["a", "b"]
    assert Entry.from_dict({"id": "a", "task": "t", "spec": "5m", "tags": None}).tags == ()


@pytest.mark.parametrize(
    ("tags", "message"),
    [
        ("nightly", r"^entry 'a': 'tags': expected a list of names, got 'nightly'$"),
        ({"team": "x"}, r"'tags': expected a list of names"),
        (["x"] * 33, r"'tags': 33 tags, more than 32$"),
        (["ok", ""], r"'tags\[1\]': '' is not a tag \(1-64 of"),
        (["ok", "ok", "x" * 65], r"'tags\[2\]': 'x{65}' is not a tag"),
        (["-leading"], r"'tags\[0\]': '-leading' is not a tag"),
        (["has space"], r"'tags\[0\]'"),
        (["caf\u00e9"], r"'tags\[0\]'"),
        ([7], r"'tags\[0\]': 7 is not a tag"),
    ],
)
def test_bad_tags_name_the_field_and_the_position(tags: object, message: str) -> None:
    with pytest.raises(EntryError, match=message) as raised:
        Entry.from_dict({"id": "a", "task": "t", "spec": "5m", "tags": tags})
    assert raised.value.field == "tags"
    assert len(str(raised.value)) < 200


def test_a_tag_holds_up_to_64_characters_of_its_alphabet() -> None:
    longest = "a" + "Z9_.:/-" * 9
    assert len(longest) == 64
    assert Entry(id="a", task="t", spec="5m", tags=[longest] * 3 + ["0"]).tags == ("0", longest)


def test_text_that_only_looks_like_an_escaped_nul_is_kept() -> None:
    """A literal backslash-u0000 (no NUL character) is ordinary text."""
    entry = Entry(id="a", task="t", spec=IntervalSpec(5), kwargs={"pattern": "\\u0000"})
    assert entry.kwargs == {"pattern": "\\u0000"}


def test_first_run_after_resumes_or_starts_afresh() -> None:
    """New entries fire next after now; imported ones continue; one-offs always fire once."""
    every_hour = Entry(id="a", task="t", spec=IntervalSpec(3600, start_at=T0 - timedelta(days=1)))
    assert every_hour.first_run_after(T0 + timedelta(minutes=10)) == T0 + timedelta(hours=1)
    ran = every_hour.with_state(last_scheduled_for=T0 - timedelta(hours=5))
    assert ran.first_run_after(T0 + timedelta(minutes=10)) == T0 - timedelta(hours=4)
    assert ran.first_run_after(T0 + timedelta(minutes=10), resume=False) == T0 + timedelta(hours=1)
    late = Entry(id="b", task="t", spec=ClockedSpec(T0))
    assert late.first_run_after(T0 + timedelta(days=3)) == T0
    done = late.with_state(total_run_count=1)
    assert done.first_run_after(T0 + timedelta(days=3)) is None


def test_coming_runs_on_from_the_stored_next_run_while_enabled() -> None:
    spec = IntervalSpec(60)
    stored = Entry("e", "t", spec, state=RunState(next_run_at=T0 - timedelta(seconds=10)))
    second = timedelta(seconds=1)
    assert stored.coming(T0, 2) == [T0 - 10 * second, T0 + 50 * second]
    assert stored.coming(T0, 0) == []
    disabled = Entry("e", "t", spec, enabled=False, state=stored.state)
    assert disabled.coming(T0, 2) == [T0 + 60 * second, T0 + 120 * second]
    assert Entry("e", "t", spec).coming(T0, 1) == [T0 + 60 * second]
