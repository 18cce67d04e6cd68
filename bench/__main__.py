"""``python -m bench [--quick] [--scenarios a,b] [--subjects x,y] [--reps N] [--out DIR]``."""

from __future__ import annotations

import argparse
import compileall
import json
import math
import shutil
import sys
import tempfile
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path

from bench.context import Context
from bench.report import table, versions
from bench.results import Results
from bench.runner import ROOT, run_scenario
from bench.scenarios import SCENARIOS
from bench.subjects import SUBJECTS

#: Scenario knobs per mode. ``reps``: repetitions (``<scenario>_reps`` overrides it).
MODES = {
    "full": {
        "reps": 5,
        "pass_seconds": 2.0,
        "burst_seconds": 10.0,
        "lateness_reps": 1,
        "lateness_seconds": 60.0,
        "lateness_windows": 5,
        "health_reps": 1,
        "health_surveys": 50,
        "tags_reps": 1,
        "tags_selections": 50,
        "cli_reps": 1,
        "web_reps": 1,
        "web_requests": 40,
        "soak_reps": 1,
        "soak_entries": 1_000,
        "soak_minutes": 5.0,
        "soak_sample_seconds": 15.0,
        "soak_history_limit": 100,
    },
    "quick": {
        "reps": 2,
        "startup_reps": 1,
        "propagation_reps": 1,
        "scaleout_reps": 1,
        "pass_seconds": 0.2,
        "burst_seconds": 1.0,
        "lateness_reps": 1,
        "lateness_seconds": 1.5,
        "lateness_windows": 1,
        "health_reps": 1,
        "health_surveys": 10,
        "tags_reps": 1,
        "tags_selections": 10,
        "cli_reps": 1,
        "web_reps": 1,
        "web_requests": 5,
        "soak_reps": 1,
        "soak_entries": 50,
        "soak_minutes": 0.2,
        "soak_sample_seconds": 3.0,
        "soak_history_limit": 100,
    },
}


def _choice(text: str | None, known: list[str], what: str) -> list[str]:
    if not text:
        return known
    chosen = [item.strip() for item in text.split(",") if item.strip()]
    unknown = sorted(set(chosen) - set(known))
    if unknown:
        raise SystemExit(f"unknown {what}: {', '.join(unknown)} (known: {', '.join(known)})")
    return chosen


def _bounded(
    parser: argparse.ArgumentParser, flag: str, text: str, most: float, *, whole: bool = False
) -> float:
    """``text`` as a number above 0 and at most ``most`` (``whole``: an integer); else exit 2
    with one line naming ``flag``."""
    try:
        value = int(text) if whole else float(text)
    except ValueError:
        value = math.nan
    if not 0 < value <= most:
        kind = "a whole number" if whole else "a number"
        parser.exit(
            2, f"python -m bench: {flag} {text!r:.40}: not {kind} above 0 and at most {most:,.0f}\n"
        )
    return value


def main(argv: list[str] | None = None) -> int:
    """Run the benchmarks, print the table, write the JSON; 1 if any step failed."""
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes, short runs (CI)")
    parser.add_argument("--scenarios", help=f"comma-separated, of {', '.join(SCENARIOS)}")
    parser.add_argument("--subjects", help=f"comma-separated, of {', '.join(SUBJECTS)}")
    parser.add_argument("--reps", type=int, help="repetitions (default: 5, quick: 2)")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    parser.add_argument("--soak-minutes", help="soak length (default 5, quick 0.2)")
    parser.add_argument("--soak-entries", help="soak entries (default 1000, quick 50)")
    args = parser.parse_args(argv)
    scenarios = _choice(args.scenarios, list(SCENARIOS), "scenarios")
    chosen = _choice(args.subjects, list(SUBJECTS), "subjects")
    options: dict[str, float] = dict(MODES["quick" if args.quick else "full"])
    if args.reps:
        options["reps"] = args.reps
    if args.soak_minutes is not None:
        options["soak_minutes"] = _bounded(parser, "--soak-minutes", args.soak_minutes, 1440.0)
    if args.soak_entries is not None:
        options["soak_entries"] = int(
            _bounded(parser, "--soak-entries", args.soak_entries, 1_000_000.0, whole=True)
        )
    # The anchors come from pip, which byte-compiles what it installs; stembeat runs from its
    # source tree, where nothing may have compiled it (PYTHONDONTWRITEBYTECODE). Compile it
    # as an install would, or every child process would compile it again.
    compileall.compile_dir(ROOT / "celery_stembeat", quiet=1)
    tmp = tempfile.mkdtemp(prefix="stembeat-bench-")
    ctx = Context(run=uuid.uuid4().hex[:8], tmp=tmp, quick=args.quick, options=options)
    started = datetime.now(timezone.utc)
    clock = time.perf_counter()
    results = Results()

    def log(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    try:
        for name in scenarios:
            log(f"{name}:")
            run_scenario(ctx, SCENARIOS[name], chosen, results, log)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    elapsed = time.perf_counter() - clock
    modules = [SCENARIOS[name] for name in scenarios]
    found = versions(ctx)
    mode = "quick" if args.quick else "full"
    print(f"\nstembeat benchmarks, {mode} run, {started:%Y-%m-%d %H:%M} UTC, {elapsed:.0f} s")
    print(", ".join(f"{key} {value}" for key, value in found.items()))
    print()
    print(table(results, modules, ctx))
    for module in modules:
        if hasattr(module, "report"):
            print()
            print(module.report(results, ctx))
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"{started:%Y%m%dT%H%M%S}-{mode}.json"
    document = {
        "started": started.isoformat(),
        "seconds": round(elapsed, 1),
        "mode": mode,
        "command": " ".join(["python -m bench", *(argv if argv is not None else sys.argv[1:])]),
        "options": options,
        "versions": found,
        **results.to_dict(),
    }
    path.write_text(json.dumps(document, indent=1))
    print(f"\nJSON: {path}")
    if results.failures:
        print(f"{len(results.failures)} cell(s) failed; see the log above", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
