"""Message options: every apply_async option celery beat passes on that JSON can hold is
carried with celery's meaning; hostile values get one-line errors naming ``options.<name>``."""

from __future__ import annotations

import functools
from datetime import datetime, timezone
from typing import Any

import pytest
from celery import signature
from kombu import Exchange, Queue

from celery_stembeat.entry import Entry, EntryError
from celery_stembeat.options import OPTION_KEYS, REFUSED
from celery_stembeat.specs import IntervalSpec

#: One value of each option stembeat carries, as a beat_schedule item may give it.
EVERY_OPTION: dict[str, Any] = {
    "queue": "reports",
    "exchange": "reports-x",
    "exchange_type": "topic",
    "routing_key": "reports.daily",
    "route_name": "proj.route_as",
    "priority": 5,
    "countdown": 2.5,
    "expires": 600,
    "retry": True,
    "retry_policy": {
        "max_retries": 3,
        "interval_start": 0,
        "interval_step": 0.2,
        "interval_max": 1,
    },
    "serializer": "json",
    "compression": "zlib",
    "delivery_mode": "persistent",
    "mandatory": False,
    "timeout": 5,
    "confirm_timeout": 2.5,
    "headers": {"team": "ops"},
    "time_limit": 60,
    "soft_time_limit": 50.5,
    "ignore_result": True,
    "shadow": "nightly-report",
    "argsrepr": "(<hidden>,)",
    "kwargsrepr": "{}",
    "reply_to": "replies",
    "group_id": "g-1",
    "group_index": 0,
    "root_id": "root-1",
    "parent_id": "parent-1",
    "retries": 0,
}


def entry(options: Any) -> Entry:
    return Entry(id="job", task="proj.job", spec=IntervalSpec(60), options=options)


def refusal(options: Any) -> EntryError:
    with pytest.raises(EntryError) as raised:
        entry(options)
    return raised.value


def test_every_carried_option_is_kept_and_survives_json() -> None:
    assert sorted([*EVERY_OPTION, "eta"]) == sorted(OPTION_KEYS)  # eta: see countdown
    made = entry(EVERY_OPTION)
    assert made.options == EVERY_OPTION
    assert Entry.from_json(made.to_json()) == made


def test_instants_are_kept_as_utc_text_and_seconds_as_numbers() -> None:
    local = datetime(2030, 1, 1, 10, 0, tzinfo=timezone.utc).astimezone()
    made = entry({"eta": local, "expires": "2030-01-01T12:30:00+02:00"})
    assert made.options == {"eta": "2030-01-01T10:00:00Z", "expires": "2030-01-01T10:30:00Z"}
    assert entry({"expires": 30.5}).options == {"expires": 30.5}


def test_null_is_kept_as_celery_reads_none() -> None:
    options = dict.fromkeys(OPTION_KEYS)
    assert entry(options).options == options


@pytest.mark.parametrize(
    ("options", "name", "message"),
    [
        ({"countdown": -1}, "options.countdown", "-1 is not a number of seconds 0 to 31622400"),
        ({"countdown": "5"}, "options.countdown", "'5' is not a number of seconds"),
        ({"countdown": True}, "options.countdown", "True is not a number of seconds"),
        ({"countdown": float("nan")}, "options.countdown", "nan is not a number"),
        ({"countdown": 10**400}, "options.countdown", "is not a number of seconds"),
        ({"expires": 0}, "options.expires", "0 is not a number of seconds more than 0, at most"),
        ({"expires": "tomorrow"}, "options.expires", "'tomorrow' is not an ISO 8601 instant"),
        ({"expires": "2030-01-01T00:00:00"}, "options.expires", "zone"),
        ({"eta": 5}, "options.eta", "expected an ISO 8601 instant, got 5"),
        ({"eta": "2030-01-01T00:00:00Z", "countdown": 5}, "options.eta", "with options.countdown"),
        ({"retry": "yes"}, "options.retry", "expected true or false, got 'yes'"),
        ({"ignore_result": 1}, "options.ignore_result", "expected true or false"),
        ({"retry_policy": [1]}, "options.retry_policy", "expected an object"),
        ({"retry_policy": {"max_retrys": 1}}, "options.retry_policy", "unknown key 'max_retrys'"),
        ({"retry_policy": {"max_retries": -1}}, "options.retry_policy.max_retries", "-1"),
        ({"retry_policy": {"interval_max": "1"}}, "options.retry_policy.interval_max", "'1'"),
        ({"serializer": 7}, "options.serializer", "expected text, got 7"),
        ({"compression": "z" * 201}, "options.compression", "201 characters, more than 200"),
        ({"shadow": "\udc80"}, "options.shadow", "not valid UTF-8"),
        ({"time_limit": 0}, "options.time_limit", "more than 0"),
        ({"soft_time_limit": 1e12}, "options.soft_time_limit", "more than 0, at most 31622400"),
        ({"priority": 256}, "options.priority", "256 is not an integer 0-255"),
        ({"priority": 1.5}, "options.priority", "not an integer"),
        ({"delivery_mode": 3}, "options.delivery_mode", "3 is not 1, 2, 'transient'"),
        ({"delivery_mode": True}, "options.delivery_mode", "True is not 1, 2"),
        ({"group_index": -2}, "options.group_index", "-2 is not a whole number"),
        ({"headers": "x"}, "options.headers", "expected an object"),
        ({"argsrepr": "a" * 1001}, "options.argsrepr", "more than 1000"),
        ({"queu": "x"}, "options", "unknown option 'queu' (did you mean 'queue'?)"),
        ({7: "x"}, "options", "unknown option 7;"),
        ("queue=x", "options", "expected an object"),
    ],
)
def test_bad_values_get_one_line_errors_naming_the_option(
    options: Any, name: str, message: str
) -> None:
    error = refusal(options)
    assert message in str(error)
    assert f"{name!r}" in str(error)
    assert error.field == name
    assert "\n" not in str(error)
    assert len(str(error)) < 260


def _callback() -> None:
    """A callable: what a beat_schedule item might hold but a store cannot."""


@pytest.mark.parametrize(
    ("options", "name", "why"),
    [
        ({"link": signature("proj.after")}, "options.link", "a signature"),
        ({"link_error": {"task": "proj.failed"}}, "options.link_error", "a signature"),
        ({"chain": []}, "options.chain", "a signature"),
        ({"producer": object()}, "options.producer", "an object of the sending process"),
        ({"connection": "amqp://"}, "options.connection", "an object of the sending process"),
        ({"task_id": "fixed"}, "options.task_id", "its own task id"),
        ({"immediate": True}, "options.immediate", "RabbitMQ refuses it"),
        ({"queue": Queue("reports")}, "options.queue", "an object of type Queue cannot be stored"),
        ({"exchange": Exchange("x")}, "options.exchange", "an object of type Exchange"),
        ({"serializer": _callback}, "options.serializer", "a callable cannot be stored"),
        (
            {"time_limit": functools.partial(_callback)},
            "options.time_limit",
            "an object of type partial",
        ),
        ({"headers": {"h": _callback}}, "options.headers", "a callable cannot be stored"),
        ({"countdown": int}, "options.countdown", "a class cannot be stored"),
        ({"retry_policy": {"errback": _callback}}, "options.retry_policy.errback", "code"),
        ({"retry_policy": {"retry_errors": (OSError,)}}, "options.retry_policy.retry_errors", ""),
    ],
)
def test_what_cannot_be_stored_is_refused_saying_why(options: Any, name: str, why: str) -> None:
    error = refusal(options)
    assert f"{name!r}" in str(error)
    assert why in str(error)
    assert error.field == name
    assert "\n" not in str(error)


def test_every_refused_name_is_refused_whatever_its_value() -> None:
    for name in REFUSED:
        assert refusal({name: None}).field == f"options.{name}"
