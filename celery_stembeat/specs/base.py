"""The contract every schedule kind fulfils."""

from __future__ import annotations

import abc
from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any, ClassVar

from celery_stembeat.limits import shorten
from celery_stembeat.specs._time import require_aware
from celery_stembeat.specs.errors import SpecError


def check_keys(kind: str, data: Mapping[Any, Any], known: tuple[str, ...]) -> None:
    """Reject a key of ``data`` that is neither ``type`` nor in ``known``, naming it."""
    unknown = sorted(str(key) for key in data if key != "type" and key not in known)
    if unknown:
        raise SpecError(
            f"{kind}: unknown field {shorten(unknown[0])} (known: {', '.join(known)})", unknown[0]
        )


class Spec(abc.ABC):
    """When a task runs: a pure value object with no I/O and no clock of its own."""

    kind: ClassVar[str]
    #: Whether an entry with this spec runs at most once (clocked specs).
    run_once: ClassVar[bool] = False

    def next_after(self, after: datetime) -> datetime | None:
        """The first occurrence strictly after ``after`` (aware), as aware UTC, or ``None``.

        ``None`` also when that occurrence would lie past 9999-12-31 UTC, where datetime ends.
        An ``after`` in year 1 that cannot be converted to UTC still raises OverflowError: a
        later occurrence exists there, so ``None`` would be wrong.
        """
        try:
            return self._next_after(require_aware(after, "next_after"))
        except OverflowError:
            if after.year == 1:
                raise
            return None

    @abc.abstractmethod
    def _next_after(self, after: datetime) -> datetime | None:
        """:meth:`next_after` for an ``after`` in UTC; may overflow near the end of datetime."""

    @abc.abstractmethod
    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict with ``"type"``; ``parse_spec(spec.to_dict()) == spec``."""

    @classmethod
    @abc.abstractmethod
    def from_dict(cls, data: dict[str, Any]) -> Spec:
        """Build from the dict form :meth:`to_dict` gives; unknown keys are an error."""

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
        # Rebuilt by its own class from its dict form, so pickling needs nothing above this layer.
        return (type(self).from_dict, (self.to_dict(),))
