"""Alerts reach a real HTTP receiver: the body, retries, timeouts, overflow, and URLs that
never show in logs or errors."""

from __future__ import annotations

import base64
import json
import logging
import socket
import threading
from collections import deque
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from celery import Celery

from celery_stembeat import __version__
from celery_stembeat.config import ConfigError, StembeatConfig
from celery_stembeat.webhooks import (
    FIRING,
    MAX_MESSAGE_LENGTH,
    RESOLVED,
    Alert,
    WebhookSender,
    mask_webhook,
)

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)
#: A Slack-like webhook path and query: the parts that must never show.
SECRET_PATH = "/services/T0SECRET/B0SECRET/xoxbSECRETtoken"
SECRET_QUERY = "?token=QUERYSECRET"
LOGGER = "celery_stembeat.webhooks"
#: What a receiver does with a request: answer with that status, or hold it without answering.
HANG = "hang"


def failing(message: str = "3 failures in a row: ValueError: boom", **fields: Any) -> Alert:
    """An entry's ``failing`` alert."""
    values: dict[str, Any] = {
        "event": "entry_failing",
        "entry": "nightly-report",
        "state": FIRING,
        "message": message,
        "at": T0 + timedelta(milliseconds=250),
        "health": "failing",
        "beat": "web-1:42",
        **fields,
    }
    return Alert(**values)


@dataclass(frozen=True)
class Received:
    path: str
    headers: Mapping[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class Receiver:
    """A webhook receiver on a real HTTP server: records every request, then answers with
    the next of :attr:`answers` (200 once they run out)."""

    def __init__(self) -> None:
        self.requests: list[Received] = []
        self.answers: deque[int | str] = deque()
        self.release = threading.Event()
        self.changed = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with receiver.changed:
                    receiver.requests.append(Received(self.path, dict(self.headers), body))
                    answer = receiver.answers.popleft() if receiver.answers else 200
                    receiver.changed.notify_all()
                if answer == HANG:
                    receiver.release.wait(timeout=60)
                    self.close_connection = True
                    return
                self.send_response(int(answer))
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, format: str, *args: Any) -> None:
                """Quiet."""

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()

    @property
    def base(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}"

    def url(self) -> str:
        """A URL on this receiver with a secret path and query."""
        return self.base + SECRET_PATH + SECRET_QUERY

    def wait_for(self, count: int, timeout: float = 10.0) -> list[Received]:
        """The requests, once there are ``count`` of them (fails after ``timeout`` s)."""
        with self.changed:
            assert self.changed.wait_for(lambda: len(self.requests) >= count, timeout)
            return list(self.requests)

    def stop(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    started = Receiver()
    yield started
    started.stop()


@pytest.fixture
def senders() -> Iterator[list[WebhookSender]]:
    """Senders a test makes, closed at its end."""
    made: list[WebhookSender] = []
    yield made
    for sender in made:
        sender.close(timeout=5)


def sender_for(made: list[WebhookSender], *urls: str, **options: Any) -> WebhookSender:
    sender = WebhookSender(urls, **options)
    made.append(sender)
    return sender


def refused_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def webhook_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [record.getMessage() for record in caplog.records if record.name == LOGGER]


# -- the alert -----------------------------------------------------------------------------------


def test_the_body_has_every_field_as_json(receiver: Receiver, senders: list[WebhookSender]) -> None:
    sender = sender_for(senders, receiver.url())
    sender.send(failing())
    assert sender.flush(10)
    (request,) = receiver.wait_for(1)
    assert request.path == SECRET_PATH + SECRET_QUERY
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["User-Agent"] == f"celery-stembeat/{__version__}"
    assert request.json() == {
        "event": "entry_failing",
        "entry": "nightly-report",
        "state": "firing",
        "message": "3 failures in a row: ValueError: boom",
        "at": "2026-03-01T12:00:00.250Z",
        "health": "failing",
        "beat": "web-1:42",
        "text": (
            ":red_circle: stembeat: entry nightly-report failing — "
            "3 failures in a row: ValueError: boom"
        ),
    }
    assert (sender.delivered, sender.failed, sender.dropped) == (1, 0, 0)


def test_a_user_and_password_in_the_url_go_as_basic_authentication(
    receiver: Receiver, senders: list[WebhookSender]
) -> None:
    url = receiver.url().replace("http://", "http://hook-user:pa55%3Aword@")
    sender = sender_for(senders, url)
    sender.send(failing())
    assert sender.flush(10)
    (request,) = receiver.wait_for(1)
    assert request.path == SECRET_PATH + SECRET_QUERY
    credentials = base64.b64encode(b"hook-user:pa55:word").decode()
    assert request.headers["Authorization"] == f"Basic {credentials}"
    assert sender.delivered == 1


@pytest.mark.parametrize(
    ("alert", "text"),
    [
        (
            failing("", state=RESOLVED, health="ok"),
            ":large_green_circle: stembeat: entry nightly-report resolved (ok)",
        ),
        (
            failing("late by 3 min", event="entry_late", health="late"),
            ":red_circle: stembeat: entry nightly-report late — late by 3 min",
        ),
        (
            Alert("no_live_beat", None, FIRING, "no beat for 45 s", T0),
            ":red_circle: stembeat: no live beat — no beat for 45 s",
        ),
        (
            Alert("store_unreachable", None, RESOLVED, "", T0),
            ":large_green_circle: stembeat: store unreachable resolved (ok)",
        ),
        (
            failing("a <b> & c", entry="<!channel>"),
            ":red_circle: stembeat: entry &lt;!channel&gt; failing — a &lt;b&gt; &amp; c",
        ),
    ],
)
def test_slack_text_says_what_happened_on_one_line(alert: Alert, text: str) -> None:
    """Slack shows ``text`` as it is: its markup characters are escaped (no ``@channel``
    from an entry's id)."""
    assert alert.body()["text"] == text


def test_messages_and_text_are_one_bounded_line_of_valid_text() -> None:
    alert = failing("Traceback:\n  File 'x'\r\n\tboom\u2028" + "e" * 5000 + "\udc80")
    body = alert.body()
    for name in ("message", "text"):
        assert len(body[name]) <= MAX_MESSAGE_LENGTH
        assert body[name].isprintable()
    assert body["message"].startswith("Traceback: File 'x' boom eee")
    assert body["message"].endswith("e…")
    assert json.loads(json.dumps(body, ensure_ascii=False).encode("utf-8")) == body


def test_a_bad_alert_is_refused_where_it_is_made() -> None:
    with pytest.raises(ValueError, match=r"^state: 'open' is not one of firing, resolved$"):
        failing(state="open")
    with pytest.raises(ValueError, match=r"^at: datetime.* is not an aware datetime$"):
        failing(at=T0.replace(tzinfo=None))
    with pytest.raises(ValueError, match=r"^event: '' is not a name of 1 to 100 characters$"):
        failing(event="")
    with pytest.raises(ValueError, match=r"^event: 'entry_\\nfailing' is not a name"):
        failing(event="entry_\nfailing")


# -- retries and timeouts ------------------------------------------------------------------------


def test_a_receiver_failing_twice_gets_the_alert_on_the_third_attempt(
    receiver: Receiver, senders: list[WebhookSender], caplog: pytest.LogCaptureFixture
) -> None:
    """Attempts that will be retried are logged at INFO: only giving up is a warning."""
    caplog.set_level(logging.INFO, logger=LOGGER)
    receiver.answers.extend([500, 500])
    sender = sender_for(senders, receiver.url(), attempts=3, backoff=(0.01, 0.02))
    sender.send(failing())
    assert sender.flush(10)
    requests = receiver.wait_for(3)
    assert len(requests) == 3
    assert len({request.body for request in requests}) == 1
    assert (sender.delivered, sender.failed) == (1, 0)
    assert {record.levelname for record in caplog.records} == {"INFO"}
    assert [line.split(": ", 1)[1] for line in webhook_lines(caplog)] == [
        f"alert entry_failing (firing) to {receiver.base}/*** failed (attempt {n} of 3): HTTP 500"
        for n in (1, 2)
    ]


@pytest.mark.parametrize(("status", "retried"), [(503, True), (429, True), (400, False)])
@pytest.mark.parametrize("extra", [301, 404])
def test_only_answers_that_may_pass_later_are_retried(
    receiver: Receiver,
    senders: list[WebhookSender],
    caplog: pytest.LogCaptureFixture,
    status: int,
    retried: bool,
    extra: int,
) -> None:
    """5xx and 429 are tried again; other 4xx (and redirects, which urllib would follow as a
    GET without the body) are given up at once."""
    caplog.set_level(logging.WARNING, logger=LOGGER)
    receiver.answers.extend([status, extra])
    sender = sender_for(senders, receiver.url(), attempts=3, backoff=(0.01,))
    sender.send(failing())
    assert sender.flush(10)
    requests = receiver.wait_for(2 if retried else 1)
    assert len(requests) == (2 if retried else 1)
    assert (sender.delivered, sender.failed) == (0, 1)
    assert webhook_lines(caplog)[-1].endswith(f"giving up): HTTP {extra if retried else status}")


def test_a_receiver_that_never_answers_blocks_neither_send_nor_the_next_alert(
    receiver: Receiver, senders: list[WebhookSender], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger=LOGGER)
    receiver.answers.append(HANG)
    sender = sender_for(senders, receiver.url(), timeout=1.0, attempts=1)
    sender.send(failing("first"))
    receiver.wait_for(1)
    sender.send(failing("second"))
    # Both still pending: the first is held by the receiver, the second waits in the queue,
    # so send() returned without delivering anything.
    assert sender.pending() == 2
    assert sender.flush(10)
    first, second = receiver.wait_for(2)
    assert (first.json()["message"], second.json()["message"]) == ("first", "second")
    assert (sender.delivered, sender.failed) == (1, 1)
    (line,) = webhook_lines(caplog)
    assert "(attempt 1 of 1, giving up)" in line
    assert "timed out" in line


def test_when_the_queue_is_full_the_oldest_alerts_go_with_one_log_line(
    receiver: Receiver, senders: list[WebhookSender], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger=LOGGER)
    receiver.answers.append(HANG)
    sender = sender_for(senders, receiver.url(), timeout=30, attempts=1, capacity=2)
    sender.send(failing("held"))
    receiver.wait_for(1)
    for number in range(1, 6):
        sender.send(failing(f"queued {number}"))
    assert sender.dropped == 3
    assert sender.pending() == 3
    assert webhook_lines(caplog) == ["stembeat: alert queue full (2 alerts); dropping the oldest"]
    receiver.release.set()
    assert sender.flush(10)
    received = [request.json()["message"] for request in receiver.wait_for(3)]
    assert received == ["held", "queued 4", "queued 5"]
    assert (sender.delivered, sender.failed, sender.dropped) == (2, 1, 3)


def test_close_delivers_what_is_queued_then_stops(
    receiver: Receiver, senders: list[WebhookSender]
) -> None:
    sender = sender_for(senders, receiver.url())
    sender.send(failing())
    sender.close(timeout=10)
    assert len(receiver.wait_for(1)) == 1
    sender.send(failing("after close"))
    sender.close()
    assert (sender.delivered, sender.dropped, sender.pending()) == (1, 1, 0)


# -- secrets -------------------------------------------------------------------------------------


def assert_masked(text: str) -> None:
    for secret in ("SECRET", "pa55word", "hook-user"):
        assert secret not in text


def test_logs_show_only_masked_urls_when_the_connection_is_refused(
    senders: list[WebhookSender], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    port = refused_port()
    url = f"http://hook-user:pa55word@127.0.0.1:{port}{SECRET_PATH}{SECRET_QUERY}"
    sender = sender_for(senders, url, attempts=2, backoff=(0.01,))
    assert repr(sender) == f"WebhookSender([http://127.0.0.1:{port}/***])"
    sender.send(failing())
    assert sender.flush(10)
    assert sender.failed == 1
    lines = webhook_lines(caplog)
    assert len(lines) == 2
    assert all(f"to http://127.0.0.1:{port}/*** failed" in line for line in lines)
    assert "Connection refused" in caplog.text
    assert_masked(caplog.text)


def test_errors_that_quote_the_url_are_scrubbed(
    senders: list[WebhookSender], caplog: pytest.LogCaptureFixture
) -> None:
    """urllib's and http.client's errors may quote the URL, or parts of it, decoded."""
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    url = f"https://hook-user:pa55word@hooks.example.com{SECRET_PATH}%2Fmore{SECRET_QUERY}"

    def quoting_post(target: str, body: bytes, headers: Mapping[str, str], timeout: float) -> int:
        raise OSError(f"cannot reach {target} (path {SECRET_PATH}/more, query token=QUERYSECRET)")

    sender = sender_for(senders, url, attempts=1, post=quoting_post)
    sender.send(failing())
    assert sender.flush(10)
    (line,) = webhook_lines(caplog)
    assert "to https://hooks.example.com/*** failed" in line
    assert "OSError: cannot reach *** (path ***, query ***)" in line
    assert_masked(caplog.text)


@pytest.mark.parametrize(
    ("url", "masked"),
    [
        ("https://hooks.slack.com/services/T0/B0/xyz", "https://hooks.slack.com/***"),
        ("https://u:p@Example.COM:8443/a?b=c#d", "https://example.com:8443/***"),
        ("http://[::1]:8080/hook", "http://[::1]:8080/***"),
        ("https://hooks.example.com", "https://hooks.example.com/***"),
        ("", "***"),
        ("not a url", "***"),
        ("http://", "***"),
        ("http://host:99999/x", "***"),
        ("http://ho st/x", "***"),
        ("http://h\udc80st/x", "***"),
        ("https://hooks.example.com/" + "S" * 1_000_000, "***"),
        (None, "***"),
        (42, "***"),
    ],
)
def test_mask_webhook_keeps_the_scheme_and_host_only(url: object, masked: str) -> None:
    assert mask_webhook(url) == masked


def test_a_sender_refuses_a_url_it_cannot_post_to_without_quoting_it() -> None:
    with pytest.raises(ValueError, match=r"^webhook ftp://files.example.com/\*\*\*: not an http"):
        WebhookSender(["https://ok.example.com/x", f"ftp://files.example.com{SECRET_PATH}"])


# -- the setting ---------------------------------------------------------------------------------


def read(value: object) -> StembeatConfig:
    app = Celery("t", set_as_current=False, broker="memory://")
    app.conf.update(result_expires=None, stembeat_alert_webhooks=value)
    return StembeatConfig.from_app(app)


def test_the_setting_takes_a_list_or_one_url_and_is_empty_by_default() -> None:
    url = f"https://hooks.slack.com{SECRET_PATH}"
    assert read(None).alert_webhooks == ()
    assert read([]).alert_webhooks == ()
    assert read(url).alert_webhooks == (url,)
    assert read((url, "http://127.0.0.1:9000/x")).alert_webhooks == (url, "http://127.0.0.1:9000/x")
    assert_masked(repr(read([url])))


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (42, "stembeat_alert_webhooks: not a list of http(s) URLs but int"),
        ({"hook": f"https://h.example{SECRET_PATH}"}, "stembeat_alert_webhooks: not a list"),
        (
            ["https://ok.example/x", f"ftp://files.example.com{SECRET_PATH}"],
            "stembeat_alert_webhooks[1]: not an http:// or https:// URL "
            "(ftp://files.example.com/***)",
        ),
        (["mailto:SECRET@example.com"], "stembeat_alert_webhooks[0]: not an http:// or https://"),
        ([7], "stembeat_alert_webhooks[0]: not a URL but int (***)"),
        (["garbage SECRET"], "stembeat_alert_webhooks[0]: holds spaces, control characters"),
        (["https://"], "stembeat_alert_webhooks[0]: no host to send to (***)"),
        ([f"https://h.example:99999{SECRET_PATH}"], "stembeat_alert_webhooks[0]: not a URL"),
        (
            ["https://h.example/ok", f"https://h.example/{'SECRET' * 200_000}"],
            "stembeat_alert_webhooks[1]: 1200018 characters, more than 2048 (***)",
        ),
        (
            [f"https://h.example{SECRET_PATH}\udc80"],
            "stembeat_alert_webhooks[0]: holds spaces, control characters or invalid text "
            "(https://h.example/***)",
        ),
    ],
)
def test_a_bad_setting_is_one_line_naming_the_index_without_the_secret(
    value: object, message: str
) -> None:
    with pytest.raises(ConfigError) as raised:
        read(value)
    text = str(raised.value)
    assert text.startswith(message)
    assert "\n" not in text
    assert len(text) < 200
    assert_masked(text)
