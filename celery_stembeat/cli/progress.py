"""Progress of a verification on stderr: a bar on a terminal, else a line every few seconds."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from time import monotonic

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from celery_stembeat.migrate.verify import ProgressReport

#: Seconds between two progress lines when stderr is not a terminal.
LINE_EVERY = 5.0


class ProgressLines:
    """Writes ``verify: 3/16 tasks, 412,000 fires compared`` to stderr, at most once every
    :data:`LINE_EVERY` seconds of ``clock``."""

    def __init__(self, tasks: int, clock: Callable[[], float]) -> None:
        self.tasks = tasks
        self.clock = clock
        self.due = clock() + LINE_EVERY

    def __call__(self, done: int, fires: int) -> None:
        now = self.clock()
        if now < self.due:
            return
        self.due = now + LINE_EVERY
        click.echo(f"verify: {done}/{self.tasks} tasks, {fires:,} fires compared", err=True)


@contextmanager
def verify_progress(
    tasks: int, clock: Callable[[], float] | None = None
) -> Iterator[ProgressReport]:
    """A progress report for a verification of ``tasks`` tasks (see
    :func:`celery_stembeat.migrate.verify.verify`)."""
    console = Console(stderr=True)
    if not console.is_terminal:
        yield ProgressLines(tasks, clock or monotonic)
        return
    columns = (
        TextColumn("verify"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("tasks, {task.fields[fires]:,} fires compared"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, transient=True) as bar:
        job = bar.add_task("verify", total=tasks, fires=0)
        yield lambda done, fires: bar.update(job, completed=done, fires=fires)
