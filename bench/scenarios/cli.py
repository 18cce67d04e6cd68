"""The operator's CLI on a store of ``n`` entries: each verb run as a user runs it, the
``stembeat`` script in a process of its own, timed from its start (imports included) to its
exit, with its peak memory.

``prepare`` writes an entry file of ``n`` entries over a hundred distinct specs (intervals and
crons, as fleets repeat a few schedules many times), each with its own kwargs. Each repetition
starts from an empty store and runs, in order: ``apply`` of the file (every entry new), the
same ``apply`` again (nothing changes), an ``apply`` of a file naming one entry, changed;
``list`` until its first row, whole ``list`` (piped: tab-separated), ``list --json``,
``export``, ``show`` of one entry and ``enable`` of one. At a million entries the store is
written with ``write_many`` instead and only the verbs that touch one entry, and ``list``'s
first row, are run. Only stembeat has this CLI, so the anchors' columns stay empty.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from bench import subjects
from bench.apps import TASK
from bench.context import Context
from bench.stats import Metric

NAME = "cli"
METRICS = (
    Metric("apply_new_s", "apply, every entry new", "s"),
    Metric("apply_same_s", "apply again, nothing changes", "s"),
    Metric("apply_one_s", "apply of one changed entry", "s"),
    Metric("list_first_s", "list, first row", "s"),
    Metric("list_s", "list, every row (piped)", "s"),
    Metric("list_json_s", "list --json", "s"),
    Metric("export_s", "export", "s"),
    Metric("show_s", "show one entry", "s"),
    Metric("enable_s", "enable one entry", "s"),
    Metric("peak_mb", "largest peak RSS of these verbs", "MB"),
)
#: Distinct specs of the entry file.
SPECS = 100
#: The sizes above which only the one-entry verbs run.
WHOLE_STORE_UP_TO = 100_000
#: Entries per ``write_many`` call when loading a million.
_WRITE_BATCH = 10_000


def plan(ctx: Context) -> list[tuple[int, tuple[str, ...]]]:
    """Each stembeat store at a hundred thousand entries and a million (five thousand in quick
    mode)."""
    if ctx.quick:
        return [(5_000, subjects.STEMBEATS)]
    return [(WHOLE_STORE_UP_TO, subjects.STEMBEATS), (1_000_000, subjects.STEMBEATS)]


def _spec(index: int) -> Any:
    kind = index % SPECS
    if kind % 2:
        return f"{kind}m"
    return {"type": "cron", "expression": f"{kind % 60} * * * *", "timezone": "Europe/Berlin"}


def _item(index: int) -> dict[str, Any]:
    return {"id": f"job{index:07d}", "task": TASK, "spec": _spec(index), "kwargs": {"n": index}}


def _file(ctx: Context, n: int) -> Path:
    return ctx.path(f"file-{NAME}-{n}.json")


def _one_file(ctx: Context, n: int, rep: int) -> Path:
    return ctx.path(f"file-{NAME}-{n}-one-{rep}.json")


def prepare(ctx: Context, subject: str, n: int) -> dict[str, float]:
    """Write the entry file (once per size), and at a million entries the store too."""
    path = _file(ctx, n)
    if not path.exists():
        with path.open("w", encoding="utf-8") as out:
            json.dump([_item(index) for index in range(n)], out)
    if n <= WHOLE_STORE_UP_TO:
        return {}
    from celery_stembeat.entry import Entry
    from celery_stembeat.stores import open_store

    started = time.perf_counter()
    tomorrow = datetime.now(timezone.utc) + timedelta(days=1)
    subjects.drop(ctx, subject, NAME)
    with open_store(subjects.store_url(ctx, subject, NAME)) as store:
        subjects.write_entries(
            store,
            (Entry.from_dict(_item(index)).with_state(next_run_at=tomorrow) for index in range(n)),
        )
    return {"load_s": time.perf_counter() - started}


def _stembeat() -> str:
    return str(Path(sys.executable).with_name("stembeat"))


def _run(url: str, *args: str, first_line: bool = False) -> tuple[float, float]:
    """Seconds from start to exit (or to the first line of output), and peak RSS in MB."""
    started = time.perf_counter()
    process = subprocess.Popen(
        [_stembeat(), "--url", url, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert process.stdout is not None
    took = None
    if first_line:
        process.stdout.readline()  # the heading
        process.stdout.readline()
        took = time.perf_counter() - started
    for _ in iter(lambda: process.stdout.read(1 << 16), b""):  # type: ignore[union-attr]
        pass
    _, status, usage = os.wait4(process.pid, 0)
    ended = time.perf_counter()
    process.returncode = os.waitstatus_to_exitcode(status)
    errors = process.stderr.read().decode(errors="replace") if process.stderr else ""
    if process.returncode != 0:
        raise AssertionError(f"stembeat {' '.join(args)}: exit {process.returncode}: {errors}")
    return (took if took is not None else ended - started), usage.ru_maxrss / 1024


def measure(ctx: Context, subject: str, n: int, rep: int) -> dict[str, float]:
    """Run the verbs in order on ``n`` entries; check the applies did what they say."""
    url = subjects.store_url(ctx, subject, NAME)
    changed = {**_item(n // 2), "kwargs": {"n": -rep - 1}}
    one = _one_file(ctx, n, rep)
    one.write_text(json.dumps([changed]), encoding="utf-8")
    found: dict[str, float] = {}
    peaks = []

    def timed(key: str, *args: str, first_line: bool = False) -> None:
        seconds, peak = _run(url, *args, first_line=first_line)
        found[key] = seconds
        peaks.append(peak)

    if n <= WHOLE_STORE_UP_TO:
        subjects.drop(ctx, subject, NAME)
        timed("apply_new_s", "apply", "--quiet", str(_file(ctx, n)))
        timed("apply_same_s", "apply", "--quiet", str(_file(ctx, n)))
    timed("apply_one_s", "apply", "--quiet", str(one))
    timed("list_first_s", "list", first_line=True)
    if n <= WHOLE_STORE_UP_TO:
        timed("list_s", "list")
        timed("list_json_s", "list", "--json")
        timed("export_s", "export")
    timed("show_s", "show", changed["id"])
    timed("enable_s", "enable", changed["id"])
    one.unlink()
    from celery_stembeat.stores import open_store

    with open_store(url) as store:
        stored = store.get(changed["id"])
        if stored is None or stored.kwargs != changed["kwargs"]:
            raise AssertionError(f"apply did not write {changed['id']}: {stored}")
        if n <= WHOLE_STORE_UP_TO and store.entry_counts().total != n:
            raise AssertionError(f"the store holds {store.entry_counts().total} entries, not {n}")
    found["peak_mb"] = max(peaks)
    return found


def cleanup(ctx: Context, subject: str, n: int) -> None:
    """Remove the store."""
    subjects.drop(ctx, subject, NAME)
