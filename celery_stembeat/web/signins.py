"""What one dashboard process remembers about signing in: the addresses that failed too often,
and the sessions signed out before their cookie expires."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta

#: How many failed sign-ins one address may make within :data:`FAILURE_WINDOW`.
MAX_FAILURES = 5
FAILURE_WINDOW = timedelta(minutes=5)
#: How many addresses (or signed-out sessions) are remembered at most; past that the oldest
#: are forgotten, so a flood of addresses cannot grow the process without bound.
MAX_REMEMBERED = 10_000


@dataclass
class SignInThrottle:
    """Refuses an address's sign-ins once it failed :attr:`max_failures` times within
    :attr:`window`, until the oldest of those failures is :attr:`window` old."""

    max_failures: int = MAX_FAILURES
    window: timedelta = FAILURE_WINDOW
    _failures: dict[str, deque[datetime]] = field(default_factory=dict, repr=False)

    def wait(self, address: str, now: datetime) -> timedelta | None:
        """How long ``address`` must wait before it may try again; ``None``: it may now."""
        failures = self._recent(address, now)
        if len(failures) < self.max_failures:
            return None
        return failures[0] + self.window - now

    def failed(self, address: str, now: datetime) -> None:
        """Count a failed sign-in from ``address`` at ``now``."""
        failures = self._recent(address, now)
        failures.append(now)
        self._failures.pop(address, None)
        self._failures[address] = failures  # last in order: the flood bound forgets the oldest
        if len(self._failures) > MAX_REMEMBERED:
            del self._failures[next(iter(self._failures))]

    def succeeded(self, address: str) -> None:
        """Forget ``address``'s failures: it signed in."""
        self._failures.pop(address, None)

    def _recent(self, address: str, now: datetime) -> deque[datetime]:
        failures = self._failures.get(address, deque())
        while failures and failures[0] <= now - self.window:
            failures.popleft()
        if not failures:
            self._failures.pop(address, None)
        return failures


@dataclass
class SignedOut:
    """The sessions signed out in this process, each remembered until its cookie would have
    expired anyway (:attr:`lifetime` after signing out)."""

    lifetime: timedelta
    _until: dict[str, datetime] = field(default_factory=dict, repr=False)

    def add(self, session_id: str, now: datetime) -> None:
        """Remember that ``session_id`` signed out at ``now``."""
        self._forget_expired(now)
        self._until[session_id] = now + self.lifetime
        if len(self._until) > MAX_REMEMBERED:
            del self._until[next(iter(self._until))]

    def __contains__(self, session_id: object) -> bool:
        return session_id in self._until

    def _forget_expired(self, now: datetime) -> None:
        for session_id, until in list(self._until.items()):
            if until > now:
                break
            del self._until[session_id]
