"""Run the ``stembeat`` console script as a user would: in a terminal of a given size, or piped."""

from __future__ import annotations

import fcntl
import os
import re
import select
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

STEMBEAT = str(Path(sys.executable).with_name("stembeat"))
#: How long one command may take before the test fails.
DEADLINE = 60.0
_STYLE = re.compile(r"\x1b\[[0-9;]*m")


def environment(columns: int, lines: int = 24) -> dict[str, str]:
    """This process's environment for a terminal of ``columns`` by ``lines``, without colour."""
    env = {k: v for k, v in os.environ.items() if k not in ("FORCE_COLOR", "TTY_COMPATIBLE")}
    return {**env, "COLUMNS": str(columns), "LINES": str(lines), "NO_COLOR": "1"}


def in_terminal(*args: str, columns: int, lines: int = 24) -> str:
    """What ``stembeat ARGS…`` shows in a pseudo-terminal of ``columns`` by ``lines``.

    Styles (bold headings) are stripped and the terminal's ``\\r\\n`` read as ``\\n``.
    """
    leader, follower = os.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", lines, columns, 0, 0))
    process = subprocess.Popen(
        [STEMBEAT, *args],
        stdin=subprocess.DEVNULL,
        stdout=follower,
        stderr=subprocess.PIPE,
        env=environment(columns, lines),
    )
    os.close(follower)
    output = bytearray()
    deadline = time.monotonic() + DEADLINE
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([leader], [], [], deadline - time.monotonic())
            if not ready:
                continue
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # EIO: the last holder of the terminal closed it
                break
            if not chunk:
                break
            output += chunk
        _, errors = process.communicate(timeout=max(deadline - time.monotonic(), 1))
    finally:
        os.close(leader)
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, errors.decode()
    return _STYLE.sub("", output.decode().replace("\r\n", "\n"))


def piped(*args: str) -> subprocess.CompletedProcess[str]:
    """``stembeat ARGS…`` with stdout and stderr read through pipes."""
    return subprocess.run(
        [STEMBEAT, *args],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        env=environment(200),
        timeout=DEADLINE,
        check=False,
    )
