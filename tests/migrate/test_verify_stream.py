"""``--verify`` as a stream: memory flat in the window, a bounded report, and progress on stderr."""

from __future__ import annotations

import json
import re
import tracemalloc
from datetime import timedelta

import pytest

from celery_stembeat.cli import progress as progress_module
from celery_stembeat.cli.progress import LINE_EVERY, ProgressLines, verify_progress
from celery_stembeat.entry import Entry
from celery_stembeat.migrate.convert import convert_task
from celery_stembeat.migrate.dcb_rows import DcbSettings, ScheduleRow, TaskRow
from celery_stembeat.migrate.instants import SAMPLE, Instants
from celery_stembeat.migrate.oracle import DcbOracle
from celery_stembeat.migrate.report import (
    SWITCH_NOTE,
    instants_text,
    verification_dict,
    verification_lines,
)
from celery_stembeat.migrate.verify import PROGRESS_STEP, Verification, verify
from celery_stembeat.specs import CronSpec, parse_instant
from tests.migrate import scenario
from tests.migrate.conftest import NOW, Invoke
from tests.migrate.test_dcb_import import import_args

SETTINGS = DcbSettings()


#: Frequent tasks (one imported wrongly below) and a daily one over the US clock change:
#: name → (kind, schedule columns, how long before NOW it last ran).
TASKS = {
    "every-5m": ("interval", {"every": 5, "period": "minutes"}, timedelta(seconds=3)),
    "five-minutes": ("crontab", {"minute": "*/5", "timezone": "UTC"}, timedelta(minutes=1)),
    "report-ny": (
        "crontab",
        {"minute": "30", "hour": "2", "timezone": "America/New_York"},
        timedelta(minutes=1),
    ),
}


def _rows() -> list[TaskRow]:
    return [
        TaskRow(
            index,
            name,
            f"proj.{name}",
            last_run_at=NOW - late,
            links={kind: index},
            schedules={kind: ScheduleRow(kind, index, values)},
        )
        for index, (name, (kind, values, late)) in enumerate(TASKS.items(), 1)
    ]


def _entries(rows: list[TaskRow]) -> dict[str, Entry]:
    entries = {}
    for row in rows:
        entry = convert_task(row, SETTINGS, NOW).entry
        assert entry is not None
        entries[row.name] = entry
    # As if the converter had read */5 as */10: every other fire of the task is lost.
    wrong = entries["five-minutes"]
    entries["five-minutes"] = Entry(
        id=wrong.id, task=wrong.task, spec=CronSpec("*/10 * * * *"), state=wrong.state
    )
    return entries


def _verify(days: int) -> Verification:
    rows = _rows()
    return verify(rows, _entries(rows), DcbOracle(SETTINGS), NOW, NOW + timedelta(days=days))


def _peak(days: int) -> tuple[int, Verification]:
    tracemalloc.start()
    try:
        found = _verify(days)
        return tracemalloc.get_traced_memory()[1], found
    finally:
        tracemalloc.stop()


def test_memory_does_not_grow_with_the_window() -> None:
    """Ten times the window, ten times the fires and divergences: the same peak memory."""
    _verify(1)  # imports, caches and celery's app, once
    short_peak, short = _peak(10)
    long_peak, long = _peak(100)
    assert long.fires[0] > 9 * short.fires[0] > 9 * 5700
    assert long.divergence_count > 9 * short.divergence_count > 9 * 1000
    assert long_peak - short_peak < 100_000, (short_peak, long_peak)
    assert long_peak < 500_000


def test_the_report_keeps_the_first_divergences_and_counts_them_all() -> None:
    found = _verify(10)
    check = next(task for task in found.tasks if task.name == "five-minutes")
    # 2,881 fires of */5 in ten days (the end included); stembeat makes the 1,441 at */10 only.
    assert (check.dcb_fires, check.stembeat_fires) == (2881, 1441)
    assert check.compared == 2881
    assert check.divergence_count == found.divergence_count == 1440
    assert len(check.divergences) == SAMPLE
    assert [item.at.minute % 10 for item in check.divergences] == [5] * SAMPLE
    assert check.divergences == sorted(check.divergences, key=lambda item: item.at)
    lines = list(verification_lines(found))
    assert "divergences: 1440" in lines
    assert (
        "  five-minutes  … 1340 more, the last 2026-03-16T11:55:00Z (only django-celery-beat fires)"
        in lines
    )
    assert lines[-1] == "NOT SAFE TO SWITCH: 1440 divergences"
    report = verification_dict(found)
    assert report["divergence_count"] == 1440
    assert len(report["divergences"]) == SAMPLE
    assert report["compared"] == found.compared == sum(task.compared for task in found.tasks)


def test_intentional_differences_keep_a_sample_with_count_first_and_last() -> None:
    found = _verify(10)
    (spring,) = [item for item in found.intentional if item.task == "report-ny"]
    assert spring.reason == "dst"
    assert spring.to_dict()["django-celery-beat"] == {
        "count": 1,
        "first": "2026-03-08T07:30:00Z",
        "last": "2026-03-08T07:30:00Z",
        "every": None,
        "instants": ["2026-03-08T07:30:00Z"],
    }
    assert spring.to_dict()["stembeat"]["instants"] == ["2026-03-08T07:00:00Z"]


def test_instants_beyond_the_sample_are_counted_with_the_last() -> None:
    start = parse_instant("2026-03-08T06:00:00Z", "t")
    even = Instants.of(start + timedelta(minutes=index) for index in range(500))
    assert instants_text(even) == (
        "2026-03-08T06:00:00Z, then every 1m to 2026-03-08T14:19:00Z (500 fires)"
    )
    assert even.to_dict()["every"] == 60.0
    uneven = Instants.of(start + timedelta(minutes=index * index) for index in range(150))
    assert len(uneven.sample) == SAMPLE
    assert uneven.every is None
    text = instants_text(uneven)
    assert text.startswith("2026-03-08T06:00:00Z, 2026-03-08T06:01:00Z, 2026-03-08T06:04:00Z, ")
    assert text.endswith(", … (150 in all, the last 2026-03-23T16:01:00Z)")
    assert text.count("Z, ") == SAMPLE


def test_progress_is_reported_per_task_and_every_few_thousand_fires() -> None:
    calls: list[tuple[int, int]] = []
    rows = _rows()
    found = verify(
        rows,
        _entries(rows),
        DcbOracle(SETTINGS),
        NOW,
        NOW + timedelta(days=10),
        progress=lambda done, fires: calls.append((done, fires)),
    )
    assert calls[-1] == (3, found.compared)
    assert calls == sorted(calls)
    per_task = [call for call in calls if call[1] % PROGRESS_STEP]
    assert [done for done, _ in per_task] == [1, 2, 3]
    assert len(calls) >= found.compared // PROGRESS_STEP


class FakeClock:
    """A monotonic clock that moves only when told to."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_progress_line_at_most_every_few_seconds(capsys: pytest.CaptureFixture[str]) -> None:
    clock = FakeClock()
    report = ProgressLines(16, clock)
    report(1, 10_000)
    clock.now += LINE_EVERY - 0.1
    report(2, 200_000)
    assert capsys.readouterr().err == ""
    clock.now += 0.1
    report(3, 412_000)
    report(4, 500_000)
    assert capsys.readouterr().err == "verify: 3/16 tasks, 412,000 fires compared\n"
    clock.now += LINE_EVERY
    report(16, 1_760_000)
    assert capsys.readouterr() == ("", "verify: 16/16 tasks, 1,760,000 fires compared\n")


class Ticking(FakeClock):
    """A clock that moves two seconds each time it is read."""

    def __call__(self) -> float:
        self.now += 2.0
        return self.now


def test_piped_import_verify_prints_progress_lines_on_stderr(
    sqlite_alias: str, cli: Invoke, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The clock moves 2 s per task (each task has under 10,000 fires, so one report per task):
    a line every third task, the first once 5 s have passed."""
    monkeypatch.setattr(progress_module, "monotonic", Ticking())
    scenario.build_all_fields(sqlite_alias)
    result = cli(*import_args(sqlite_alias, "--verify", scenario.WINDOW, "--json"))
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["verify"]["verdict"] == "SAFE TO SWITCH"
    *lines, note = result.stderr.splitlines()
    assert note == SWITCH_NOTE
    total = len(scenario.ALL_FIELDS)
    assert all(
        re.fullmatch(rf"verify: \d+/{total} tasks, [\d,]+ fires compared", line) for line in lines
    )
    assert [int(line.split()[1].split("/")[0]) for line in lines] == [3, 6, 9, 12]


def test_on_a_terminal_progress_is_a_bar_on_stderr(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("FORCE_COLOR", "1")
    monkeypatch.setenv("TTY_COMPATIBLE", "1")
    monkeypatch.setenv("TTY_INTERACTIVE", "1")
    with verify_progress(16) as report:
        assert not isinstance(report, ProgressLines)
        report(3, 412_000)
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "fires compared" in captured.err


def test_verifying_a_long_window_reads_the_same_as_a_short_one_where_they_overlap() -> None:
    """The bounded report of 100 days starts as the report of 10 days does."""
    short, long = _verify(10), _verify(100)
    for name in ("five-minutes", "report-ny"):
        first = next(task for task in short.tasks if task.name == name)
        later = next(task for task in long.tasks if task.name == name)
        assert first.divergences == later.divergences
