"""A Django project in the test process: django-celery-beat's own models build the databases.

Django is configured once per process, with one database alias per kind of database the tests
read: ``sqlite`` (a fresh file), ``old`` (a file migrated only to an old django-celery-beat
release) and, when PostgreSQL answers, ``postgres`` (a database created for this run and
dropped at the end). Each test empties the tables of the alias it uses (:func:`fresh`).
"""

from __future__ import annotations

import tempfile
import uuid
from pathlib import Path
from typing import Any

import sqlalchemy as sa

ALIASES = ("sqlite", "old", "postgres")
#: The release whose schema the ``old`` alias has: no crontab zone, priority, one-off, start
#: time, headers, clocked schedules or expire_seconds yet.
OLD_MIGRATION = "0005_add_solarschedule_events_choices"

_state: dict[str, Any] = {}


def _postgres_settings(url: str, name: str) -> dict[str, Any]:
    parsed = sa.make_url(url)
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": name,
        "USER": parsed.username or "postgres",
        "PASSWORD": parsed.password or "",
        "HOST": parsed.host or "127.0.0.1",
        "PORT": str(parsed.port or 5432),
    }


def setup(postgres_url: str | None) -> None:
    """Configure Django and migrate every alias (once per process)."""
    if _state:
        return
    import django
    from django.conf import settings
    from django.core.management import call_command

    folder = Path(tempfile.mkdtemp(prefix="stembeat-dcb-"))
    databases: dict[str, Any] = {
        "default": {"ENGINE": "django.db.backends.sqlite3", "NAME": str(folder / "default.db")},
        "sqlite": {"ENGINE": "django.db.backends.sqlite3", "NAME": str(folder / "dcb.db")},
        "old": {"ENGINE": "django.db.backends.sqlite3", "NAME": str(folder / "old.db")},
    }
    if postgres_url is not None:
        name = f"stembeat_dcb_{uuid.uuid4().hex[:10]}"
        engine = sa.create_engine(postgres_url, isolation_level="AUTOCOMMIT")
        with engine.connect() as connection:
            connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
        engine.dispose()
        databases["postgres"] = _postgres_settings(postgres_url, name)
        _state["postgres"] = (postgres_url, name)
    settings.configure(
        INSTALLED_APPS=["django_celery_beat"],
        DATABASES=databases,
        USE_TZ=True,
        TIME_ZONE="UTC",
        DEFAULT_AUTO_FIELD="django.db.models.AutoField",
    )
    django.setup()
    for alias in databases:
        target = [OLD_MIGRATION] if alias == "old" else []
        call_command("migrate", "django_celery_beat", *target, database=alias, verbosity=0)
    _state["folder"] = folder


def teardown() -> None:
    """Close Django's connections and drop the PostgreSQL database."""
    if not _state:
        return
    from django.db import connections

    connections.close_all()
    if "postgres" in _state:
        url, name = _state.pop("postgres")
        engine = sa.create_engine(url, isolation_level="AUTOCOMMIT")
        with engine.connect() as connection:
            connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        engine.dispose()


def url(alias: str) -> str:
    """The SQLAlchemy URL of an alias's database, for the importer."""
    from django.conf import settings

    config = settings.DATABASES[alias]
    if config["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{config['NAME']}"
    return f"postgresql://{config['USER']}@{config['HOST']}:{config['PORT']}/{config['NAME']}"


def fresh(alias: str) -> None:
    """Delete every row of django-celery-beat's tables in ``alias``."""
    from django.db import connections

    tables = (
        "periodictask",
        "intervalschedule",
        "crontabschedule",
        "solarschedule",
        "clockedschedule",
        "periodictasks",
    )
    existing = set(connections[alias].introspection.table_names())
    with connections[alias].cursor() as cursor:
        for table in tables:
            name = f"django_celery_beat_{table}"
            if name in existing:
                cursor.execute(f"DELETE FROM {name}")
