"""The chart of an entry's last runs: drift and runtime, drawn as SVG on the entry page."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ElementTree
from datetime import timedelta

import pytest

from celery_stembeat.stores import PUBLISHED, RunRecord, Store
from celery_stembeat.web.chart import BOTTOM, LEFT, PANEL_HEIGHT, RIGHT, TOP, WIDTH, run_chart
from tests.cli.scenario import NOW
from tests.web.conftest import Client

SVG = "{http://www.w3.org/2000/svg}"


def run(minutes: int, drift: float | None, runtime: float | None = None) -> RunRecord:
    return RunRecord(
        entry_id="e",
        scheduled_for=NOW + timedelta(minutes=minutes),
        outcome=PUBLISHED,
        published_at=NOW,
        drift=drift,
        runtime=runtime,
    )


def test_runs_are_drawn_oldest_first_scaled_to_the_panel() -> None:
    chart = run_chart([run(2, 0.5, 3.0), run(0, 0.0), run(1, 1.0, 1.0)], "UTC")
    assert chart is not None
    drift, runtime = chart.panels
    assert (drift.title, runtime.title) == ("drift (s)", "runtime (s)")
    bottom = PANEL_HEIGHT - BOTTOM
    assert drift.points == [
        (LEFT, bottom),
        ((LEFT + WIDTH - RIGHT) / 2, TOP),
        (WIDTH - RIGHT, (bottom + TOP) / 2),
    ]
    assert [tick.label for tick in drift.y_ticks] == ["0.000s", "0.500s", "1.000s"]
    assert [tick.label for tick in drift.x_ticks] == ["03-02 09:00", "03-02 09:01", "03-02 09:02"]
    # A run without a runtime leaves a gap: the line joins the runs that have one.
    assert [x for x, _ in runtime.points] == [(LEFT + WIDTH - RIGHT) / 2, WIDTH - RIGHT]
    assert runtime.top == PANEL_HEIGHT
    assert chart.description == "drift and runtime of the last 3 runs"


def test_no_chart_without_a_drift_or_runtime_and_one_run_is_centred() -> None:
    assert run_chart([], "UTC") is None
    assert run_chart([run(0, None)], "UTC") is None
    chart = run_chart([run(0, -0.25)], "Europe/Paris")
    assert chart is not None
    (panel,) = chart.panels
    assert panel.points == [((LEFT + WIDTH - RIGHT) / 2, PANEL_HEIGHT - BOTTOM)]
    assert panel.x_ticks[0].label == "03-02 10:00"
    assert [tick.label for tick in panel.y_ticks] == ["-0.250s", "-0.125s", "0.000s"]


@pytest.mark.services
def test_the_entry_page_shows_the_chart_as_well_formed_svg(client: Client, store: Store) -> None:
    page = client().get("/entry", params={"id": "heartbeat"}).text
    (svg,) = re.findall(r"<svg .*?</svg>", page, re.S)
    root = ElementTree.fromstring(svg)
    assert root.get("aria-label") == "drift of the last 4 runs"
    texts = [element.text for element in root.iter(f"{SVG}text")]
    assert "drift (s)" in texts
    assert "0.250s" in texts
    (line,) = root.iter(f"{SVG}polyline")
    assert len(line.get("points", "").split()) == 4
    assert "<svg" not in client().get("/entry", params={"id": "ping"}).text
