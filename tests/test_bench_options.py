"""The benchmark's own options: refused on one line naming the flag, exit 2, nothing run."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(
    ("flag", "value"),
    [
        ("--soak-minutes", "-1"),
        ("--soak-minutes", "nan"),
        ("--soak-minutes", "1441"),
        ("--soak-entries", "1.5"),
        ("--soak-entries", "x" * 500),
    ],
)
def test_a_bad_soak_option_is_refused_on_one_line(flag: str, value: str, tmp_path: Path) -> None:
    out = tmp_path / "results"
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--scenarios", "soak", flag, value, "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert done.stdout == ""
    (line,) = done.stderr.splitlines()
    assert line.startswith(f"python -m bench: {flag} ")
    assert len(line) < 150
    assert not out.exists()
