"""``beat_schedule`` → entries → store, on every store: only changes written, state kept."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from celery import signature
from celery.schedules import crontab, schedule, solar
from kombu import Exchange

from celery_stembeat.config_entries import entries_from_config, entry_from_config, sync_config
from celery_stembeat.entry import Entry, EntryError
from celery_stembeat.specs import CalendarSpec, CronSpec, IntervalSpec, SolarSpec
from celery_stembeat.stores import Store
from tests.contract.helpers import T0, at, published
from tests.test_options import EVERY_OPTION

CONFIG = {
    "numbers": {"task": "tasks.a", "schedule": 30.0, "args": (1, 2)},
    "delta": {"task": "tasks.b", "schedule": timedelta(minutes=5), "kwargs": {"x": 1}},
    "celery-schedule": {"task": "tasks.c", "schedule": schedule(run_every=10)},
    "crontab": {"task": "tasks.d", "schedule": crontab(minute="0", hour="9", day_of_week="1-5")},
    "first-monday": {
        "task": "tasks.e",
        "schedule": crontab(minute=0, hour=9, day_of_month="1-7", day_of_week="mon"),
    },
    "sunrise": {"task": "tasks.f", "schedule": solar("sunrise", 40.71, -74.01)},
    "text": {"task": "tasks.g", "schedule": "*/5 * * * *", "options": {"queue": "q"}},
    "stembeat-keys": {
        "task": "tasks.h",
        "schedule": "1h",
        "catch_up": "skip",
        "jitter": 5,
        "description": "hourly",
        "overlap": "skip",
        "overlap_timeout": 1800,
        "tags": ("team:ops", "hourly", "team:ops"),
    },
}


def test_every_celery_schedule_form_becomes_a_spec() -> None:
    entries = {e.id: e for e in entries_from_config(CONFIG, "Europe/London")}
    assert entries["numbers"].spec == IntervalSpec(30)
    assert entries["numbers"].args == (1, 2)
    assert entries["delta"].spec == IntervalSpec(300)
    assert entries["celery-schedule"].spec == IntervalSpec(10)
    assert entries["crontab"].spec == CronSpec("0 9 * * 1-5", "Europe/London")
    assert isinstance(entries["first-monday"].spec, CalendarSpec)
    assert entries["sunrise"].spec == SolarSpec("sunrise", 40.71, -74.01)
    assert entries["text"].spec == CronSpec("*/5 * * * *", "Europe/London")
    assert entries["text"].options == {"queue": "q"}
    hourly = entries["stembeat-keys"]
    assert (hourly.catch_up, hourly.jitter, hourly.description) == ("skip", 5.0, "hourly")
    assert (hourly.overlap, hourly.overlap_timeout) == ("skip", 1800.0)
    assert hourly.tags == ("hourly", "team:ops")
    assert all(e.source == "config" for e in entries.values())


@pytest.mark.parametrize(
    ("item", "field", "message"),
    [
        ({"task": "t"}, "schedule", "'schedule' is missing"),
        ({"task": "t", "schedule": "61 * * * *"}, "schedule", "61 is outside 0-59"),
        ({"task": "t", "schedule": 5, "colour": "red"}, "colour", "unknown key 'colour'"),
        ({"task": "t", "schedule": 5, "overlap": "never"}, "overlap", "'never' is not one of"),
        ({"task": "t", "schedule": 5, "tags": "nightly"}, "tags", "expected a list of names"),
        ({"task": "t", "schedule": 5, "tags": ["x" * 1_000_000]}, "tags", "'tags[0]': 'xxx"),
        ({"task": "t", "schedule": 5, "tags": ["t"] * 10_000}, "tags", "10000 tags, more than"),
        ({"task": "t", "schedule": 5, "tags": ["ok", "b\udc80"]}, "tags", "'tags[1]'"),
        ({"task": "t", "schedule": 5, "tags": ["a\x00b"]}, "tags", "'tags[0]': 'a\\x00b'"),
        ({"task": "t", "schedule": 5, "tags": ["a\nb"]}, "tags", "'tags[0]': 'a\\nb'"),
        (
            {"task": "t", "schedule": 5, "options": {"queu": 1}},
            "options",
            "'queu' (did you mean 'queue'?)",
        ),
    ],
)
def test_bad_items_name_the_entry_and_field(item: dict, field: str, message: str) -> None:
    with pytest.raises(EntryError) as caught:
        entry_from_config("bad-one", item, "UTC")
    assert "bad-one" in str(caught.value)
    assert message in str(caught.value)
    assert len(str(caught.value)) < 300
    assert "\n" not in str(caught.value)
    if field != "options":
        assert caught.value.field == field


def test_beat_schedule_options_are_carried_with_celerys_meaning() -> None:
    """Every option kept as given; a datetime ``eta``/``expires`` as UTC text, a naive one in
    the app's time zone (where celery's worker reads it)."""
    options = {**EVERY_OPTION, "expires": datetime(2030, 1, 1, 12)}
    item = {"task": "tasks.a", "schedule": 60, "options": options}
    made = entry_from_config("all-options", item, "Europe/Paris")
    assert made.options == {**EVERY_OPTION, "expires": "2030-01-01T11:00:00Z"}
    when = datetime(2030, 1, 1, 12, tzinfo=timezone.utc)
    at_item = {"task": "tasks.a", "schedule": 60, "options": {"eta": when}}
    assert entry_from_config("at", at_item, "UTC").options == {"eta": "2030-01-01T12:00:00Z"}


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (
            {"link": signature("tasks.after")},
            "entry 'linked': 'options.link': a signature (tasks to call with the result) "
            "cannot be stored as JSON",
        ),
        (
            {"retry_policy": {"errback": print}},
            "entry 'linked': 'options.retry_policy.errback': code (a callable, exception "
            "classes) cannot be stored as JSON",
        ),
        (
            {"exchange": Exchange("x", type="topic")},
            "entry 'linked': 'options.exchange': an object of type Exchange cannot be stored "
            "as JSON",
        ),
    ],
)
def test_an_option_that_cannot_be_stored_is_named_with_the_reason(
    options: dict[str, object], message: str
) -> None:
    with pytest.raises(EntryError) as caught:
        entry_from_config("linked", {"task": "t", "schedule": 5, "options": options}, "UTC")
    assert str(caught.value) == message


def test_sync_adds_keeps_state_and_writes_only_changes(store: Store) -> None:
    first = sync_config(store, entries_from_config(CONFIG, "UTC"), T0)
    assert sorted(first.added) == sorted(CONFIG)
    stored = store.get("numbers")
    assert stored is not None
    assert stored.state.next_run_at == at(30)
    # A run happens; the next start with the same config writes nothing and keeps the state.
    for claim in store.claim_due(at(30), 100, "beat", timedelta(seconds=30)):
        store.complete(claim, published(claim))
    again = sync_config(store, entries_from_config(CONFIG, "UTC"), at(40))
    assert (again.added, again.changed, again.unchanged) == ([], [], len(CONFIG))
    kept = store.get("numbers")
    assert kept is not None
    assert kept.version == stored.version
    assert kept.state.total_run_count == 1
    # A changed schedule is rescheduled from now; a changed argument keeps the next run.
    changed = dict(CONFIG)
    changed["numbers"] = {"task": "tasks.a", "schedule": 45.0, "args": (1, 2)}
    changed["delta"] = {**CONFIG["delta"], "kwargs": {"x": 2}}
    report = sync_config(store, entries_from_config(changed, "UTC"), at(100))
    assert sorted(report.changed) == ["delta", "numbers"]
    numbers, delta = store.get("numbers"), store.get("delta")
    assert numbers is not None
    assert delta is not None
    assert numbers.state.next_run_at == at(145)
    assert numbers.state.total_run_count == 1
    assert delta.kwargs == {"x": 2}
    assert delta.state.next_run_at == at(300)


def test_a_change_of_tags_is_a_change_and_reaches_the_index(store: Store) -> None:
    config = {"job": {"task": "tasks.a", "schedule": 60, "tags": ["b", "a"]}}
    sync_config(store, entries_from_config(config, "UTC"), T0)
    assert store.ids_tagged(["a", "b"]) == ["job"]
    # The same names in another order, repeated: the same definition, nothing written.
    same = {"job": {**config["job"], "tags": ["a", "b", "a"]}}
    report = sync_config(store, entries_from_config(same, "UTC"), at(1))
    assert (report.changed, report.unchanged) == ([], 1)
    moved = {"job": {**config["job"], "tags": ["c"]}}
    report = sync_config(store, entries_from_config(moved, "UTC"), at(2))
    assert report.changed == ["job"]
    assert (store.ids_tagged(["a"]), store.ids_tagged(["c"])) == ([], ["job"])
    stored = store.get("job")
    assert stored is not None
    assert stored.tags == ("c",)


def test_sync_disables_removed_entries_and_leaves_store_entries_alone(store: Store) -> None:
    sync_config(store, entries_from_config(CONFIG, "UTC"), T0)
    made = Entry(id="text", task="tasks.cli", spec=IntervalSpec(7), source="store")
    cli_only = Entry(id="cli-only", task="tasks.cli", spec=IntervalSpec(7))
    store.delete("text")
    store.upsert(made.with_state(next_run_at=at(7)))
    store.upsert(cli_only.with_state(next_run_at=at(7)))
    smaller = {key: CONFIG[key] for key in ("numbers", "text")}
    report = sync_config(store, entries_from_config(smaller, "UTC"), at(10))
    assert report.shadowed == ["text"]
    assert sorted(report.disabled) == sorted(set(CONFIG) - {"numbers", "text"})
    text, cli = store.get("text"), store.get("cli-only")
    assert text is not None
    assert cli is not None
    assert (text.task, text.source, text.enabled) == ("tasks.cli", "store", True)
    assert cli.enabled is True
    removed = store.get("delta")
    assert removed is not None
    assert removed.enabled is False
    # Back in beat_schedule: enabled again, starting afresh from now.
    back = sync_config(store, entries_from_config(CONFIG, "UTC"), at(1000))
    assert "delta" in back.changed
    delta = store.get("delta")
    assert delta is not None
    assert delta.enabled is True
    assert delta.state.next_run_at == at(1300)


def test_an_item_past_a_bound_stops_the_sync_before_anything_is_written(store: Store) -> None:
    schedule = {
        "good": {"task": "tasks.a", "schedule": 30.0},
        "bad": {"task": "tasks.b", "schedule": 30.0, "kwargs": {"k": "x" * 70_000}},
    }
    with pytest.raises(EntryError, match=r"^entry 'bad': 'kwargs': 70008 bytes of JSON"):
        sync_config(store, entries_from_config(schedule, "UTC"), T0)
    assert store.list_entries() == []
