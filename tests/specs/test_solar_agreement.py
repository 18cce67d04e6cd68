"""The bounds docs/schedules.md gives for our solar times against celery's ``solar`` (ephem).

The table in the docs comes from ``python -m bench.solar_agreement`` (every day of a year,
latitudes 0.5° apart, three longitudes). This test reads the table from the docs and checks it
on a sample of the same grid, so the docs cannot promise more than the code does.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bench.solar_agreement import BANDS, measure, year_days
from celery_stembeat.specs.solar import EVENTS
from tests._celery_versions import skip_before_celery
from tests.specs.test_solar import CELERY_DUSK_ASTRONOMICAL

DOCS = Path(__file__).parents[2] / "docs" / "schedules.md"
#: The sample: latitudes 2.5° apart (both hemispheres), one longitude, every ninth day.
STEP = 2.5
LONGITUDES = (0.0,)
DAYS = year_days(every=9, first=4)


def documented() -> dict[tuple[str, tuple[int, int]], float]:
    """The table of docs/schedules.md: (event, band) → the largest difference in seconds."""
    rows = [line for line in DOCS.read_text().splitlines() if line.startswith("| ")]
    header = next(row for row in rows if row.startswith("| event |"))
    bands = [tuple(map(int, re.findall(r"\d+", cell))) for cell in header.split("|")[2:-1]]
    table = {}
    for row in rows:
        event, *cells = (cell.strip() for cell in row.split("|")[1:-1])
        if event in EVENTS:
            for band, cell in zip(bands, cells, strict=True):
                table[(event, band)] = float(cell)
    return table


def test_the_docs_give_every_event_and_band() -> None:
    assert set(documented()) == {(event, band) for event in EVENTS for band in BANDS}


@pytest.mark.parametrize("band", BANDS, ids=[f"{low}-{high}" for low, high in BANDS])
@pytest.mark.parametrize("event", EVENTS)
def test_documented_bound_holds(event: str, band: tuple[int, int]) -> None:
    """On the sample, no difference from celery is larger than the documented bound."""
    if event == "dusk_astronomical":
        skip_before_celery(*CELERY_DUSK_ASTRONOMICAL)
    bound = documented()[(event, band)]
    found = measure(band, event, STEP, LONGITUDES, DAYS)
    assert found.compared >= 10
    assert found.worst <= bound, found
