"""A self-contained demo: a worker with an embedded stembeat beat, no servers needed.

Messages go through kombu's file-system transport in ``.demo/`` (or ``$STEMBEAT_DEMO_DIR``) and
schedules live in the embedded SQLite store there too. Run it with ``make demo`` (Ctrl-C stops
it).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from celery import Celery, Task

from celery_stembeat import track_outcomes

DEMO_DIR = Path(
    os.environ.get("STEMBEAT_DEMO_DIR") or Path(__file__).resolve().parent.parent / ".demo"
)
for folder in ("messages", "processed", "control"):
    (DEMO_DIR / folder).mkdir(parents=True, exist_ok=True)

app = Celery("demo")
app.config_from_object("examples.celeryconfig")
app.conf.update(
    broker_url="filesystem://",
    broker_transport_options={
        "data_folder_in": str(DEMO_DIR / "messages"),
        "data_folder_out": str(DEMO_DIR / "messages"),
        "processed_folder": str(DEMO_DIR / "processed"),
        "control_folder": str(DEMO_DIR / "control"),
        "store_processed": False,
    },
    broker_connection_retry_on_startup=True,
    beat_schedule_filename=str(DEMO_DIR / "celerybeat-schedule"),
    result_expires=None,
)
# The worker reports each occurrence's outcome and runtime to the store (`stembeat history`).
track_outcomes(app)
logger = logging.getLogger("examples.demo")


@app.task(name="examples.tasks.heartbeat", bind=True)
def heartbeat(self: Task) -> None:
    """Log that the heartbeat ran, with the occurrence it ran for."""
    headers = self.request.headers or {}
    logger.warning("heartbeat for %s", headers.get("stembeat_scheduled_for"))


@app.task(name="examples.tasks.report")
def report() -> None:
    """Stand-in for a report job."""
    logger.warning("report")


@app.task(name="examples.tasks.lights")
def lights() -> None:
    """Stand-in for switching the lights at sunrise or sunset."""
    logger.warning("lights")


@app.task(name="examples.tasks.say")
def say(text: str) -> None:
    """Log ``text``: the task of the entry the README adds with the CLI."""
    logger.warning("say: %s", text)
