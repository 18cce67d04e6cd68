"""Tables in a terminal of any width, ``-o wide``, and piped: the ``stembeat`` script itself."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from rich.cells import cell_len
from rich.console import Console

from celery_stembeat.cli import tables
from celery_stembeat.cli.commands import observe as observe_module
from celery_stembeat.cli.tables import Column, Output, Table
from celery_stembeat.specs import format_instant
from celery_stembeat.stores import Store, open_store
from tests.cli.conftest import Invoke, usage_error
from tests.cli.files import write
from tests.cli.scenario import NOW, seed
from tests.cli.terminal import in_terminal, piped

LONG_TASK = "proj." + "a_very_long_task_name_" * 8 + "end"
ENTRIES: list[dict[str, Any]] = [
    {
        "id": "billing-nightly-invoices",
        "task": "proj.billing.tasks.send_the_nightly_invoices",
        "spec": "0 2 * * *",
    },
    {
        "id": "reports-weekly-summary-for-the-operations-team",
        "task": "proj.reports.tasks.weekly_summary",
        "spec": {"type": "cron", "expression": "0 9 * * 1", "timezone": "America/New_York"},
    },
    {"id": "long", "task": LONG_TASK, "spec": "30s"},
    {"id": "paused", "task": "proj.paused", "spec": "5m", "enabled": False},
    {"id": "tabbed", "task": "proj.tab\tand\nnewline", "spec": "1m"},
]
IDS = sorted(str(item["id"]) for item in ENTRIES)
HEADINGS = ["ID", "ON", "SCHEDULE", "TASK", "NEXT RUN", "LAST RUN", "RUNS", "OUTCOME"]
WIDE = re.compile(r" {3,}")


@pytest.fixture
def url(tmp_path: Path) -> str:
    """An SQLite store holding :data:`ENTRIES`, made by ``stembeat apply``."""
    store_url = f"sqlite:///{tmp_path / 'tables.db'}"
    applied = piped("--url", store_url, "--now", format_instant(NOW), "apply",
                    str(write(tmp_path / "entries.json", ENTRIES)))  # fmt: skip
    assert applied.returncode == 0, applied.stderr
    return store_url


def stembeat(url: str, *args: str) -> tuple[str, ...]:
    return ("--url", url, "--now", format_instant(NOW), *args)


def headings(line: str) -> list[str]:
    """The headings of a table's first line (columns are three spaces or more apart)."""
    return WIDE.split(line.strip())


def test_at_80_columns_each_entry_is_one_line_and_the_lowest_ranked_columns_go(url: str) -> None:
    shown = in_terminal(*stembeat(url, "list"), columns=80).splitlines()
    assert max(cell_len(line) for line in shown) <= 80
    assert headings(shown[0]) == ["ID", "SCHEDULE", "NEXT RUN"]
    assert len(shown) == 1 + len(ENTRIES)
    rows = dict(zip(IDS, shown[1:], strict=True))
    assert headings(rows["billing-nightly-invoices"]) == [
        "billing-ni…y-invoices", "cron 0 2 * * * (UTC)", "2026-03-03 02:00:00 UTC (in 17h)",
    ]  # fmt: skip
    assert headings(rows["reports-weekly-summary-for-the-operations-team"])[:2] == [
        "reports-we…tions-team", "cron 0 9 * * 1 (Amer…",
    ]  # fmt: skip
    assert rows["paused"].rstrip().endswith("   -")


def test_at_200_columns_every_column_shows(url: str) -> None:
    shown = in_terminal(*stembeat(url, "list"), columns=200).splitlines()
    assert headings(shown[0]) == HEADINGS
    assert len(shown) == 1 + len(ENTRIES)
    assert max(cell_len(line) for line in shown) <= 200
    assert all(len(headings(row)) == len(HEADINGS) for row in shown[1:])
    assert any("   proj.tab\\tand\\nnewline   " in row for row in shown)


def test_wide_shows_every_column_in_full_however_narrow_the_terminal(url: str) -> None:
    shown = in_terminal(*stembeat(url, "list", "-o", "wide"), columns=80).splitlines()
    assert headings(shown[0]) == HEADINGS
    assert len(shown) == 1 + len(ENTRIES)
    assert "…" not in "".join(shown)
    assert any(LONG_TASK in row for row in shown)
    assert any("   proj.tab\\tand\\nnewline   " in row for row in shown)
    assert min(cell_len(line) for line in shown) > 80


def test_piped_output_is_tab_separated_whole_and_escaped(url: str) -> None:
    done = piped(*stembeat(url, "list"))
    assert (done.returncode, done.stderr) == (0, "")
    heading, *rows = done.stdout.splitlines()
    assert heading.split("\t") == HEADINGS
    assert len(rows) == len(ENTRIES)
    assert {row.count("\t") for row in rows} == {len(HEADINGS) - 1}
    cells = {row.split("\t")[0]: row.split("\t") for row in rows}
    assert cells["long"][3] == LONG_TASK
    assert cells["tabbed"][3] == "proj.tab\\tand\\nnewline"
    assert cells["billing-nightly-invoices"][4:6] == ["2026-03-03T02:00:00Z", "-"]
    assert cells["paused"][1:5] == ["no", "every 5m", "proj.paused", "-"]
    assert "\x1b" not in done.stdout
    bare = piped(*stembeat(url, "list", "--no-headers"))
    assert bare.stdout.splitlines() == rows


def test_piped_titles_go_to_stderr_and_no_headers_leaves_only_rows(url: str) -> None:
    done = piped(*stembeat(url, "dry-run", "long", "--count", "2"))
    assert done.stderr == "every 30s: 2 occurrences after 2026-03-02T09:00:00Z\n"
    assert done.stdout.splitlines() == [
        "#\tUTC\tUTC\tDAY",
        "1\t2026-03-02T09:00:30Z\t2026-03-02T09:00:30+00:00\tMon",
        "2\t2026-03-02T09:01:00Z\t2026-03-02T09:01:00+00:00\tMon",
    ]
    bare = piped(*stembeat(url, "dry-run", "long", "--count", "2", "--no-headers"))
    assert (bare.stderr, bare.stdout.splitlines()) == ("", done.stdout.splitlines()[1:])


def test_tsv_and_no_headers_may_be_asked_for_on_a_terminal(url: str) -> None:
    shown = in_terminal(*stembeat(url, "list", "-o", "tsv", "--no-headers"), columns=80)
    assert shown.splitlines() == piped(*stembeat(url, "list", "--no-headers")).stdout.splitlines()
    fitted = in_terminal(*stembeat(url, "list", "--no-headers"), columns=80).splitlines()
    assert [row.split()[0] for row in fitted] == [
        "billing-ni…y-invoices", "long", "paused", "reports-we…tions-team", "tabbed",
    ]  # fmt: skip


def test_observe_and_history_fit_80_columns(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'seeded.db'}"
    with open_store(url) as store:
        seed(store)
    observed = in_terminal(*stembeat(url, "observe"), columns=80).splitlines()
    assert max(cell_len(line) for line in observed) <= 80
    table = observed[observed.index(next(line for line in observed if line.startswith("ID "))) :]
    assert headings(table[0]) == ["ID", "HEALTH", "WHY", "RUNS", "NEXT RUN"]
    assert headings(table[1]) == ["sync", "missed", "due 4m ago, not sent", "0",
                                  "2026-03-02 08:56:00 UTC (4m ago)"]  # fmt: skip
    history = in_terminal(*stembeat(url, "history", "sync"), columns=80).splitlines()
    assert max(cell_len(line) for line in history) <= 80
    assert history[0] == "sync: 2 runs, newest first, times in UTC"
    assert headings(history[1]) == ["SCHEDULED FOR", "DRIFT", "OUTCOME", "ERROR"]
    assert [headings(row) for row in history[2:]] == [
        [f"2026-03-02 {at} UTC", "-", "failed", "OperationalError: broker unreachable"]
        for at in ("08:51:00", "08:46:00")
    ]


def test_observe_watch_piped_prints_the_rows_at_each_refresh(
    sqlite_cli: Invoke, sqlite_store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    def two_refreshes(store: Store, interval: float) -> Iterator[list[str]]:
        yield []
        seed(sqlite_store)
        yield ["sync"]

    monkeypatch.setattr(observe_module, "refreshes", two_refreshes)
    result = sqlite_cli("observe", "--watch")
    assert result.exit_code == 0, result.output
    heading = "ID\tHEALTH\tWHY\tRUNS\tLAST DRIFT\tNEXT RUN"
    assert result.stdout.splitlines() == [
        heading,
        heading,
        "sync\tmissed\tdue 4m ago, not sent\t0\t-\t2026-03-02T08:56:00Z",
    ]
    assert result.stderr.count("health: ") == 2


def test_output_and_json_do_not_combine(sqlite_cli: Invoke) -> None:
    result = sqlite_cli("list", "--json", "-o", "wide")
    assert usage_error(result) == "Error: --output and --json cannot be combined"


# -- the renderer on its own -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "escaped"),
    [
        ("plain text", "plain text"),
        ("a\tb\nc\rd", "a\\tb\\nc\\rd"),
        ("back\\slash", "back\\\\slash"),
        ("bell\x07 esc\x1b[31m del\x7f nel\x85", "bell\\x07 esc\\x1b[31m del\\x7f nel\\x85"),
        ("line\u2028para\u2029", "line\\u2028para\\u2029"),
        ("naïve 日本 ✓", "naïve 日本 ✓"),
    ],
)
def test_escape_keeps_a_value_on_one_line(text: str, escaped: str) -> None:
    assert tables.escape(text) == escaped


@pytest.mark.parametrize(
    ("text", "width", "cut", "shortened"),
    [
        ("proj.tasks.report", 20, "end", "proj.tasks.report"),
        ("proj.tasks.report", 10, "end", "proj.task…"),
        ("proj.tasks.report", 10, "middle", "proj.…port"),
        ("日本語のタスク", 7, "end", "日本語…"),
        ("日本語のタスク", 7, "middle", "日…スク"),
    ],
)
def test_shorten_cuts_to_a_width_in_cells(text: str, width: int, cut: Any, shortened: str) -> None:
    assert tables.shorten(text, width, cut) == shortened
    assert cell_len(shortened) <= width


COLUMNS = (
    Column("id", 1, cut="middle", floor=6),
    Column("name", 3, cut="end", floor=6),
    Column("when", 2),
    Column("count", 4),
)


@pytest.mark.parametrize(
    ("width", "widths"),
    [
        (200, [20, 30, 10, 5]),  # everything whole
        (60, [18, 18, 10, 5]),  # the widest shortenable column gives way, then both
        (45, [11, 10, 10, 5]),  # of equals, the lower rank gives way first
        (35, [10, 9, 10, None]),  # both at their floors are too wide: the last rank goes
        (20, [7, None, 10, None]),
        (5, [6, None, None, None]),  # one column is always kept
    ],
)
def test_fit_shortens_to_the_floors_then_leaves_out_the_lowest_ranks(
    width: int, widths: list[int | None]
) -> None:
    assert tables.fit(COLUMNS, [20, 30, 10, 5], width) == widths


def numbered(count: int, consumed: list[int]) -> Iterator[tuple[str, str]]:
    for number in range(count):
        consumed.append(number)
        yield (f"row-{number}", "x" * (5 if number < tables.SAMPLE else 40))


def test_rows_stream_after_the_first_sample_and_keep_its_widths() -> None:
    consumed: list[int] = []
    table = Table((Column("id", 1), Column("text", 2, cut="end")), numbered(250, consumed))
    console = Console(file=io.StringIO(), width=80)
    lines = tables.lines(table, console, Output())
    assert next(lines).plain == "ID       TEXT"
    assert len(consumed) == tables.SAMPLE
    rest = [line.plain for line in lines]
    assert len(consumed) == 250
    assert rest[0] == "row-0    xxxxx"
    assert rest[-1] == "row-2…   xxxx…"
