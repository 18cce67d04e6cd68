"""The dashboard against real stores: SQLite always, PostgreSQL and Redis on the loopback
servers; requests through Starlette's TestClient, the clock fixed at the scenario's ``NOW``."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from celery_stembeat.stores import Store
from celery_stembeat.web import create_app
from tests.cli.conftest import BACKENDS, opened
from tests.cli.scenario import NOW, seed
from tests.contract.helpers import private_store_url

Client = Callable[..., TestClient]


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """The backend under test."""
    return str(request.param)


@pytest.fixture
def store_url(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path, unique_prefix: str
) -> str:
    """A URL that opens a fresh, private store on ``backend``."""
    return private_store_url(backend, request, tmp_path / "web.db", unique_prefix)


@pytest.fixture
def store(store_url: str, backend: str) -> Iterator[Store]:
    """The store the dashboard serves, seeded with the CLI's scenario."""
    for handle in opened(store_url, backend):
        seed(handle)
        yield handle


@pytest.fixture
def client(store_url: str, store: Store) -> Iterator[Client]:
    """Make a dashboard on the store (``create_app``'s keywords), and a client on it; each
    is shut down afterwards."""
    with_clients: list[TestClient] = []

    def make(**settings: Any) -> TestClient:
        app = create_app(store_url, clock=lambda: NOW, **settings)
        test_client = TestClient(app, follow_redirects=True)
        test_client.__enter__()
        with_clients.append(test_client)
        return test_client

    yield make
    for test_client in with_clients:
        test_client.__exit__(None, None, None)


def csrf_of(page: str) -> str:
    """The CSRF token a page's forms carry."""
    found = re.search(r'name="csrf" value="([^"]+)"', page)
    assert found, "no form with a CSRF token on the page"
    return found.group(1)


def messages(page: str) -> list[str]:
    """The flash messages a page shows."""
    return re.findall(r'<p class="flash [a-z]+"[^>]*>([^<]*)</p>', page)


def post_action(client: TestClient, verb: str, entry_id: str, **fields: str) -> Any:
    """Read the entry's page, then post ``verb`` with its form's token and version."""
    page = client.get("/entry", params={"id": entry_id})
    version = re.search(r'name="version" value="(\d+)"', page.text)
    form = {
        "csrf": csrf_of(page.text),
        "entry_id": entry_id,
        "version": version.group(1) if version else "",
        **fields,
    }
    return client.post(f"/actions/{verb}", data=form)


class _Fields(HTMLParser):
    """The fields of a page's first POST form to ``action``, as a browser would send them."""

    def __init__(self, action: str) -> None:
        super().__init__()
        self.action = action
        self.fields: dict[str, str] = {}
        self.inside = False
        self.done = False
        self.textarea: str | None = None
        self.select: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = {name: value or "" for name, value in attrs}
        if tag == "form" and not self.done and found.get("action", "").endswith(self.action):
            self.inside = True
        if not self.inside or ("name" not in found and tag != "option"):
            return
        name = found.get("name", "")
        if tag == "input" and found.get("type") not in ("checkbox", "submit"):
            self.fields[name] = found.get("value", "")
        elif tag == "input" and found.get("type") == "checkbox" and "checked" in found:
            self.fields[name] = found.get("value", "on")
        elif tag == "textarea":
            self.textarea = name
            self.fields[name] = ""
        elif tag == "select":
            self.select = name
        elif tag == "option" and self.select and "selected" in found:
            self.fields[self.select] = ""
            self.textarea = self.select

    def handle_data(self, data: str) -> None:
        if self.textarea is not None:
            self.fields[self.textarea] += data

    def handle_endtag(self, tag: str) -> None:
        if tag in ("textarea", "option"):
            self.textarea = None
        elif tag == "select":
            self.select = None
        elif tag == "form" and self.inside:
            self.inside, self.done = False, True


def form_fields(page: str, action: str) -> dict[str, str]:
    """The fields the page's first form posting to ``action`` sends (checkboxes only when
    checked, no button)."""
    parser = _Fields(action)
    parser.feed(page)
    return parser.fields
