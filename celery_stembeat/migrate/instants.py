"""A run of instants kept in bounded memory: what a report says about it, not every instant."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from celery_stembeat.specs import format_instant

#: How many instants of a run are kept (the first ones).
SAMPLE = 100


@dataclass
class Instants:
    """How many instants, the first and last, whether evenly spaced, and the first
    :data:`SAMPLE`; add them in time order."""

    count: int = 0
    sample: list[datetime] = field(default_factory=list)
    last: datetime | None = None
    #: The gap between the first two, while every gap so far equals it.
    step: timedelta | None = None
    even: bool = True

    @classmethod
    def of(cls, instants: Iterable[datetime]) -> Instants:
        """The run of ``instants``."""
        run = cls()
        for at in instants:
            run.add(at)
        return run

    def add(self, at: datetime) -> None:
        """One more instant, not before the last."""
        if self.last is not None:
            gap = at - self.last
            if self.step is None:
                self.step = gap
            elif gap != self.step:
                self.even = False
        if len(self.sample) < SAMPLE:
            self.sample.append(at)
        self.count += 1
        self.last = at

    @property
    def first(self) -> datetime | None:
        """The first instant, if any."""
        return self.sample[0] if self.sample else None

    @property
    def every(self) -> timedelta | None:
        """The gap between consecutive instants when all are evenly spaced (and two or more)."""
        return self.step if self.even else None

    def __bool__(self) -> bool:
        return self.count > 0

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form: ``count``, ``first``, ``last``, ``every`` (seconds, or null when the
        gaps differ) and ``instants`` (the first :data:`SAMPLE`)."""
        every = self.every
        return {
            "count": self.count,
            "first": format_instant(self.first) if self.first else None,
            "last": format_instant(self.last) if self.last else None,
            "every": every.total_seconds() if every is not None else None,
            "instants": [format_instant(at) for at in self.sample],
        }
