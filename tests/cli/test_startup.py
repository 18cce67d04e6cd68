"""The CLI imports only what a verb and its store need: a verb on a Redis store never loads
SQLAlchemy, no verb loads the migration code but ``import`` and ``export``, and the standalone
``stembeat`` loads neither celery nor kombu nor the engine to manage a store, and only ``web``
loads the dashboard's stack."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.contract.helpers import with_option

#: Prints which heavy packages a run of the CLI with ``sys.argv[1:]`` loaded.
PROBE = """
import sys
from celery_stembeat.cli import main
if sys.argv[1:]:
    try:
        main(sys.argv[1:], standalone_mode=False)
    except Exception:  # an unknown id: the verb ran all the same
        pass
heavy = (
    "sqlalchemy",
    "celery_stembeat.migrate",
    "celery_stembeat.stores.sql",
    "rich.progress",
    "celery",
    "kombu",
    "celery_stembeat.engine",
    "starlette",
    "uvicorn",
    "jinja2",
)
print("loaded:", *(name for name in heavy if name in sys.modules))
"""


def loaded(*args: str) -> list[str]:
    result = subprocess.run(
        [sys.executable, "-c", PROBE, *args], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    (line,) = [line for line in result.stdout.splitlines() if line.startswith("loaded:")]
    return line.split()[1:]


def test_importing_the_cli_loads_no_verb() -> None:
    assert loaded() == []


def test_listing_the_verbs_loads_no_web_stack() -> None:
    # Help imports every verb's module, the dashboard's too: its stack loads only when it runs.
    assert not {"starlette", "uvicorn", "jinja2"} & set(loaded("--help"))


def test_a_verb_on_a_redis_store_loads_no_sql(redis_url: str, unique_prefix: str) -> None:
    url = with_option(redis_url, "prefix", unique_prefix)
    assert loaded("--url", url, "list") == []


@pytest.mark.parametrize("verb", ["show", "history"])
def test_reading_one_entry_of_sqlite_loads_no_migration_code(verb: str, tmp_path: object) -> None:
    assert loaded("--url", f"sqlite:///{tmp_path}/s.db", verb, "nothing") == [
        "sqlalchemy",
        "celery_stembeat.stores.sql",
    ]
