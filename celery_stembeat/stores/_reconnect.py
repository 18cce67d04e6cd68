"""Reconnecting within a deadline, with a pause between attempts that doubles up to a cap."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

#: First pause after a failed attempt, and the longest, in seconds.
FIRST_PAUSE = 0.05
MAX_PAUSE = 2.0


class Backoff:
    """When the next attempt may start: after each failure the pause doubles, up to a cap."""

    def __init__(self, first: float = FIRST_PAUSE, cap: float = MAX_PAUSE) -> None:
        self._first = first
        self._cap = cap
        self._pause = first
        self._not_before = 0.0

    def failed(self) -> None:
        """Record a failed attempt."""
        self._not_before = time.monotonic() + self._pause
        self._pause = min(self._pause * 2, self._cap)

    def succeeded(self) -> None:
        """Record a success: the next failure pauses briefly again."""
        self._pause = self._first
        self._not_before = 0.0

    def wait_until(self) -> float:
        """The monotonic time before which no attempt should start."""
        return self._not_before


def reconnect(
    connect: Callable[[], T],
    backoff: Backoff,
    deadline: float,
    errors: tuple[type[BaseException], ...],
) -> T | None:
    """Call ``connect`` until it returns, or ``None`` once ``deadline`` (monotonic) has passed.

    Attempts start no earlier than ``backoff`` allows and only before ``deadline`` (one attempt
    may still run past it by the connect timeout); ``errors`` are what a failed attempt raises.
    """
    while True:
        start = backoff.wait_until()
        if start > deadline:
            time.sleep(max(deadline - time.monotonic(), 0.0))
            return None
        time.sleep(max(start - time.monotonic(), 0.0))
        try:
            result = connect()
        except errors:
            backoff.failed()
            continue
        backoff.succeeded()
        return result
