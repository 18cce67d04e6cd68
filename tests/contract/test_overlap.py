"""Bulk writes sent on a thread while the next is encoded."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from celery_stembeat.stores._overlap import send_while_encoding


def test_every_payload_is_sent_in_order_on_another_thread() -> None:
    threads: set[int] = set()

    def send(payload: int) -> int:
        threads.add(threading.get_ident())
        return payload * 10

    assert send_while_encoding(iter(range(7)), send, "test-send") == [0, 10, 20, 30, 40, 50, 60]
    assert threads
    assert threading.get_ident() not in threads


def test_nothing_is_sent_after_a_failed_call() -> None:
    sent: list[int] = []

    def send(payload: int) -> int:
        if payload == 2:
            raise ConnectionError("lost")
        sent.append(payload)
        return payload

    with pytest.raises(ConnectionError, match="lost"):
        send_while_encoding(iter(range(20)), send, "test-send")
    assert sent == [0, 1]


def test_an_encoding_error_is_raised_after_what_was_made_before_it_is_sent() -> None:
    sent: list[int] = []

    def payloads() -> Iterator[int]:
        yield 0
        yield 1
        raise ValueError("bad entry")

    with pytest.raises(ValueError, match="bad entry"):
        send_while_encoding(payloads(), sent.append, "test-send")
    assert sent == [0, 1]


def test_no_payloads_send_nothing() -> None:
    assert send_while_encoding(iter(()), lambda payload: payload, "test-send") == []


def test_meanwhile_runs_once_in_the_callers_thread_while_the_sends_are_outstanding() -> None:
    encoded: list[int] = []
    ran: list[tuple[list[int], int]] = []
    released = threading.Event()

    def payloads() -> Iterator[int]:
        for payload in range(3):
            encoded.append(payload)
            yield payload

    def send(payload: int) -> bool:
        return released.wait(timeout=30)  # the first send waits for meanwhile

    def meanwhile() -> None:
        ran.append((list(encoded), threading.get_ident()))
        released.set()

    assert send_while_encoding(payloads(), send, "test-send", meanwhile) == [True] * 3
    assert ran == [([0, 1, 2], threading.get_ident())]


def test_an_error_in_meanwhile_is_raised_after_the_payloads_are_sent() -> None:
    sent: list[int] = []

    def meanwhile() -> None:
        raise ValueError("bad record")

    with pytest.raises(ValueError, match="bad record"):
        send_while_encoding(iter(range(3)), sent.append, "test-send", meanwhile)
    assert sent == [0, 1, 2]
