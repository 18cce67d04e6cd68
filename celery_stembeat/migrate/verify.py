"""The shadow comparison: django-celery-beat's fires (the oracle) against stembeat's, per task.

Instants are compared to the millisecond, stembeat's resolution. Every fire that only one side
makes is a *divergence*, unless it is one of django-celery-beat's known behaviours that stembeat
deliberately does not copy; those are *intentional differences*, each listed with its instants:

* ``dst``: a cron or calendar fire within one clock shift of a daylight-saving change in the
  entry's zone (celery's crontab moves or drops runs there; stembeat follows the ISC cron rule,
  see the table in ``docs/schedules.md``);
* ``fold-repeat``: celery's crontab stays due after a run in a repeated (fold) hour, so
  django-celery-beat sends the task on every beat tick until the hour ends;
* ``solar``: celery computes solar events with ephem, stembeat with astral; a pair of fires
  within a minute (five minutes beyond 60° of latitude) is the same event;
* ``interval-phase``: after a late run (beat was down when the task was due) django-celery-beat
  measures the interval from that dispatch, stembeat keeps the scheduled instants. This is
  django-celery-beat's interval drift, which also moves every run by beat's dispatch latency.

The two predictions of a task are walked in step, as they are produced, and only what the report
needs is kept: counts, and of each run of instants its first, last and first few
(:class:`.Instants`). Memory does not grow with the number of fires.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import celery

from celery_stembeat.engine import EngineSettings
from celery_stembeat.entry import Entry
from celery_stembeat.migrate.convert import floor_ms
from celery_stembeat.migrate.dcb_rows import TaskRow
from celery_stembeat.migrate.instants import SAMPLE, Instants
from celery_stembeat.migrate.oracle import DcbOracle, Fire, Prediction
from celery_stembeat.migrate.predict import predict_entry
from celery_stembeat.specs import (
    CalendarSpec,
    CronSpec,
    IntervalSpec,
    SolarSpec,
    Spec,
    format_instant,
    load_zone,
)

DCB = "django-celery-beat"
STEMBEAT = "stembeat"
#: How close ephem's and astral's times of one solar event are (docs/schedules.md).
SOLAR_TOLERANCE = timedelta(seconds=60)
SOLAR_TOLERANCE_HIGH = timedelta(seconds=300)
HIGH_LATITUDE = 60.0
#: The most unpaired solar fires examined together (a bound reached only by non-solar fires).
SOLAR_CLUSTER = 1000
#: How many compared fires pass between two progress reports.
PROGRESS_STEP = 10_000
#: How far from an instant a daylight-saving change is looked for.
_DST_REACH = timedelta(hours=3)

#: ``(tasks done, fires compared)``, called now and then while a verification runs.
ProgressReport = Callable[[int, int], None]


@dataclass(frozen=True)
class Divergence:
    """A fire only one side makes, unexplained."""

    task: str
    at: datetime
    #: The side that fires: :data:`DCB` or :data:`STEMBEAT`.
    side: str
    detail: str = ""

    def to_dict(self) -> dict[str, str]:
        """JSON-able form."""
        return {
            "task": self.task,
            "at": format_instant(self.at),
            "side": self.side,
            "detail": self.detail,
        }


@dataclass(frozen=True)
class Intentional:
    """Fires that differ because of a known django-celery-beat behaviour stembeat does not copy."""

    task: str
    reason: str
    explanation: str
    dcb: Instants = field(default_factory=Instants)
    stembeat: Instants = field(default_factory=Instants)

    def to_dict(self) -> dict[str, object]:
        """JSON-able form."""
        return {
            "task": self.task,
            "reason": self.reason,
            "explanation": self.explanation,
            DCB: self.dcb.to_dict(),
            STEMBEAT: self.stembeat.to_dict(),
        }


@dataclass
class TaskCheck:
    """One task compared over the window."""

    name: str
    dcb_fires: int = 0
    stembeat_fires: int = 0
    #: The first :data:`.SAMPLE` divergences, in time order.
    divergences: list[Divergence] = field(default_factory=list)
    divergence_count: int = 0
    last_divergence: Divergence | None = None
    intentional: list[Intentional] = field(default_factory=list)
    #: Why one side has nothing to compare (not imported; django-celery-beat cannot run it).
    note: str | None = None
    #: Fires compared: each pair once, and each fire only one side makes.
    compared: int = 0

    def diverges(self, at: datetime, side: str, detail: str = "") -> None:
        """Count a divergence (added in time order), keeping the first few and the last."""
        found = Divergence(self.name, at, side, detail)
        if len(self.divergences) < SAMPLE:
            self.divergences.append(found)
        self.divergence_count += 1
        self.last_divergence = found


@dataclass
class Verification:
    """The whole comparison."""

    start: datetime
    end: datetime
    tasks: list[TaskCheck]
    celery_version: str = celery.__version__

    @property
    def divergences(self) -> list[Divergence]:
        """The divergences kept (the first few of each task), task by task, in time order."""
        return [item for task in self.tasks for item in task.divergences]

    @property
    def divergence_count(self) -> int:
        """How many divergences there are in all."""
        return sum(task.divergence_count for task in self.tasks)

    @property
    def intentional(self) -> list[Intentional]:
        """Every intentional difference."""
        return [item for task in self.tasks for item in task.intentional]

    @property
    def safe(self) -> bool:
        """Whether switching changes no fire beyond the intentional differences."""
        return self.divergence_count == 0

    @property
    def fires(self) -> tuple[int, int]:
        """How many fires each side predicts: django-celery-beat's, stembeat's."""
        return (
            sum(task.dcb_fires for task in self.tasks),
            sum(task.stembeat_fires for task in self.tasks),
        )

    @property
    def compared(self) -> int:
        """How many fires were compared (see :attr:`TaskCheck.compared`)."""
        return sum(task.compared for task in self.tasks)


def _ms(at: datetime) -> datetime:
    return floor_ms(at + timedelta(microseconds=500))


def _rounded(fires: Iterable[Fire]) -> Iterator[Fire]:
    """``fires`` at the nearest millisecond."""
    for fire in fires:
        yield Fire(_ms(fire.at), fire.repeats_until) if fire.at.microsecond % 1000 else fire


@dataclass(frozen=True)
class _Shift:
    at: datetime
    shift: timedelta


def _shift_near(zone_name: str, instant: datetime) -> _Shift | None:
    """The daylight-saving change of ``zone_name`` within reach of ``instant``, if any."""
    zone = load_zone(zone_name)

    def offset(at: datetime) -> timedelta | None:
        return at.astimezone(zone).utcoffset()

    low, high = instant - _DST_REACH, instant + _DST_REACH
    before, after = offset(low), offset(high)
    if before == after or before is None or after is None:
        return None
    while high - low > timedelta(seconds=1):
        middle = floor_ms(low + (high - low) / 2).replace(microsecond=0)
        if offset(middle) == before:
            low = middle
        else:
            high = middle
    return _Shift(high, after - before)


class _Sorter:
    """Sorts the fires only one side makes into divergences and intentional differences."""

    def __init__(self, check: TaskCheck) -> None:
        self.check = check

    def only(self, side: str, at: datetime) -> None:
        """A fire of ``side`` that the other side does not make (called in time order)."""
        self.check.diverges(at, side)

    def finish(self) -> None:
        """Every fire has been seen."""


class _Dst(_Sorter):
    """Cron and calendar entries: fires moved around a daylight-saving change are intentional."""

    def __init__(self, check: TaskCheck, zone: str) -> None:
        super().__init__(check)
        self.zone = zone
        self.moved: dict[datetime, tuple[_Shift, dict[str, Instants]]] = {}

    def only(self, side: str, at: datetime) -> None:
        shift = _shift_near(self.zone, at)
        if shift is None or abs(at - shift.at) > abs(shift.shift):
            self.check.diverges(at, side)
            return
        fresh = {DCB: Instants(), STEMBEAT: Instants()}
        _, sides = self.moved.setdefault(shift.at, (shift, fresh))
        sides[side].add(at)

    def finish(self) -> None:
        for shift, sides in self.moved.values():
            kind = "spring-forward gap" if shift.shift > timedelta(0) else "autumn fold"
            self.check.intentional.append(
                Intentional(
                    self.check.name,
                    "dst",
                    f"{kind} in {self.zone} at {format_instant(shift.at)}: celery's crontab "
                    "moves or drops runs there; stembeat follows the ISC cron rule "
                    "(docs/schedules.md)",
                    sides[DCB],
                    sides[STEMBEAT],
                )
            )


class _Solar(_Sorter):
    """Solar entries: ephem's and astral's times of one event, paired within the tolerance.

    Only fires within the tolerance of each other can pair, so they are paired in clusters that
    end where the next fire is farther than the tolerance (or at :data:`SOLAR_CLUSTER` fires).
    """

    def __init__(self, check: TaskCheck, spec: SolarSpec) -> None:
        super().__init__(check)
        self.event = spec.event
        high = abs(spec.latitude) > HIGH_LATITUDE
        self.tolerance = SOLAR_TOLERANCE_HIGH if high else SOLAR_TOLERANCE
        self.cluster: list[tuple[str, datetime]] = []
        self.dcb, self.ours = Instants(), Instants()
        #: The smallest and largest gap between paired fires, seconds.
        self.gaps: tuple[float, float] | None = None

    def only(self, side: str, at: datetime) -> None:
        if self.cluster and (
            at - self.cluster[-1][1] > self.tolerance or len(self.cluster) >= SOLAR_CLUSTER
        ):
            self._pair()
        self.cluster.append((side, at))

    def _pair(self) -> None:
        unpaired = [at for side, at in self.cluster if side == STEMBEAT]
        for side, at in self.cluster:
            if side != DCB:
                continue
            nearest = min(unpaired, key=lambda ours: abs(ours - at), default=None)
            if nearest is None or abs(nearest - at) > self.tolerance:
                self.check.diverges(at, DCB)
                continue
            unpaired.remove(nearest)
            self.dcb.add(at)
            self.ours.add(nearest)
            gap = abs(nearest - at).total_seconds()
            low, high = self.gaps or (gap, gap)
            self.gaps = (min(low, gap), max(high, gap))
        for at in unpaired:
            self.check.diverges(at, STEMBEAT)
        self.cluster = []

    def finish(self) -> None:
        self._pair()
        if self.gaps is None:
            return
        low, high = self.gaps
        self.check.intentional.append(
            Intentional(
                self.check.name,
                "solar",
                f"{self.event} ({self.dcb.count} days): celery's ephem and stembeat's astral "
                f"differ by {low:.0f}-{high:.0f} s, pairwise in order",
                self.dcb,
                self.ours,
            )
        )


class _Interval(_Sorter):
    """Interval entries: both run late at the start, then each on its own grid
    (``interval-phase``)."""

    def __init__(
        self, check: TaskCheck, period: timedelta, start: datetime, dcb: datetime, ours: datetime
    ) -> None:
        super().__init__(check)
        self.period = period
        self.start = start
        #: django-celery-beat's grid starts at its first fire, stembeat's at its second.
        self.anchors = {DCB: dcb, STEMBEAT: ours}
        self.sides = {DCB: Instants(), STEMBEAT: Instants()}
        self.on_grid = True

    def only(self, side: str, at: datetime) -> None:
        self.sides[side].add(at)
        if self.on_grid and (at - self.anchors[side]) % self.period:
            self.on_grid = False

    def finish(self) -> None:
        dcb, ours = self.sides[DCB], self.sides[STEMBEAT]
        check = self.check
        if self.on_grid:
            if dcb or ours:
                check.intentional.append(
                    Intentional(
                        check.name,
                        "interval-phase",
                        f"both run late at {format_instant(self.start)} (beat start); "
                        "django-celery-beat then measures the interval from that run, stembeat "
                        "keeps the scheduled instants",
                        dcb,
                        ours,
                    )
                )
            return
        kept = sorted([(at, DCB) for at in dcb.sample] + [(at, STEMBEAT) for at in ours.sample])
        for at, side in kept:
            check.diverges(at, side)
        rest = dcb.count + ours.count - len(kept)
        if rest:
            check.divergence_count += rest
            ends = [(at, side) for at, side in ((dcb.last, DCB), (ours.last, STEMBEAT)) if at]
            at, side = max(ends)
            check.last_divergence = Divergence(check.name, at, side)


def _sorter(
    check: TaskCheck, spec: Spec | None, start: datetime, dcb: list[Fire], ours: list[Fire]
) -> _Sorter:
    if isinstance(spec, (CronSpec, CalendarSpec)):
        return _Dst(check, spec.timezone)
    if isinstance(spec, SolarSpec):
        return _Solar(check, spec)
    late = _ms(start)
    if (
        isinstance(spec, IntervalSpec)
        and len(dcb) > 0
        and len(ours) > 1
        and dcb[0].at == ours[0].at == late
    ):
        return _Interval(check, spec.period, late, dcb[0].at, ours[1].at)
    return _Sorter(check)


def _repeat(check: TaskCheck, fire: Fire, cron: bool, sorter: _Sorter, matched: bool) -> None:
    """A django-celery-beat fire that repeats on every tick until ``fire.repeats_until``."""
    until = _ms(fire.repeats_until or fire.at)
    if not cron:
        check.diverges(
            fire.at, DCB, f"and again on every schedule sync until {format_instant(until)}"
        )
        return
    check.intentional.append(
        Intentional(
            check.name,
            "fold-repeat",
            "celery's crontab stays due after a run in a repeated hour: django-celery-beat "
            f"sends it on every beat tick until {format_instant(until)}",
            Instants.of((fire.at, until)),
        )
    )
    if not matched:
        sorter.only(DCB, fire.at)


def _walk(
    theirs: Iterator[Fire],
    ours: Iterator[Fire],
    check: TaskCheck,
    sorter: _Sorter,
    cron: bool,
    progress: Callable[[int], None] | None,
) -> None:
    """Walk both time-ordered predictions in step: a fire both make is a pair, any other goes
    to ``sorter`` (or is a repeat)."""
    only = sorter.only
    x, y = next(theirs, None), next(ours, None)
    dcb = mine = steps = 0
    while x is not None or y is not None:
        steps += 1
        if progress is not None and steps % PROGRESS_STEP == 0:
            progress(steps)
        if x is not None and y is not None and x.at == y.at:
            dcb += 1
            mine += 1
            if x.repeats_until is not None:
                _repeat(check, x, cron, sorter, matched=True)
            x, y = next(theirs, None), next(ours, None)
        elif x is not None and (y is None or x.at < y.at):
            dcb += 1
            if x.repeats_until is not None:
                _repeat(check, x, cron, sorter, matched=False)
            else:
                only(DCB, x.at)
            x = next(theirs, None)
        else:
            assert y is not None
            mine += 1
            only(STEMBEAT, y.at)
            y = next(ours, None)
    check.dcb_fires, check.stembeat_fires, check.compared = dcb, mine, steps


def compare(
    name: str,
    predicted: Prediction,
    entry: Entry | None,
    ours: Iterable[Fire],
    start: datetime,
    progress: Callable[[int], None] | None = None,
) -> TaskCheck:
    """Compare one task's two predictions (each in time order), calling ``progress`` with the
    fires compared so far every :data:`PROGRESS_STEP` fires."""
    check = TaskCheck(name)
    spec = entry.spec if entry is not None else None
    theirs, mine = _rounded(predicted.fires), _rounded(ours)
    first_theirs, first_ours = list(itertools.islice(theirs, 1)), list(itertools.islice(mine, 2))
    sorter = _sorter(check, spec, start, first_theirs, first_ours)
    cron = isinstance(spec, (CronSpec, CalendarSpec))
    _walk(
        itertools.chain(first_theirs, theirs),
        itertools.chain(first_ours, mine),
        check,
        sorter,
        cron,
        progress,
    )
    sorter.finish()
    check.divergences.sort(key=lambda item: item.at)
    return check


def _task_progress(progress: ProgressReport, done: int, before: int) -> Callable[[int], None]:
    return lambda compared: progress(done, before + compared)


def verify(
    rows: Iterable[TaskRow],
    entries: Mapping[str, Entry],
    oracle: DcbOracle,
    start: datetime,
    end: datetime,
    settings: EngineSettings | None = None,
    skipped: Mapping[str, str] | None = None,
    progress: ProgressReport | None = None,
) -> Verification:
    """Predict every task of ``rows`` both ways over ``[start, end]`` and compare.

    ``entries`` are the imported entries by name; a row without one (``skipped`` says why)
    is compared with nothing, so each of its fires is a divergence. ``progress`` is called
    with the tasks done and the fires compared, after each task and every
    :data:`PROGRESS_STEP` fires.
    """
    checks: list[TaskCheck] = []
    compared = 0
    for row in rows:
        predicted = oracle.predict(row, start, end)
        entry = entries.get(row.name)
        ours = predict_entry(entry, start, end, settings) if entry is not None else iter(())
        within = None if progress is None else _task_progress(progress, len(checks), compared)
        check = compare(row.name, predicted, entry, ours, start, within)
        if predicted.cannot_run:
            check.note = f"{DCB} cannot run it: {predicted.cannot_run}"
        elif entry is None:
            check.note = f"not imported: {(skipped or {}).get(row.name, 'no entry')}"
        checks.append(check)
        compared += check.compared
        if progress is not None:
            progress(len(checks), compared)
    return Verification(start, end, checks)
