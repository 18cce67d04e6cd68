"""The celery bridge: celery schedules read as specs, and specs driven by celery's own beat."""

from __future__ import annotations

import pickle
from collections import Counter
from datetime import datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from celery import Celery
from celery.beat import Scheduler
from celery.schedules import BaseSchedule, crontab, schedstate, schedule, solar

from celery_stembeat.celery_schedules import (
    NEVER_CHECK_SECONDS,
    SpecSchedule,
    from_celery,
    to_celery,
)
from celery_stembeat.specs import (
    CalendarSpec,
    ClockedSpec,
    CronSpec,
    IntervalSpec,
    SolarSpec,
    Spec,
    parse_spec,
)
from tests._celery_versions import requires_celery, skip_before_celery

UTC = timezone.utc
NOW = datetime(2026, 1, 15, 12, 0, 7, tzinfo=UTC)


def make_app(zone: str | None = None) -> Celery:
    """A private celery app (never the current one), optionally with a time zone."""
    app = Celery(set_as_current=False, broker="memory://")
    if zone:
        app.conf.timezone = zone
    return app


def wrap(spec: Spec, now: datetime = NOW, app: Celery | None = None) -> SpecSchedule:
    """``spec`` as a celery schedule whose clock stands still at ``now``."""
    return SpecSchedule(spec, nowfun=lambda: now, app=app or make_app())


# --- from celery -------------------------------------------------------------------------------


def test_schedule_timedelta_is_an_interval() -> None:
    """celery's schedule(timedelta) and schedule(seconds) read as IntervalSpec."""
    app = make_app()
    assert from_celery(schedule(timedelta(seconds=90), app=app)) == IntervalSpec(90)
    assert from_celery(schedule(90, app=app)) == IntervalSpec(90)
    assert from_celery(schedule(timedelta(milliseconds=250), app=app)) == IntervalSpec(0.25)
    assert parse_spec(schedule(timedelta(minutes=5), relative=True, app=app)) == IntervalSpec(300)


@pytest.mark.parametrize(
    ("fields", "expression"),
    [
        ({}, "* * * * *"),
        ({"minute": 0, "hour": 9}, "0 9 * * *"),
        ({"minute": 0, "hour": 9, "day_of_week": "mon-fri"}, "0 9 * * 1-5"),
        ({"minute": 0, "hour": 9, "day_of_week": "sun"}, "0 9 * * 0"),
        ({"minute": "*/15"}, "*/15 * * * *"),
        ({"minute": 0, "hour": "*/3"}, "0 */3 * * *"),
        ({"minute": 0, "hour": "0,3,6,9,12,15,18,21"}, "0 0,3,6,9,12,15,18,21 * * *"),
        ({"minute": 0, "hour": 0, "day_of_month": 1, "month_of_year": "*/3"}, "0 0 1 */3 *"),
        ({"minute": 30, "hour": 4, "day_of_month": "1,15"}, "30 4 1,15 * *"),
        ({"minute": 0, "hour": 9, "day_of_month": "1-31", "day_of_week": "mon"}, "0 9 * * 1"),
        ({"minute": 0, "hour": 9, "day_of_month": "1", "day_of_week": "0-6"}, "0 9 1 * *"),
        ({"minute": 0, "hour": 9, "day_of_week": "sun-sat", "day_of_month": "*/1"}, "0 9 * * *"),
        ({"minute": "0-59", "month_of_year": "1-12"}, "* * * * *"),
        ({"minute": 0, "hour": "0-23"}, "0 0-23 * * *"),  # hours written out stay fixed-time
        ({"minute": "*/60"}, "0 * * * *"),  # celery reads */60 as 0; cron would refuse it
        ({"minute": 0, "hour": "*/24"}, "0 0 * * *"),
    ],
)
def test_crontab_with_at_most_one_day_field_is_cron(
    fields: dict[str, Any], expression: str
) -> None:
    """A crontab restricting at most one day field is a CronSpec with the same fields."""
    spec = from_celery(crontab(app=make_app(), **fields))
    assert isinstance(spec, CronSpec)
    assert spec.expression == expression


def test_step_stays_a_step_and_a_list_stays_a_list() -> None:
    """hour='*/3' keeps its step (real-time cadence); the same hours written out stay fixed."""
    app = make_app()
    stepped = from_celery(crontab(minute=0, hour="*/3", app=app))
    listed = from_celery(crontab(minute=0, hour="0,3,6,9,12,15,18,21", app=app))
    assert isinstance(stepped, CronSpec)
    assert isinstance(listed, CronSpec)
    assert stepped.expression == "0 */3 * * *"
    assert listed.expression == "0 0,3,6,9,12,15,18,21 * * *"
    assert stepped != listed
    assert list(stepped.occurrences(NOW, 8)) == list(listed.occurrences(NOW, 8))


def test_both_day_fields_restricted_is_a_calendar_with_and() -> None:
    """crontab(day_of_month='1-7', day_of_week='mon') is the first Monday: a CalendarSpec."""
    app = make_app("America/New_York")
    spec = from_celery(crontab(minute=0, hour=9, day_of_month="1-7", day_of_week="mon", app=app))
    assert spec == CalendarSpec(
        weekdays=[1], monthdays=["1-7"], hours=[9], minutes=[0], timezone="America/New_York"
    )
    found = list(spec.occurrences(datetime(2026, 1, 1, tzinfo=UTC), 3))
    assert found == [
        datetime(2026, 1, 5, 14, 0, tzinfo=UTC),
        datetime(2026, 2, 2, 14, 0, tzinfo=UTC),
        datetime(2026, 3, 2, 14, 0, tzinfo=UTC),
    ]


def test_crontab_zone_comes_from_the_app() -> None:
    """The app's `timezone` setting is the spec's zone; no setting means UTC."""
    fields = {"minute": 0, "hour": 9}
    assert from_celery(crontab(app=make_app("Europe/London"), **fields)) == CronSpec(
        "0 9 * * *", "Europe/London"
    )
    assert from_celery(crontab(app=make_app(), **fields)) == CronSpec("0 9 * * *", "UTC")
    calendar = from_celery(
        crontab(day_of_month=13, day_of_week="fri", app=make_app("Asia/Tokyo"), **fields)
    )
    assert isinstance(calendar, CalendarSpec)
    assert calendar.timezone == "Asia/Tokyo"


def test_timezone_keyword_overrides_the_app_zone() -> None:
    """timezone= names the zone for a crontab, whatever the app says."""
    app = make_app("Europe/London")
    cron = parse_spec(crontab(minute=0, hour=9, app=app), timezone="Asia/Tokyo")
    assert cron == CronSpec("0 9 * * *", "Asia/Tokyo")
    both = parse_spec(
        crontab(minute=0, hour=9, day_of_month=1, day_of_week=1, app=app), timezone="Asia/Tokyo"
    )
    assert isinstance(both, CalendarSpec)
    assert both.timezone == "Asia/Tokyo"


CRONTABS = [
    {"minute": 0, "hour": 9, "day_of_month": "1-7", "day_of_week": "mon"},
    {"minute": 5, "hour": 4, "day_of_month": "13", "day_of_week": "fri"},
    {"minute": 0, "hour": 12, "day_of_month": "2-30/7", "day_of_week": "sat,sun"},
    {"minute": "*/15"},
    {"minute": 30, "hour": "*/3"},
    {"minute": 0, "hour": "9,17", "day_of_week": "mon-fri"},
    {"minute": 0, "hour": 0, "day_of_month": "1", "month_of_year": "*/3"},
    {"minute": 0, "hour": 9, "day_of_month": "1-31", "day_of_week": "mon"},
    {"minute": 0, "hour": 9, "day_of_month": "1", "day_of_week": "0-6"},
]


@pytest.mark.parametrize("zone", ["UTC", "Europe/London", "Asia/Tokyo", "America/New_York"])
@pytest.mark.parametrize("fields", CRONTABS, ids=[str(f) for f in CRONTABS])
def test_converted_crontab_agrees_with_celery(fields: dict[str, Any], zone: str) -> None:
    """Over a year, the converted spec's next occurrence is celery's own crontab's.

    Instants within a day of a DST change are left out: there celery's naive local arithmetic
    and our ISC/Vixie rule legitimately differ (celery even answers with a time in the past).
    """
    if zone != "UTC":
        skip_before_celery(
            (5, 7),
            "crontab reads an aware UTC last run in its own time zone from celery 5.7; before, "
            "it takes the UTC wall clock as local time (off by the zone's UTC offset)",
        )
    app = make_app(zone)
    spec = from_celery(crontab(app=app, **fields))
    assert spec is not None
    local = ZoneInfo(zone)
    compared = 0
    for step in range(120):
        after = datetime(2026, 1, 3, tzinfo=UTC) + timedelta(hours=73 * step, seconds=step * 13)
        offsets = {(after + timedelta(hours=h)).astimezone(local).utcoffset() for h in (-25, 25)}
        if len(offsets) > 1:
            continue
        theirs = crontab(app=app, nowfun=lambda after=after: after, **fields)
        expected = after + theirs.remaining_estimate(after)
        assert spec.next_after(after) == expected, after
        compared += 1
    assert compared > 100


def test_solar_is_a_solar_spec() -> None:
    """celery's solar(event, lat, lon) is a SolarSpec with the same event and place."""
    app = make_app()
    spec = from_celery(solar("dusk_civil", 51.5074, -0.1278, app=app))
    assert spec == SolarSpec("dusk_civil", 51.5074, -0.1278)
    assert parse_spec(solar("sunrise", 40.71, -74.01, app=app)) == SolarSpec(
        "sunrise", 40.71, -74.01
    )


def test_other_objects_are_not_celery_schedules() -> None:
    """from_celery answers None for anything that is not a celery schedule."""
    assert from_celery(object()) is None
    assert from_celery("30s") is None
    assert from_celery(timedelta(seconds=30)) is None


# --- to celery ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "spec",
    [
        IntervalSpec(30),
        CronSpec("0 9 * * *"),
        SolarSpec("sunrise", 0, 0),
        ClockedSpec(NOW),
        CalendarSpec(hours=[9]),
    ],
)
def test_to_celery_is_a_base_schedule(spec: Spec) -> None:
    """Any spec wraps as a celery BaseSchedule that holds the spec and reads back as it."""
    wrapped = to_celery(spec)
    assert isinstance(wrapped, BaseSchedule)
    assert isinstance(wrapped, SpecSchedule)
    assert wrapped.spec is spec
    assert from_celery(wrapped) is spec
    assert repr(wrapped) == f"<stembeat: {spec.describe()}>"


def test_not_due_waits_until_the_next_occurrence() -> None:
    """Last run on the minute, now 7 s later: not due, look again in 53 s."""
    wrapped = wrap(CronSpec("* * * * *"))
    last = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)
    state = wrapped.is_due(last)
    assert isinstance(state, schedstate)
    assert state == (False, 53.0)
    assert wrapped.remaining_estimate(last) == timedelta(seconds=53)


def test_due_waits_until_the_occurrence_after_now() -> None:
    """An occurrence passed since the last run: due, and the wait is to the one after now."""
    wrapped = wrap(CronSpec("* * * * *"))
    last = datetime(2026, 1, 15, 11, 58, 0, tzinfo=UTC)
    assert wrapped.is_due(last) == (True, 53.0)
    assert wrapped.remaining_estimate(last) == timedelta(seconds=-67)


def test_due_exactly_at_the_occurrence() -> None:
    """With now exactly on the next occurrence it is due, and the wait is a whole period."""
    on_time = datetime(2026, 1, 15, 12, 1, tzinfo=UTC)
    wrapped = wrap(CronSpec("* * * * *"), now=on_time)
    assert wrapped.is_due(on_time - timedelta(minutes=1)) == (True, 60.0)


def test_anchored_interval_due_wait_lands_on_the_grid() -> None:
    """For an anchored interval, the wait after a late run is to the next grid point."""
    start = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)
    wrapped = wrap(IntervalSpec(10, start_at=start), now=start + timedelta(seconds=23.5))
    assert wrapped.is_due(start) == (True, 6.5)


def test_past_clocked_spec_is_never_due_again() -> None:
    """A clocked spec already run is not due: the long 'never' wait, also as the estimate."""
    wrapped = wrap(ClockedSpec(NOW - timedelta(hours=1)))
    assert wrapped.is_due(NOW - timedelta(minutes=1)) == (False, NEVER_CHECK_SECONDS)
    assert NEVER_CHECK_SECONDS >= 365 * 86400
    never = timedelta(seconds=NEVER_CHECK_SECONDS)
    assert wrapped.remaining_estimate(NOW - timedelta(minutes=1)) == never


@requires_celery(
    (5, 7),
    "solar with no event that day (a circumpolar sun) answers a wait from celery 5.7; "
    "before, it raises TypeError (ephem.Date + timedelta)",
)
def test_remaining_estimate_is_always_a_timedelta_as_in_celery_solar() -> None:
    """With no occurrence left the estimate is a long positive timedelta, never None.

    celery's own ``solar``, finding no event (the sun does not set at the pole in June),
    also answers a positive timedelta: the time when it wants to look again.
    """
    app = make_app()
    theirs = solar("sunset", 89.9, 0, app=app, nowfun=lambda: NOW.replace(month=6))
    their_estimate = theirs.remaining_estimate(NOW.replace(month=6))
    assert isinstance(their_estimate, timedelta)
    assert their_estimate > timedelta(days=30)
    ended = IntervalSpec(10, start_at=NOW - timedelta(hours=2), end_at=NOW - timedelta(hours=1))
    ours = wrap(ended).remaining_estimate(NOW - timedelta(minutes=30))
    assert ours == timedelta(seconds=NEVER_CHECK_SECONDS)
    assert ours.total_seconds() == wrap(ended).is_due(NOW - timedelta(minutes=30)).next


def test_clocked_spec_due_once_then_never() -> None:
    """A clocked spec not yet run is due once, and the wait after it is 'never'."""
    wrapped = wrap(ClockedSpec(NOW - timedelta(hours=1)))
    assert wrapped.is_due(NOW - timedelta(hours=2)) == (True, NEVER_CHECK_SECONDS)


def test_interval_past_end_at_is_never_due() -> None:
    """An interval that ended is not due and asks to be checked 'never'."""
    spec = IntervalSpec(10, start_at=NOW - timedelta(hours=2), end_at=NOW - timedelta(hours=1))
    assert wrap(spec).is_due(NOW - timedelta(minutes=30)) == (False, NEVER_CHECK_SECONDS)


def test_naive_last_run_at_is_utc() -> None:
    """A naive last_run_at is read as UTC even when the app's zone is far from UTC."""
    wrapped = wrap(CronSpec("* * * * *"), app=make_app("Asia/Tokyo"))
    assert wrapped.is_due(datetime(2026, 1, 15, 12, 0)) == (False, 53.0)
    assert wrapped.remaining_estimate(datetime(2026, 1, 15, 12, 0)) == timedelta(seconds=53)
    assert wrapped.is_due(datetime(2026, 1, 15, 11, 58)) == (True, 53.0)


def test_now_in_another_zone_is_the_same_instant() -> None:
    """A clock that answers in another zone (or naive UTC) gives the same answer."""
    last = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)
    spec = CronSpec("* * * * *")
    tokyo_now = wrap(spec, now=NOW.astimezone(ZoneInfo("Asia/Tokyo")))
    naive_now = wrap(spec, now=NOW.replace(tzinfo=None))
    assert tokyo_now.is_due(last) == (False, 53.0)
    assert naive_now.is_due(last) == (False, 53.0)


def test_equality_hash_and_pickle() -> None:
    """Wrappers are equal when their specs are; pickling keeps the spec (not the clock)."""
    spec = CronSpec("0 9 * * 1-5", "Europe/London")
    wrapped = wrap(spec)
    assert wrapped == to_celery(CronSpec("0 9 * * 1-5", "Europe/London"))
    assert hash(wrapped) == hash(to_celery(spec))
    assert wrapped != to_celery(CronSpec("0 10 * * 1-5", "Europe/London"))
    assert wrapped != schedule(timedelta(seconds=30))
    restored = pickle.loads(pickle.dumps(wrapped))
    assert isinstance(restored, SpecSchedule)
    assert restored == wrapped
    assert restored.spec == spec


# --- a real celery beat Scheduler --------------------------------------------------------------


class FakeClock:
    """A clock for celery's app.now: stands still until advanced."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


class RecordingScheduler(Scheduler):
    """celery's stock Scheduler with only the publish replaced by a record of what it sends."""

    clock: FakeClock

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.sent: list[tuple[str, datetime]] = []
        super().__init__(*args, **kwargs)

    def apply_async(self, entry: Any, producer: Any = None, advance: bool = True, **kw: Any) -> Any:
        self.sent.append((entry.name, self.clock.now))


def run_beat(
    beat_schedule: dict[str, dict[str, Any]],
    start: datetime,
    seconds: float,
    pause: float = 0,
) -> tuple[list[tuple[str, datetime]], tuple[datetime, datetime] | None]:
    """Drive celery's Scheduler.tick() as celery's beat Service does, on a fake clock.

    The loop sleeps for what tick() returns (at least 1 ms, as real time always moves on).
    With ``pause``, the first sleep that reaches halfway lasts ``pause`` seconds longer (beat
    frozen); the frozen window (from, until) is returned with what was sent.
    """
    clock = FakeClock(start)
    app = make_app()
    app.conf.result_expires = None  # no celery.backend_cleanup entry
    app.conf.beat_schedule = beat_schedule
    app.now = clock  # type: ignore[method-assign]
    scheduler = RecordingScheduler(app, max_interval=300)
    scheduler.clock = clock
    end = start + timedelta(seconds=seconds)
    halfway = start + timedelta(seconds=seconds / 2)
    frozen: tuple[datetime, datetime] | None = None
    while clock.now < end:
        clock.advance(max(scheduler.tick(), 0.001))
        if pause and frozen is None and clock.now >= halfway:
            frozen_from = clock.now
            clock.advance(pause)
            frozen = (frozen_from, clock.now)
    return scheduler.sent, frozen


def test_celery_beat_publishes_each_occurrence_once() -> None:
    """celery's own tick() loop sends every occurrence of every kind exactly once, on time."""
    start = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
    interval = IntervalSpec(10, start_at=start - timedelta(seconds=3))
    cron = CronSpec("*/5 * * * *")
    once = ClockedSpec(start + timedelta(minutes=30))
    calendar = CalendarSpec(minutes=[7, 8], hours=[12])
    beat_schedule = {
        "interval": {"task": "t.interval", "schedule": to_celery(interval)},
        "cron": {"task": "t.cron", "schedule": to_celery(cron)},
        "once": {"task": "t.once", "schedule": to_celery(once)},
        "past": {"task": "t.past", "schedule": to_celery(ClockedSpec(start - timedelta(hours=1)))},
        "calendar": {"task": "t.calendar", "schedule": to_celery(calendar)},
    }
    sent, _ = run_beat(beat_schedule, start, 3600)
    counts = Counter(name for name, _ in sent)
    assert counts == {"interval": 360, "cron": 11, "once": 1, "calendar": 2}
    end = start + timedelta(hours=1)
    expected = {
        "interval": list(interval.occurrences(start, 360)),
        "cron": list(cron.occurrences(start, 11)),
        "once": [once.at],
        "calendar": list(calendar.occurrences(start, 2)),
    }
    for name, instants in expected.items():
        published = [at for sent_name, at in sent if sent_name == name]
        assert all(instant < end for instant in instants)
        for scheduled, at in zip(instants, published, strict=True):
            assert timedelta(0) <= at - scheduled < timedelta(milliseconds=50), (name, scheduled)


def test_celery_beat_after_a_pause_sends_one_and_stays_on_the_grid() -> None:
    """After beat freezes for 95 s, celery sends one catch-up run, then resumes on the grid."""
    start = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
    spec = IntervalSpec(10, start_at=start)
    sent, frozen = run_beat({"ten": {"task": "t", "schedule": to_celery(spec)}}, start, 600, 95)
    assert frozen is not None
    frozen_from, resumed = frozen
    grid = list(spec.occurrences(start, 59))
    missed = [at for at in grid if frozen_from <= at <= resumed]
    assert len(missed) >= 9
    times = [at for _, at in sent]
    assert times.count(resumed) == 1  # the one catch-up run, sent as soon as beat wakes
    on_grid = [at for at in times if at != resumed]
    expected = [at for at in grid if at not in missed]
    assert len(on_grid) == len(expected)
    for scheduled, at in zip(expected, on_grid, strict=True):
        assert timedelta(0) <= at - scheduled < timedelta(milliseconds=50), scheduled


@pytest.mark.parametrize(
    ("fields", "expression"),
    [
        ({"minute": "*/58"}, "*/58 * * * *"),
        ({"minute": "*/59"}, "*/59 * * * *"),
        ({"minute": 0, "hour": "*/23"}, "0 */23 * * *"),
        ({"minute": 0, "hour": 0, "day_of_month": "*/30"}, "0 0 */30 * *"),
        ({"minute": 0, "hour": 0, "day_of_month": "*/31"}, "0 0 1 * *"),
        ({"minute": 0, "hour": 0, "month_of_year": "*/12"}, "0 0 * 1 *"),
    ],
)
def test_every_step_that_lands_twice_stays_a_step(fields: dict[str, Any], expression: str) -> None:
    """A written step is kept up to the widest one with two values in the field's range;
    a step past it picks the first value alone and is written as that value."""
    spec = from_celery(crontab(**fields, app=make_app()))
    assert isinstance(spec, CronSpec)
    assert spec.expression == expression


def test_crontab_without_its_written_form_reads_its_values() -> None:
    """A crontab that kept no written form of a field is read from the field's values."""
    entry = crontab(minute="*/15", hour=9, app=make_app())
    del entry._orig_minute
    spec = from_celery(entry)
    assert isinstance(spec, CronSpec)
    assert spec.expression == "0,15,30,45 9 * * *"


def test_wrapper_keeps_the_app_and_hashes_as_its_spec() -> None:
    """to_celery and SpecSchedule hand the app to celery; the hash is the spec's."""
    app = make_app("Europe/London")
    spec = CronSpec("0 9 * * *")
    assert to_celery(spec, app=app).app is app
    assert SpecSchedule(spec, app=app).app is app
    assert hash(to_celery(spec)) == hash(spec)


def test_the_specs_package_still_offers_the_bridge() -> None:
    """``from celery_stembeat.specs import to_celery`` (and the other two) keep working: the
    names are imported from this module on first use."""
    from celery_stembeat import celery_schedules, specs
    from celery_stembeat.specs import SpecSchedule as OfferedSchedule
    from celery_stembeat.specs import from_celery as offered_from
    from celery_stembeat.specs import to_celery as offered_to

    assert OfferedSchedule is celery_schedules.SpecSchedule
    assert offered_from is celery_schedules.from_celery
    assert offered_to is celery_schedules.to_celery
    assert {"SpecSchedule", "from_celery", "to_celery"} <= set(specs.__all__)
    missing = r"'celery_stembeat\.specs' has no attribute 'nothing'"
    with pytest.raises(AttributeError, match=missing):
        specs.nothing  # noqa: B018
