"""Signing in: required when configured, by a token or a user and password held as hashes;
sessions in signed HttpOnly SameSite=Strict cookies; the audit log names the web user."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from celery_stembeat.stores import Store
from celery_stembeat.web import create_app
from celery_stembeat.web.auth import (
    AuthError,
    WebAuth,
    auth_from_environment,
    hash_secret,
    matches,
)
from celery_stembeat.web.signins import MAX_FAILURES
from tests.cli.scenario import NOW
from tests.engine.conftest import FakeClock
from tests.web.conftest import Client, csrf_of, messages, post_action

USER, PASSWORD, TOKEN = "ops", "correct horse", "s3cret-token"


@pytest.fixture(params=["sqlite"])
def backend(request: pytest.FixtureRequest) -> str:
    """Sign-in is the dashboard's own: SQLite stands for every store."""
    return str(request.param)


def sign_in(web: TestClient, user: str, secret: str) -> object:
    page = web.get("/login").text
    return web.post("/login", data={"csrf": csrf_of(page), "user": user, "secret": secret})


def test_pages_send_to_the_login_and_actions_are_refused(client: Client, store: Store) -> None:
    web = client(auth=WebAuth.password(USER, PASSWORD))
    for path in ("/", "/entries", "/entry?id=sync"):
        response = web.get(path, follow_redirects=False)
        assert response.status_code == 303
        assert response.headers["location"].endswith("/login")
    response = web.post("/actions/disable", data={"entry_id": "sync", "version": "1"})
    assert response.status_code == 403
    assert store.get("sync").enabled  # type: ignore[union-attr]
    assert web.get("/static/style.css").status_code == 200


def test_user_and_password_sign_in_and_the_audit_log_names_the_user(
    client: Client, store: Store
) -> None:
    web = client(auth=WebAuth.password(USER, PASSWORD))
    for user, secret in ((USER, "wrong"), ("someone", PASSWORD), ("", "")):
        response = sign_in(web, user, secret)
        assert response.status_code == 401  # type: ignore[attr-defined]
        assert "wrong user name or password" in response.text  # type: ignore[attr-defined]
    response = sign_in(web, USER, PASSWORD)
    assert response.url.path == "/"  # type: ignore[attr-defined]
    assert "Sign out" in response.text  # type: ignore[attr-defined]
    assert messages(post_action(web, "disable", "sync").text) == ["disabled sync"]
    *_, change = store.changes("sync")
    assert change.actor == f"{USER}@web"


def test_token_sign_in_and_sign_out(client: Client) -> None:
    web = client(auth=WebAuth.token(TOKEN))
    assert 'name="user"' not in web.get("/login").text
    assert sign_in(web, "", "nope").status_code == 401  # type: ignore[attr-defined]
    assert sign_in(web, "", TOKEN).url.path == "/"  # type: ignore[attr-defined]
    page = web.get("/").text
    response = web.post("/logout", data={"csrf": csrf_of(page)})
    assert response.url.path == "/login"
    assert web.get("/", follow_redirects=False).status_code == 303


def test_login_needs_the_csrf_token(client: Client) -> None:
    web = client(auth=WebAuth.token(TOKEN))
    web.get("/login")
    assert web.post("/login", data={"secret": TOKEN}).status_code == 403


def test_the_session_cookie_is_httponly_and_samesite_strict(client: Client) -> None:
    web = client(auth=WebAuth.token(TOKEN))
    cookie = web.get("/login").headers["set-cookie"].lower()
    assert "httponly" in cookie
    assert "samesite=strict" in cookie
    assert TOKEN.lower() not in cookie


def test_hashes_match_their_secret_only() -> None:
    hashed = hash_secret(PASSWORD)
    assert hashed.startswith("scrypt$")
    assert PASSWORD not in hashed
    assert matches(PASSWORD, hashed)
    assert not matches(PASSWORD + "!", hashed)
    assert hash_secret(PASSWORD) != hashed  # salted


def test_auth_from_the_environment(tmp_path: Path) -> None:
    assert auth_from_environment({}) is None
    token = auth_from_environment({"STEMBEAT_WEB_TOKEN": TOKEN})
    assert token is not None
    assert token.check("", TOKEN) == ""
    assert TOKEN not in repr(token)
    pair = auth_from_environment({"STEMBEAT_WEB_USER": USER, "STEMBEAT_WEB_PASSWORD": PASSWORD})
    assert pair is not None
    assert pair.check(USER, PASSWORD) == USER
    assert pair.check(USER, TOKEN) is None
    path = tmp_path / "auth.json"
    path.write_text(json.dumps({"user": USER, "password_hash": hash_secret(PASSWORD)}))
    from_file = auth_from_environment({"STEMBEAT_WEB_AUTH_FILE": str(path)})
    assert from_file is not None
    assert from_file.check(USER, PASSWORD) == USER


@pytest.mark.parametrize(
    ("environment", "problem"),
    [
        ({"STEMBEAT_WEB_USER": USER}, "go together"),
        ({"STEMBEAT_WEB_TOKEN": TOKEN, "STEMBEAT_WEB_PASSWORD": "x"}, "not several"),
        ({"STEMBEAT_WEB_AUTH_FILE": "/nonexistent/auth.json"}, "STEMBEAT_WEB_AUTH_FILE"),
    ],
)
def test_auth_settings_that_do_not_read(environment: dict[str, str], problem: str) -> None:
    with pytest.raises(AuthError, match=problem):
        auth_from_environment(environment)


def test_an_auth_file_must_hold_hashes(tmp_path: Path) -> None:
    path = tmp_path / "auth.json"
    path.write_text(json.dumps({"user": USER, "password_hash": PASSWORD}))
    with pytest.raises(AuthError, match="not a hash"):
        auth_from_environment({"STEMBEAT_WEB_AUTH_FILE": str(path)})


def test_an_address_that_fails_too_often_waits_then_may_try_again(
    store_url: str, store: Store
) -> None:
    clock = FakeClock(NOW)
    app = create_app(store_url, auth=WebAuth.token(TOKEN), clock=clock)
    with TestClient(app, follow_redirects=True) as web:
        for _ in range(MAX_FAILURES):
            assert sign_in(web, "", "nope").status_code == 401  # type: ignore[attr-defined]
        clock.advance(60)
        refused = sign_in(web, "", TOKEN)
        assert refused.status_code == 429  # type: ignore[attr-defined]
        assert refused.headers["retry-after"] == "240"  # type: ignore[attr-defined]
        assert "too many failed sign-ins: try again in 240 s" in refused.text  # type: ignore[attr-defined]
        clock.advance(240)
        assert sign_in(web, "", TOKEN).url.path == "/"  # type: ignore[attr-defined]


def test_a_cookie_copied_before_signing_out_no_longer_signs_in(client: Client) -> None:
    web = client(auth=WebAuth.token(TOKEN))
    sign_in(web, "", TOKEN)
    copied = dict(web.cookies)
    web.post("/logout", data={"csrf": csrf_of(web.get("/").text)})
    web.cookies.clear()
    web.cookies.update(copied)
    response = web.get("/", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"].endswith("/login")
