"""Headless Chromium driven by Selenium, and the dashboard served by a real process for it.

The browser is Debian's ``chromium`` with its ``chromium-driver`` (``.ci/run`` installs both);
the driver's path is given, so Selenium Manager never looks for (or downloads) anything. When
they are missing the tests are skipped with a loud reason, or fail under
``STEMBEAT_REQUIRE_SERVICES=1``. With ``STEMBEAT_SCREENSHOTS=DIR`` set, the tests save each
page they show as ``DIR/web-NAME.png`` (docs/web.md shows those of ``docs/images``).
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException, WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.wait import WebDriverWait

from tests.conftest import REQUIRE_SERVICES
from tests.e2e.conftest import ROOT, wait_for
from tests.web.test_verb import NO_AUTH, free_port

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
#: The browser window (and so each screenshot), in pixels.
WINDOW = (1280, 800)
#: How long a page may take to show what a step waits for, in seconds.
PAGE_WAIT = 20
SCREENSHOTS_VARIABLE = "STEMBEAT_SCREENSHOTS"


@pytest.fixture(scope="session")
def chromium() -> Path:
    """The browser, after checking it and its driver are installed."""
    absent = [str(path) for path in (CHROMIUM, CHROMEDRIVER) if not path.is_file()]
    if absent:
        message = (
            f"BROWSER MISSING: no {' or '.join(absent)}. Install Debian's chromium and "
            "chromium-driver (apt-get install chromium chromium-driver), as .ci/run does."
        )
        if REQUIRE_SERVICES:
            pytest.fail(f"{message} (STEMBEAT_REQUIRE_SERVICES is set)", pytrace=False)
        pytest.skip(message)
    return CHROMIUM


@pytest.fixture
def browser(chromium: Path, tmp_path: Path) -> Iterator[WebDriver]:
    """A headless Chromium window of :data:`WINDOW`, quit afterwards."""
    options = webdriver.ChromeOptions()
    options.binary_location = str(chromium)
    width, height = WINDOW
    for argument in ("--headless=new", f"--window-size={width},{height}", "--lang=en-US"):
        options.add_argument(argument)
    # Containers have a small /dev/shm, and root cannot use Chromium's sandbox.
    options.add_argument("--disable-dev-shm-usage")
    if os.geteuid() == 0:
        options.add_argument("--no-sandbox")
    service = Service(executable_path=str(CHROMEDRIVER), log_output=str(tmp_path / "driver.log"))
    driver = webdriver.Chrome(options=options, service=service)
    # The window's size includes the browser's frame; the page itself gets exactly WINDOW.
    metrics = {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False}
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", metrics)
    try:
        yield driver
    finally:
        driver.quit()


def screenshot(driver: WebDriver, name: str) -> None:
    """Save the window as ``web-NAME.png`` in ``$STEMBEAT_SCREENSHOTS``, when it is set."""
    folder = os.environ.get(SCREENSHOTS_VARIABLE)
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        assert driver.save_screenshot(str(Path(folder) / f"web-{name}.png"))


def shown(driver: WebDriver, selector: str) -> WebElement:
    """The element at the CSS ``selector``, once the page shows it."""
    located = expected_conditions.visibility_of_element_located(("css selector", selector))
    element: WebElement = WebDriverWait(driver, PAGE_WAIT).until(
        located, f"nothing at {selector!r} on {driver.current_url}"
    )
    return element


def follow(driver: WebDriver, element: WebElement) -> None:
    """Click ``element`` (a link or a form's button) and wait for the next page to replace
    this one."""
    element.click()
    WebDriverWait(driver, PAGE_WAIT).until(
        lambda _: _replaced(element), f"no new page after {driver.current_url}"
    )


def _replaced(element: WebElement) -> bool:
    """Whether ``element``'s page has gone. While the next page loads, ChromeDriver may say so
    with an unknown error about the node instead of a stale element."""
    try:
        element.is_enabled()
    except StaleElementReferenceException:
        return True
    except WebDriverException as exc:
        if "does not belong to the document" in str(exc):
            return True
        raise
    return False


def reload_until(driver: WebDriver, condition: Callable[[WebDriver], object], what: str) -> None:
    """Reload the page until ``condition`` holds for it."""

    def reloaded(driver: WebDriver) -> object:
        driver.refresh()
        return condition(driver)

    WebDriverWait(driver, PAGE_WAIT, poll_frequency=0.2).until(
        reloaded, f"{driver.current_url} never showed {what}"
    )


def heading(driver: WebDriver) -> str:
    """The page's ``h1``, once it shows."""
    return shown(driver, "main h1").text


def answers(url: str) -> bool:
    """Whether something answers HTTP at ``url`` (any status)."""
    try:
        with urllib.request.urlopen(url, timeout=5):
            return True
    except urllib.error.HTTPError:
        return True
    except (urllib.error.URLError, ConnectionError):
        return False


@contextlib.contextmanager
def served(
    command: list[str], log: Path, env: Mapping[str, str] | None = None, **auth: str
) -> Iterator[str]:
    """The dashboard ``command`` serves (a ``web`` verb; the port is added) in ``env`` (else
    this process's environment), as its base URL once it answers; stopped at exit. It signs in
    with the ``auth`` variables alone (``STEMBEAT_WEB_TOKEN=…``): any other authentication
    variable, and ``STEMBEAT_URL``, are left out."""
    port = free_port()
    environment = {
        name: value
        for name, value in (os.environ if env is None else env).items()
        if name not in NO_AUTH
    }
    environment.update(auth)
    with log.open("ab") as output:
        process = subprocess.Popen(
            [*command, "--port", str(port)],
            cwd=ROOT,
            env=environment,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}/"
    try:
        wait_for(lambda: answers(url), 60, f"the dashboard at {url}\n{log.read_text()}")
        yield url
    finally:
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)
