"""Incidents: each moves between states once across every beat, so one alert goes out per
transition however many beats see it."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone

import pytest

from celery_stembeat.stores import INCIDENT_OK, Incident, Store, open_store
from celery_stembeat.stores.base import MAX_INCIDENT_KEY_LENGTH, MAX_INCIDENT_STATE_LENGTH
from tests.contract.helpers import T0, at, drop_store

KEY = "entry:nightly-report"


def test_a_key_never_recorded_is_ok(store: Store) -> None:
    assert store.incidents() == []
    assert store.transition_incident(KEY, INCIDENT_OK, at(1)) is None
    assert store.incidents() == []


def test_an_incident_opens_once_and_keeps_its_start(store: Store) -> None:
    """The first transition to ``failing`` reports the state it left; repeating it changes
    nothing, not even ``since``."""
    assert store.transition_incident(KEY, "failing", at(1)) == INCIDENT_OK
    assert store.incidents() == [Incident(KEY, "failing", at(1))]
    assert store.transition_incident(KEY, "failing", at(2)) is None
    assert store.incidents() == [Incident(KEY, "failing", at(1))]


def test_an_incident_moves_on_and_resolves(store: Store) -> None:
    store.transition_incident(KEY, "failing", at(1))
    assert store.transition_incident(KEY, "stuck", at(3)) == "failing"
    assert store.incidents() == [Incident(KEY, "stuck", at(3))]
    assert store.transition_incident(KEY, INCIDENT_OK, at(5)) == "stuck"
    assert store.incidents() == []
    assert store.transition_incident(KEY, INCIDENT_OK, at(6)) is None
    assert store.transition_incident(KEY, "late", at(7)) == INCIDENT_OK
    assert store.incidents() == [Incident(KEY, "late", at(7))]


def test_incidents_are_listed_by_key_and_kept_apart(store: Store) -> None:
    for key, state in (("entry:b", "missed"), ("store", "unreachable"), ("entry:a", "failing")):
        assert store.transition_incident(key, state, at(1)) == INCIDENT_OK
    assert store.transition_incident("entry:b", INCIDENT_OK, at(2)) == "missed"
    assert store.incidents() == [
        Incident("entry:a", "failing", at(1)),
        Incident("store", "unreachable", at(1)),
    ]


def test_unicode_keys_and_states_and_the_longest_ones_round_trip(store: Store) -> None:
    keys = ["entry:rapport-東京-ü", "entry:🚀", "k" * MAX_INCIDENT_KEY_LENGTH]
    state = "é" * MAX_INCIDENT_STATE_LENGTH
    for key in keys:
        assert store.transition_incident(key, state, at(1)) == INCIDENT_OK
    assert store.incidents() == [Incident(key, state, at(1)) for key in sorted(keys)]
    assert store.transition_incident(keys[1], INCIDENT_OK, at(2)) == state


def test_since_round_trips_to_the_millisecond_in_utc(store: Store) -> None:
    """An instant with an offset comes back as the same instant, in UTC."""
    paris = timezone(timedelta(hours=2))
    when = (T0 + timedelta(days=400, milliseconds=999)).astimezone(paris)
    store.transition_incident(KEY, "failing", when)
    (incident,) = store.incidents()
    assert incident.since == when
    assert incident.since.utcoffset() == timedelta(0)
    assert store.transition_incident(KEY, "stuck", T0 + timedelta(milliseconds=1)) == "failing"
    assert store.incidents()[0].since == T0 + timedelta(milliseconds=1)


@pytest.mark.parametrize(
    ("key", "state", "when", "message"),
    [
        ("", "failing", T0, r"^key: '' is not text of 1 to 512 characters$"),
        ("k" * 513, "failing", T0, r"^key: 'kkk.* is not text of 1 to 512 characters$"),
        (None, "failing", T0, r"^key: None is not text"),
        (7, "failing", T0, r"^key: 7 is not text"),
        ("a\x00b", "failing", T0, r"^key: 'a\\x00b' holds characters that are not printable$"),
        ("a\nb", "failing", T0, r"^key: 'a\\nb' holds characters that are not printable$"),
        ("a\udc80", "failing", T0, r"^key: .* holds characters that are not printable$"),
        (KEY, "", T0, r"^state: '' is not text of 1 to 40 characters$"),
        (KEY, "s" * 41, T0, r"^state: 'sss.* is not text of 1 to 40 characters$"),
        (KEY, "fail\ting", T0, r"^state: .* holds characters that are not printable$"),
        (KEY, b"failing", T0, r"^state: b'failing' is not text"),
        (KEY, "failing", T0.replace(tzinfo=None), r"^at: datetime.* is not an aware datetime$"),
        (KEY, "failing", "2026-03-01T12:00:00Z", r"^at: '2026.* is not an aware datetime$"),
    ],
)
def test_bad_keys_states_and_instants_are_refused_before_anything_is_written(
    store: Store, key: object, state: object, when: object, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        store.transition_incident(key, state, when)  # type: ignore[arg-type]
    assert store.incidents() == []


def test_drop_forgets_the_incidents(store_url: str, backend: str) -> None:
    first = open_store(store_url)
    first.transition_incident(KEY, "failing", at(1))
    first.drop()
    first.close()
    again = open_store(store_url)
    try:
        assert again.incidents() == []
    finally:
        drop_store(again, backend)


def test_of_beats_making_the_same_transition_at_once_exactly_one_gets_the_previous_state(
    store: Store, open_more: Callable[..., Store]
) -> None:
    """Each beat on a store of its own, released together: one opens the incident, one
    resolves it, round after round."""
    beats = [open_more() for _ in range(6)]
    gate = threading.Barrier(len(beats))

    def move(beat: Store, key: str, state: str, when: datetime) -> str | None:
        gate.wait(timeout=30)
        return beat.transition_incident(key, state, when)

    with ThreadPoolExecutor(len(beats)) as pool:
        for round_number in range(5):
            key = f"entry:contested-{round_number}"
            for state, previous in (("failing", INCIDENT_OK), (INCIDENT_OK, "failing")):
                when = at(round_number)
                futures = [pool.submit(move, beat, key, state, when) for beat in beats]
                results = [future.result(timeout=60) for future in futures]
                assert sorted(results, key=str) == [None] * (len(beats) - 1) + [previous]
            assert store.incidents() == []
