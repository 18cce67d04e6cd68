"""The built distributions: what they hold, and that the wheel installs and runs beat.

Slow (about a minute, marked ``slow``): builds an sdist and a wheel from it with ``python -m
build``, makes a fresh virtualenv, installs the wheel from its file (dependencies through pip's
usual index and cache), and runs ``celery beat -S stembeat`` there, outside the source tree.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.e2e.conftest import wait_for

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "celery_stembeat"

# Build output and caches a working tree may hold; a clean clone has none of them.
NOT_SOURCE = shutil.ignore_patterns(
    ".git", ".venv", ".tox", "mutants", "build", "dist", "*.egg-info", "__pycache__", "*.pyc",
    ".*_cache", ".hypothesis", ".demo", "bench",
)  # fmt: skip

APP = """\
from celery import Celery

app = Celery("packaging_app", broker="filesystem://")
app.conf.update(
    broker_transport_options={{
        "data_folder_in": {messages!r},
        "data_folder_out": {messages!r},
        "processed_folder": {messages!r},
        "control_folder": {messages!r},
    }},
    broker_connection_retry_on_startup=True,
    stembeat_url={store_url!r},
    beat_schedule={{"tick": {{"task": "packaging_app.tick", "schedule": 1.0}}}},
)


@app.task(name="packaging_app.tick")
def tick():
    pass
"""


def source_files() -> set[str]:
    """The package's files in the source tree, as paths inside a wheel."""
    return {
        path.relative_to(ROOT).as_posix()
        for path in (ROOT / PACKAGE).rglob("*")
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc"
    }


def run(args: list[str | Path], cwd: Path, timeout: float = 300) -> str:
    """Run ``args`` with no PYTHONPATH; its output, or a failure showing it."""
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    result = subprocess.run(
        [str(arg) for arg in args],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=timeout,
        check=False,
    )
    if result.returncode != 0:
        pytest.fail(f"{' '.join(map(str, args))} exited {result.returncode}:\n{result.stdout}")
    return result.stdout


@dataclass
class Dists:
    wheel: Path
    sdist: Path


@pytest.fixture(scope="module")
def dists(tmp_path_factory: pytest.TempPathFactory) -> Dists:
    """An sdist built from a copy of the tree as a clean clone has it, and a wheel built from
    that sdist (so the wheel proves the sdist complete)."""
    tmp = tmp_path_factory.mktemp("dists")
    source = tmp / "source"
    shutil.copytree(ROOT, source, ignore=NOT_SOURCE)
    out = tmp / "dist"
    run([sys.executable, "-m", "build", "--outdir", out, source], cwd=tmp)
    (wheel,) = out.glob("*.whl")
    (sdist,) = out.glob("*.tar.gz")
    return Dists(wheel=wheel, sdist=sdist)


def test_wheel_holds_exactly_the_package_files(dists: Dists) -> None:
    with zipfile.ZipFile(dists.wheel) as wheel:
        names = set(wheel.namelist())
    packaged = {name for name in names if name.startswith(f"{PACKAGE}/")}
    assert f"{PACKAGE}/py.typed" in packaged
    # Every data file (py.typed, the Redis store's Lua scripts, ...) and module is in the wheel,
    # and nothing else is.
    assert packaged == source_files()
    assert any(name.endswith(".dist-info/licenses/LICENSE") for name in names)


def test_sdist_holds_the_package_files_and_licence(dists: Dists) -> None:
    with tarfile.open(dists.sdist) as sdist:
        top, *_ = sdist.getnames()
        names = {name.removeprefix(f"{top}/") for name in sdist.getnames()}
    assert source_files() <= names
    assert {"pyproject.toml", "setup.cfg", "README.md", "LICENSE"} <= names


def test_wheel_metadata_gives_the_licence_as_an_expression(dists: Dists) -> None:
    with zipfile.ZipFile(dists.wheel) as wheel:
        (metadata,) = (name for name in wheel.namelist() if name.endswith(".dist-info/METADATA"))
        lines = wheel.read(metadata).decode().splitlines()
    assert "License-Expression: BSD-3-Clause" in lines
    assert not any(line.startswith("Classifier: License ::") for line in lines)


@pytest.fixture
def installed(dists: Dists, tmp_path: Path) -> Path:
    """The ``bin`` directory of a fresh virtualenv with only the wheel and its dependencies."""
    venv = tmp_path / "venv"
    run([sys.executable, "-m", "venv", venv], cwd=tmp_path)
    bin_dir = venv / "bin"
    run([bin_dir / "python", "-m", "pip", "install", "--quiet", dists.wheel], cwd=tmp_path)
    return bin_dir


def test_installed_wheel_runs_beat_outside_the_source_tree(installed: Path, tmp_path: Path) -> None:
    work = tmp_path / "work"
    messages = work / "messages"
    messages.mkdir(parents=True)
    store_url = f"sqlite:///{work / 'stembeat.db'}"
    (work / "packaging_app.py").write_text(APP.format(messages=str(messages), store_url=store_url))
    # The package the virtualenv imports is the installed one, not this tree's.
    location = run(
        [installed / "python", "-c", f"import {PACKAGE}; print({PACKAGE}.__file__)"], cwd=work
    )
    assert Path(location.strip()).is_relative_to(installed.parent)

    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    with (work / "beat.log").open("wb") as log:
        beat = subprocess.Popen(
            [installed / "celery", "-A", "packaging_app", "beat", "-S", "stembeat", "-l", "info",
             "-s", work / "celerybeat-schedule", "--pidfile", work / "beat.pid"],
            cwd=work, env=env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip

    def runs() -> int:
        if beat.poll() is not None:
            pytest.fail(f"beat exited {beat.returncode}:\n{(work / 'beat.log').read_text()}")
        listing = subprocess.run(
            [installed / "stembeat", "--url", store_url, "list", "--json"],
            cwd=work, env=env, capture_output=True, text=True, check=False,
        )  # fmt: skip
        if listing.returncode != 0:  # the store is not created yet
            return 0
        rows = {row["id"]: row for row in json.loads(listing.stdout)}
        return int(rows["tick"]["state"]["total_run_count"]) if "tick" in rows else 0

    try:
        wait_for(lambda: runs() >= 2, 60, "two runs of 'tick' recorded in the store")
        # Each run's message reached the file-system broker.
        assert len(list(messages.iterdir())) >= 2
    finally:
        beat.terminate()
        beat.wait(30)
