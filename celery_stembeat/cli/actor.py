"""Who runs the CLI, as history and a pause record it."""

from __future__ import annotations

import getpass
import socket


def cli_actor() -> str:
    """``user@host`` of whoever runs the CLI here."""
    try:
        user = getpass.getuser()
    except (OSError, KeyError):
        # No login name in the environment and none in the password database (a container).
        user = "unknown"
    return f"{user}@{socket.gethostname()}"
