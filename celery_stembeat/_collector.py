"""Pausing Python's cyclic garbage collector around bulk work: start-up, a tick, a store's bulk
writes and their audit records."""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """Run the block with the cyclic garbage collector off, then restore it as it was.

    Building and writing a large ``beat_schedule`` allocates many objects that all stay alive;
    each allocation burst triggers collections, and every full one walks all live objects
    again (``beat_schedule`` itself included). At 100,000 entries that was a third of a first
    start and two thirds of a restart. Reference counting still frees what the block drops;
    only cycles wait for the collector's next run.
    """
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
