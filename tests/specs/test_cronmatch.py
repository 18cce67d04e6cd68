"""The cron matcher (``celery_stembeat.specs._cronmatch``) against croniter's ``get_next``.

Both work on naive wall-clock times, so the comparison is exact everywhere: no time zone, no
DST margin. Expressions come from a seeded generator covering every form croniter expands
(values, names, ranges, wrapping ranges, steps, lists, ``*`` inside lists, ``?``, ``L`` days,
``#n`` and ``L<n>`` weekdays, day-of-week 7, a leading seconds field) with ``day_or`` both
ways; starts cluster around month and year ends in 1999-2101, which holds the leap years 2000
and 2004-2096 and the common year 2100.
"""

from __future__ import annotations

import functools
import random
import re
from collections import Counter
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from croniter import CroniterBadDateError, croniter

from celery_stembeat.specs._cronmatch import _number, compile_matcher
from celery_stembeat.specs.cron import MONTH_NAMES, WEEKDAY_NAMES
from tests.specs._cron_support import Field

SEED = 20261205
EXPRESSIONS = 2500
STARTS_PER_EXPRESSION = 4


SECOND = Field(0, 59, 0.3)
MINUTE = Field(0, 59, 0.2)
HOUR = Field(0, 23, 0.3)
DAY_OF_MONTH = Field(1, 31, 0.5)
MONTH = Field(1, 12, 0.6, MONTH_NAMES)
DAY_OF_WEEK = Field(0, 7, 0.5, WEEKDAY_NAMES)  # 7 is Sunday again


def _value(rnd: random.Random, field: Field) -> str:
    value = rnd.randint(field.low, field.high)
    if value - field.low < len(field.names) and rnd.random() < 0.4:
        name = field.names[value - field.low]
        return rnd.choice((name, name.upper(), name.title()))
    return str(value)


def _item(rnd: random.Random, field: Field) -> str:
    span = field.high - field.low
    form = rnd.choice(("value", "value", "range", "wrap", "star-step", "range-step", "from-step"))
    if form == "value":
        return _value(rnd, field)
    if form == "star-step":
        return f"*/{rnd.randint(1, span)}"
    if form == "from-step":
        return f"{_value(rnd, field)}/{rnd.randint(1, span)}"
    start = rnd.randint(field.low, field.high - 1)
    end = rnd.randint(start + 1, field.high)
    if form == "wrap":  # croniter reads a backwards range as wrapping round the field
        start, end = end, start
    text = f"{start}-{end}"
    return f"{text}/{rnd.randint(1, span)}" if form == "range-step" else text


def _field(rnd: random.Random, field: Field) -> str:
    if rnd.random() < field.star:
        return "*"
    items = [_item(rnd, field) for _ in range(rnd.choice((1, 1, 1, 2, 3)))]
    if rnd.random() < 0.03:
        items.append("*")  # ``5,*`` is every value
    return ",".join(items)


def _day_of_month(rnd: random.Random) -> str:
    choice = rnd.random()
    if choice < 0.08:
        return "L"
    if choice < 0.16:
        return f"{_item(rnd, DAY_OF_MONTH)},L"
    if choice < 0.2:
        return "?"
    return _field(rnd, DAY_OF_MONTH)


def _special_weekdays(rnd: random.Random) -> str:
    """One or two ``#n`` (nth weekday) or ``L<n>`` (last weekday) items."""
    items = []
    for _ in range(rnd.choice((1, 1, 2))):
        if rnd.random() < 0.6:
            items.append(f"{_value(rnd, DAY_OF_WEEK)}#{rnd.randint(1, 5)}")
        else:  # croniter spells the last weekday with a number only
            items.append(f"L{rnd.randint(0, 7)}")
    return ",".join(items)


def _rare_days(rnd: random.Random) -> tuple[str, str]:
    """Day-of-month and month fields for dates that exist rarely or never (30 February)."""
    if rnd.random() < 0.6:
        return rnd.choice(("29", "30", "31", "29,30", "L", "28-31/2")), rnd.choice(("2", "FEB"))
    return "31", rnd.choice(("4", "6,9", "apr,jun,sep,nov", "11"))


def generate(rnd: random.Random) -> tuple[str, bool, bool]:
    """A random expression croniter accepts, with its ``day_or`` and ``seconds`` flags."""
    seconds = rnd.random() < 0.3
    fields = [_field(rnd, MINUTE), _field(rnd, HOUR)]
    days, months = _day_of_month(rnd), _field(rnd, MONTH)
    weekdays = "?" if rnd.random() < 0.1 else _field(rnd, DAY_OF_WEEK)
    choice = rnd.random()
    if choice < 0.12:  # croniter takes '#' and 'L' weekdays only with any day of month
        days, weekdays = rnd.choice(("*", "?")), _special_weekdays(rnd)
    elif choice < 0.18:
        days, months = _rare_days(rnd)
    fields += [days, months, weekdays]
    if seconds:
        fields.insert(0, _field(rnd, SECOND))
    return " ".join(fields), rnd.random() < 0.6, seconds


def random_start(rnd: random.Random) -> datetime:
    """A naive instant near a month or year end (or anywhere), to the µs before 2099."""
    # 2000 is a leap year although a century, 2100 is not: both often.
    year = rnd.choice((2000, 2100)) if rnd.random() < 0.15 else rnd.randint(1999, 2101)
    month = rnd.choice((2, 2, 12, rnd.randint(1, 12)))
    anchor = datetime(year, month, 1)
    if rnd.random() < 0.7:
        start = anchor + timedelta(seconds=rnd.randint(-3 * 86400, 3 * 86400))
    else:
        start = anchor + timedelta(seconds=rnd.randint(0, 28 * 86400))
    # croniter goes through float timestamps: exact to the µs only up to about 2100.
    if year < 2099 and rnd.random() < 0.3:
        start += timedelta(microseconds=rnd.randint(0, 999_999))
    elif rnd.random() < 0.3:
        start = start.replace(second=0)
    return start


@functools.cache
def cases() -> tuple[tuple[str, bool, bool, tuple[datetime, ...]], ...]:
    rnd = random.Random(SEED)
    return tuple(
        (*generate(rnd), tuple(random_start(rnd) for _ in range(STARTS_PER_EXPRESSION)))
        for _ in range(EXPRESSIONS)
    )


def croniter_next(iterator: croniter, start: datetime) -> datetime | None:
    """croniter's next wall-clock time after ``start``; ``None`` where it finds none."""
    iterator.set_current(start, force=True)
    try:
        found: datetime = iterator.get_next(datetime)
    except CroniterBadDateError:
        return None
    return found


def forms_of(expression: str, day_or: bool, seconds: bool) -> set[str]:
    """The syntax forms an expression uses, for the coverage test."""
    fields = expression.split()
    days, weekdays = fields[-3], fields[-1]
    items = [item for field in fields for item in field.split(",")]
    ranges = [re.fullmatch(r"(\d+)-(\d+)(/\d+)?", item) for item in items]
    both = days not in ("*", "?") and weekdays not in ("*", "?")
    found = {
        "seconds": seconds,
        "day OR": day_or and both,
        "day AND": not day_or and both,
        "last day": "L" in days,
        "nth weekday": "#" in weekdays,
        "last weekday": "L" in weekdays,
        "?": "?" in fields,
        "* in a list": any("*" in field.split(",")[1:] for field in fields),
        "*/n": any(item.startswith("*/") for item in items),
        "n/n": any(re.fullmatch(r"\w+/\d+", item) for item in items),
        "range": any(match and int(match[1]) < int(match[2]) for match in ranges),
        "wrapping range": any(match and int(match[1]) > int(match[2]) for match in ranges),
        "range step": any(match and match[3] for match in ranges),
        "list": len(items) > len(fields),
        "name": re.search("[a-z]{3}", expression) is not None,
        "upper-case name": re.search("[A-Z]{3}", expression) is not None,
        "Sunday as 7": "7" in re.split(r"[,#L/-]", weekdays),
    }
    return {name for name, present in found.items() if present}


def test_generator_covers_every_form() -> None:
    """Every syntax form and both day rules occur, often enough to mean something."""
    counts = Counter(
        form for expression, *flags, _ in cases() for form in forms_of(expression, *flags)
    )
    assert len({expression for expression, *_ in cases()}) > EXPRESSIONS * 0.9
    assert len(counts) == 17, counts
    assert min(counts.values()) >= 50, counts


def test_matcher_agrees_with_croniter() -> None:
    """Same next wall-clock time (or none) for every generated expression and start."""
    mismatches = []
    outcomes: Counter[str] = Counter()
    for expression, day_or, seconds, starts in cases():
        matcher = compile_matcher(expression, day_or, seconds)
        iterator = croniter(
            expression, datetime(2000, 1, 1), day_or=day_or, second_at_beginning=seconds
        )
        for start in starts:
            ours, theirs = matcher.next_after(start), croniter_next(iterator, start)
            if theirs is None:
                outcomes["never"] += 1
            else:
                outcomes["years ahead" if theirs - start > timedelta(days=366) else "found"] += 1
            if ours != theirs:
                mismatches.append(f"{expression!r} {day_or=} after {start}: {ours} {theirs}")
    assert not mismatches, "\n".join(mismatches[:20])
    assert outcomes.total() == EXPRESSIONS * STARTS_PER_EXPRESSION
    assert outcomes["never"] >= 20, outcomes
    assert outcomes["years ahead"] >= 20, outcomes


@pytest.mark.parametrize(
    ("expression", "day_or", "start", "expected"),
    [
        # Vixie OR: the 13th or a Friday; AND: a Friday the 13th.
        ("0 0 13 * fri", True, "2026-02-01", "2026-02-06"),
        ("0 0 13 * fri", False, "2026-02-01", "2026-02-13"),
        ("0 0 13 * fri", False, "2026-02-14", "2026-03-13"),
        # 29 February, and 29 February on a Monday: 2016, 2044 (day_or off), 2072.
        ("0 0 29 2 *", True, "2097-01-01", "2104-02-29"),
        ("0 0 29 2 mon", False, "2016-03-01", "2044-02-29"),
        # The last day, the last Friday, the fifth Monday (not every month has one).
        ("0 0 L * *", True, "2100-02-01", "2100-02-28"),
        ("0 0 * * L5", True, "2026-02-27", "2026-03-27"),
        ("0 0 * * 1#5", True, "2026-04-01", "2026-06-29"),
        # Sunday as 7; the seconds field rolls over the minute, hour, day and year.
        ("0 0 * * 7", True, "2026-01-01", "2026-01-04"),
        ("*/20 * * * * *", True, "2026-12-31 23:59:40", "2027-01-01"),
    ],
)
def test_known_answers(expression: str, day_or: bool, start: str, expected: str) -> None:
    seconds = len(expression.split()) == 6
    found = compile_matcher(expression, day_or, seconds).next_after(datetime.fromisoformat(start))
    assert found == datetime.fromisoformat(expected)


@pytest.mark.parametrize(
    ("expression", "day_or"),
    [("0 0 30 2 *", True), ("0 0 31 4,6,9,11 *", True), ("0 0 31 2 mon", False)],
)
def test_a_date_that_never_exists_never_matches(expression: str, day_or: bool) -> None:
    matcher = compile_matcher(expression, day_or, False)
    assert matcher.never
    assert matcher.next_after(datetime(2000, 1, 1)) is None


def test_nothing_past_year_9999() -> None:
    """The last match in 9999 is found; none follows it, and nothing raises."""
    matcher = compile_matcher("59 23 31 12 *", True, False)
    last = datetime(9999, 12, 31, 23, 59)
    assert matcher.next_after(datetime(9999, 1, 1)) == last
    assert matcher.next_after(last) is None
    assert compile_matcher("0 0 29 2 *", True, False).next_after(datetime(9996, 3, 1)) is None
    assert compile_matcher("* * * * * *", True, True).next_after(datetime.max) is None


def test_the_result_is_in_the_given_zone_whatever_the_start_zone() -> None:
    """Only the start's wall-clock fields count; the result is a fresh ``fold=0`` datetime."""
    matcher = compile_matcher("30 2 * * *", True, False)
    start = datetime(2026, 1, 1, 3, 0, fold=1, tzinfo=timezone(timedelta(hours=5)))
    paris = ZoneInfo("Europe/Paris")
    found = matcher.next_after(start, paris)
    assert found == datetime(2026, 1, 2, 2, 30, tzinfo=paris)
    assert found is not None
    assert found.tzinfo is paris
    assert found.fold == 0
    assert matcher.next_after(start) == datetime(2026, 1, 2, 2, 30)


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("0 0 15W * *", "only five fields, or six with seconds, and no 'W' days are supported"),
        ("0 0 1 * 1#2", "'#' and 'L' weekdays are not supported with a restricted day of month"),
    ],
)
def test_what_croniter_expands_but_the_matcher_does_not_support(
    expression: str, message: str
) -> None:
    """cron.py refuses these before they get here; the matcher refuses them too."""
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        compile_matcher(expression, True, False)


def test_an_unexpected_value_in_the_expansion_is_named() -> None:
    with pytest.raises(ValueError, match=r"^unexpected value 'x' in croniter's expansion$"):
        _number("x")
