"""The one exception every spec raises for bad input."""

from __future__ import annotations


class SpecError(ValueError):
    """A schedule spec is invalid; the message names the field and the bad value."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field
