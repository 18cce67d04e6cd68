"""A Django project in the test process: django-celery-beat's own models build the databases.

Django is configured once per process, with one database alias per kind of database the tests
read: ``sqlite`` (a fresh file), ``old`` (a file migrated only to an old django-celery-beat
release) and, when their servers answer, ``postgres`` and ``mariadb`` (a database created for
this run on each and dropped at the end). Django reaches MariaDB through PyMySQL standing in
for mysqlclient. Each test empties the tables of the alias it uses (:func:`fresh`).
"""

from __future__ import annotations

import tempfile
import uuid
from pathlib import Path
from typing import Any

import sqlalchemy as sa

ALIASES = ("sqlite", "old", "postgres", "mariadb")
#: The release whose schema the ``old`` alias has: no crontab zone, priority, one-off, start
#: time, headers, clocked schedules or expire_seconds yet.
OLD_MIGRATION = "0005_add_solarschedule_events_choices"

_state: dict[str, Any] = {}


#: Per server alias: Django's engine, the default user and port, how a database is named in SQL.
_SERVERS = {
    "postgres": ("django.db.backends.postgresql", "postgres", 5432, '"{}"'),
    "mariadb": ("django.db.backends.mysql", "root", 3306, "`{}`"),
}


def _server_settings(alias: str, url: str, name: str) -> dict[str, Any]:
    engine, user, port, _ = _SERVERS[alias]
    parsed = sa.make_url(url)
    return {
        "ENGINE": engine,
        "NAME": name,
        "USER": parsed.username or user,
        "PASSWORD": parsed.password or "",
        "HOST": parsed.host or "127.0.0.1",
        "PORT": str(parsed.port or port),
    }


def _create_database(alias: str, url: str) -> dict[str, Any]:
    """A database of this run's own on the server at ``url``, as Django's settings."""
    name = f"stembeat_dcb_{uuid.uuid4().hex[:10]}"
    engine = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(sa.text(f"CREATE DATABASE {_SERVERS[alias][3].format(name)}"))
    engine.dispose()
    _state[alias] = (url, name)
    return _server_settings(alias, url, name)


def setup(servers: dict[str, str]) -> None:
    """Configure Django and migrate every alias (once per process); ``servers`` maps the
    server aliases that answer to their URLs."""
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
    if "mariadb" in servers:
        import pymysql

        pymysql.install_as_MySQLdb()
    for alias, server in servers.items():
        databases[alias] = _create_database(alias, server)
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
    """Close Django's connections and drop the server databases."""
    if not _state:
        return
    from django.db import connections

    connections.close_all()
    for alias in _SERVERS:
        if alias not in _state:
            continue
        url, name = _state.pop(alias)
        force = " WITH (FORCE)" if alias == "postgres" else ""
        engine = sa.create_engine(url, isolation_level="AUTOCOMMIT")
        with engine.connect() as connection:
            quoted = _SERVERS[alias][3].format(name)
            connection.execute(sa.text(f"DROP DATABASE IF EXISTS {quoted}{force}"))
        engine.dispose()


def url(alias: str) -> str:
    """The SQLAlchemy URL of an alias's database, for the importer."""
    from django.conf import settings

    config = settings.DATABASES[alias]
    if config["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{config['NAME']}"
    scheme = "mysql+pymysql" if alias == "mariadb" else "postgresql"
    return f"{scheme}://{config['USER']}@{config['HOST']}:{config['PORT']}/{config['NAME']}"


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
