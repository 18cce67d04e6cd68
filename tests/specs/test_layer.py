"""The specs are the bottom layer: importing them loads no celery, and they import nothing above.

The import checks run in a fresh interpreter: the test process itself has loaded celery already.
"""

from __future__ import annotations

import json
import pickle
import pickletools
import subprocess
import sys
import textwrap
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from celery_stembeat.specs import (
    CalendarSpec,
    ClockedSpec,
    CronSpec,
    IntervalSpec,
    SolarSpec,
    Spec,
    parse_spec,
)

ROOT = Path(__file__).resolve().parents[2]
#: Libraries the celery bridge needs and the specs must not.
CELERY_PACKAGES = ("celery", "kombu")
T0 = datetime(2026, 1, 1, 9, 0, tzinfo=timezone.utc)
SPECS = [
    IntervalSpec(90, start_at=T0),
    CronSpec("0 9 * * 1-5", "Europe/London"),
    SolarSpec("sunset", 51.5, -0.12, offset=600),
    ClockedSpec(T0),
    CalendarSpec(weekdays=["mon"], monthdays=["1-7"], hours=[9], minutes=[0]),
]


def from_celery_packages(modules: list[str]) -> list[str]:
    """The modules among ``modules`` that belong to celery or kombu."""
    return sorted(
        m for m in modules if any(m == p or m.startswith(p + ".") for p in CELERY_PACKAGES)
    )


def run_python(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args], cwd=ROOT, capture_output=True, text=True, check=True, timeout=120
    )


def test_importing_the_specs_loads_no_celery() -> None:
    """``python -X importtime -c "import celery_stembeat.specs"`` lists no celery module."""
    result = run_python("-X", "importtime", "-c", "import celery_stembeat.specs")
    imported = [
        line.rsplit("|", 1)[1].strip()
        for line in result.stderr.splitlines()
        if line.startswith("import time:") and line.count("|") == 2
    ]
    assert "celery_stembeat.specs" in imported
    assert from_celery_packages(imported) == []


def test_using_the_specs_loads_no_celery() -> None:
    """Parsing every written form, computing, describing and pickling load no celery either."""
    code = """
        import json, pickle, sys
        from datetime import datetime, timezone
        from celery_stembeat.specs import parse_spec

        after = datetime(2026, 1, 1, tzinfo=timezone.utc)
        forms = (
            "*/5 * * * *",
            "1h30m",
            30,
            '{"type": "clocked", "at": "2027-01-01T00:00:00Z"}',
            {"type": "solar", "event": "sunrise", "latitude": 40.7, "longitude": -74.0},
            {"type": "calendar", "weekdays": ["mon"], "hours": [9]},
        )
        for value in forms:
            spec = parse_spec(value)
            spec.next_after(after), spec.describe()
            assert pickle.loads(pickle.dumps(spec)) == spec
        print(json.dumps(sorted(sys.modules)))
    """
    result = run_python("-c", textwrap.dedent(code))
    modules = json.loads(result.stdout.splitlines()[-1])
    assert "celery_stembeat.specs.parse" in modules
    assert from_celery_packages(modules) == []


@pytest.mark.parametrize("spec", SPECS, ids=[spec.kind for spec in SPECS])
def test_a_pickled_spec_is_rebuilt_by_its_own_class(spec: Spec) -> None:
    """A pickle names the spec's class and its dict form, never parse_spec: the layer's base
    needs nothing built on top of it."""
    data = pickle.dumps(spec)
    names = {str(arg) for _, arg, _ in pickletools.genops(data) if isinstance(arg, str)}
    assert type(spec).__name__ in names
    assert "from_dict" in names
    assert "parse_spec" not in names
    assert "celery_stembeat.specs.parse" not in names
    restored = pickle.loads(data)
    assert type(restored) is type(spec)
    assert restored == spec


class _WrittenBefore:
    """Pickles as a spec was pickled before: rebuilt through ``parse_spec``."""

    def __init__(self, spec: Spec) -> None:
        self.spec = spec

    def __reduce__(self) -> tuple[Any, ...]:
        return (parse_spec, (self.spec.to_dict(),))


@pytest.mark.parametrize("spec", SPECS, ids=[spec.kind for spec in SPECS])
def test_a_spec_pickled_by_an_earlier_version_still_loads(spec: Spec) -> None:
    """Pickles already on disk (a celery shelve holding a wrapped spec) name parse_spec."""
    assert pickle.loads(pickle.dumps(_WrittenBefore(spec))) == spec
