"""What a run measured: samples per (scenario, size, subject, metric), and failures."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

Key = tuple[str, int, str]


@dataclass
class Results:
    """Samples and failures, keyed by (scenario, n, subject)."""

    samples: dict[Key, dict[str, list[float]]] = field(
        default_factory=lambda: defaultdict(lambda: defaultdict(list))
    )
    failures: dict[Key, list[str]] = field(default_factory=lambda: defaultdict(list))

    def add(self, scenario: str, n: int, subject: str, values: dict[str, Any]) -> None:
        """Record one repetition's values (numbers only)."""
        for metric, value in values.items():
            if isinstance(value, (int, float)):
                self.samples[(scenario, n, subject)][metric].append(float(value))

    def fail(self, scenario: str, n: int, subject: str, message: str) -> None:
        """Record a failed step."""
        self.failures[(scenario, n, subject)].append(message)

    def values(self, scenario: str, n: int, subject: str, metric: str) -> list[float]:
        """The samples of one cell (empty when none)."""
        return list(self.samples.get((scenario, n, subject), {}).get(metric, []))

    def failed(self, scenario: str, n: int, subject: str) -> bool:
        """Whether any step of this cell failed."""
        return bool(self.failures.get((scenario, n, subject)))

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        return {
            "samples": [
                {"scenario": s, "n": n, "subject": subject, "metrics": dict(metrics)}
                for (s, n, subject), metrics in self.samples.items()
            ],
            "failures": [
                {"scenario": s, "n": n, "subject": subject, "errors": errors}
                for (s, n, subject), errors in self.failures.items()
            ],
        }
