"""SolarSpec: celery's event names via astral, polar days, offsets, and agreement with celery."""

from __future__ import annotations

import itertools
import time
from datetime import date, datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from astral import Observer
from astral import sun as astral_sun
from celery import Celery
from celery.schedules import solar

from celery_stembeat.specs import SolarSpec, SpecError, parse_spec
from celery_stembeat.specs import solar as solar_module
from tests._celery_versions import skip_before_celery

UTC = timezone.utc
PLACES = {
    "new_york": (40.7128, -74.006),
    "london": (51.5074, -0.1278),
    "tromso": (69.6492, 18.9553),
    "sydney": (-33.8688, 151.2093),
}
EVENTS = (
    "dawn_astronomical",
    "dawn_nautical",
    "dawn_civil",
    "sunrise",
    "solar_noon",
    "sunset",
    "dusk_civil",
    "dusk_nautical",
    "dusk_astronomical",
)

#: Before celery 5.6, celery's ``solar`` put astronomical dusk at +18° (the sun above the
#: horizon) instead of -18°: the reference is right from 5.6 on.
CELERY_DUSK_ASTRONOMICAL = ((5, 6), "celery's dusk_astronomical horizon is -18° from celery 5.6")


def celery_next(event: str, latitude: float, longitude: float, after: datetime) -> datetime:
    """The next event after ``after`` as celery's own ``solar`` schedule computes it."""
    app = Celery(set_as_current=False)
    schedule = solar(event, latitude, longitude, app=app, nowfun=lambda: after)
    return after + schedule.remaining_estimate(after)


def test_sunrise_agrees_with_astral_to_the_second() -> None:
    """next_after returns astral's sunrise for that day, rounded to the second."""
    spec = SolarSpec("sunrise", 40.7128, -74.006)
    expected = astral_sun.sunrise(Observer(40.7128, -74.006), date(2026, 6, 21), tzinfo=UTC)
    found = spec.next_after(datetime(2026, 6, 21, 0, 0, tzinfo=UTC))
    assert found is not None
    assert abs((found - expected).total_seconds()) <= 0.5
    assert found.microsecond == 0
    assert found.tzinfo == UTC


def near_polar_edge(spec: SolarSpec, after: datetime) -> bool:
    """Whether the event is missing on some day within a week of ``after``."""
    return any(spec.event_on(after.date() + timedelta(days=days)) is None for days in range(-7, 9))


@pytest.mark.parametrize("place", sorted(PLACES))
@pytest.mark.parametrize("event", EVENTS)
def test_agrees_with_celery(place: str, event: str) -> None:
    """Over a year of dates we match celery's ephem-based solar: 60 s, 5 min above 60°.

    Where the sun crosses the event's elevation at a shallow angle (high latitudes, or days
    near polar day/night) the two libraries' small differences in horizon and refraction grow
    into minutes; those days are counted and left out.
    """
    if event == "dusk_astronomical":
        skip_before_celery(*CELERY_DUSK_ASTRONOMICAL)
    latitude, longitude = PLACES[place]
    spec = SolarSpec(event, latitude, longitude)
    tolerance = 300 if abs(latitude) > 60 else 60
    compared = 0
    for day in range(5, 365, 10):
        after = datetime(2026, 1, 1, 3, 17, tzinfo=UTC) + timedelta(days=day)
        if near_polar_edge(spec, after):
            continue
        ours = spec.next_after(after)
        theirs = celery_next(event, latitude, longitude, after)
        assert ours is not None
        assert abs((ours - theirs).total_seconds()) <= tolerance, (after, ours, theirs)
        compared += 1
    assert compared >= (24 if abs(latitude) < 60 else 12)


def test_offset_shifts_every_occurrence() -> None:
    """A negative offset fires that long before the event, including the next day's."""
    plain = SolarSpec("sunset", 51.5074, -0.1278)
    early = SolarSpec("sunset", 51.5074, -0.1278, offset=-900)
    after = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
    sunset = plain.next_after(after)
    assert sunset is not None
    assert early.next_after(after) == sunset - timedelta(minutes=15)
    just_before_sunset = sunset - timedelta(minutes=10)
    following = plain.next_after(sunset)
    assert following is not None
    assert early.next_after(just_before_sunset) == following - timedelta(minutes=15)


def test_polar_night_skips_to_the_first_sunrise() -> None:
    """In Tromsø's polar night the next sunrise is in mid-January, not None."""
    spec = SolarSpec("sunrise", 69.6492, 18.9553)
    found = spec.next_after(datetime(2026, 12, 10, tzinfo=UTC))
    assert found is not None
    assert datetime(2027, 1, 10, tzinfo=UTC) < found < datetime(2027, 1, 20, tzinfo=UTC)
    midnight_sun_sunset = SolarSpec("sunset", 69.6492, 18.9553).next_after(
        datetime(2026, 6, 1, tzinfo=UTC)
    )
    assert midnight_sun_sunset is not None
    assert midnight_sun_sunset > datetime(2026, 7, 20, tzinfo=UTC)


def test_event_that_never_happens_within_a_year_is_none() -> None:
    """At the pole astronomical dusk may not happen for months; at most a year is searched."""
    pole = SolarSpec("dusk_astronomical", 90, 0)
    found = pole.next_after(datetime(2026, 3, 1, tzinfo=UTC))
    assert found is None or found - datetime(2026, 3, 1, tzinfo=UTC) <= timedelta(days=370)
    assert SolarSpec("solar_noon", 90, 0).next_after(datetime(2026, 3, 1, tzinfo=UTC))


def test_occurrences_strictly_increase_across_the_year() -> None:
    """Daily events follow one another, each strictly after the last."""
    spec = SolarSpec("dusk_civil", -33.8688, 151.2093)
    fires = list(spec.occurrences(datetime(2026, 1, 1, tzinfo=UTC), 400))
    assert len(fires) == 400
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(fires)]
    assert all(23 * 3600 < gap < 25 * 3600 for gap in gaps)


def test_dict_form_and_description() -> None:
    """to_dict round-trips through parse_spec; describe() names event, offset and place."""
    spec = SolarSpec("sunrise", 40.71, -74.01, offset=-900)
    assert spec.to_dict() == {
        "type": "solar",
        "event": "sunrise",
        "latitude": 40.71,
        "longitude": -74.01,
        "offset": -900.0,
    }
    assert parse_spec(spec.to_dict()) == spec
    assert spec.describe() == "sunrise-15m @40.71/-74.01"
    assert SolarSpec("sunset", 51.5074, -0.1278).describe() == "sunset @51.5074/-0.1278"


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"latitude": 95}, "latitude 95 is outside -90..90"),
        ({"latitude": -90.5}, "latitude -90.5 is outside -90..90"),
        ({"longitude": 181}, "longitude 181 is outside -180..180"),
        ({"latitude": "north"}, "latitude 'north' is not a number"),
        ({"event": "moonrise"}, "solar event 'moonrise' is not one of"),
        ({"offset": 90000}, "solar offset 90000 is outside"),
    ],
)
def test_bad_input_names_the_field(fields: dict[str, object], message: str) -> None:
    """Each invalid field raises SpecError with the field and the value."""
    data: dict[str, object] = {"type": "solar", "event": "sunrise", "latitude": 1, "longitude": 1}
    data.update(fields)
    with pytest.raises(SpecError, match=message):
        parse_spec(data)


def test_celery_solar_converts() -> None:
    """celery's solar object becomes the equivalent SolarSpec."""
    app = Celery(set_as_current=False)
    assert parse_spec(solar("dusk_nautical", 51.5, -0.12, app=app)) == SolarSpec(
        "dusk_nautical", 51.5, -0.12
    )


#: Published sunrise/sunset (USNO, NOAA, MET Norway), local wall time, to the minute.
KNOWN_ANSWERS = [
    ("America/New_York", 40.7128, -74.006, "2026-03-15", "07:08", "19:03"),
    ("America/New_York", 40.7128, -74.006, "2026-06-21", "05:25", "20:31"),
    ("America/New_York", 40.7128, -74.006, "2026-12-21", "07:17", "16:32"),
    ("Europe/London", 51.5074, -0.1278, "2026-01-15", "07:59", "16:21"),
    ("Europe/London", 51.5074, -0.1278, "2026-03-20", "06:03", "18:13"),
    ("Europe/London", 51.5074, -0.1278, "2026-07-24", "05:13", "21:01"),
    ("Europe/London", 51.5074, -0.1278, "2019-12-21", "08:03", "15:53"),
    ("Europe/Oslo", 69.6492, 18.9553, "2023-03-20", "05:45", "18:00"),
    ("Australia/Sydney", -33.8688, 151.2093, "2017-03-20", "06:58", "19:07"),
    ("Australia/Sydney", -33.8688, 151.2093, "2017-06-21", "07:00", "16:54"),
    ("Australia/Sydney", -33.8688, 151.2093, "2017-09-23", "05:44", "17:52"),
    ("Australia/Sydney", -33.8688, 151.2093, "2017-12-21", "05:41", "20:06"),
]


@pytest.mark.parametrize(
    ("zone", "latitude", "longitude", "day", "sunrise", "sunset"),
    KNOWN_ANSWERS,
    ids=[f"{row[0]}-{row[3]}" for row in KNOWN_ANSWERS],
)
def test_published_sunrise_and_sunset(
    zone: str, latitude: float, longitude: float, day: str, sunrise: str, sunset: str
) -> None:
    """Within two minutes of the almanac (they round, and use slightly different refraction)."""
    local = ZoneInfo(zone)
    midnight = datetime.fromisoformat(day).replace(tzinfo=local)
    for event, expected in (("sunrise", sunrise), ("sunset", sunset)):
        found = SolarSpec(event, latitude, longitude).next_after(midnight)
        assert found is not None
        wall = datetime.fromisoformat(f"{day}T{expected}").replace(tzinfo=local)
        assert abs((found - wall).total_seconds()) <= 120, (event, found.astimezone(local))


@pytest.mark.parametrize(("day", "event"), [("2023-06-20", "sunset"), ("2023-12-20", "sunrise")])
def test_tromso_midnight_sun_and_polar_night_have_no_event_that_day(day: str, event: str) -> None:
    """No sunset on 20 June, no sunrise on 20 December in Tromsø: the next one is weeks away."""
    spec = SolarSpec(event, 69.6492, 18.9553)
    midnight = datetime.fromisoformat(day).replace(tzinfo=ZoneInfo("Europe/Oslo"))
    found = spec.next_after(midnight)
    assert found is not None
    assert found - midnight > timedelta(days=20)


END_OF_TIME = datetime.max.replace(tzinfo=UTC)


@pytest.mark.parametrize(
    "spec",
    [
        SolarSpec("sunrise", 51.5074, -0.1278),
        SolarSpec("dusk_civil", -33.87, 151.21, offset=-3600),  # evening event, east
        SolarSpec("sunset", 21.3, -157.86, offset=86400),  # a day's offset, far west
        SolarSpec("sunrise", 78.22, 15.65),  # Svalbard: no sunrise for months
    ],
    ids=str,
)
@pytest.mark.parametrize(
    "after",
    [
        END_OF_TIME,
        datetime(9999, 12, 31, 0, 0, tzinfo=UTC),
        datetime(9999, 11, 1, tzinfo=UTC),
        datetime(9999, 12, 31, 20, 0, tzinfo=timezone(timedelta(hours=-5))),
    ],
    ids=str,
)
def test_no_occurrence_past_the_end_of_datetime(spec: SolarSpec, after: datetime) -> None:
    """An event that would pass 9999-12-31 (or the search for one) is None, never an error."""
    found = spec.next_after(after)
    assert found is None or after < found <= END_OF_TIME


def test_events_in_the_last_days_of_datetime_are_found() -> None:
    """Near the end, the events that still fit are found; the one after is None."""
    spec = SolarSpec("sunrise", 51.5074, -0.1278)
    last = spec.next_after(datetime(9999, 12, 31, tzinfo=UTC))
    assert last is not None
    assert last.date() == date(9999, 12, 31)
    assert spec.next_after(last) is None


BASE = {"type": "solar", "event": "sunrise", "latitude": 1, "longitude": 1}
KNOWN_EVENTS = ", ".join(EVENTS)


@pytest.mark.parametrize(
    ("fields", "message", "field"),
    [
        ({"latitude": 90.000001}, "latitude 90.000001 is outside -90..90", "latitude"),
        ({"latitude": -90.000001}, "latitude -90.000001 is outside -90..90", "latitude"),
        ({"longitude": -181}, "longitude -181 is outside -180..180", "longitude"),
        ({"latitude": "north"}, "latitude 'north' is not a number", "latitude"),
        ({"longitude": True}, "longitude True is not a number", "longitude"),
        ({"longitude": None}, "longitude None is not a number", "longitude"),
        ({"event": "moonrise"}, f"solar event 'moonrise' is not one of {KNOWN_EVENTS}", "event"),
        ({"event": 3}, f"solar event 3 is not one of {KNOWN_EVENTS}", "event"),
        ({"offset": 86400.001}, "solar offset 86400.001 is outside ±86400 s", "offset"),
        ({"offset": -86400.001}, "solar offset -86400.001 is outside ±86400 s", "offset"),
        ({"offset": "5m"}, "solar offset '5m' is not a number of seconds", "offset"),
        ({"offset": True}, "solar offset True is not a number of seconds", "offset"),
        ({"event": None}, f"solar event None is not one of {KNOWN_EVENTS}", "event"),
        (
            {"offset": 1, "place": "x"},
            "solar: unknown field 'place' (known: event, latitude, longitude, offset)",
            "place",
        ),
    ],
)
def test_errors_are_exact_and_name_the_field(
    fields: dict[str, object], message: str, field: str
) -> None:
    """Each invalid field is a SpecError with that field and, word for word, the message."""
    with pytest.raises(SpecError) as caught:
        parse_spec({**BASE, **fields})
    assert str(caught.value) == message
    assert caught.value.field == field


@pytest.mark.parametrize("name", ["event", "latitude", "longitude"])
def test_missing_field_is_exact(name: str) -> None:
    """A dict without event, latitude or longitude says which one is missing."""
    data = {key: value for key, value in BASE.items() if key != name}
    with pytest.raises(SpecError) as caught:
        parse_spec(data)
    assert str(caught.value) == f"solar {name!r}: missing"
    assert caught.value.field == name


@pytest.mark.parametrize(
    ("fields", "latitude", "longitude", "offset"),
    [
        ({"latitude": 90, "longitude": 180, "offset": 86400}, 90.0, 180.0, 86400.0),
        ({"latitude": -90, "longitude": -180, "offset": -86400}, -90.0, -180.0, -86400.0),
        ({"latitude": "12.5", "longitude": " -3 "}, 12.5, -3.0, 0.0),
        (
            {"latitude": 1.23456789, "longitude": -1.23456749, "offset": 1.23456},
            1.234568,
            -1.234567,
            1.235,
        ),
    ],
)
def test_boundaries_and_rounding(
    fields: dict[str, object], latitude: float, longitude: float, offset: float
) -> None:
    """The limits themselves are allowed; degrees keep 6 decimals and the offset 3 (ms)."""
    spec = parse_spec({**BASE, **fields})
    assert isinstance(spec, SolarSpec)
    assert (spec.latitude, spec.longitude, spec.offset) == (latitude, longitude, offset)


@pytest.mark.parametrize(
    ("spec", "text"),
    [
        (SolarSpec("sunrise", 10, -20.5, offset=900), "sunrise+15m @10/-20.5"),
        (SolarSpec("sunset", 0.000001, 180, offset=0.5), "sunset+500ms @0.000001/180"),
        (SolarSpec("dusk_civil", -45, 0, offset=-0.25), "dusk_civil-250ms @-45/0"),
    ],
)
def test_describe_signs_the_offset_and_trims_degrees(spec: SolarSpec, text: str) -> None:
    """describe(): '+' or '-' and the compact duration; whole degrees carry no decimal point."""
    assert spec.describe() == text


@pytest.mark.parametrize("place", [*sorted(PLACES), "samoa", "kiribati"])
@pytest.mark.parametrize("event", ["sunrise", "solar_noon", "sunset", "dusk_civil"])
def test_event_on_lies_on_that_date_of_the_solar_day(place: str, event: str) -> None:
    """event_on(day) is the event of `day` in the spec's solar day, not of the UTC date."""
    latitude, longitude = {**PLACES, "samoa": (-13.8, -171.8), "kiribati": (1.9, 157.4)}[place]
    spec = SolarSpec(event, latitude, longitude)
    for day in (date(2026, 3, 1), date(2026, 9, 1)):
        found = spec.event_on(day)
        assert found is not None
        assert found.astimezone(spec.solar_day).date() == day


@pytest.mark.parametrize("offset", [86400, -86400, 43200])
@pytest.mark.parametrize("hour", [0, 3, 6, 12, 18, 23])
def test_offsets_of_up_to_a_day_shift_every_occurrence(offset: int, hour: int) -> None:
    """With an offset of up to a day, the next firing is the next event shifted by it."""
    plain = SolarSpec("sunrise", 51.5074, -0.1278)
    shifted = SolarSpec("sunrise", 51.5074, -0.1278, offset=offset)
    shift = timedelta(seconds=offset)
    after = datetime(2026, 5, 10, hour, 0, tzinfo=UTC)
    for _ in range(3):
        found = shifted.next_after(after)
        event = plain.next_after(after - shift)
        assert event is not None
        assert found == event + shift
        after = found


@pytest.fixture(params=["Pacific/Kiritimati", "<+2359>-23:59", "<-2359>+23:59"])
def local_zone_far_from_utc(monkeypatch: pytest.MonkeyPatch, request: Any) -> Any:
    """The process's local time zone set far from UTC (up to a minute short of a day)."""
    monkeypatch.setenv("TZ", request.param)
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.mark.usefixtures("local_zone_far_from_utc")
def test_next_after_does_not_depend_on_the_local_zone() -> None:
    """The search runs on the solar day's dates: a noon late in its day is found that day."""
    spec = SolarSpec("solar_noon", 0, -180)  # solar day UTC-12; mid-February noon is 12:14
    after = datetime(2026, 2, 12, 0, 5, tzinfo=UTC)  # 12:05 on 11 February, solar time
    noon = spec.event_on(date(2026, 2, 11))
    assert noon is not None
    assert noon > after
    assert spec.next_after(after) == noon


@pytest.mark.usefixtures("local_zone_far_from_utc")
def test_occurrences_are_utc_whatever_the_local_zone() -> None:
    """Events are returned in UTC, not in the machine's local zone."""
    spec = SolarSpec("sunrise", 51.5074, -0.1278)
    after = datetime(2026, 5, 10, 12, 0, tzinfo=UTC)
    found = spec.next_after(after)
    event = spec.event_on(date(2026, 5, 10))
    assert found is not None
    assert event is not None
    assert found.utcoffset() == timedelta(0)
    assert event.utcoffset() == timedelta(0)


@pytest.mark.parametrize(("micros", "second"), [(499_999, 0), (500_000, 1), (999_999, 1), (0, 0)])
def test_events_are_rounded_half_up_to_the_second(
    monkeypatch: pytest.MonkeyPatch, micros: int, second: int
) -> None:
    """event_on() rounds the computed moment to the nearest second, a half second up."""

    def noon(observer: Observer, day: date, tzinfo: Any) -> datetime:
        return datetime(day.year, day.month, day.day, 12, 0, 0, micros, tzinfo=UTC)

    monkeypatch.setitem(solar_module._EVENTS, "solar_noon", (noon, {}, False))
    spec = SolarSpec("solar_noon", 0, 0)
    assert spec.event_on(date(2026, 1, 1)) == datetime(2026, 1, 1, 12, 0, second, tzinfo=UTC)
