"""``stembeat web``: refuses to listen beyond loopback without authentication, names the
extra when it is missing, and serves the dashboard as a real process."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from click.testing import CliRunner

from celery_stembeat.cli import main
from celery_stembeat.cli.commands.web import is_loopback
from celery_stembeat.web.security import HEADERS

#: No authentication from the environment running the tests.
NO_AUTH = dict.fromkeys(
    (
        "STEMBEAT_WEB_TOKEN",
        "STEMBEAT_WEB_USER",
        "STEMBEAT_WEB_PASSWORD",
        "STEMBEAT_WEB_AUTH_FILE",
        "STEMBEAT_URL",
    )
)


def web(url: str, *args: str, **environment: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["--url", url, "web", *args], env={**NO_AUTH, **environment})
    return result.exit_code, result.output


@pytest.mark.parametrize("host", ["0.0.0.0", "192.0.2.7", "::", "example.com"])
def test_refuses_another_address_without_authentication(tmp_path: Path, host: str) -> None:
    code, output = web(f"sqlite:///{tmp_path}/s.db", "--host", host)
    assert code == 2
    assert output.count("\n") == 1
    assert f"refusing to listen on {host} without authentication" in output


def test_bad_authentication_settings_end_in_one_line(tmp_path: Path) -> None:
    code, output = web(f"sqlite:///{tmp_path}/s.db", STEMBEAT_WEB_USER="ops")
    assert code == 2
    assert output.count("\n") == 1
    assert "STEMBEAT_WEB_PASSWORD" in output


def test_loopback_addresses() -> None:
    assert all(map(is_loopback, ["127.0.0.1", "127.1.2.3", "::1", "[::1]", "localhost"]))
    assert not any(map(is_loopback, ["0.0.0.0", "::", "10.0.0.1", "example.com", ""]))


def test_a_missing_extra_is_named_in_one_line(tmp_path: Path) -> None:
    probe = (
        "import sys; sys.modules['uvicorn'] = None; from celery_stembeat.cli import main; main()"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe, "--url", f"sqlite:///{tmp_path}/s.db", "web"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0
    assert "pip install 'celery-stembeat[web]'" in result.stderr


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def fetched(url: str, deadline: float) -> tuple[int, dict[str, str], str]:
    """The first answer at ``url`` before ``deadline`` (polling while nothing listens)."""
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                body = response.read().decode()
                return response.status, {k.lower(): v for k, v in response.headers.items()}, body
        except (urllib.error.URLError, ConnectionError):
            if time.monotonic() > deadline:
                raise


def test_serves_the_dashboard_as_a_process(tmp_path: Path) -> None:
    port = free_port()
    command = [
        sys.executable,
        "-c",
        "from celery_stembeat.cli import main; main()",
        "--url",
        f"sqlite:///{tmp_path}/s.db",
        "web",
        "--port",
        str(port),
        "--read-only",
    ]
    environment = {name: value for name, value in os.environ.items() if name not in NO_AUTH}
    server = subprocess.Popen(command, env=environment, stderr=subprocess.PIPE, text=True)
    try:
        status, headers, body = fetched(f"http://127.0.0.1:{port}/", time.monotonic() + 30)
        assert status == 200
        assert "<h1>Overview</h1>" in body
        assert "read-only" in body
        for name, value in HEADERS.items():
            assert headers[name.lower()] == value
    finally:
        server.terminate()
        _, errors = server.communicate(timeout=30)
    assert f"serving on http://127.0.0.1:{port}/ (read-only)" in errors
