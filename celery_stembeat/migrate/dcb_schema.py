"""django-celery-beat's tables as they are in one database: which exist, which columns they have.

Columns are found by name through SQLAlchemy reflection, never by position: their order
differs between databases that were created at different releases and migrated since. Older
schemas lack columns added by later migrations; :class:`DcbSchema` says which, and the applied
migrations come from Django's own ``django_migrations`` table when it is there.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import sqlalchemy as sa

from celery_stembeat.extras import missing_extra
from celery_stembeat.migrate.errors import MigrateError
from celery_stembeat.stores import StoreURLError, check_url, mask_url

APP_LABEL = "django_celery_beat"
#: Short names of the tables this package reads or writes, and their names in the database.
TABLES = {
    "task": f"{APP_LABEL}_periodictask",
    "interval": f"{APP_LABEL}_intervalschedule",
    "crontab": f"{APP_LABEL}_crontabschedule",
    "solar": f"{APP_LABEL}_solarschedule",
    "clocked": f"{APP_LABEL}_clockedschedule",
    "changes": f"{APP_LABEL}_periodictasks",
}
#: Columns that older schemas lack (or, for ``clocked.enabled``, that only older ones have).
OPTIONAL_COLUMNS = (
    ("task", "priority"),
    ("task", "headers"),
    ("task", "one_off"),
    ("task", "start_time"),
    ("task", "expire_seconds"),
    ("task", "clocked_id"),
    ("task", "solar_id"),
    ("task", "description"),
    ("crontab", "timezone"),
    ("clocked", "enabled"),
)
_DRIVERS = {
    "postgresql": "postgresql+psycopg",
    "postgres": "postgresql+psycopg",
    "mysql": "mysql+pymysql",
    "mariadb": "mariadb+pymysql",
}


def engine_for(url: str) -> sa.Engine:
    """An engine for a database URL; PostgreSQL goes through psycopg 3, MySQL through PyMySQL."""
    check_url(url, "database URL")
    try:
        parsed = sa.make_url(url)
    except (sa.exc.ArgumentError, ValueError):
        # The parser's message quotes the URL, password included.
        raise StoreURLError(f"database URL {mask_url(url)}: cannot be parsed") from None
    driver = _DRIVERS.get(parsed.drivername)
    if driver is not None:
        parsed = parsed.set(drivername=driver)
    try:
        return sa.create_engine(parsed)
    except (ImportError, sa.exc.ArgumentError) as exc:
        missing = missing_extra(exc, "migrate")
        if missing is not None:
            raise missing from None
        raise MigrateError(f"database URL {parsed.render_as_string()}: {exc}") from None


@contextmanager
def opened(url: str) -> Iterator[sa.Connection]:
    """A connection to the database at ``url``; database errors become :class:`MigrateError`."""
    engine = engine_for(url)
    try:
        with engine.connect() as connection:
            yield connection
    except sa.exc.SQLAlchemyError as exc:
        problem = " ".join(str(exc.orig if isinstance(exc, sa.exc.DBAPIError) else exc).split())
        raise MigrateError(f"{engine.url.render_as_string()}: {problem}") from None
    finally:
        engine.dispose()


@dataclass(frozen=True)
class DcbSchema:
    """The django-celery-beat tables of one database, reflected."""

    tables: dict[str, sa.Table]
    #: Applied migrations of django_celery_beat, oldest first (empty without django_migrations).
    migrations: tuple[str, ...]

    def table(self, name: str) -> sa.Table:
        """The table with short name ``name`` (``task``, ``crontab``…)."""
        return self.tables[name]

    def has(self, table: str, column: str) -> bool:
        """Whether the table exists and has that column."""
        return table in self.tables and column in self.tables[table].c

    def missing_columns(self) -> list[str]:
        """Optional columns this schema lacks, as ``table.column``."""
        return [
            f"{table}.{column}"
            for table, column in OPTIONAL_COLUMNS
            if (table, column) != ("clocked", "enabled") and not self.has(table, column)
        ]

    def describe(self) -> str:
        """One line: the latest applied migration and what the schema lacks."""
        latest = self.migrations[-1] if self.migrations else "unknown (no django_migrations)"
        missing = self.missing_columns()
        lacks = f"; lacks {', '.join(missing)}" if missing else ""
        extra = "; has the old clockedschedule.enabled" if self.has("clocked", "enabled") else ""
        return f"django_celery_beat schema at migration {latest}{lacks}{extra}"


def _applied(connection: sa.Connection, names: list[str]) -> tuple[str, ...]:
    if "django_migrations" not in names:
        return ()
    migrations = sa.table("django_migrations", sa.column("app"), sa.column("name"), sa.column("id"))
    query = (
        sa.select(migrations.c.name).where(migrations.c.app == APP_LABEL).order_by(migrations.c.id)
    )
    return tuple(connection.execute(query).scalars())


def reflect(connection: sa.Connection, *, required: bool = True) -> DcbSchema:
    """Reflect the django-celery-beat tables found on ``connection``.

    With ``required`` a database without the periodic task table is an error.
    """
    names = sa.inspect(connection).get_table_names()
    metadata = sa.MetaData()
    present = {short: full for short, full in TABLES.items() if full in names}
    metadata.reflect(connection, only=list(present.values()))
    if required and "task" not in present:
        raise MigrateError(
            f"no django-celery-beat tables here ({TABLES['task']} is missing): "
            "is this the Django project's database, and were its migrations run?"
        )
    tables = {short: metadata.tables[full] for short, full in present.items()}
    return DcbSchema(tables, _applied(connection, names))
