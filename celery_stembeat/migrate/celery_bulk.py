"""celery's next fires in bulk, where celery's own arithmetic gives the same answer as asking it.

The oracle asks a schedule ``is_due`` twice per fire. Between two fires where no zone involved
changes its UTC offset, celery's arithmetic is plain arithmetic: whichever way a celery release
subtracts instants (in UTC, or as wall-clock times in the schedule's zone), both agree when the
offsets agree:

* ``schedule(run_every)``: the next fire is the last plus ``run_every``;
* ``crontab``: the next fire is the first wall-clock minute after the last one's that matches
  all five fields (celery requires every field to match), in the crontab's zone.

Each generator stops before the first fire where an offset differs from the one at ``after``
(the oracle then asks celery again, which moves or drops runs there as it does), or once past
``until``. The oracle starts one only from a fire celery made, and takes it only if its first
fire is celery's own next one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from datetime import date, datetime, timedelta, timezone, tzinfo
from typing import Any

UTC = timezone.utc
_DAY = timedelta(days=1)


def _same_offsets(zones: Sequence[tzinfo], at: datetime) -> Callable[[datetime], bool] | None:
    """A test that an instant has the offsets ``zones`` have at ``at``; ``None`` when no zone
    can change its offset (fixed offsets, UTC)."""
    changing = [zone for zone in dict.fromkeys(zones) if not isinstance(zone, timezone)]
    if not changing:
        return None
    pairs = [(zone, at.astimezone(zone).utcoffset()) for zone in changing]
    if len(pairs) == 1:
        ((zone, offset),) = pairs
        return lambda instant: instant.astimezone(zone).utcoffset() == offset
    return lambda instant: all(instant.astimezone(zone).utcoffset() == o for zone, o in pairs)


def interval_fires(
    after: datetime, every: timedelta, zones: Sequence[tzinfo], until: datetime
) -> Iterator[datetime]:
    """The fires of ``schedule(every)`` after one at ``after``, up to the first past ``until``."""
    same = _same_offsets(zones, after)
    at = after + every
    while same is None or same(at):
        yield at
        if at > until:
            return
        at += every


def crontab_fires(after: datetime, entry: Any, zone: tzinfo, until: datetime) -> Iterator[datetime]:
    """The fires of celery's ``crontab`` ``entry`` in ``zone`` after one at ``after``, up to the
    first past ``until`` (or the first day past it, for a crontab that stops matching)."""
    same = _same_offsets((zone,), after)
    local = after.astimezone(zone)
    offset = local.utcoffset() or timedelta(0)
    times = [
        timedelta(hours=hour, minutes=minute)
        for hour in sorted(entry.hour)
        for minute in sorted(entry.minute)
    ]
    months, days, weekdays = entry.month_of_year, entry.day_of_month, entry.day_of_week
    begun = timedelta(hours=local.hour, minutes=local.minute)
    today = [at for at in times if at > begun]
    day = local.date()
    while True:
        midnight = datetime(day.year, day.month, day.day, tzinfo=UTC) - offset
        if midnight > until:
            return
        if _matches(day, months, days, weekdays):
            for time in today:
                at = midnight + time
                if same is not None and not same(at):
                    return
                yield at
                if at > until:
                    return
        day += _DAY
        today = times


def _matches(day: date, months: set[int], days: set[int], weekdays: set[int]) -> bool:
    return day.month in months and day.day in days and day.isoweekday() % 7 in weekdays
