"""A missing optional library ends a command with one line naming the extra to install, exit 2.

Each command runs in a child process where the library cannot be imported
(``sys.modules[name] = None``), as if it were not installed.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from celery_stembeat.specs import format_instant
from tests.migrate import django_project, scenario
from tests.migrate.conftest import NOW

ROOT = Path(__file__).resolve().parents[2]
CHILD = """
import sys
sys.modules[sys.argv[1]] = None
from celery_stembeat.cli import main
main(sys.argv[2:], prog_name="stembeat")
"""
PIP = "pip install 'celery-stembeat[{}]'"


def without(module: str, *args: str) -> subprocess.CompletedProcess[str]:
    """``stembeat ARGS…`` in a child process where ``module`` cannot be imported."""
    return subprocess.run(
        [sys.executable, "-c", CHILD, module, "--now", format_instant(NOW), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={"PATH": "/usr/bin:/bin", "NO_COLOR": "1", "COLUMNS": "160"},
    )


def assert_one_line(done: subprocess.CompletedProcess[str], message: str) -> None:
    assert (done.returncode, done.stdout, done.stderr) == (2, "", f"Error: {message}\n")


def test_verify_of_a_solar_task_without_ephem(sqlite_alias: str, tmp_path: Path) -> None:
    """celery's own hint (``pip install celery[solar]``) came with a 60-line traceback."""
    scenario.build_all_fields(sqlite_alias)
    store = tmp_path / "stembeat.db"
    done = without(
        "ephem",
        "--url",
        f"sqlite:///{store}",
        "import",
        "--from",
        "django-celery-beat",
        "--db-url",
        django_project.url(sqlite_alias),
        "--verify",
        "2d",
    )
    assert_one_line(
        done, f"Verifying a solar schedule (celery's solar) needs ephem: {PIP.format('migrate')}"
    )
    assert not store.exists()  # nothing imported


@pytest.mark.parametrize(
    ("module", "url", "message"),
    [
        (
            "pymysql",
            "mysql://root@127.0.0.1:3306/test",
            "A MySQL or MariaDB database needs PyMySQL",
        ),
        (
            "psycopg",
            "postgresql://postgres@127.0.0.1:5432/test",
            "A PostgreSQL database needs psycopg",
        ),
    ],
)
def test_a_django_celery_beat_database_without_its_driver(
    module: str, url: str, message: str, tmp_path: Path
) -> None:
    done = without(
        module,
        "--url",
        f"sqlite:///{tmp_path / 'stembeat.db'}",
        "import",
        "--from",
        "django-celery-beat",
        "--db-url",
        url,
    )
    assert_one_line(done, f"{message}: {PIP.format('migrate')}")


def test_a_postgresql_store_without_psycopg() -> None:
    done = without("psycopg", "--url", "postgresql://postgres@127.0.0.1:5432/test", "list")
    assert_one_line(done, f"A PostgreSQL database needs psycopg: {PIP.format('postgres')}")


def test_a_yaml_file_without_pyyaml(tmp_path: Path) -> None:
    path = tmp_path / "jobs.yaml"
    path.write_text("- {id: a, task: t, spec: 5m}\n")
    done = without("yaml", "--url", f"sqlite:///{tmp_path / 'stembeat.db'}", "apply", str(path))
    assert_one_line(done, f"YAML needs PyYAML: {PIP.format('yaml')} (or use a JSON file)")
