"""docs/migrating.md's walk-through, run as written on PostgreSQL.

Every ``$ stembeat …`` block of the document is run in order with the same arguments, the
document's two SQLite URLs swapped for a PostgreSQL django-celery-beat database (made by
Django's migrations) and a PostgreSQL store; what the document does in words is done between
them: the fix in the Django admin after the first dry run, and a day of stembeat running after
the switch. Each command must exit as its block says, report every entry as its block does,
and the last import, after the export back, must find every entry unchanged.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from click.testing import Result

from celery_stembeat.stores import Store, open_store
from tests.contract.helpers import drop_store
from tests.migrate import django_project, scenario
from tests.migrate.conftest import emptied, invoker, run_beat

DOC = Path(__file__).parents[2] / "docs" / "migrating.md"
#: The URLs the document uses: its store and its django-celery-beat database.
DOC_STORE = "sqlite:///stembeat.db"
DOC_DCB = "sqlite:///db.sqlite3"
#: How long stembeat runs between the switch and the back-out.
SWITCHED_FOR = timedelta(days=1)
_REPORTED = re.compile(r"^(added|updated|refreshed|unchanged) ")


@dataclass(frozen=True)
class Step:
    """One command of the document, the entry lines its output shows and its exit code."""

    command: str
    reported: tuple[str, ...]
    exit_code: int

    @property
    def verb(self) -> str:
        return shlex.split(self.command)[3]


def _blocks(text: str) -> Iterator[list[str]]:
    """The lines of every fenced block of a Markdown text."""
    block: list[str] | None = None
    for line in text.splitlines():
        if not line.startswith("```"):
            if block is not None:
                block.append(line)
        elif block is None:
            block = []
        else:
            yield block
            block = None


def doc_steps(text: str) -> list[Step]:
    """The blocks of ``text`` that start with ``$ stembeat``, in order."""
    steps = []
    for lines in _blocks(text):
        if not lines or not lines[0].startswith("$ stembeat "):
            continue
        exit_codes = [int(line[6:-1]) for line in lines if re.fullmatch(r"\[exit \d+\]", line)]
        assert len(exit_codes) == 1, f"no single [exit N] line under {lines[0]}"
        reported = tuple(line for line in lines[1:] if _REPORTED.match(line))
        steps.append(Step(lines[0][2:], reported, exit_codes[0]))
    return steps


def run_step(step: Step, store_url: str, dcb_url: str, now: datetime) -> Result:
    """The step's command with the document's URLs swapped, the clock at ``now``."""
    words = shlex.split(step.command)
    assert words[:3] == ["stembeat", "--url", DOC_STORE], step.command
    swapped = [dcb_url if word == DOC_DCB else word for word in words[3:]]
    assert DOC_STORE not in swapped
    return invoker(store_url, now)(*swapped)


@pytest.fixture
def postgres_store(postgres_url: str, unique_prefix: str) -> Iterator[tuple[str, Store]]:
    """A fresh PostgreSQL store (its URL, and a handle); its tables are dropped afterwards."""
    url = f"{postgres_url}?prefix={unique_prefix}"
    store = open_store(url)
    yield url, store
    drop_store(store, "postgres")


def test_the_walkthrough_runs_as_written_on_postgresql(
    request: pytest.FixtureRequest, django_databases: None, postgres_store: tuple[str, Store]
) -> None:
    alias = emptied(request, "postgres")
    scenario.build_walkthrough(alias)
    store_url, store = postgres_store
    dcb_url = django_project.url(alias)
    steps = doc_steps(DOC.read_text())
    assert [step.verb for step in steps] == [
        "import",  # the dry run
        "import",  # for real, after the fix at the source
        "import",  # again: nothing to do
        "list",
        "disable",  # a day after the switch, managed with stembeat
        "export",  # back out: the dry run
        "export",  # for real
        "import",  # in again: nothing to do
        "export",  # to a celery beat_schedule module
    ]
    now = scenario.WALKTHROUGH_NOW
    outputs = []
    for index, step in enumerate(steps):
        if index == 4:
            run_beat(store, now, now + SWITCHED_FOR)
            now += SWITCHED_FOR
        result = run_step(step, store_url, dcb_url, now)
        assert result.exit_code == step.exit_code, (step.command, result.output)
        reported = tuple(line for line in result.output.splitlines() if _REPORTED.match(line))
        assert reported == step.reported, (step.command, result.output)
        outputs.append(result.output)
        if index == 0:
            scenario.fix_sunday_cleanup(alias)

    # In again after the back-out: every entry unchanged.
    back_in = outputs[7]
    assert steps[7].reported == ()  # unchanged entries are counted, not listed
    assert "6 tasks: 0 added, 0 updated, 0 refreshed, 6 unchanged, 0 skipped" in back_in
