"""The batch operations beats and start-up sync rely on, identical on every store:
claims with the index head, reads of many entries, config fingerprints and their digests."""

from __future__ import annotations

from collections.abc import Callable

from celery_stembeat.specs import IntervalSpec
from celery_stembeat.stores import Fingerprint, Store
from tests.contract.helpers import LEASE, T0, at, make_entry, published


def test_claim_batch_returns_the_claims_and_the_head_left_behind(store: Store) -> None:
    store.upsert_many(
        [
            make_entry("a", next_run_at=at(1)),
            make_entry("b", next_run_at=at(2)),
            make_entry("c", next_run_at=at(30)),
            make_entry("off", next_run_at=at(3), enabled=False),
        ]
    )
    batch = store.claim_batch(at(5), 10, "beat-1", LEASE)
    assert [claim.entry_id for claim in batch.claims] == ["a", "b"]
    assert [claim.scheduled_for for claim in batch.claims] == [at(1), at(2)]
    assert batch.next_due_at == at(30)
    # Claimed entries stay out of the index until completed.
    assert store.claim_batch(at(5), 10, "beat-2", LEASE).claims == []
    assert store.next_due_at() == at(30)
    for claim in batch.claims:
        store.complete(claim, published(claim))
    assert store.next_due_at() == at(30)
    again = store.claim_batch(at(62), 10, "beat-1", LEASE)
    assert [claim.entry_id for claim in again.claims] == ["c", "a", "b"]
    assert again.next_due_at is None


def test_claim_batch_with_nothing_due_claims_nothing(store: Store) -> None:
    assert store.claim_batch(T0, 10, "beat-1", LEASE).next_due_at is None
    store.upsert(make_entry("later", next_run_at=at(60)))
    batch = store.claim_batch(T0, 10, "beat-1", LEASE)
    assert (batch.claims, batch.next_due_at) == ([], at(60))
    limited = store.claim_batch(at(60), 0, "beat-1", LEASE)
    assert (limited.claims, limited.next_due_at) == ([], at(60))


def test_claim_batch_honours_the_limit_and_reports_the_rest(store: Store) -> None:
    store.upsert_many([make_entry(f"e{i}", next_run_at=at(i)) for i in range(5)])
    batch = store.claim_batch(at(10), 3, "beat-1", LEASE)
    assert [claim.entry_id for claim in batch.claims] == ["e0", "e1", "e2"]
    assert batch.next_due_at == at(3)


def test_get_many_keeps_the_order_given_and_skips_missing_ids(store: Store) -> None:
    store.upsert_many([make_entry(name) for name in ("x", "y", "z")])
    found = store.get_many(["z", "missing", "x", "y"])
    assert [entry.id for entry in found] == ["z", "x", "y"]
    assert found[0] == store.get("z")
    assert store.get_many([]) == []


def test_fingerprints_cover_config_entries_only(store: Store) -> None:
    store.upsert_many(
        [
            make_entry("from-config", source="config"),
            make_entry("paused", source="config", enabled=False),
            make_entry("from-cli"),
        ]
    )
    assert store.fingerprints() == {
        "from-config": Fingerprint(enabled=True),
        "paused": Fingerprint(enabled=False),
    }


def test_a_digest_holds_while_the_definition_keeps_its_version(store: Store) -> None:
    (stored,) = store.upsert_many([make_entry("job", source="config")])
    store.set_digests({"job": (stored.version, "abc")})
    assert store.fingerprints()["job"] == Fingerprint(enabled=True, digest="abc")
    # Claims and completions leave the definition (and so the digest) alone.
    (claim,) = store.claim_due(T0, 10, "beat-1", LEASE)
    store.complete(claim, published(claim))
    assert store.fingerprints()["job"].digest == "abc"
    # Any new definition moves the version on: the digest no longer applies.
    store.upsert(make_entry("job", source="config", spec=IntervalSpec(30)))
    assert store.fingerprints()["job"] == Fingerprint(enabled=True, digest="")


def test_a_digest_for_an_old_version_is_not_attached(store: Store) -> None:
    (stored,) = store.upsert_many([make_entry("job", source="config")])
    store.upsert(make_entry("job", source="config", description="edited"))
    store.set_digests({"job": (stored.version, "stale"), "gone": (1, "nothing")})
    assert store.fingerprints() == {"job": Fingerprint(enabled=True, digest="")}
    assert store.get("gone") is None


def test_disabling_shows_in_the_fingerprint(store: Store) -> None:
    (stored,) = store.upsert_many([make_entry("job", source="config")])
    store.set_digests({"job": (stored.version, "abc")})
    store.set_enabled("job", False, at(1))
    assert store.fingerprints()["job"].enabled is False


def test_deleted_entries_leave_no_fingerprint(
    store: Store, open_more: Callable[..., Store]
) -> None:
    (stored,) = store.upsert_many([make_entry("job", source="config")])
    store.set_digests({"job": (stored.version, "abc")})
    assert store.delete("job") is True
    store.upsert(make_entry("job"))
    assert open_more().fingerprints() == {}


def test_upsert_many_attaches_digests_to_the_versions_it_writes(store: Store) -> None:
    first = store.upsert_many(
        [make_entry("new", source="config"), make_entry("plain", source="config")],
        {"new": "d1", "absent": "ignored"},
    )
    assert [entry.version for entry in first] == [1, 1]
    assert store.fingerprints() == {
        "new": Fingerprint(enabled=True, digest="d1"),
        "plain": Fingerprint(enabled=True, digest=""),
    }
    # Rewriting an existing entry moves its digest to the new version, or drops it.
    again = store.upsert_many(
        [
            make_entry("new", source="config", description="edited"),
            make_entry("plain", source="config", description="edited"),
        ],
        {"plain": "d2"},
    )
    assert [entry.version for entry in again] == [2, 2]
    assert store.fingerprints() == {
        "new": Fingerprint(enabled=True, digest=""),
        "plain": Fingerprint(enabled=True, digest="d2"),
    }
    assert again == [store.get("new"), store.get("plain")]


def test_values_come_back_exactly_whatever_path_writes_them(store: Store) -> None:
    """Floats in exponent form, strings that look like them, non-text header keys."""
    args = (1e300, 2.5e-300, 0.1, 1.5, 10**30, "1e5", [1e22, {"n": 3e-7}])
    kwargs = {"big": 1e300, "text": "room 4E2"}
    options = {"headers": {"weight": 1.5e-10, "count": 2}}
    one = make_entry("one", args=args, kwargs=kwargs, options=options)
    many = make_entry("many", args=args, kwargs=kwargs, options=options)
    store.upsert(one)
    # With another entry: PostgreSQL writes both rows in one JSON document.
    store.upsert_many([make_entry("plain", args=(0.5, 2e-3)), many])
    for entry_id in ("one", "many"):
        stored = store.get(entry_id)
        assert stored is not None
        assert stored.args == (1e300, 2.5e-300, 0.1, 1.5, 10**30, "1e5", [1e22, {"n": 3e-7}])
        assert [type(value) for value in stored.args[:5]] == [float, float, float, float, int]
        assert type(stored.args[6][0]) is float
        assert stored.kwargs == kwargs
        assert stored.options == options
    plain = store.get("plain")
    assert plain is not None
    assert plain.args == (0.5, 2e-3)


def test_write_many_applies_every_write_in_order_with_its_digest(store: Store) -> None:
    """write_many over several script calls (Redis takes 1,000 a call): a repeated id is
    written again, in order, and each write's digest goes to the version it made."""
    batch = [make_entry(f"job{i:05d}", source="config", args=(i,)) for i in range(2500)]
    repeated = [
        make_entry("job00007", source="config", description="second write"),
        make_entry("job02499", source="config", spec=IntervalSpec(30)),
    ]
    digests = {entry.id: f"d{entry.id}" for entry in batch}
    store.write_many([*batch, *repeated], digests)
    stored = store.get_many(entry.id for entry in batch)
    assert [entry.id for entry in stored] == [entry.id for entry in batch]
    by_id = {entry.id: entry for entry in stored}
    assert by_id["job00007"].description == "second write"
    assert by_id["job00007"].version == 2
    assert by_id["job02499"].spec == IntervalSpec(30)
    assert by_id["job00100"].args == (100,)
    assert by_id["job00100"].version == 1
    marks = store.fingerprints()
    assert len(marks) == 2500
    assert marks["job00100"] == Fingerprint(enabled=True, digest="djob00100")
    assert marks["job00007"] == Fingerprint(enabled=True, digest="djob00007")
    assert marks["job02499"] == Fingerprint(enabled=True, digest="djob02499")
    store.write_many([])
