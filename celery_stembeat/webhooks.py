"""Alerts delivered to webhooks as JSON POSTs, off the beat's path.

:meth:`WebhookSender.send` only queues an :class:`Alert`; a daemon thread of the sender's own
POSTs :meth:`Alert.body` to every URL, retrying what may pass on a second try (no answer, a
timeout, HTTP 5xx or 429) with a backoff.

The body is a JSON object: ``event`` (one of :data:`EVENTS`), ``entry`` (the entry's id, or
``null``), ``state`` (``firing`` or ``resolved``), ``message`` (one line), ``at`` (ISO 8601
UTC), ``health`` and ``beat`` (the entry's health and the beat that saw it, or ``null``), and
``text``: one line that a Slack incoming webhook shows as it is, such as ``:red_circle:
stembeat: entry nightly-report failing — 3 failures in a row: ValueError: boom``.

A webhook URL is a secret (whoever holds it can post): logs, errors and messages only ever show
it through :func:`mask_webhook`, which keeps the scheme and the host.
"""

from __future__ import annotations

import base64
import functools
import json
import logging
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final
from urllib.parse import unquote, urlsplit, urlunsplit

from celery_stembeat import __version__
from celery_stembeat.limits import shorten
from celery_stembeat.specs import format_instant
from celery_stembeat.stores._secrets import scrub

logger = logging.getLogger(__name__)

FIRING: Final = "firing"
RESOLVED: Final = "resolved"
ALERT_STATES = (FIRING, RESOLVED)
#: The events alerts are about: an entry's health leaving ``ok``, a beat gone silent, no beat
#: alive, the store out of reach.
EVENTS = (
    "entry_failing",
    "entry_missed",
    "entry_stuck",
    "entry_late",
    "beat_silent",
    "no_live_beat",
    "store_unreachable",
)
#: Characters of an alert's ``message``, and of its Slack ``text``.
MAX_MESSAGE_LENGTH = 1000
#: Characters of a webhook URL.
MAX_URL_LENGTH = 2048
USER_AGENT = f"celery-stembeat/{__version__}"

#: Characters that would break a line, or that no text should carry (C0, DEL, C1, separators).
_LINE_BREAKERS = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]+")
_HOST = re.compile(r"[\w.\-:%]{1,253}")


def _one_line(text: str, limit: int) -> str:
    """``text`` on one line of at most ``limit`` characters, as valid UTF-8."""
    text = " ".join(_LINE_BREAKERS.sub(" ", text).split())
    text = text.encode("utf-8", "replace").decode("utf-8")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _slack_escaped(text: str) -> str:
    """``text`` as Slack shows it literally: ``<``, ``>`` and ``&`` are its markup."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


@dataclass(frozen=True)
class Alert:
    """One alert: ``event`` (see :data:`EVENTS`) about ``entry`` (``None`` for beats and the
    store) is ``firing`` or ``resolved`` since ``at``, with a one-line ``message``, the
    entry's ``health`` and the ``beat`` (owner) that saw it, where known."""

    event: str
    entry: str | None
    state: str
    message: str
    at: datetime
    health: str | None = None
    beat: str | None = None

    def __post_init__(self) -> None:
        event = self.event
        if not isinstance(event, str) or not event or len(event) > 100 or not event.isprintable():
            raise ValueError(f"event: {shorten(event)} is not a name of 1 to 100 characters")
        if self.state not in ALERT_STATES:
            raise ValueError(
                f"state: {shorten(self.state)} is not one of {', '.join(ALERT_STATES)}"
            )
        if not isinstance(self.at, datetime) or self.at.utcoffset() is None:
            raise ValueError(f"at: {shorten(self.at)} is not an aware datetime")
        for name in ("entry", "health", "beat"):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, _one_line(str(value), MAX_MESSAGE_LENGTH))
        object.__setattr__(self, "message", _one_line(str(self.message), MAX_MESSAGE_LENGTH))

    def text(self) -> str:
        """One line for people (Slack's ``text``), e.g. ``:red_circle: stembeat: entry
        nightly-report failing — 3 failures in a row: ValueError: boom``."""
        condition = self.event.removeprefix("entry_").replace("_", " ")
        subject = f"entry {self.entry} " if self.entry is not None else ""
        if self.state == FIRING:
            line = f":red_circle: stembeat: {subject}{condition}"
        else:
            resolved = f"{subject}resolved" if subject else f"{condition} resolved"
            line = f":large_green_circle: stembeat: {resolved} ({self.health or 'ok'})"
        if self.message:
            line += f" — {self.message}"
        return _one_line(_slack_escaped(line), MAX_MESSAGE_LENGTH)

    def body(self) -> dict[str, Any]:
        """What is POSTed, as JSON: every field (``at`` as ISO 8601 UTC) and ``text``."""
        return {
            "event": self.event,
            "entry": self.entry,
            "state": self.state,
            "message": self.message,
            "at": format_instant(self.at),
            "health": self.health,
            "beat": self.beat,
            "text": self.text(),
        }


# -- URLs --------------------------------------------------------------------------------------


def mask_webhook(url: object) -> str:
    """``url`` safe to show: its scheme and host, the rest (path, query, user) as ``***``;
    just ``***`` for anything that is not such a URL."""
    try:
        if not isinstance(url, str) or len(url) > MAX_URL_LENGTH:
            return "***"
        parts = urlsplit(url)
        host, port = parts.hostname, parts.port
    except ValueError:
        return "***"
    if not parts.scheme or not host or not _HOST.fullmatch(host):
        return "***"
    if ":" in host:
        host = f"[{host}]"
    return f"{parts.scheme}://{host}{'' if port is None else f':{port}'}/***"


def check_webhook(url: object) -> str:
    """``url`` when it is an http(s) URL with a host, else a ValueError that says what is
    wrong without quoting it."""
    if not isinstance(url, str):
        raise ValueError(f"not a URL but {type(url).__name__}")
    if len(url) > MAX_URL_LENGTH:
        raise ValueError(f"{len(url)} characters, more than {MAX_URL_LENGTH}")
    if not url.isprintable() or any(char.isspace() for char in url):
        raise ValueError("holds spaces, control characters or invalid text")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - reading the port is the check
    except ValueError:
        raise ValueError("not a URL (its host or port cannot be read)") from None
    if parts.scheme.lower() not in ("http", "https"):
        raise ValueError("not an http:// or https:// URL")
    if not parts.hostname or not _HOST.fullmatch(parts.hostname):
        raise ValueError("no host to send to")
    return url


def webhook_secrets(url: str) -> list[str]:
    """The parts of ``url`` that a message must not show (the whole URL, what follows the
    host, the user and password), as written and percent-decoded, longest first."""
    try:
        parts = urlsplit(url)
        userinfo = parts.netloc.rpartition("@")[0]
        password = parts.password or ""
    except ValueError:
        return [url]
    after_host = url.partition("//" + parts.netloc)[2] if parts.netloc else url
    query = f"?{parts.query}" if parts.query else ""
    found = {url, after_host, parts.path + query, parts.path, parts.query, userinfo, password}
    found |= {unquote(text) for text in found}
    return sorted((text for text in found if len(text) > 1), key=len, reverse=True)


# -- delivery ----------------------------------------------------------------------------------

#: ``post(url, body, headers, timeout)``: the HTTP status of the answer; raises OSError (or
#: :class:`http.client.HTTPException`) when no answer came.
Post = Callable[[str, bytes, Mapping[str, str], float], int]


@functools.lru_cache(maxsize=1)
def _opener() -> Any:
    """urllib's opener, without following redirects: urllib would resend a POST as a GET,
    without the alert, so a redirect counts as the answer. Built on first use: a beat without
    webhooks never loads urllib.request."""
    import urllib.request

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: Any, **kwargs: Any) -> None:
            return None

    return urllib.request.build_opener(NoRedirect)


def urllib_post(url: str, body: bytes, headers: Mapping[str, str], timeout: float) -> int:
    """POST ``body`` to ``url`` with :mod:`urllib.request`; the answer's HTTP status. A user
    and password in the URL go as basic authentication (urllib would take them for the
    host)."""
    import urllib.error
    import urllib.request

    sent = dict(headers)
    parts = urlsplit(url)
    if "@" in parts.netloc:
        userinfo, _, host = parts.netloc.rpartition("@")
        user, _, password = userinfo.partition(":")
        credentials = f"{unquote(user)}:{unquote(password)}".encode()
        sent["Authorization"] = "Basic " + base64.b64encode(credentials).decode("ascii")
        url = urlunsplit(parts._replace(netloc=host))
    request = urllib.request.Request(url, data=body, headers=sent, method="POST")
    try:
        with _opener().open(request, timeout=timeout) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        exc.close()
        return int(exc.code)


def _retryable(status: int) -> bool:
    return status >= 500 or status == 429


class WebhookSender:
    """Delivers alerts to ``urls`` from a thread of its own: each POST waits at most
    ``timeout`` s per network operation and is tried up to ``attempts`` times, pausing
    ``backoff[i]`` s after the i-th failure (the last pause repeats). At most ``capacity``
    alerts wait; beyond that the oldest is dropped (counted in :attr:`dropped`)."""

    def __init__(
        self,
        urls: Iterable[str],
        *,
        timeout: float = 5.0,
        attempts: int = 3,
        backoff: Sequence[float] = (0.5, 2.0),
        capacity: int = 1000,
        post: Post | None = None,
    ) -> None:
        self.urls: tuple[str, ...] = ()
        for url in urls:
            try:
                self.urls += (check_webhook(url),)
            except ValueError as exc:
                raise ValueError(f"webhook {mask_webhook(url)}: {exc}") from None
        if not timeout > 0 or attempts < 1 or capacity < 1:
            raise ValueError("timeout must be > 0, attempts and capacity >= 1")
        if not backoff or any(not pause >= 0 for pause in backoff):
            raise ValueError("backoff must be one or more pauses >= 0 s")
        self.timeout = timeout
        self.attempts = attempts
        self.backoff = tuple(backoff)
        self.capacity = capacity
        self._post = post or urllib_post
        self._masked = {url: mask_webhook(url) for url in self.urls}
        self._secrets = {url: webhook_secrets(url) for url in self.urls}
        #: Alerts dropped: the queue was full, or the sender closed.
        self.dropped = 0
        #: POSTs a receiver took, and POSTs given up on (after every attempt, or refused).
        self.delivered = 0
        self.failed = 0
        self._queue: deque[Alert] = deque()
        self._changed = threading.Condition(threading.Lock())
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._busy = False
        self._full = False
        self._closed = False

    def __repr__(self) -> str:
        return f"WebhookSender([{', '.join(self._masked.values())}])"

    def send(self, alert: Alert) -> None:
        """Queue ``alert`` for every URL; never blocks, never raises."""
        try:
            with self._changed:
                if self._closed:
                    self.dropped += 1
                    return
                self._queue.append(alert)
                if len(self._queue) > self.capacity:
                    self._queue.popleft()
                    self.dropped += 1
                    if not self._full:
                        self._full = True
                        logger.warning(
                            "stembeat: alert queue full (%d alerts); dropping the oldest",
                            self.capacity,
                        )
                self._start()
                self._changed.notify_all()
        except Exception as exc:  # an alert must never break the beat's pass
            logger.warning("stembeat: cannot queue an alert: %s", type(exc).__name__)

    def _start(self) -> None:
        """Start the delivery thread unless it runs (the caller holds the lock). A forked
        child finds its parent's thread object, not running."""
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._run, name="stembeat-alerts", daemon=True)
            self._thread.start()

    def pending(self) -> int:
        """Alerts not delivered yet: those queued, and the one being delivered."""
        with self._changed:
            return len(self._queue) + (1 if self._busy else 0)

    def flush(self, timeout: float) -> bool:
        """Wait up to ``timeout`` s for every queued alert to be delivered (or given up on);
        whether the queue emptied."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while self._queue or self._busy:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._changed.wait(remaining)
            return True

    def close(self, timeout: float = 5.0) -> None:
        """Deliver what is queued for up to ``timeout`` s, then stop the thread (alerts still
        queued are dropped and counted); safe to call twice."""
        self.flush(timeout)
        with self._changed:
            self._closed = True
            self.dropped += len(self._queue)
            self._queue.clear()
            self._changed.notify_all()
            thread = self._thread
        self._stopping.set()
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    def _run(self) -> None:
        while True:
            with self._changed:
                while not self._queue and not self._closed:
                    self._changed.wait()
                if self._closed:
                    return
                alert = self._queue.popleft()
                self._busy = True
            try:
                self._deliver(alert)
            except Exception as exc:  # the thread must outlive any one alert
                # Only the type: nothing here should quote a URL, but a message could.
                logger.warning(
                    "stembeat: alert %s not delivered (%s)", alert.event, type(exc).__name__
                )
            finally:
                with self._changed:
                    self._busy = False
                    self._full = self._full and bool(self._queue)
                    self._changed.notify_all()

    def _deliver(self, alert: Alert) -> None:
        body = json.dumps(alert.body(), ensure_ascii=False, allow_nan=False).encode("utf-8")
        headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT}
        for url in self.urls:
            if self._post_with_retries(url, alert, body, headers):
                self.delivered += 1
            else:
                self.failed += 1

    def _post_with_retries(
        self, url: str, alert: Alert, body: bytes, headers: Mapping[str, str]
    ) -> bool:
        """POST ``body`` to ``url`` until it is taken, refused, or ``attempts`` ran out."""
        from http.client import HTTPException

        for attempt in range(1, self.attempts + 1):
            try:
                status = self._post(url, body, headers, self.timeout)
            except (OSError, HTTPException) as exc:
                reason, retry = f"{type(exc).__name__}: {exc}", True
            else:
                if 200 <= status < 300:
                    return True
                reason, retry = f"HTTP {status}", _retryable(status)
            last = attempt == self.attempts or not retry
            logger.log(
                logging.WARNING if last else logging.INFO,
                "stembeat: alert %s (%s) to %s failed (attempt %d of %d%s): %s",
                alert.event,
                alert.state,
                self._masked[url],
                attempt,
                self.attempts,
                ", giving up" if last else "",
                _one_line(scrub(reason, self._secrets[url]), 300),
            )
            if last:
                return False
            pause = self.backoff[min(attempt, len(self.backoff)) - 1]
            if self._stopping.wait(pause):
                return False
        return False


__all__ = [
    "ALERT_STATES",
    "EVENTS",
    "FIRING",
    "RESOLVED",
    "Alert",
    "WebhookSender",
    "check_webhook",
    "mask_webhook",
    "urllib_post",
    "webhook_secrets",
]
