"""The celery app ``celery -A tests.cli.celery_app stembeat …`` runs with.

Its store comes from ``STEMBEAT_CLI_TEST_URL``; ``stembeat_grace`` is 90 s, so tests can see
that the CLI read the app's configuration. ``--tenant`` is a preload option, which celery adds
to every subcommand.
"""

from __future__ import annotations

import os
import sys

from celery import Celery, signals
from click import Option

app = Celery("stembeat-cli-test")
app.conf.update(stembeat_url=os.environ["STEMBEAT_CLI_TEST_URL"], stembeat_grace=90)
app.user_options["preload"].add(Option(["--tenant"], default=None, help="A preload option."))


@signals.user_preload_options.connect
def show_tenant(options: dict[str, object], **_: object) -> None:
    """Report the preload option as celery delivered it."""
    print(f"tenant={options.get('tenant')}", file=sys.stderr)
