"""Optional libraries, the extra of celery-stembeat that brings each, and the one-line error
when one is missing."""

from __future__ import annotations

import importlib
from types import ModuleType

#: Import name → (what needs it, the distribution, the extra that installs it).
OPTIONAL = {
    "ephem": ("Verifying a solar schedule (celery's solar)", "ephem", "migrate"),
    "pymysql": ("A MySQL or MariaDB database", "PyMySQL", "migrate"),
    "psycopg": ("A PostgreSQL database", "psycopg", "postgres"),
    "yaml": ("YAML", "PyYAML", "yaml"),
    "prometheus_client": ("Serving Prometheus metrics", "prometheus_client", "metrics"),
    "starlette": ("The web dashboard", "starlette", "web"),
    "jinja2": ("The web dashboard", "Jinja2", "web"),
    "uvicorn": ("The web dashboard", "uvicorn", "web"),
    "multipart": ("The web dashboard", "python-multipart", "web"),
    "python_multipart": ("The web dashboard", "python-multipart", "web"),
    "itsdangerous": ("The web dashboard", "itsdangerous", "web"),
}


class MissingExtra(Exception):
    """An optional library is not installed; the message names the extra to install."""


def missing_extra(error: BaseException, extra: str | None = None) -> MissingExtra | None:
    """The :class:`MissingExtra` that ``error`` (or an error it was raised from) stands for:
    an ImportError of a library of :data:`OPTIONAL`; ``extra`` overrides the one named."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, ImportError):
            name = (current.name or "").partition(".")[0]
            if name in OPTIONAL:
                needs, package, default = OPTIONAL[name]
                return MissingExtra(
                    f"{needs} needs {package}: pip install 'celery-stembeat[{extra or default}]'"
                )
        current = current.__cause__ or current.__context__
    return None


def require(module: str, extra: str | None = None) -> ModuleType:
    """Import ``module``, or raise :class:`MissingExtra` naming the extra that brings it."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        missing = missing_extra(exc, extra)
        if missing is None:
            raise
        raise missing from None
