"""The contract every schedule kind fulfils."""

from __future__ import annotations

import abc
from collections.abc import Iterator
from datetime import datetime
from typing import Any, ClassVar


class Spec(abc.ABC):
    """When a task runs: a pure value object with no I/O and no clock of its own."""

    kind: ClassVar[str]
    #: Whether an entry with this spec runs at most once (clocked specs).
    run_once: ClassVar[bool] = False

    @abc.abstractmethod
    def next_after(self, after: datetime) -> datetime | None:
        """The first occurrence strictly after ``after`` (aware), as aware UTC, or ``None``."""

    @abc.abstractmethod
    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict with ``"type"``; ``parse_spec(spec.to_dict()) == spec``."""

    @abc.abstractmethod
    def describe(self) -> str:
        """A short human description, e.g. ``every 30s``."""

    def occurrences(self, after: datetime, count: int) -> Iterator[datetime]:
        """Up to ``count`` successive occurrences after ``after``."""
        current = after
        for _ in range(count):
            found = self.next_after(current)
            if found is None:
                return
            yield found
            current = found

    def __str__(self) -> str:
        return self.describe()

    def __reduce__(self) -> tuple[Any, ...]:
        from celery_stembeat.specs.parse import parse_spec

        return (parse_spec, (self.to_dict(),))
