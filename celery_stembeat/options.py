"""Message options: the ``apply_async`` options an entry carries to the broker, as JSON.

celery beat hands an item's ``options`` to ``Task.apply_async`` (``app.send_task`` for a task
it does not know) unchanged. stembeat keeps them in the store, so it carries every option whose
value JSON can hold, with celery's meaning, and refuses the rest by name: a value of the
sending process (a signature, a callable, a connection) cannot be stored. ``null`` is kept and
means what celery makes of ``None``: not given. Instants (``eta``, ``expires``) are kept as
ISO 8601 UTC text.
"""

from __future__ import annotations

import difflib
import inspect
import json
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from celery_stembeat.limits import (
    MAX_COUNT,
    MAX_DESCRIPTION_LENGTH,
    MAX_OPTION_SECONDS,
    MAX_OPTION_TEXT_LENGTH,
    MAX_TASK_LENGTH,
    check_text,
    shorten,
    within,
)
from celery_stembeat.specs import SpecError, format_instant, parse_instant

Check = Callable[[Any, str], Any]


def _text(limit: int) -> Check:
    def check(value: object, name: str) -> str:
        if not isinstance(value, str):
            raise SpecError(f"{name!r}: expected text, got {shorten(value)}", name)
        check_text(value, name, limit)
        return value

    return check


def _flag(value: object, name: str) -> bool:
    if not isinstance(value, bool):
        raise SpecError(f"{name!r}: expected true or false, got {shorten(value)}", name)
    return value


def _seconds(*, zero: bool) -> Callable[[object, str], float]:
    bounds = f"{'0 to' if zero else 'more than 0, at most'} {MAX_OPTION_SECONDS:.0f}"

    def check(value: object, name: str) -> float:
        if not (within(value, 0, MAX_OPTION_SECONDS) and (zero or value)):
            raise SpecError(f"{name!r}: {shorten(value)} is not a number of seconds {bounds}", name)
        return value  # type: ignore[return-value]

    return check


def _count(value: object, name: str) -> int:
    if not (within(value, 0, MAX_COUNT) and isinstance(value, int)):
        raise SpecError(f"{name!r}: {shorten(value)} is not a whole number 0 or more", name)
    return value


def _priority(value: object, name: str) -> int:
    if not (within(value, 0, 255) and isinstance(value, int)):
        raise SpecError(f"{name!r}: {shorten(value)} is not an integer 0-255", name)
    return value


def _headers(value: object, name: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise SpecError(f"{name!r}: expected an object, got {shorten(value)}", name)
    _check_storable(value, name)
    return value


def _instant(value: object, name: str) -> str:
    return format_instant(parse_instant(value, repr(name), name))


_positive_seconds = _seconds(zero=False)
_any_seconds = _seconds(zero=True)


def _expires(value: object, name: str) -> float | str:
    """Seconds from the send, as celery reads a number, or an instant."""
    if isinstance(value, (str, datetime)):
        return _instant(value, name)
    return _positive_seconds(value, name)


_DELIVERY_MODES = (1, 2, "transient", "persistent")


def _delivery_mode(value: object, name: str) -> int | str:
    if isinstance(value, bool) or value not in _DELIVERY_MODES:
        raise SpecError(
            f"{name!r}: {shorten(value)} is not 1, 2, 'transient' or 'persistent'", name
        )
    return value


#: What kombu's publish retry reads from ``retry_policy`` (``max_retries`` null: no limit).
RETRY_POLICY_KEYS = ("max_retries", "interval_start", "interval_step", "interval_max")
#: ``retry_policy`` keys that hold code, never data.
_RETRY_POLICY_CODE = ("errback", "on_revive", "retry_errors")


def _retry_policy(value: object, name: str) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise SpecError(f"{name!r}: expected an object, got {shorten(value)}", name)
    policy = dict(value)
    for key, item in policy.items():
        inner = f"{name}.{key}"
        if key in _RETRY_POLICY_CODE:
            raise SpecError(
                f"{inner!r}: code (a callable, exception classes) cannot be stored as JSON", inner
            )
        if key not in RETRY_POLICY_KEYS:
            raise SpecError(
                f"{name!r}: unknown key {shorten(key)} (use {', '.join(RETRY_POLICY_KEYS)})", name
            )
        if key != "max_retries":
            _any_seconds(item, inner)
        elif item is not None:
            _count(item, inner)
    return policy


#: Every option stembeat carries (celery's names), with the check its value must pass.
CHECKS: dict[str, Check] = {
    # routing
    "queue": _text(MAX_OPTION_TEXT_LENGTH),
    "exchange": _text(MAX_OPTION_TEXT_LENGTH),
    "exchange_type": _text(MAX_OPTION_TEXT_LENGTH),
    "routing_key": _text(MAX_OPTION_TEXT_LENGTH),
    "route_name": _text(MAX_TASK_LENGTH),
    "priority": _priority,
    # when it may run
    "countdown": _any_seconds,
    "eta": _instant,
    "expires": _expires,
    # how it is sent
    "retry": _flag,
    "retry_policy": _retry_policy,
    "serializer": _text(MAX_OPTION_TEXT_LENGTH),
    "compression": _text(MAX_OPTION_TEXT_LENGTH),
    "delivery_mode": _delivery_mode,
    "mandatory": _flag,
    "timeout": _positive_seconds,
    "confirm_timeout": _positive_seconds,
    # what the message says
    "headers": _headers,
    "time_limit": _positive_seconds,
    "soft_time_limit": _positive_seconds,
    "ignore_result": _flag,
    "shadow": _text(MAX_OPTION_TEXT_LENGTH),
    "argsrepr": _text(MAX_DESCRIPTION_LENGTH),
    "kwargsrepr": _text(MAX_DESCRIPTION_LENGTH),
    "reply_to": _text(MAX_OPTION_TEXT_LENGTH),
    "group_id": _text(MAX_OPTION_TEXT_LENGTH),
    "group_index": _count,
    "root_id": _text(MAX_OPTION_TEXT_LENGTH),
    "parent_id": _text(MAX_OPTION_TEXT_LENGTH),
    "retries": _count,
}
#: Message options an entry may carry, as celery's ``apply_async`` names them.
OPTION_KEYS = tuple(CHECKS)

_SIGNATURE = "a signature (tasks to call with the result) cannot be stored as JSON"
_LIVE = "an object of the sending process cannot be stored as JSON"
#: Options celery beat passes on that stembeat cannot carry, and why.
REFUSED = {
    "link": _SIGNATURE,
    "link_error": _SIGNATURE,
    "chain": _SIGNATURE,
    "chord": _SIGNATURE,
    **dict.fromkeys(
        (
            "producer",
            "connection",
            "publisher",
            "router",
            "result_cls",
            "task_type",
            "event_dispatcher",
            "declare",
        ),
        _LIVE,
    ),
    "task_id": "each occurrence gets its own task id, by which consumers deduplicate",
    "immediate": "RabbitMQ refuses it and closes the channel (AMQP 0-9-1 has no immediate)",
}


class _Foreign(Exception):
    """A value JSON cannot hold, found while encoding."""


def _foreign(value: object) -> object:
    raise _Foreign(value)


_probe = json.JSONEncoder(default=_foreign).encode


def _what(value: object) -> str:
    if inspect.isclass(value):
        return "a class"
    if inspect.isroutine(value):
        return "a callable"
    return f"an object of type {type(value).__name__}"


def _check_storable(value: object, name: str) -> None:
    """Refuse, naming it, a value that is not data (a callable, an object of the process)."""
    try:
        _probe(value)
    except _Foreign as exc:
        raise SpecError(f"{name!r}: {_what(exc.args[0])} cannot be stored as JSON", name) from None
    except (RecursionError, TypeError, ValueError):
        pass  # data, but past a bound or with odd keys: the entry's JSON check names it


def _unknown(key: object) -> SpecError:
    close = difflib.get_close_matches(key, OPTION_KEYS, n=1) if isinstance(key, str) else []
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return SpecError(
        f"'options': unknown option {shorten(key)}{hint}; the options carried are listed "
        "in docs/beat.md",
        "options",
    )


def check_options(value: object) -> dict[str, Any]:
    """``options`` checked, with instants as ISO 8601 UTC text; raises SpecError naming
    ``options.<name>``."""
    if not isinstance(value, Mapping):
        raise SpecError(f"'options': expected an object, got {shorten(value)}", "options")
    options = dict(value)
    for key, item in options.items():
        name = f"options.{key}"
        if key in REFUSED:
            raise SpecError(f"{name!r}: {REFUSED[key]}", name)
        check = CHECKS.get(key)
        if check is None:
            raise _unknown(key)
        if item is None:
            continue
        try:
            options[key] = check(item, name)
        except SpecError as exc:
            if exc.field == name and not isinstance(item, datetime):
                _check_storable(item, name)  # a clearer reason for what is not data at all
            raise
    if options.get("countdown") is not None and options.get("eta") is not None:
        raise SpecError(
            "'options.eta': cannot be given with options.countdown (celery takes one)",
            "options.eta",
        )
    return options
