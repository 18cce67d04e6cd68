"""The sign-in throttle and the signed-out sessions, on their own."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from celery_stembeat.web.signins import MAX_REMEMBERED, SignedOut, SignInThrottle

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=timezone.utc)


def test_failures_count_per_address_and_age_out_one_by_one() -> None:
    throttle = SignInThrottle(max_failures=3, window=timedelta(minutes=5))
    for minute in range(3):
        assert throttle.wait("a", NOW + timedelta(minutes=minute)) is None
        throttle.failed("a", NOW + timedelta(minutes=minute))
    assert throttle.wait("b", NOW + timedelta(minutes=2)) is None
    assert throttle.wait("a", NOW + timedelta(minutes=2)) == timedelta(minutes=3)
    assert throttle.wait("a", NOW + timedelta(minutes=5)) is None
    throttle.failed("a", NOW + timedelta(minutes=5))
    assert throttle.wait("a", NOW + timedelta(minutes=5)) == timedelta(minutes=1)


def test_signing_in_forgets_the_failures() -> None:
    throttle = SignInThrottle(max_failures=1)
    throttle.failed("a", NOW)
    assert throttle.wait("a", NOW) is not None
    throttle.succeeded("a")
    assert throttle.wait("a", NOW) is None


def test_a_flood_of_addresses_is_bounded() -> None:
    throttle = SignInThrottle(max_failures=1)
    for number in range(MAX_REMEMBERED + 10):
        throttle.failed(f"10.0.{number}", NOW)
    assert len(throttle._failures) == MAX_REMEMBERED
    assert throttle.wait("10.0.0", NOW) is None
    assert throttle.wait(f"10.0.{MAX_REMEMBERED + 9}", NOW) is not None


def test_signed_out_sessions_are_forgotten_when_their_cookie_expires() -> None:
    signed_out = SignedOut(lifetime=timedelta(hours=12))
    signed_out.add("one", NOW)
    signed_out.add("two", NOW + timedelta(hours=6))
    assert "one" in signed_out
    assert "two" in signed_out
    assert "three" not in signed_out
    signed_out.add("three", NOW + timedelta(hours=12))
    assert "one" not in signed_out
    assert "two" in signed_out
    assert "three" in signed_out
