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
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import celery

from celery_stembeat.engine import EngineSettings
from celery_stembeat.entry import Entry
from celery_stembeat.migrate.convert import floor_ms
from celery_stembeat.migrate.dcb_rows import TaskRow
from celery_stembeat.migrate.oracle import DcbOracle, Fire, Prediction
from celery_stembeat.migrate.predict import predict_entry
from celery_stembeat.specs import (
    CalendarSpec,
    CronSpec,
    IntervalSpec,
    SolarSpec,
    format_instant,
    load_zone,
)

DCB = "django-celery-beat"
STEMBEAT = "stembeat"
#: How close ephem's and astral's times of one solar event are (docs/schedules.md).
SOLAR_TOLERANCE = timedelta(seconds=60)
SOLAR_TOLERANCE_HIGH = timedelta(seconds=300)
HIGH_LATITUDE = 60.0
#: How far from an instant a daylight-saving change is looked for.
_DST_REACH = timedelta(hours=3)


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
    dcb: tuple[datetime, ...] = ()
    stembeat: tuple[datetime, ...] = ()

    def to_dict(self) -> dict[str, object]:
        """JSON-able form."""
        return {
            "task": self.task,
            "reason": self.reason,
            "explanation": self.explanation,
            DCB: [format_instant(at) for at in self.dcb],
            STEMBEAT: [format_instant(at) for at in self.stembeat],
        }


@dataclass
class TaskCheck:
    """One task compared over the window."""

    name: str
    dcb_fires: int
    stembeat_fires: int
    divergences: list[Divergence] = field(default_factory=list)
    intentional: list[Intentional] = field(default_factory=list)
    #: Why one side has nothing to compare (not imported; django-celery-beat cannot run it).
    note: str | None = None


@dataclass
class Verification:
    """The whole comparison."""

    start: datetime
    end: datetime
    tasks: list[TaskCheck]
    celery_version: str = celery.__version__

    @property
    def divergences(self) -> list[Divergence]:
        """Every divergence, task by task, in time order."""
        return [item for task in self.tasks for item in task.divergences]

    @property
    def intentional(self) -> list[Intentional]:
        """Every intentional difference."""
        return [item for task in self.tasks for item in task.intentional]

    @property
    def safe(self) -> bool:
        """Whether switching changes no fire beyond the intentional differences."""
        return not self.divergences

    @property
    def fires(self) -> tuple[int, int]:
        """How many fires each side predicts: django-celery-beat's, stembeat's."""
        return (
            sum(task.dcb_fires for task in self.tasks),
            sum(task.stembeat_fires for task in self.tasks),
        )


def _ms(at: datetime) -> datetime:
    return floor_ms(at + timedelta(microseconds=500))


def _only(left: Sequence[datetime], right: Sequence[datetime]) -> list[datetime]:
    return sorted((Counter(left) - Counter(right)).elements())


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


def _dst(name: str, zone: str, only_dcb: list[datetime], only_ours: list[datetime]) -> TaskCheck:
    check = TaskCheck(name, 0, 0)
    shifts: dict[datetime, _Shift] = {}
    moved: dict[tuple[datetime, str], list[datetime]] = {}
    for side, instants in ((DCB, only_dcb), (STEMBEAT, only_ours)):
        for at in instants:
            shift = _shift_near(zone, at)
            if shift is None or abs(at - shift.at) > abs(shift.shift):
                check.divergences.append(Divergence(name, at, side))
                continue
            shifts[shift.at] = shift
            moved.setdefault((shift.at, side), []).append(at)
    for shift in shifts.values():
        dcb, ours = moved.get((shift.at, DCB), []), moved.get((shift.at, STEMBEAT), [])
        kind = "spring-forward gap" if shift.shift > timedelta(0) else "autumn fold"
        check.intentional.append(
            Intentional(
                name,
                "dst",
                f"{kind} in {zone} at {format_instant(shift.at)}: celery's crontab moves or "
                "drops runs there; stembeat follows the ISC cron rule (docs/schedules.md)",
                tuple(dcb),
                tuple(ours),
            )
        )
    return check


def _solar(
    name: str, spec: SolarSpec, only_dcb: list[datetime], only_ours: list[datetime]
) -> TaskCheck:
    check = TaskCheck(name, 0, 0)
    tolerance = SOLAR_TOLERANCE_HIGH if abs(spec.latitude) > HIGH_LATITUDE else SOLAR_TOLERANCE
    unpaired = list(only_ours)
    pairs: list[tuple[datetime, datetime]] = []
    for at in only_dcb:
        nearest = min(unpaired, key=lambda ours: abs(ours - at), default=None)
        if nearest is None or abs(nearest - at) > tolerance:
            check.divergences.append(Divergence(name, at, DCB))
            continue
        unpaired.remove(nearest)
        pairs.append((at, nearest))
    check.divergences += [Divergence(name, at, STEMBEAT) for at in unpaired]
    if pairs:
        gaps = [abs(ours - theirs).total_seconds() for theirs, ours in pairs]
        check.intentional.append(
            Intentional(
                name,
                "solar",
                f"{spec.event} ({len(pairs)} days): celery's ephem and stembeat's astral differ "
                f"by {min(gaps):.0f}-{max(gaps):.0f} s, pairwise in order",
                tuple(theirs for theirs, _ in pairs),
                tuple(ours for _, ours in pairs),
            )
        )
    return check


def _on_grid(instants: Iterable[datetime], anchor: datetime, period: timedelta) -> bool:
    return all((at - anchor) % period == timedelta(0) for at in instants)


def _interval(
    name: str,
    spec: IntervalSpec,
    start: datetime,
    dcb: list[datetime],
    ours: list[datetime],
    only_dcb: list[datetime],
    only_ours: list[datetime],
) -> TaskCheck:
    check = TaskCheck(name, 0, 0)
    late_start = bool(dcb and ours and dcb[0] == ours[0] == _ms(start))
    if (
        late_start
        and len(ours) > 1
        and _on_grid(only_dcb, dcb[0], spec.period)
        and _on_grid(only_ours, ours[1], spec.period)
    ):
        check.intentional.append(
            Intentional(
                name,
                "interval-phase",
                f"both run late at {format_instant(dcb[0])} (beat start); django-celery-beat "
                "then measures the interval from that run, stembeat keeps the scheduled instants",
                tuple(only_dcb),
                tuple(only_ours),
            )
        )
        return check
    check.divergences += [Divergence(name, at, DCB) for at in only_dcb]
    check.divergences += [Divergence(name, at, STEMBEAT) for at in only_ours]
    return check


def compare(
    name: str, predicted: Prediction, entry: Entry | None, ours: list[Fire], start: datetime
) -> TaskCheck:
    """Compare one task's two predictions."""
    dcb = [_ms(fire.at) for fire in predicted.fires]
    mine = [_ms(fire.at) for fire in ours]
    only_dcb, only_ours = _only(dcb, mine), _only(mine, dcb)
    spec = entry.spec if entry is not None else None
    if isinstance(spec, (CronSpec, CalendarSpec)):
        check = _dst(name, spec.timezone, only_dcb, only_ours)
    elif isinstance(spec, SolarSpec):
        check = _solar(name, spec, only_dcb, only_ours)
    elif isinstance(spec, IntervalSpec):
        check = _interval(name, spec, start, dcb, mine, only_dcb, only_ours)
    else:
        check = TaskCheck(name, 0, 0)
        check.divergences += [Divergence(name, at, DCB) for at in only_dcb]
        check.divergences += [Divergence(name, at, STEMBEAT) for at in only_ours]
    for fire in predicted.fires:
        if fire.repeats_until is None:
            continue
        repeat = (_ms(fire.at), _ms(fire.repeats_until))
        if isinstance(spec, (CronSpec, CalendarSpec)):
            check.intentional.append(
                Intentional(
                    name,
                    "fold-repeat",
                    "celery's crontab stays due after a run in a repeated hour: django-celery-beat "
                    f"sends it on every beat tick until {format_instant(repeat[1])}",
                    repeat,
                )
            )
        else:
            plain = Divergence(name, repeat[0], DCB)
            if plain in check.divergences:
                check.divergences.remove(plain)
            detail = f"and again on every schedule sync until {format_instant(repeat[1])}"
            check.divergences.append(Divergence(name, repeat[0], DCB, detail))
    check.dcb_fires, check.stembeat_fires = len(dcb), len(mine)
    check.divergences.sort(key=lambda item: item.at)
    return check


def verify(
    rows: Iterable[TaskRow],
    entries: Mapping[str, Entry],
    oracle: DcbOracle,
    start: datetime,
    end: datetime,
    settings: EngineSettings | None = None,
    skipped: Mapping[str, str] | None = None,
) -> Verification:
    """Predict every task of ``rows`` both ways over ``[start, end]`` and compare.

    ``entries`` are the imported entries by name; a row without one (``skipped`` says why)
    is compared with nothing, so each of its fires is a divergence.
    """
    checks = []
    for row in rows:
        predicted = oracle.predict(row, start, end)
        entry = entries.get(row.name)
        ours = predict_entry(entry, start, end, settings) if entry is not None else []
        check = compare(row.name, predicted, entry, ours, start)
        if predicted.cannot_run:
            check.note = f"{DCB} cannot run it: {predicted.cannot_run}"
        elif entry is None:
            check.note = f"not imported: {(skipped or {}).get(row.name, 'no entry')}"
        checks.append(check)
    return Verification(start, end, checks)
