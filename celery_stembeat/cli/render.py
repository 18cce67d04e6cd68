"""How results look: rich tables for people, JSON for scripts, instants in an entry's zone."""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping, Sequence
from dataclasses import fields
from datetime import datetime
from typing import Any

import click
from rich import box
from rich.console import Console, Group, RenderableType
from rich.table import Table
from rich.text import Text

from celery_stembeat import health
from celery_stembeat.cli.session import Session
from celery_stembeat.cli.stats import Observation
from celery_stembeat.entry import Entry
from celery_stembeat.health import HealthRules
from celery_stembeat.specs import (
    CalendarSpec,
    CronSpec,
    Spec,
    format_duration,
    format_instant,
    load_zone,
)
from celery_stembeat.stores import BeatInfo, RunRecord
from celery_stembeat.survey import Survey

NOTHING = "-"


# -- instants and durations ----------------------------------------------------------------


def spec_zone(spec: Spec) -> str:
    """The zone a spec is read in: its own for cron and calendar, UTC for the others."""
    return spec.timezone if isinstance(spec, (CronSpec, CalendarSpec)) else "UTC"


def local(instant: datetime | None, zone: str) -> str:
    """``2026-03-02 09:00:00 GMT``: the instant's wall-clock time in ``zone``."""
    if instant is None:
        return NOTHING
    return instant.astimezone(load_zone(zone)).strftime("%Y-%m-%d %H:%M:%S %Z")


def _coarse(seconds: float) -> float:
    """Whole hours past a day, whole minutes past a minute, whole seconds below."""
    for threshold, unit in ((86400, 3600), (60, 60)):
        if seconds >= threshold:
            return seconds // unit * unit
    return seconds // 1


def relative(instant: datetime, now: datetime) -> str:
    """``in 4m``, ``2h5m ago`` or ``now``."""
    seconds = (instant - now).total_seconds()
    if abs(seconds) < 1:
        return "now"
    text = format_duration(_coarse(abs(seconds)))
    return f"in {text}" if seconds > 0 else f"{text} ago"


def when(instant: datetime | None, zone: str, now: datetime) -> str:
    """``2026-03-02 09:00:00 GMT (in 4m)``, or ``-``."""
    if instant is None:
        return NOTHING
    return f"{local(instant, zone)} ({relative(instant, now)})"


def seconds(value: float | None) -> str:
    """A drift or jitter: ``0.004s``, or ``-``."""
    return NOTHING if value is None else f"{value:.3f}s"


def counted(count: int, noun: str, nouns: str | None = None) -> str:
    """``1 entry``, ``2 entries``: a count and its noun (plural ``nouns``, else ``noun`` + s)."""
    return f"{count} {noun if count == 1 else nouns or noun + 's'}"


def _instant(instant: datetime | None) -> str | None:
    return None if instant is None else format_instant(instant)


# -- output --------------------------------------------------------------------------------


def console(session: Session) -> Console:
    """A console on stdout; its width comes from the terminal (or ``$COLUMNS``)."""
    return Console(highlight=False, no_color=not session.color)


def show(session: Session, renderable: RenderableType) -> None:
    """Print a table (or any rich renderable) for people."""
    console(session).print(renderable)


def echo_json(data: Any) -> None:
    """Print ``data`` as indented JSON for scripts."""
    click.echo(json.dumps(data, indent=2, ensure_ascii=False))


def table(*columns: str, whole: Collection[str] = ()) -> Table:
    """A plain table with upper-case headings and no frame.

    On a narrow terminal the other columns wrap so that those named in ``whole`` (ids,
    instants) can stay on one line.
    """
    grid = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    for column in columns:
        grid.add_column(column.upper(), overflow="fold", no_wrap=column in whole)
    return grid


def titled(title: str, grid: Table) -> RenderableType:
    """A line of text above a table."""
    return Group(Text(title), grid)


# -- the verbs' views ----------------------------------------------------------------------


def entries_table(entries: Sequence[Entry], now: datetime) -> RenderableType:
    """``list``: one row per entry."""
    if not entries:
        return Text("no entries")
    grid = table(
        "id",
        "on",
        "schedule",
        "task",
        "next run",
        "last run",
        "runs",
        "outcome",
        whole=("id", "next run"),
    )
    for entry in entries:
        zone = spec_zone(entry.spec)
        state = entry.state
        grid.add_row(
            entry.id,
            "yes" if entry.enabled else "no",
            entry.spec.describe(),
            entry.task,
            when(state.next_run_at, zone, now) if entry.enabled else NOTHING,
            when(state.last_run_at, zone, now) if state.last_run_at else "never",
            str(state.total_run_count),
            state.last_outcome or NOTHING,
        )
    return grid


def _value(value: Any) -> str:
    if value is None:
        return NOTHING
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


def entry_table(entry: Entry, now: datetime) -> Table:
    """``show``: every field of the definition, then the run state, in the entry's zone."""
    zone = spec_zone(entry.spec)
    grid = Table(box=None, show_header=False, pad_edge=False)
    grid.add_column(style="bold")
    grid.add_column(overflow="fold")
    data = entry.to_dict()
    del data["state"]
    for name, value in data.items():
        if name == "spec":
            grid.add_row("schedule", entry.spec.describe())
        grid.add_row(name, _value(value))
    for item in fields(entry.state):
        value = getattr(entry.state, item.name)
        grid.add_row(
            item.name, when(value, zone, now) if isinstance(value, datetime) else _value(value)
        )
    return grid


def history_table(entry: Entry, runs: Sequence[RunRecord]) -> RenderableType:
    """``history``: one row per recorded run, newest first; a manual run's outcome says so
    (its scheduled time is when it was asked for)."""
    zone = spec_zone(entry.spec)
    title = f"{entry.id}: {counted(len(runs), 'run')}, newest first, times in {zone}"
    if not runs:
        return Text(title)
    grid = table(
        "scheduled for",
        "published at",
        "drift",
        "jitter",
        "outcome",
        "runtime",
        "error",
        "owner",
        whole=("scheduled for", "published at"),
    )
    for run in runs:
        grid.add_row(
            local(run.scheduled_for, zone),
            local(run.published_at, zone),
            seconds(run.drift),
            seconds(run.jitter),
            f"{run.outcome} (manual)" if run.manual else run.outcome,
            seconds(run.runtime),
            run.error or NOTHING,
            run.owner or NOTHING,
        )
    return titled(title, grid)


def occurrences_table(
    spec: Spec, after: datetime, instants: Sequence[datetime], zone: str
) -> RenderableType:
    """``dry-run``: each occurrence in UTC and in ``zone``."""
    title = (
        f"{spec.describe()}: {counted(len(instants), 'occurrence')} after {format_instant(after)}"
    )
    if not instants:
        return Text(title)
    grid = table("#", "utc", zone, "day", whole=("utc", zone))
    for number, instant in enumerate(instants, 1):
        grid.add_row(
            str(number),
            format_instant(instant),
            local(instant, zone),
            instant.astimezone(load_zone(zone)).strftime("%a"),
        )
    return titled(title, grid)


def observation_dict(seen: Observation) -> dict[str, Any]:
    """``observe --json``: the summary's counts, health counts, beats and one row per entry."""
    summary = seen.summary
    return {
        "now": format_instant(seen.now),
        "grace": seen.grace.total_seconds(),
        "entries": summary.entries,
        "enabled": summary.enabled,
        "due_now": summary.due,
        "overdue": summary.overdue,
        "runs_last_hour": summary.recent_runs,
        "failing": summary.failing,
        "health": health.count(seen.healths),
        "live_beats": len(seen.live),
        "beats": [beat.to_dict() for beat in seen.beats],
        "rows": [
            {
                "id": entry.id,
                "health": verdict.state,
                "reason": verdict.reason or None,
                "enabled": entry.enabled,
                "total_run_count": entry.state.total_run_count,
                "last_drift": entry.state.last_drift,
                "drift_mean": entry.state.drift_mean,
                "drift_max": entry.state.drift_max,
                "next_run_at": _instant(entry.state.next_run_at),
                "consecutive_failures": entry.state.consecutive_failures,
                "last_error": entry.state.last_error,
                "last_outcome": entry.state.last_outcome,
                "consecutive_task_failures": entry.state.consecutive_task_failures,
            }
            for entry, verdict in zip(seen.entries, seen.healths, strict=True)
        ],
    }


def health_line(
    counts: Mapping[str, int], live: Sequence[BeatInfo], beats: Sequence[BeatInfo]
) -> str:
    """The health counts, then the live beats."""
    states = ", ".join(f"{number} {state}" for state, number in counts.items())
    line = counted(len(live), "live beat")
    if len(beats) > len(live):
        line += f" ({len(beats) - len(live)} silent)"
    return f"health: {states}; {line}"


def problems(seen: Survey, rules: HealthRules) -> list[str]:
    """``observe --check``: one line per problem, the beats' first."""
    lines = []
    if not seen.live:
        silence = format_duration(rules.beat_silence.total_seconds())
        lines.append(f"no-beat: no beat heard from in the last {silence}")
    lines += [f"{verdict.state} {entry.id}: {verdict.reason}" for entry, verdict in seen.problems]
    if seen.cut:
        lines.append(f"more: over {len(seen.problems)} entries may be unhealthy; see observe")
    return lines


def observation_view(seen: Observation) -> RenderableType:
    """``observe``: the summary line, then one row per entry."""
    summary = seen.summary
    line = (
        f"{counted(summary.entries, 'entry', 'entries')}, {summary.enabled} enabled, "
        f"{summary.due} due now, "
        f"{summary.overdue} overdue (> {format_duration(seen.grace.total_seconds())} late), "
        f"{counted(summary.recent_runs, 'run')} in the last hour, {summary.failing} failing "
        f"(as of {format_instant(seen.now.replace(microsecond=0))})"
    )
    counts = health.count(seen.healths)
    heading = Text(f"{line}\n{health_line(counts, seen.live, seen.beats)}")
    unhealthy = [
        (entry, verdict)
        for entry, verdict in zip(seen.entries, seen.healths, strict=True)
        if verdict.state in health.PROBLEMS
    ]
    if not unhealthy:
        return heading
    grid = table(
        "id",
        "health",
        "why",
        "runs",
        "last drift",
        "next run",
        whole=("id", "next run"),
    )
    for entry, verdict in unhealthy:
        state = entry.state
        grid.add_row(
            entry.id,
            verdict.state,
            verdict.reason,
            str(state.total_run_count),
            seconds(state.last_drift),
            when(state.next_run_at, spec_zone(entry.spec), seen.now),
        )
    return Group(heading, grid)


def beats_table(
    beats: Sequence[BeatInfo], live: Sequence[BeatInfo], now: datetime
) -> RenderableType:
    """``beats``: one row per recorded beat, live or silent."""
    if not beats:
        return Text("no beats recorded")
    alive = {beat.owner for beat in live}
    grid = table(
        "owner",
        "host",
        "pid",
        "version",
        "started",
        "last pass",
        "store latency",
        "clock offset",
        "live",
        whole=("owner",),
    )
    for beat in beats:
        grid.add_row(
            beat.owner,
            beat.host,
            str(beat.pid),
            beat.version,
            relative(beat.started_at, now),
            relative(beat.last_pass_at, now),
            seconds(beat.store_latency),
            seconds(beat.clock_offset),
            "yes" if beat.owner in alive else "no",
        )
    return grid
