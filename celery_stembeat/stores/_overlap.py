"""Sending bulk writes on a thread while the caller encodes the next one."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

Payload = TypeVar("Payload")
Reply = TypeVar("Reply")


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
