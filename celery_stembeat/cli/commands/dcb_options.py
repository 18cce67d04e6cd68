"""Options shared by the verbs that read or write django-celery-beat's tables, kept apart from
them so that ``export`` to a file does not import what those verbs need."""

from __future__ import annotations

import click

from celery_stembeat.cli.params import F, zone_option

DCB = "django-celery-beat"


def dcb_settings_options(function: F) -> F:
    """The Django and django-celery-beat settings that live outside the database."""
    for option in reversed(
        (
            click.option(
                "--use-tz/--no-use-tz",
                default=True,
                show_default=True,
                help="Django's USE_TZ: naive instants in the database are UTC.",
            ),
            zone_option(
                "--time-zone",
                default="UTC",
                show_default=True,
                help="Django's TIME_ZONE: the zone of naive instants with --no-use-tz.",
            ),
            zone_option(
                "--celery-timezone",
                default="UTC",
                show_default=True,
                help="celery's timezone (CELERY_TIMEZONE).",
            ),
            click.option(
                "--tz-aware/--no-tz-aware",
                default=True,
                show_default=True,
                help="DJANGO_CELERY_BEAT_TZ_AWARE: crontabs run in their own zone.",
            ),
        )
    ):
        function = option(function)
    return function
