"""What django-celery-beat would do: every fire of a window, from celery's own schedule classes.

This module knows nothing of stembeat's specs or of the importer. It reads the same rows and
rebuilds each task the way django-celery-beat's ``models.py`` and ``schedulers.py`` do:
``celery.schedules.schedule`` for intervals, ``celery.schedules.crontab`` in the row's zone
(``TzAwareCrontab``), ``celery.schedules.solar``, and the clocked rule (due once its instant is
reached), each asked ``is_due(last_run_at)`` as ``ModelEntry.is_due`` asks it, after the same
checks: enabled, ``start_time`` not reached, ``expires`` reached (the task is disabled), a
one-off that ran (disabled).

The beat it simulates is ideal: it looks at a task exactly when the task's schedule asks to be
looked at again (the ``next`` of ``is_due``) and dispatches with no delay, so ``last_run_at``
is the due instant itself. A task held back by ``start_time`` is looked at again at that
instant (a real beat notices within its 5-minute schedule sync). A task that stays due right
after running (celery's repeat in a daylight-saving fold) is looked at again every second and
reported as one fire that repeats.

Fires come one at a time (a task's prediction is an iterator), so memory does not grow with the
window. Where no zone changes its offset, an interval's or a crontab's run of fires comes from
:mod:`.celery_bulk` (celery's arithmetic done in bulk) instead of two ``is_due`` calls each;
celery itself decides the first fire and the last of every such run.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Generator, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone, tzinfo
from typing import Any, NamedTuple

from celery import Celery
from celery.schedules import crontab, schedule, solar

from celery_stembeat.extras import require
from celery_stembeat.migrate.celery_bulk import crontab_fires, interval_fires
from celery_stembeat.migrate.dcb_rows import KINDS, DcbSettings, TaskRow
from celery_stembeat.specs import load_zone

UTC = timezone.utc
#: How far back django-celery-beat moves the stand-in last run of a task with a start_time.
START_TIME_SHIFT = timedelta(days=365 * 30)
#: How often the simulated beat looks again at a task that stays due (a fold repeat).
REPEAT_STEP = timedelta(seconds=1)
#: The most looks in a row that find a task not due: a bound on the simulation, never reached.
MAX_STEPS = 100_000
#: The most fires of one bulk run before celery is asked again.
BULK_LIMIT = 10_000


class Fire(NamedTuple):
    """One dispatch: at ``at``; with ``repeats_until``, again on every tick until that instant."""

    at: datetime
    repeats_until: datetime | None = None


@dataclass
class Prediction:
    """Every fire of one task in the window (in time order, produced as they are read), and why
    there are none when the task cannot run."""

    name: str
    fires: Iterator[Fire] = field(default_factory=lambda: iter(()))
    #: Set when django-celery-beat cannot run the task at all.
    cannot_run: str | None = None


class _Clock:
    """The simulated ``now``, handed to celery's schedules through their ``nowfun``."""

    def __init__(self) -> None:
        self.now = datetime(2000, 1, 1, tzinfo=UTC)

    def reader(self, zone: tzinfo) -> Callable[[], datetime]:
        return lambda: self.now.astimezone(zone)


class _CannotRun(Exception):
    """django-celery-beat drops or disables the task as it loads it."""


#: ``(a fire, until) → the fires after it``: celery's arithmetic in bulk (:mod:`.celery_bulk`).
Bulk = Callable[[datetime, datetime], Iterator[datetime]]


@dataclass
class _Task:
    """A task as ModelEntry holds it: its schedule, state and the model fields it checks."""

    row: TaskRow
    clock: _Clock
    due: Callable[[datetime], tuple[bool, datetime | None]]
    last_run_at: datetime
    total_run_count: int
    enabled: bool
    #: A clocked schedule stays due once reached.
    clocked: bool = False
    bulk: Bulk | None = None


class DcbOracle:
    """Predicts django-celery-beat's fires for rows read with :mod:`.dcb_rows`."""

    def __init__(self, settings: DcbSettings, bulk: int = BULK_LIMIT) -> None:
        """``bulk``: the most fires of one run taken from :mod:`.celery_bulk` before celery is
        asked again; 0 asks celery for every fire (the reference the shortcut is tested on)."""
        self.settings = settings
        self.bulk_limit = bulk
        self.app = Celery("stembeat-oracle", set_as_current=False)
        self.app.conf.timezone = settings.celery_timezone
        self.app_zone = load_zone(settings.celery_timezone)
        #: The zone of Django's ``now()`` made aware (``TIME_ZONE``).
        self.django_zone = load_zone(settings.time_zone)

    def check_libraries(self, rows: Iterable[TaskRow]) -> None:
        """Raise :class:`~celery_stembeat.extras.MissingExtra` when celery needs a library that
        is not installed for the schedule of one of ``rows`` (ephem, for solar)."""
        if any("solar" in row.schedules for row in rows):
            require("ephem")

    # -- the schedule, as the models build it ---------------------------------------------------

    def _celery_schedule(self, task: TaskRow, clock: _Clock) -> Any:
        kind = next((kind for kind in KINDS if kind in task.links), None)
        if kind is None:
            raise _CannotRun("no schedule: django-celery-beat's beat fails on this row")
        row = task.schedules.get(kind)
        if row is None:
            raise _CannotRun(f"its {kind} row is missing: django-celery-beat disables it")
        django_now = clock.reader(self.django_zone)
        try:
            if kind == "interval":
                every = timedelta(**{str(row.get("period")): row.get("every")})
                return schedule(every, nowfun=django_now, app=self.app)
            if kind == "solar":
                return solar(
                    row.get("event"),
                    row.get("latitude"),
                    row.get("longitude"),
                    nowfun=django_now,
                    app=self.app,
                )
            if kind == "crontab":
                return self._crontab(row.values, clock)
        except (ValueError, TypeError) as exc:
            raise _CannotRun(f"celery refuses its {kind}: {exc}") from None
        return row.get("clocked_time")

    def _crontab(self, values: Any, clock: _Clock) -> crontab:
        fields = {
            name: values.get(name) or "*"
            for name in ("minute", "hour", "day_of_week", "day_of_month", "month_of_year")
        }
        zone = self.app_zone
        if self.settings.tz_aware:
            zone = load_zone(values.get("timezone") or self.settings.celery_timezone)
        entry = crontab(**fields, nowfun=clock.reader(zone), app=self.app)
        if self.settings.tz_aware:
            # TzAwareCrontab: the row's zone replaces the app's.
            entry.tz = zone
        return entry

    def _due_function(
        self, built: Any, clock: _Clock
    ) -> Callable[[datetime], tuple[bool, datetime | None]]:
        """``last_run_at → (is_due, when to look again)`` at the clock's ``now``."""
        if isinstance(built, datetime):
            clocked_time = built

            def clocked_due(last_run_at: datetime) -> tuple[bool, datetime | None]:
                if clock.now >= clocked_time:
                    return True, None
                return False, clocked_time

            return clocked_due
        zone = getattr(built, "tz", self.app_zone) if isinstance(built, crontab) else None

        def due(last_run_at: datetime) -> tuple[bool, datetime | None]:
            last = last_run_at.astimezone(self.app_zone)
            if zone is not None:
                last = last.astimezone(zone)
            state = built.is_due(last)
            if state.is_due:
                return True, None
            return False, clock.now + timedelta(seconds=state.next)

        return due

    def _bulk(self, built: Any) -> Bulk | None:
        """celery's arithmetic in bulk for an interval or a crontab (see :mod:`.celery_bulk`)."""
        if isinstance(built, crontab):
            zone = built.tz
            return lambda after, until: crontab_fires(after, built, zone, until)
        if isinstance(built, schedule) and built.run_every > timedelta(0):
            every = built.run_every
            zones = (self.app_zone, self.django_zone)
            return lambda after, until: interval_fires(after, every, zones, until)
        return None

    def _load(self, task: TaskRow, start: datetime) -> _Task:
        """The task as ModelEntry builds it when beat loads it at ``start``."""
        for text, default in ((task.args, "[]"), (task.kwargs, "{}"), (task.headers, "{}")):
            try:
                json.loads(text or default)
            except ValueError:
                raise _CannotRun("its arguments or headers are not JSON") from None
        clock = _Clock()
        clock.now = start
        built = self._celery_schedule(task, clock)
        last = task.last_run_at
        if last is None:
            last = task.date_changed or start
            if task.start_time is not None:
                last -= START_TIME_SHIFT
        due = self._due_function(built, clock)
        clocked = isinstance(built, datetime)
        bulk = None if task.one_off or not self.bulk_limit else self._bulk(built)
        return _Task(task, clock, due, last, task.total_run_count, task.enabled, clocked, bulk)

    # -- the beat -------------------------------------------------------------------------------

    def predict(self, task: TaskRow, start: datetime, end: datetime) -> Prediction:
        """Every fire of ``task`` from ``start`` (beat starts) up to and including ``end``."""
        try:
            loaded = self._load(task, start)
        except _CannotRun as exc:
            return Prediction(task.name, cannot_run=str(exc))
        return Prediction(task.name, self._fires(loaded, start, end))

    def _fires(self, task: _Task, start: datetime, end: datetime) -> Iterator[Fire]:
        now = start
        idle = 0
        row = task.row
        while now <= end and task.enabled and idle < MAX_STEPS:
            if row.start_time is not None and now < row.start_time:
                now = row.start_time
                continue
            if row.expires is not None and now >= row.expires:
                return
            if row.one_off and task.total_run_count > 0:
                return
            task.clock.now = now
            due, wake = task.due(task.last_run_at)
            if not due:
                assert wake is not None
                now = wake
                idle += 1
                continue
            idle = 0
            fire, now = self._dispatch(task, now, end)
            yield fire
            if task.bulk is not None and fire.repeats_until is None:
                now = yield from self._in_bulk(task, task.bulk, fire.at, now, end)

    def _in_bulk(
        self, task: _Task, bulk: Bulk, last: datetime, wake: datetime, end: datetime
    ) -> Generator[Fire, None, datetime]:
        """The fires after ``last`` that celery's arithmetic gives in bulk, when its first is
        celery's own ``wake``; return the instant to look at next (the run's last fire, which
        celery then decides)."""
        expires = task.row.expires
        pending: datetime | None = None
        for count, at in enumerate(bulk(last, end)):
            if count == 0 and at != wake:
                break
            if at > end or (expires is not None and at >= expires) or count == self.bulk_limit:
                break
            if pending is not None:
                task.last_run_at = pending
                task.total_run_count += 1
                yield Fire(pending)
            pending = at
        return wake if pending is None else pending

    def _dispatch(self, task: _Task, now: datetime, end: datetime) -> tuple[Fire, datetime]:
        """Run the due task at ``now``: the fire, and when to look at the task again."""
        task.last_run_at = now
        task.total_run_count += 1
        if task.row.one_off:
            # The next look disables it (ModelEntry.is_due).
            return Fire(now), now
        if task.clocked:
            # Not one-off: every schedule sync finds it due again (every 5 minutes).
            return Fire(now, repeats_until=end), end + REPEAT_STEP
        task.clock.now = now
        due, wake = task.due(now)
        if not due:
            assert wake is not None
            return Fire(now), wake
        # Still due right after running: beat sends it on every tick while this lasts.
        first, last = now, now
        while due and last < end:
            last = now
            now += REPEAT_STEP
            task.clock.now = now
            task.last_run_at = last
            due, wake = task.due(last)
        return Fire(first, repeats_until=last), now if wake is None else max(wake, now)
