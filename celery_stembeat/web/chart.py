"""A small chart of an entry's last runs, drawn here without a chart library: one panel for
drift and one for runtime, runs oldest to newest from left to right. The geometry is worked
out in Python; ``chart.html`` writes it out as inline SVG, every label escaped."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from celery_stembeat import wording
from celery_stembeat.specs import load_zone
from celery_stembeat.stores import RunRecord

#: The chart's width, one panel's height, and the room left for the axes' labels.
WIDTH = 600
PANEL_HEIGHT = 150
LEFT, RIGHT, TOP, BOTTOM = 70, 16, 22, 34


@dataclass(frozen=True)
class Tick:
    """A labelled position along an axis (pixels from the panel's corner)."""

    at: float
    label: str


@dataclass(frozen=True)
class Panel:
    """One measure over the runs: its line, its points, its axes."""

    title: str
    #: How far down the chart the panel starts.
    top: int
    #: The line through the runs that have a value (``x,y x,y …``), and each such run's point.
    line: str
    points: list[tuple[float, float]]
    y_ticks: list[Tick]
    x_ticks: list[Tick]


@dataclass(frozen=True)
class Chart:
    """The panels, the plot area's bounds, and what the chart shows, in words."""

    panels: list[Panel]
    zone: str
    description: str
    width: int = WIDTH
    left: int = LEFT
    right: int = WIDTH - RIGHT
    plot_top: int = TOP
    plot_bottom: int = PANEL_HEIGHT - BOTTOM

    @property
    def height(self) -> int:
        """The whole chart's height."""
        return PANEL_HEIGHT * len(self.panels)


Measure = Callable[[RunRecord], float | None]
MEASURES: tuple[tuple[str, Measure], ...] = (
    ("drift (s)", lambda run: run.drift),
    ("runtime (s)", lambda run: run.runtime),
)


def run_chart(runs: Sequence[RunRecord], zone: str) -> Chart | None:
    """The chart of ``runs`` (any order), its times read in ``zone``; ``None`` when no run
    has a drift or a runtime to show."""
    ordered = sorted(runs, key=lambda run: run.scheduled_for)
    panels: list[Panel] = []
    for title, measure in MEASURES:
        values = [measure(run) for run in ordered]
        if any(value is not None for value in values):
            panels.append(_panel(title, len(panels) * PANEL_HEIGHT, ordered, values, zone))
    if not panels:
        return None
    described = " and ".join(panel.title.split(" ")[0] for panel in panels)
    return Chart(panels, zone, f"{described} of the last {len(ordered)} runs")


def _x(index: int, count: int) -> float:
    span = WIDTH - RIGHT - LEFT
    return LEFT + (span * index / (count - 1) if count > 1 else span / 2)


def _panel(
    title: str, top: int, runs: Sequence[RunRecord], values: Sequence[float | None], zone: str
) -> Panel:
    present = [value for value in values if value is not None]
    low, high = min(0.0, *present), max(0.0, *present)
    if high == low:
        high = low + 1.0
    bottom = PANEL_HEIGHT - BOTTOM

    def y(value: float) -> float:
        return round(bottom - (value - low) / (high - low) * (bottom - TOP), 1)

    points = [
        (round(_x(index, len(runs)), 1), y(value))
        for index, value in enumerate(values)
        if value is not None
    ]
    middle = (low + high) / 2
    y_ticks = [Tick(y(value), wording.seconds(value)) for value in (low, middle, high)]
    local = load_zone(zone)
    shown = sorted({0, len(runs) // 2, len(runs) - 1})
    x_ticks = [
        Tick(
            round(_x(index, len(runs)), 1),
            runs[index].scheduled_for.astimezone(local).strftime("%m-%d %H:%M"),
        )
        for index in shown
    ]
    line = " ".join(f"{x},{y_}" for x, y_ in points)
    return Panel(title, top, line, points, y_ticks, x_ticks)
