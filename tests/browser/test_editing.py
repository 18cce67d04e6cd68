"""Editing in headless Chromium, against a real ``stembeat web`` on SQLite: an entry's spec
typed with the live preview, then saved; an entry file uploaded, its plan shown, confirmed."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.wait import WebDriverWait

from celery_stembeat.cli import main
from celery_stembeat.stores import open_store
from tests.browser.conftest import PAGE_WAIT, follow, heading, screenshot, served, shown
from tests.e2e.test_rollback import STEMBEAT

ENTRIES = [
    {"id": "nightly-report", "task": "e2e.record", "spec": "0 2 * * *", "tags": ["reports"],
     "description": "The sales report, every night."},
    {"id": "weekday-invoices", "task": "e2e.record", "tags": ["billing"],
     "spec": {"type": "cron", "expression": "0 9 * * 1-5", "timezone": "Europe/London"}},
]  # fmt: skip
#: The file uploaded: one entry changed, one added, one left as it is.
UPLOADED = [
    {"id": "nightly-report", "task": "e2e.record", "spec": "0 2 * * *", "tags": ["reports"],
     "description": "The sales report, every night."},
    {"id": "weekday-invoices", "task": "e2e.record", "tags": ["billing", "finance"],
     "spec": {"type": "cron", "expression": "0 10 * * 1-5", "timezone": "Europe/London"}},
    {"id": "hourly-sync", "task": "e2e.record", "spec": "15 * * * *", "tags": ["ops"]},
]  # fmt: skip


@pytest.fixture
def base(tmp_path: Path) -> Iterator[tuple[str, str]]:
    """The dashboard's base URL over a SQLite store holding ``ENTRIES``, and the store's URL."""
    url = f"sqlite:///{tmp_path / 'web.db'}"
    entries = tmp_path / "entries.json"
    entries.write_text(json.dumps(ENTRIES))
    applied = CliRunner().invoke(main, ["--url", url, "apply", str(entries)])
    assert applied.exit_code == 0, applied.output
    with served([STEMBEAT, "--url", url, "web"], tmp_path / "web.log") as served_at:
        yield served_at, url


def fires(driver: WebDriver, within: str) -> list[str]:
    """The UTC column of the fires table in ``within``."""
    table = shown(driver, f"{within} table.fires")
    head = [cell.text for cell in table.find_elements("css selector", "thead th")]
    column = head.index("UTC") + 1
    return [
        cell.text for cell in table.find_elements("css selector", f"tbody td:nth-child({column})")
    ]


def test_edit_a_spec_with_the_live_preview(browser: WebDriver, base: tuple[str, str]) -> None:
    """Type a new spec: the preview follows as it is typed; save: the entry's page shows the
    new schedule and its next fires moved, in the viewer's zone too."""
    root, url = base
    browser.get(f"{root}entry?id=nightly-report")
    assert heading(browser) == "nightly-report"
    before = fires(browser, "main")
    assert all(at.endswith("T02:00:00Z") for at in before)
    viewer = shown(browser, "table.fires td.viewer-time").text
    assert viewer.endswith(("UTC", "GMT")), viewer  # the browser runs in UTC here

    follow(browser, shown(browser, "a.button[href*='/edit']"))
    assert heading(browser) == "Edit nightly-report"
    spec = shown(browser, "input#spec")
    spec.clear()
    spec.send_keys("30 6 * * 1-5")
    WebDriverWait(browser, PAGE_WAIT, ignored_exceptions=[StaleElementReferenceException]).until(
        lambda driver: all(at.endswith("T06:30:00Z") for at in fires(driver, "#preview")),
        "the preview never showed the new spec's fires",
    )
    assert len(fires(browser, "#preview")) == 10
    overlap_row = browser.find_element("css selector", "label[for=overlap]")
    browser.execute_script("arguments[0].scrollIntoView()", overlap_row)
    screenshot(browser, "edit")

    follow(browser, shown(browser, "button[name=save]"))
    assert shown(browser, "p.flash").text == "saved nightly-report (version 2)"
    assert "cron 30 6 * * 1-5" in shown(browser, "main").text
    after = fires(browser, "main")
    assert after != before
    assert all(at.endswith("T06:30:00Z") for at in after)
    with open_store(url) as store:
        stored = store.get("nightly-report")
    assert stored is not None
    assert stored.spec.describe() == "cron 30 6 * * 1-5 (UTC)"


def test_apply_a_file_through_its_plan(
    browser: WebDriver, base: tuple[str, str], tmp_path: Path
) -> None:
    """Upload a file: the plan lists what it would add and change, and nothing is written;
    confirm: the entries are written."""
    root, url = base
    upload = tmp_path / "schedule.json"
    upload.write_text(json.dumps(UPLOADED))
    browser.get(root)
    follow(browser, shown(browser, "header nav a[href$='/apply']"))
    assert heading(browser) == "Apply a file"
    shown(browser, "form.upload input[type=file]").send_keys(str(upload))
    follow(browser, shown(browser, "form.upload button[type=submit]"))
    rows = [
        [cell.text for cell in row.find_elements("css selector", "td")]
        for row in browser.find_elements("css selector", "table.plan tbody tr")
    ]
    assert [row[:2] for row in rows] == [["added", "hourly-sync"], ["changed", "weekday-invoices"]]
    assert "spec" in rows[1][2]
    with open_store(url) as store:
        assert store.get("hourly-sync") is None
    screenshot(browser, "apply")

    follow(browser, shown(browser, "form.confirm button[type=submit]"))
    assert shown(browser, "p.flash").text == (
        "applied schedule.json: 1 added, 1 changed, 1 unchanged, 0 removed"
    )
    assert heading(browser) == "Entries"
    with open_store(url) as store:
        added, changed = store.get("hourly-sync"), store.get("weekday-invoices")
    assert added is not None
    assert changed is not None
    assert changed.tags == ("billing", "finance")
