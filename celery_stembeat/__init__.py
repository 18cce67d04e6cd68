"""celery-stembeat: a Celery beat scheduler backed by Redis, PostgreSQL or SQLite."""

__version__ = "0.1.0.dev0"

__all__ = ["__version__"]
