"""Runs every scenario's steps in child processes, interleaving the subjects."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

from bench.child import MARK
from bench.context import Context
from bench.results import Results

ROOT = Path(__file__).resolve().parents[1]
#: The longest one child may run, seconds.
CHILD_TIMEOUT = 1_800


class ChildFailed(Exception):
    """A child process failed; the message ends with its last lines of output."""


def run_child(
    ctx: Context,
    scenario: str,
    step: str,
    subject: str,
    n: int,
    rep: int,
    timeout: float = CHILD_TIMEOUT,
) -> Any:
    """Run one step in a fresh interpreter (for at most ``timeout`` seconds) and return its
    result."""
    command = [sys.executable, "-m", "bench.child", scenario, step, subject, str(n), str(rep)]
    try:
        done = subprocess.run(
            command,
            input=ctx.to_json(),
            capture_output=True,
            text=True,
            cwd=ROOT,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise ChildFailed(f"timed out after {timeout:.0f} s") from exc
    for line in reversed(done.stdout.splitlines()):
        if line.startswith(MARK) and done.returncode == 0:
            return json.loads(line[len(MARK) :])
    tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-5:])
    raise ChildFailed(f"exit {done.returncode}: {tail}")


def run_scenario(
    ctx: Context,
    module: ModuleType,
    chosen: Sequence[str],
    results: Results,
    log: Callable[[str], None],
) -> None:
    """Prepare each subject, run the repetitions round-robin (rotating which subject goes
    first), then clean up. A module's ``child_timeout(ctx)`` may allow its children longer
    than :data:`CHILD_TIMEOUT`."""
    name = module.NAME
    timeout = float(getattr(module, "child_timeout", lambda _: CHILD_TIMEOUT)(ctx))
    steps = getattr(module, "STEPS", ("measure",))
    repetitions = int(ctx.options.get(f"{name}_reps", ctx.options["reps"]))
    for n, planned in module.plan(ctx):
        order = [subject for subject in planned if subject in chosen]
        for subject in order:
            if hasattr(module, "prepare"):
                _step(ctx, name, "prepare", subject, n, 0, results, log, timeout)
        for rep in range(repetitions):
            shift = rep % len(order) if order else 0
            for subject in order[shift:] + order[:shift]:
                for step in steps:
                    _step(ctx, name, step, subject, n, rep, results, log, timeout)
        for subject in order:
            if hasattr(module, "cleanup"):
                _step(ctx, name, "cleanup", subject, n, 0, results, log, timeout)


def _step(
    ctx: Context,
    scenario: str,
    step: str,
    subject: str,
    n: int,
    rep: int,
    results: Results,
    log: Callable[[str], None],
    timeout: float = CHILD_TIMEOUT,
) -> None:
    started = time.perf_counter()
    try:
        value = run_child(ctx, scenario, step, subject, n, rep, timeout)
    except ChildFailed as exc:
        results.fail(scenario, n, subject, f"{step}: {exc}")
        log(f"  {scenario} n={n} {subject} {step}: FAILED {exc}")
        return
    for sample in value if isinstance(value, list) else [value or {}]:
        results.add(scenario, n, subject, sample)
    log(f"  {scenario} n={n} {subject} {step} #{rep}: {time.perf_counter() - started:.1f} s")
