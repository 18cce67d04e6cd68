"""The scenarios: each module says which subjects and sizes it runs, and measures one repetition.

A scenario module has ``NAME``, ``METRICS`` (what its table rows show), ``plan(ctx)`` (the sizes
and subjects to run, in order), and ``measure(ctx, subject, n, rep)`` returning metric values.
It may have ``prepare``/``cleanup`` (run once per subject and size, around the repetitions)
``STEPS`` (several child processes per repetition, in order, as for first start and
restart) and ``NOT_RUN`` (subject → why the table has no value for it).
"""

from __future__ import annotations

from types import ModuleType

from bench.scenarios import (
    burst,
    cli,
    cron,
    health,
    idle,
    lateness,
    observe,
    outcomes,
    propagation,
    scaleout,
    soak,
    startup,
    tags,
    verify,
    web,
)

SCENARIOS: dict[str, ModuleType] = {
    module.NAME: module
    for module in (
        idle,
        burst,
        scaleout,
        startup,
        lateness,
        propagation,
        cron,
        verify,
        outcomes,
        health,
        observe,
        tags,
        cli,
        web,
        soak,
    )
}
