"""``metrics serve``: the store's health for Prometheus, independent of any beat."""

from __future__ import annotations

import threading

import click

from celery_stembeat.cli.commands.observe import health_options, health_rules
from celery_stembeat.cli.errors import Command
from celery_stembeat.cli.session import current
from celery_stembeat.metrics import StoreCollector, serve_store_metrics

DEFAULT_PORT = 9809


@click.group("metrics")
def metrics() -> None:
    """Prometheus metrics of the store."""


@metrics.command("serve", cls=Command)
@click.option(
    "--port",
    default=DEFAULT_PORT,
    show_default=True,
    type=click.IntRange(0, 65535),
    help="The port to serve /metrics on (0: any free port, printed).",
)
@click.option(
    "--address",
    default="127.0.0.1",
    show_default=True,
    help="The address to listen on (0.0.0.0: every interface).",
)
@click.option(
    "--entries",
    "entry_prefix",
    metavar="PREFIX",
    help="Also export series of their own for the entries whose id starts with PREFIX "
    "('' for all: one set of series per entry, so keep it to a few hundred).",
)
@health_options
@click.pass_context
def serve(
    ctx: click.Context,
    port: int,
    address: str,
    entry_prefix: str | None,
    grace: float | None,
    start_within: float,
    finish_within: float,
    failures: int,
    beat_silence: float,
) -> None:
    """Serve the store's view on /metrics until stopped (Ctrl-C): entries by health state,
    the unhealthy ones by task, the oldest missed and late occurrences, and the beats.

    Each scrape reads the store's indexes, not every entry.
    """
    session = current(ctx)
    rules = health_rules(ctx, grace, start_within, finish_within, failures, beat_silence)
    with session.store() as store:
        collector = StoreCollector(store, rules, entry_prefix=entry_prefix, clock=session.now)
        server = serve_store_metrics(collector, port, address)
        host, bound = server.server_address[:2]
        click.echo(f"stembeat: serving the store's metrics on http://{host}:{bound}/metrics")
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            pass
        finally:
            server.shutdown()
            server.server_close()
