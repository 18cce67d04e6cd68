"""Signing in to a real ``stembeat web`` that has a token configured, in headless Chromium:
every page leads to the sign-in form; a wrong token is refused, the right one lets in;
signing out closes the session."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner
from selenium.webdriver.remote.webdriver import WebDriver

from celery_stembeat.cli import main
from tests.browser.conftest import follow, heading, screenshot, served, shown
from tests.e2e.test_rollback import STEMBEAT

TOKEN = "correct horse battery staple"


def sign_in_with(driver: WebDriver, token: str) -> None:
    field = shown(driver, "form.login input[name=secret]")
    field.clear()
    field.send_keys(token)
    follow(driver, shown(driver, "form.login button[type=submit]"))


def test_a_token_signs_in_and_out(browser: WebDriver, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'web.db'}"
    entries = tmp_path / "entries.json"
    entries.write_text(json.dumps([{"id": "nightly", "task": "e2e.record", "spec": "@daily"}]))
    applied = CliRunner().invoke(main, ["--url", url, "apply", str(entries)])
    assert applied.exit_code == 0, applied.output
    with served(
        [STEMBEAT, "--url", url, "web"], tmp_path / "web.log", STEMBEAT_WEB_TOKEN=TOKEN
    ) as base:
        browser.get(f"{base}entry?id=nightly")
        assert heading(browser) == "Sign in"
        assert browser.current_url.startswith(f"{base}login")
        screenshot(browser, "login")

        sign_in_with(browser, "not the token")
        assert shown(browser, "p.flash.error").text == "wrong token"
        assert heading(browser) == "Sign in"

        sign_in_with(browser, TOKEN)
        assert heading(browser) == "Overview"
        assert "nightly" in shown(browser, "main").text
        browser.get(f"{base}entry?id=nightly")
        assert heading(browser) == "nightly"

        follow(browser, shown(browser, "form.signout button"))
        assert heading(browser) == "Sign in"
        browser.get(f"{base}entry?id=nightly")
        assert heading(browser) == "Sign in"
