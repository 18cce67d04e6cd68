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
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone, tzinfo
from typing import Any

from celery import Celery
from celery.schedules import crontab, schedule, solar

from celery_stembeat.migrate.dcb_rows import KINDS, DcbSettings, TaskRow
from celery_stembeat.specs import load_zone

UTC = timezone.utc
#: How far back django-celery-beat moves the stand-in last run of a task with a start_time.
START_TIME_SHIFT = timedelta(days=365 * 30)
#: How often the simulated beat looks again at a task that stays due (a fold repeat).
REPEAT_STEP = timedelta(seconds=1)
#: The most checks one task may take: a bound on the simulation, never reached in practice.
MAX_STEPS = 2_000_000


@dataclass(frozen=True)
class Fire:
    """One dispatch: at ``at``; with ``repeats_until``, again on every tick until that instant."""

    at: datetime
    repeats_until: datetime | None = None


@dataclass
class Prediction:
    """Every fire of one task in the window, and why there are none when the task cannot run."""

    name: str
    fires: list[Fire] = field(default_factory=list)
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


@dataclass
class _Task:
    """A task as ModelEntry holds it: its schedule, state and the model fields it checks."""

    row: TaskRow
    due: Callable[[datetime], tuple[bool, datetime | None]]
    last_run_at: datetime
    total_run_count: int
    enabled: bool
    #: A clocked schedule stays due once reached.
    clocked: bool = False


class DcbOracle:
    """Predicts django-celery-beat's fires for rows read with :mod:`.dcb_rows`."""

    def __init__(self, settings: DcbSettings) -> None:
        self.settings = settings
        self.app = Celery("stembeat-oracle", set_as_current=False)
        self.app.conf.timezone = settings.celery_timezone
        self.app_zone = load_zone(settings.celery_timezone)
        #: The zone of Django's ``now()`` made aware (``TIME_ZONE``).
        self.django_zone = load_zone(settings.time_zone)
        self.clock = _Clock()

    # -- the schedule, as the models build it ---------------------------------------------------

    def _celery_schedule(self, task: TaskRow) -> Any:
        kind = next((kind for kind in KINDS if kind in task.links), None)
        if kind is None:
            raise _CannotRun("no schedule: django-celery-beat's beat fails on this row")
        row = task.schedules.get(kind)
        if row is None:
            raise _CannotRun(f"its {kind} row is missing: django-celery-beat disables it")
        django_now = self.clock.reader(self.django_zone)
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
                return self._crontab(row.values)
        except (ValueError, TypeError) as exc:
            raise _CannotRun(f"celery refuses its {kind}: {exc}") from None
        return row.get("clocked_time")

    def _crontab(self, values: Any) -> crontab:
        fields = {
            name: values.get(name) or "*"
            for name in ("minute", "hour", "day_of_week", "day_of_month", "month_of_year")
        }
        zone = self.app_zone
        if self.settings.tz_aware:
            zone = load_zone(values.get("timezone") or self.settings.celery_timezone)
        entry = crontab(**fields, nowfun=self.clock.reader(zone), app=self.app)
        if self.settings.tz_aware:
            # TzAwareCrontab: the row's zone replaces the app's.
            entry.tz = zone
        return entry

    def _due_function(
        self, task: TaskRow, built: Any
    ) -> Callable[[datetime], tuple[bool, datetime | None]]:
        """``last_run_at → (is_due, when to look again)`` at the clock's ``now``."""
        if isinstance(built, datetime):
            clocked_time = built

            def clocked_due(last_run_at: datetime) -> tuple[bool, datetime | None]:
                if self.clock.now >= clocked_time:
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
            return False, self.clock.now + timedelta(seconds=state.next)

        return due

    def _load(self, task: TaskRow, start: datetime) -> _Task:
        """The task as ModelEntry builds it when beat loads it at ``start``."""
        for text, default in ((task.args, "[]"), (task.kwargs, "{}"), (task.headers, "{}")):
            try:
                json.loads(text or default)
            except ValueError:
                raise _CannotRun("its arguments or headers are not JSON") from None
        self.clock.now = start
        built = self._celery_schedule(task)
        last = task.last_run_at
        if last is None:
            last = task.date_changed or start
            if task.start_time is not None:
                last -= START_TIME_SHIFT
        due = self._due_function(task, built)
        clocked = isinstance(built, datetime)
        return _Task(task, due, last, task.total_run_count, task.enabled, clocked)

    # -- the beat -------------------------------------------------------------------------------

    def predict(self, task: TaskRow, start: datetime, end: datetime) -> Prediction:
        """Every fire of ``task`` from ``start`` (beat starts) up to and including ``end``."""
        prediction = Prediction(task.name)
        try:
            loaded = self._load(task, start)
        except _CannotRun as exc:
            prediction.cannot_run = str(exc)
            return prediction
        now = start
        for _ in range(MAX_STEPS):
            if now > end or not loaded.enabled:
                break
            row = loaded.row
            if row.start_time is not None and now < row.start_time:
                now = row.start_time
                continue
            if row.expires is not None and now >= row.expires:
                break
            if row.one_off and loaded.total_run_count > 0:
                break
            self.clock.now = now
            due, wake = loaded.due(loaded.last_run_at)
            if not due:
                assert wake is not None
                now = wake
                continue
            now = self._dispatch(loaded, now, end, prediction)
        return prediction

    def _dispatch(
        self, task: _Task, now: datetime, end: datetime, prediction: Prediction
    ) -> datetime:
        """Run the due task at ``now``; return when to look at it again."""
        task.last_run_at = now
        task.total_run_count += 1
        if task.row.one_off:
            # The next look disables it (ModelEntry.is_due).
            prediction.fires.append(Fire(now))
            return now
        if task.clocked:
            # Not one-off: every schedule sync finds it due again (every 5 minutes).
            prediction.fires.append(Fire(now, repeats_until=end))
            return end + REPEAT_STEP
        self.clock.now = now
        due, wake = task.due(now)
        if not due:
            prediction.fires.append(Fire(now))
            assert wake is not None
            return wake
        # Still due right after running: beat sends it on every tick while this lasts.
        first, last = now, now
        while due and last < end:
            last = now
            now += REPEAT_STEP
            self.clock.now = now
            task.last_run_at = last
            due, wake = task.due(last)
        prediction.fires.append(Fire(first, repeats_until=last))
        return now if wake is None else max(wake, now)
