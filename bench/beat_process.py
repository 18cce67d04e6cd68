"""Real ``celery beat`` processes running :mod:`bench.beat_app`: started, stopped, and the CPU
they used."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def start_beat(
    broker_url: str, scheduler: str, schedule_file: Path, queue: str, settings: dict[str, Any]
) -> subprocess.Popen[bytes]:
    """``celery beat -S scheduler`` publishing to ``queue`` with the celery ``settings``."""
    config = {"broker": broker_url, "queue": queue, "settings": settings}
    env = {**os.environ, "BENCH_BEAT": json.dumps(config), "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-m", "celery", "-A", "bench.beat_app", "beat"]
    command += ["-S", scheduler, "-s", str(schedule_file), "-l", "warning"]
    return subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )


def stop_beats(beats: list[subprocess.Popen[bytes]], timeout: float = 30.0) -> None:
    """SIGTERM every beat at once, then wait for each (SIGKILL after ``timeout`` s)."""
    for beat in beats:
        if beat.poll() is None:
            beat.send_signal(signal.SIGTERM)
    for beat in beats:
        try:
            beat.wait(timeout)
        except subprocess.TimeoutExpired:
            beat.kill()
            beat.wait()


def cpu_seconds(beats: list[subprocess.Popen[bytes]]) -> float:
    """The CPU time (user and system) the running ``beats`` have used so far, in seconds; NaN
    where ``/proc`` does not say."""
    total = 0.0
    for beat in beats:
        try:
            with open(f"/proc/{beat.pid}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            return math.nan
        # utime and stime, the 14th and 15th fields, in clock ticks.
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total
