"""How results look: tables (see ``tables``) and JSON, instants in an entry's zone."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, fields
from datetime import datetime
from typing import Any

import click
from rich.console import Console, RenderableType
from rich.table import Table

from celery_stembeat.audit import Change
from celery_stembeat.cli import tables
from celery_stembeat.cli.session import Session
from celery_stembeat.cli.tables import Cell, Column
from celery_stembeat.entry import Entry
from celery_stembeat.health import HealthRules
from celery_stembeat.observation import Observation
from celery_stembeat.specs import (
    Spec,
    format_duration,
    format_instant,
    load_zone,
)
from celery_stembeat.stores import BeatInfo, Pause, RunRecord
from celery_stembeat.survey import SURVEY_LIMIT, Survey
from celery_stembeat.wording import (
    NOTHING,
    change_summary,
    counted,
    history_held,
    local,
    relative,
    seconds,
    spec_zone,
    when,
)


def _instant(instant: datetime | None) -> str | None:
    return None if instant is None else format_instant(instant)


def instant_cell(instant: datetime | None, shown: str) -> Cell:
    """An instant: ``shown`` on a terminal, ISO 8601 UTC (or ``-``) in tab-separated output."""
    return Cell(shown, _instant(instant) or NOTHING)


# -- output --------------------------------------------------------------------------------


def console(session: Session) -> Console:
    """A console on stdout; its width comes from the terminal (or ``$COLUMNS``)."""
    return Console(highlight=False, no_color=not session.color)


def show(session: Session, view: tables.Table | RenderableType) -> None:
    """Print a table (fitted, wide or tab-separated) or any rich renderable, for people."""
    if isinstance(view, tables.Table):
        tables.emit(view, console(session), session.output)
    else:
        console(session).print(view)


def echo_json(data: Any) -> None:
    """Print ``data`` as indented JSON for scripts."""
    click.echo(json.dumps(data, indent=2, ensure_ascii=False))


# -- the verbs' views ----------------------------------------------------------------------


ENTRY_COLUMNS = (
    Column("id", 1, cut="middle"),
    Column("on", 5),
    Column("schedule", 3, cut="end"),
    Column("task", 4, cut="middle"),
    Column("next run", 2),
    Column("last run", 6),
    Column("runs", 8),
    Column("outcome", 7),
)


def entries_table(entries: Iterable[Entry], now: datetime) -> tables.Table:
    """``list``: one row per entry, read as the table prints."""
    return tables.Table(ENTRY_COLUMNS, _entry_rows(entries, now), empty="no entries")


def _entry_rows(entries: Iterable[Entry], now: datetime) -> Iterator[tables.Row]:
    for entry in entries:
        zone = spec_zone(entry.spec)
        state = entry.state
        next_run = state.next_run_at if entry.enabled else None
        yield (
            entry.id,
            "yes" if entry.enabled else "no",
            entry.spec.describe(),
            entry.task,
            instant_cell(next_run, when(next_run, zone, now)),
            instant_cell(
                state.last_run_at,
                when(state.last_run_at, zone, now) if state.last_run_at else "never",
            ),
            str(state.total_run_count),
            state.last_outcome or NOTHING,
        )


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


HISTORY_COLUMNS = (
    Column("scheduled for", 1),
    Column("published at", 5),
    Column("drift", 3),
    Column("jitter", 8),
    Column("outcome", 2),
    Column("runtime", 6),
    Column("error", 4, cut="end", floor=24),
    Column("owner", 7, cut="middle"),
)


def history_table(entry: Entry, runs: Sequence[RunRecord]) -> tables.Table:
    """``history``: one row per recorded run, newest first; a manual run's outcome says so
    (its scheduled time is when it was asked for)."""
    zone = spec_zone(entry.spec)
    title = f"{entry.id}: {counted(len(runs), 'run')}, newest first, times in {zone}"
    rows = (
        (
            instant_cell(run.scheduled_for, local(run.scheduled_for, zone)),
            instant_cell(run.published_at, local(run.published_at, zone)),
            seconds(run.drift),
            seconds(run.jitter),
            f"{run.outcome} (manual)" if run.manual else run.outcome,
            seconds(run.runtime),
            run.error or NOTHING,
            run.owner or NOTHING,
        )
        for run in runs
    )
    return tables.Table(HISTORY_COLUMNS, rows, title=title)


def occurrences_table(
    spec: Spec, after: datetime, instants: Sequence[datetime], zone: str
) -> tables.Table:
    """``dry-run``: each occurrence in UTC and in ``zone`` (with its offset when piped)."""
    title = (
        f"{spec.describe()}: {counted(len(instants), 'occurrence')} after {format_instant(after)}"
    )
    columns = (Column("#", 3), Column("utc", 4), Column(zone, 1), Column("day", 2))
    rows = (
        (
            str(number),
            format_instant(instant),
            Cell(local(instant, zone), instant.astimezone(load_zone(zone)).isoformat()),
            instant.astimezone(load_zone(zone)).strftime("%a"),
        )
        for number, instant in enumerate(instants, 1)
    )
    return tables.Table(columns, rows, title=title)


def observation_dict(seen: Observation) -> dict[str, Any]:
    """``observe --json``: the summary's counts, health counts, beats and one row per entry
    that is not healthy (``cut``: more may be unhealthy than a survey reads)."""
    activity, surveyed = seen.activity, seen.survey
    return {
        "now": format_instant(seen.now),
        "grace": seen.grace.total_seconds(),
        "entries": surveyed.entries,
        "enabled": activity.enabled,
        "due_now": activity.due,
        "overdue": activity.overdue,
        "runs_last_hour": activity.runs,
        "failing": activity.failing,
        "history": asdict(seen.history),
        "health": surveyed.counts,
        "live_beats": len(surveyed.live),
        "beats": [beat.to_dict() for beat in surveyed.beats],
        "cut": surveyed.cut,
        "paused": None if surveyed.paused is None else surveyed.paused.to_dict(),
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
            for entry, verdict in surveyed.problems
        ],
    }


def pause_banner(pause: Pause) -> str:
    """The line ``list`` and ``observe`` show while the store is paused."""
    return f"PAUSED {pause.describe()} (stembeat resume ends it)"


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
        lines.append(f"more: {cut_line(seen)}; see observe")
    return lines


def cut_line(seen: Survey) -> str:
    """What a survey cut by its limit left out."""
    return f"over {len(seen.problems)} entries may be unhealthy"


OBSERVE_COLUMNS = (
    Column("id", 1, cut="middle"),
    Column("health", 2),
    Column("why", 3, cut="end", floor=24),
    Column("runs", 5),
    Column("last drift", 6),
    Column("next run", 4),
)


def observation_view(seen: Observation) -> tables.Table:
    """``observe``: the summary lines, then one row per entry that is not healthy."""
    activity, surveyed = seen.activity, seen.survey
    line = (
        f"{counted(surveyed.entries, 'entry', 'entries')}, {activity.enabled} enabled, "
        f"{activity.due} due now, "
        f"{activity.overdue} overdue (> {format_duration(seen.grace.total_seconds())} late), "
        f"{counted(activity.runs, 'run')} in the last hour, {activity.failing} failing, "
        f"{history_held(seen.history)} (as of {format_instant(seen.now.replace(microsecond=0))})"
    )
    rows = (
        (
            entry.id,
            verdict.state,
            verdict.reason,
            str(entry.state.total_run_count),
            seconds(entry.state.last_drift),
            instant_cell(
                entry.state.next_run_at,
                when(entry.state.next_run_at, spec_zone(entry.spec), seen.now),
            ),
        )
        for entry, verdict in surveyed.problems
    )
    banner = "" if surveyed.paused is None else pause_banner(surveyed.paused) + "\n"
    title = f"{banner}{line}\n{health_line(surveyed.counts, surveyed.live, surveyed.beats)}"
    if surveyed.cut:
        title += f"\nmore: {cut_line(surveyed)}; only the first {SURVEY_LIMIT} suspects were read"
    return tables.Table(OBSERVE_COLUMNS, rows, title=title)


BEAT_COLUMNS = (
    Column("owner", 1, cut="middle"),
    Column("host", 4, cut="end"),
    Column("pid", 7),
    Column("version", 8),
    Column("started", 6),
    Column("last pass", 3),
    Column("store latency", 5),
    Column("clock offset", 9),
    Column("live", 2),
)


def beats_table(beats: Sequence[BeatInfo], live: Sequence[BeatInfo], now: datetime) -> tables.Table:
    """``beats``: one row per recorded beat, live or silent."""
    alive = {beat.owner for beat in live}
    rows = (
        (
            beat.owner,
            beat.host,
            str(beat.pid),
            beat.version,
            instant_cell(beat.started_at, relative(beat.started_at, now)),
            instant_cell(beat.last_pass_at, relative(beat.last_pass_at, now)),
            seconds(beat.store_latency),
            seconds(beat.clock_offset),
            "yes" if beat.owner in alive else "no",
        )
        for beat in beats
    )
    return tables.Table(BEAT_COLUMNS, rows, empty="no beats recorded")


CHANGE_COLUMNS = (
    Column("#", 1),
    Column("when", 4),
    Column("actor", 5, cut="middle", floor=12),
    Column("verb", 3, cut="end", floor=8),
    Column("entry", 2, cut="middle", floor=12),
    Column("changed", 6, cut="end", floor=10),
)


def changes_table(changes: Iterable[Change], title: str | None, empty: str) -> tables.Table:
    """``log``: one row per change record, as given (newest first)."""
    rows = (
        (
            str(change.seq),
            instant_cell(change.at, local(change.at, "UTC")),
            change.actor,
            change.verb,
            change.entry_id or NOTHING,
            change_summary(change),
        )
        for change in changes
    )
    return tables.Table(CHANGE_COLUMNS, rows, title=title, empty=empty)
