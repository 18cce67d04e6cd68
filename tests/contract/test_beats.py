"""Beats announce themselves in the store: recorded, refreshed, listed, forgotten."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from celery_stembeat.stores import BeatInfo, Store, open_store
from tests.contract.helpers import T0, at, drop_store

BEAT = BeatInfo(
    owner="web-1:4242",
    host="web-1",
    pid=4242,
    version="0.1.0",
    started_at=T0,
    last_pass_at=at(5),
    store_latency=0.0015,
    clock_offset=-0.25,
)


def test_a_beat_is_recorded_and_refreshed_by_its_owner(store: Store) -> None:
    """record_beat stores every field as given; recording the same owner again replaces it."""
    assert store.beats() == []
    store.record_beat(BEAT)
    assert store.beats() == [BEAT]
    later = replace(BEAT, last_pass_at=at(65), store_latency=0.25, clock_offset=None)
    store.record_beat(later)
    assert store.beats() == [later]


def test_beats_are_listed_by_owner_and_removed_one_by_one(store: Store) -> None:
    others = [replace(BEAT, owner=owner, pid=pid) for owner, pid in (("b:2", 2), ("a:1", 1))]
    for beat in [BEAT, *others]:
        store.record_beat(beat)
    assert [beat.owner for beat in store.beats()] == ["a:1", "b:2", "web-1:4242"]
    assert store.remove_beat("b:2") is True
    assert store.remove_beat("b:2") is False
    assert [beat.owner for beat in store.beats()] == ["a:1", "web-1:4242"]


def test_a_beat_silent_for_a_day_is_forgotten_when_another_records_itself(store: Store) -> None:
    """Owners default to host:pid, so every restart is a new beat: the old ones go away."""
    store.record_beat(BEAT)
    store.record_beat(replace(BEAT, owner="web-1:1", last_pass_at=at(5 + 86_400)))
    assert [beat.owner for beat in store.beats()] == ["web-1:1", "web-1:4242"]
    store.record_beat(replace(BEAT, owner="web-1:1", last_pass_at=at(6 + 86_400)))
    assert [beat.owner for beat in store.beats()] == ["web-1:1"]


def test_beats_keep_unicode_and_exact_values(store: Store) -> None:
    beat = replace(
        BEAT,
        owner="hôte-東京:1",
        host="hôte-東京",
        started_at=T0 + timedelta(milliseconds=7),
        last_pass_at=T0 + timedelta(days=3, milliseconds=999),
        store_latency=123.456789,
        clock_offset=1e-6,
    )
    store.record_beat(beat)
    assert store.beats() == [beat]
    assert BeatInfo.from_dict(beat.to_dict()) == beat


def test_drop_forgets_the_beats(store_url: str, backend: str) -> None:
    first = open_store(store_url)
    first.record_beat(BEAT)
    first.drop()
    first.close()
    again = open_store(store_url)
    try:
        assert again.beats() == []
    finally:
        drop_store(again, backend)


def test_a_beat_with_a_nul_in_its_names_is_refused() -> None:
    """Every store keeps what it is given, so a NUL (which PostgreSQL cannot keep) is
    refused where the beat is described."""
    with pytest.raises(ValueError, match=r"^host: 'web\\x001' is not text without NUL"):
        replace(BEAT, host="web\x001")
