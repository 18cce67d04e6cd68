"""Bulk writes sent on a thread while the next is encoded; bulk reads made on a thread while
the last is decoded."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from celery_stembeat.stores._overlap import read_ahead, send_while_encoding


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


def _batches(count: int, threads: set[int], read: list[int]) -> Iterator[list[int]]:
    for number in range(count):
        threads.add(threading.get_ident())
        read.append(number)
        yield [number, number]


def test_reads_come_in_order_from_another_thread() -> None:
    threads: set[int] = set()
    read: list[int] = []
    got = list(read_ahead(_batches(9, threads, read), "test-read"))
    assert got == [[number, number] for number in range(9)]
    assert threads
    assert threading.get_ident() not in threads
    assert not [thread for thread in threading.enumerate() if thread.name == "test-read"]


def test_a_read_error_is_raised_in_its_batchs_place() -> None:
    def batches() -> Iterator[int]:
        yield 1
        yield 2
        raise ConnectionError("lost")

    reading = read_ahead(batches(), "test-read")
    assert [next(reading), next(reading)] == [1, 2]
    with pytest.raises(ConnectionError, match="lost"):
        next(reading)


def test_stopping_early_stops_the_reader_and_closes_the_batches() -> None:
    closed = threading.Event()
    read: list[int] = []

    def batches() -> Iterator[int]:
        try:
            for number in range(1000):
                read.append(number)
                yield number
        finally:
            closed.set()

    reading = read_ahead(batches(), "test-read", depth=2)
    assert next(reading) == 0
    reading.close()
    assert closed.is_set()  # closing joins the reader, which closes the batches first
    assert len(read) <= 4  # the one taken, the ones waiting, and the one being handed over
