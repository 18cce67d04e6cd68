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
