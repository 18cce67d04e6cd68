"""Where a benchmark run keeps its things: service URLs, names unique to the run, options."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

#: Services, by environment variable, defaulting to the loopback ones the tests use.
REDIS_URL = os.environ.get("STEMBEAT_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
BROKER_URL = os.environ.get("STEMBEAT_BENCH_BROKER_URL", "redis://127.0.0.1:6379/1")
POSTGRES_URL = os.environ.get(
    "STEMBEAT_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


@dataclass(frozen=True)
class Context:
    """One run's settings, handed to every child process as JSON."""

    run: str
    tmp: str
    quick: bool
    redis_url: str = REDIS_URL
    broker_url: str = BROKER_URL
    postgres_url: str = POSTGRES_URL
    #: Scenario knobs (durations, repetition counts) chosen by the run's mode.
    options: dict[str, Any] = field(default_factory=dict)

    def name(self, tag: str) -> str:
        """A name (prefix, queue, file) unique to this run and ``tag``, safe everywhere."""
        return f"bench_{self.run}_{tag}".replace("-", "_")

    def path(self, tag: str) -> Path:
        """A file path in the run's temporary folder."""
        return Path(self.tmp) / self.name(tag)

    def to_json(self) -> str:
        """The form a child process reads back with :meth:`from_json`."""
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> Context:
        """Read :meth:`to_json` output."""
        return cls(**json.loads(text))
