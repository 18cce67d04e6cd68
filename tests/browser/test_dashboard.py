"""The dashboard in headless Chromium, over a running system: ``celery -A … stembeat web``, a
real ``celery beat -S celery_stembeat.Scheduler`` and a worker, sharing a Redis store and
broker. What the browser does is checked where it matters: at the worker, which records
every task it runs."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from selenium.webdriver.remote.webdriver import WebDriver

from celery_stembeat.specs import parse_instant
from tests.browser.conftest import follow, heading, reload_until, screenshot, served, shown
from tests.contract.helpers import drop_store, private_store_url
from tests.e2e.conftest import CELERY, Harness, running, wait_for
from tests.e2e.test_outcomes import TRACK
from tests.e2e.test_rollback import stembeat

pytestmark = pytest.mark.services

#: What the store holds: ``pulse`` is the entry the browser works on; ``tick`` fires every
#: second too, so the worker's records show the beat and the worker kept going meanwhile.
ENTRIES = [
    {"id": "pulse", "task": "e2e.record", "spec": "1s", "kwargs": {"source": "pulse"},
     "tags": ["ops"], "description": "Every second, with its source in kwargs."},
    {"id": "tick", "task": "e2e.record", "spec": "1s", "tags": ["ops"]},
    {"id": "flaky-export", "task": "e2e.fail", "spec": "1s", "args": [7], "tags": ["billing"]},
    {"id": "nightly-report", "task": "e2e.record", "spec": "0 2 * * *", "tags": ["reports"]},
    {"id": "weekday-invoices", "task": "e2e.record", "tags": ["billing"],
     "spec": {"type": "cron", "expression": "0 9 * * 1-5", "timezone": "Europe/London"}},
    {"id": "lights-on", "task": "e2e.record",
     "spec": {"type": "solar", "event": "sunset", "latitude": 40.71, "longitude": -74.01}},
]  # fmt: skip
#: How long after a change the beat may still send an occurrence it had claimed before.
SETTLE = timedelta(seconds=1)
#: How long the worker must receive nothing of a disabled entry that fires every second.
QUIET = timedelta(seconds=3)


@pytest.fixture
def harness(
    redis_url: str, request: pytest.FixtureRequest, tmp_path: Path, unique_prefix: str
) -> Iterator[Harness]:
    """A worker reporting outcomes and a beat, on a private Redis store holding ``ENTRIES``,
    the broker on the same Redis server."""
    store_url = private_store_url("redis", request, tmp_path / "unused.db", unique_prefix)
    with running(store_url, redis_url, redis_url, tmp_path) as harness:
        path = tmp_path / "entries.json"
        path.write_text(json.dumps(ENTRIES))
        stembeat(harness, "apply", str(path))
        harness.worker(env=TRACK)
        harness.beat()
        yield harness
    with harness.open_store() as store:
        drop_store(store, "redis")


def sent(harness: Harness, entry_id: str) -> list[datetime]:
    """The scheduled times of the runs of ``entry_id`` the worker received."""
    return [parse_instant(row["scheduled_for"], "at") for row in harness.runs_of(entry_id)]


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


def act(driver: WebDriver, verb: str) -> str:
    """Press the entry page's ``verb`` button; the message the page shows after it."""
    follow(driver, shown(driver, f"form[action$='/actions/{verb}'] button"))
    return shown(driver, "p.flash").text


def test_disable_enable_and_run_an_entry_from_the_browser(
    browser: WebDriver, harness: Harness
) -> None:
    """Find ``pulse`` from the overview; disable it: the worker stops receiving it; enable
    it: the worker receives it again; run it now: the worker runs it and its page shows the
    manual run's success."""
    wait_for(lambda: len(sent(harness, "pulse")) >= 2, 60, "pulse's runs\n" + harness.logs())
    command = [CELERY, "-A", "tests.e2e.app", "stembeat", "web"]
    with served(command, harness.tmp / "web.log", harness.env()) as base:
        # The overview: the beat and the next fires, once the beat has reported a pass.
        browser.get(base)
        assert heading(browser) == "Overview"
        reload_until(
            browser,
            lambda driver: (
                "No beat recorded." not in shown(driver, "main").text
                and driver.find_elements("css selector", "td.state-failing")
            ),
            "the beat and the failing entry",
        )
        screenshot(browser, "overview")

        # The entries, then the one looked for.
        follow(browser, shown(browser, "header nav a[href$='/entries']"))
        assert heading(browser) == "Entries"
        screenshot(browser, "entries")
        search = shown(browser, "form.filters input[name=q]")
        search.send_keys("puls")
        follow(browser, shown(browser, "form.filters button[type=submit]"))
        links = browser.find_elements("css selector", "table.entries tbody td:first-child a")
        assert [link.text for link in links] == ["pulse"]
        follow(browser, links[0])
        assert heading(browser) == "pulse"

        # Disabled: once the change has settled, the worker receives no more of it, while
        # the other entry goes on.
        assert act(browser, "disable") == "disabled pulse"
        quiet_from = utc_now() + SETTLE
        wait_for(
            lambda: any(at > quiet_from + QUIET for at in sent(harness, "tick")),
            30,
            "the worker running tick past the quiet window\n" + harness.logs(),
        )
        assert [at for at in sent(harness, "pulse") if at > quiet_from] == []

        # Enabled again: the worker receives it again.
        assert act(browser, "enable") == "enabled pulse"
        enabled_at = utc_now()
        wait_for(
            lambda: any(at > enabled_at for at in sent(harness, "pulse")),
            30,
            "pulse's runs after it was enabled\n" + harness.logs(),
        )

        # Run now: the worker runs it, and its page shows the manual run, with the outcome.
        message = act(browser, "run")
        found = re.fullmatch(r"sent pulse: task id (\S+)", message)
        assert found, message
        task_id = found.group(1)
        wait_for(
            lambda: task_id in {row["id"] for row in harness.runs_of("pulse")},
            30,
            "the worker running pulse by hand\n" + harness.logs(),
        )
        reload_until(
            browser,
            lambda driver: "success (manual)" in shown(driver, "main").text,
            "the manual run's success in the history",
        )
        screenshot(browser, "entry")
        runs = browser.find_element("xpath", "//main/h2[.='Runs']")
        browser.execute_script("arguments[0].scrollIntoView()", runs)
        screenshot(browser, "entry-runs")
