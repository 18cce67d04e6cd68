"""celery-stembeat: a Celery beat scheduler backed by Redis, PostgreSQL or SQLite."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0.dev0"

if TYPE_CHECKING:
    from celery_stembeat.outcomes import track_outcomes
    from celery_stembeat.scheduler import Scheduler
    from celery_stembeat.specs.builder import every


def __getattr__(name: str) -> Any:
    # Imported on first use, so reading the specs or a store does not load the beat machinery.
    if name == "Scheduler":
        from celery_stembeat.scheduler import Scheduler

        return Scheduler
    if name == "every":
        from celery_stembeat.specs.builder import every

        return every
    if name == "track_outcomes":
        from celery_stembeat.outcomes import track_outcomes

        return track_outcomes
    raise AttributeError(f"module 'celery_stembeat' has no attribute {name!r}")


__all__ = ["Scheduler", "__version__", "every", "track_outcomes"]
