"""What a beat imports: only what its store needs, so its memory stays small.

Each check runs in a fresh interpreter and reads its ``sys.modules``: the test process itself
has imported everything already.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

#: Never needed by a running beat, whatever its store.
NOT_FOR_A_BEAT = (
    "celery_stembeat.cli",
    "celery_stembeat.migrate",
    "rich",
    "sqlalchemy.orm",
    "sqlalchemy.ext",
)

#: Prints the modules loaded once a beat on the store at argv[1] has started and run a pass.
BEAT = """
    import json, sys, tempfile
    from celery import Celery
    from celery_stembeat import Scheduler
    from celery_stembeat.stores import open_store

    url = sys.argv[1]
    app = Celery("imports", broker="memory://", set_as_current=False)
    app.conf.update(
        result_expires=None,
        stembeat_url=url,
        beat_schedule={"every-minute": {"task": "t.noop", "schedule": 60.0}},
    )
    scheduler = Scheduler(app, schedule_filename=tempfile.mktemp())
    scheduler.engine.tick()
    loaded = sorted(sys.modules)
    scheduler.close()
    if url.startswith("postgresql"):
        store = open_store(url)
        store.drop()
        store.close()
    print(json.dumps(loaded))
"""


def loaded_modules(code: str, *args: str) -> set[str]:
    """The modules a fresh interpreter has loaded after running ``code`` (which prints them)."""
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    return set(json.loads(result.stdout.splitlines()[-1]))


def loaded(modules: set[str], *packages: str) -> list[str]:
    """The modules of ``packages`` (or their submodules) among ``modules``."""
    return sorted(m for m in modules if any(m == p or m.startswith(p + ".") for p in packages))


def test_scheduler_import_loads_no_store_driver_and_no_cli() -> None:
    """``celery beat -S stembeat`` imports the scheduler: stores load their libraries when
    opened, so naming a store (its masked URL in the banner) loads none."""
    modules = loaded_modules(
        "import json, sys, celery_stembeat.scheduler; print(json.dumps(sorted(sys.modules)))"
    )
    assert "celery_stembeat.scheduler" in modules
    assert loaded(modules, *NOT_FOR_A_BEAT, "redis", "sqlalchemy", "psycopg") == []
    assert loaded(modules, "celery_stembeat.stores.redis", "celery_stembeat.stores.sql") == []


def test_sqlite_beat_loads_no_postgresql_or_redis(tmp_path: Path) -> None:
    modules = loaded_modules(BEAT, f"sqlite:///{tmp_path / 'beat.db'}")
    assert "sqlalchemy.dialects.sqlite" in modules
    assert loaded(modules, *NOT_FOR_A_BEAT, "redis", "psycopg") == []
    assert loaded(modules, "sqlalchemy.dialects.postgresql") == []


@pytest.mark.services
def test_postgresql_beat_loads_no_sqlite_dialect_or_redis(
    postgres_url: str, unique_prefix: str
) -> None:
    modules = loaded_modules(BEAT, f"{postgres_url}?prefix={unique_prefix}")
    assert "sqlalchemy.dialects.postgresql" in modules
    assert "psycopg" in modules
    assert loaded(modules, *NOT_FOR_A_BEAT, "redis") == []
    assert loaded(modules, "sqlalchemy.dialects.sqlite") == []
