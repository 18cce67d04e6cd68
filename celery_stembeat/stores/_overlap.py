"""Overlapping the server's work with Python's: bulk writes sent on a thread while the caller
encodes the next one, and bulk reads made on a thread while the caller decodes the last."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

Payload = TypeVar("Payload")
Reply = TypeVar("Reply")
Batch = TypeVar("Batch")

#: How often a reader waiting to hand a batch over checks whether the caller stopped (s).
_STOP_CHECK = 0.05


class _Skipped(Exception):
    """A payload left unsent because an earlier one failed."""


def _nothing() -> None:
    pass


def send_while_encoding(
    payloads: Iterable[Payload],
    send: Callable[[Payload], Reply],
    thread_name: str,
    meanwhile: Callable[[], object] = _nothing,
) -> list[Reply]:
    """``send`` each payload, in order, on one worker thread while ``payloads`` (a generator
    that encodes them) makes the next: the server works on one while Python prepares the
    next. Once every payload is handed over, ``meanwhile`` runs (the caller's work that needs
    no reply: the server works on what is left meanwhile). The replies, in order. Once a call
    fails, no later payload is sent and that call's error is raised; so is an error raised
    while encoding or in ``meanwhile``, after the payloads made before it were sent.
    """
    failed = False

    def guarded(payload: Payload) -> Reply:
        nonlocal failed
        if failed:
            raise _Skipped()
        try:
            return send(payload)
        except BaseException:
            failed = True
            raise

    with ThreadPoolExecutor(1, thread_name_prefix=thread_name) as sender:
        sent = []
        for payload in payloads:
            if failed:
                break
            sent.append(sender.submit(guarded, payload))
        meanwhile()
        return [future.result() for future in sent]


def read_ahead(batches: Iterator[Batch], thread_name: str, depth: int = 2) -> Iterator[Batch]:
    """``batches``, each read on a worker thread while the caller works on the ones before:
    the server answers the next read while Python decodes the last (at most ``depth`` wait).

    An error raised reading is raised here, in the batch's place. Closing this iterator early
    stops the reading once the read under way is done.
    """
    ready: queue.Queue[tuple[bool, Any]] = queue.Queue(depth)
    stopped = threading.Event()

    def hand_over(item: tuple[bool, Any]) -> bool:
        while not stopped.is_set():
            try:
                ready.put(item, timeout=_STOP_CHECK)
                return True
            except queue.Full:
                continue
        return False

    def read() -> None:
        try:
            for batch in batches:
                if not hand_over((True, batch)):
                    return
            hand_over((False, None))
        except BaseException as exc:  # the caller's to handle, in order
            hand_over((False, exc))
        finally:
            close = getattr(batches, "close", None)
            if close is not None:
                close()

    reader = threading.Thread(target=read, name=thread_name, daemon=True)
    reader.start()
    try:
        while True:
            more, item = ready.get()
            if not more:
                if item is not None:
                    raise item
                return
            yield item
    finally:
        stopped.set()
        reader.join()
