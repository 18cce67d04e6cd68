"""One-off schedules: a single instant."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar

from celery_stembeat.specs._time import format_instant, parse_instant, truncate_to_ms
from celery_stembeat.specs.base import Spec, check_keys
from celery_stembeat.specs.errors import SpecError


@dataclass(frozen=True)
class ClockedSpec(Spec):
    """Fires once, at ``at`` (whole milliseconds); entries with this spec are run-once."""

    at: datetime

    kind: ClassVar[str] = "clocked"
    run_once: ClassVar[bool] = True

    def __post_init__(self) -> None:
        at = parse_instant(self.at, "clocked 'at'", "at")
        object.__setattr__(self, "at", truncate_to_ms(at))

    def _next_after(self, after: datetime) -> datetime | None:
        return self.at if self.at > after else None

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.kind, "at": format_instant(self.at)}

    def describe(self) -> str:
        return f"once {format_instant(self.at)}"

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ClockedSpec:
        """Build from the dict form; unknown keys are an error."""
        check_keys(cls.kind, data, ("at",))
        if "at" not in data:
            raise SpecError("clocked 'at': missing", "at")
        return cls(at=data["at"])
