"""Headless Chromium for the browser tests (Selenium and chromedriver from Debian's packages): where they are, and
the fixture that starts one (tests/conftest.py offers it to every test).

Without Chromium a browser test is skipped, except under CI (`CI=true`), where it fails: `.ci/run` installs it.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from typing import Any

import pytest

from devtools.stack import ROOT

SCREENSHOTS = ROOT / ".local"
BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync", "--hide-scrollbars",
         "--disable-dev-shm-usage")


def find_browser() -> tuple[str | None, str | None, str | None]:
    """(chromium, chromedriver, why not) from CHROMIUM_BINARY / CHROMEDRIVER or the PATH."""
    try:
        import selenium  # noqa: F401
    except ImportError:
        return None, None, "the selenium package is not installed (requirements-dev.txt)"
    binary = os.environ.get("CHROMIUM_BINARY") or next(filter(None, map(shutil.which, BROWSERS)), None)
    driver = os.environ.get("CHROMEDRIVER") or shutil.which("chromedriver")
    for name, path in (("CHROMIUM_BINARY", binary), ("CHROMEDRIVER", driver)):
        if path and name in os.environ and not os.path.isfile(path):
            return None, None, f"{name}={path} does not exist"
    if not binary:
        return None, None, "Chromium is not installed (no chromium, chromium-browser or google-chrome on the PATH)"
    if not driver:
        return None, None, "chromedriver is not installed"
    return binary, driver, None


def chromium() -> Iterator[Any]:
    """A headless Chromium driven by Selenium, quit when the module is done with it."""
    binary, driver_path, reason = find_browser()
    if reason:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{reason}: CI must run the browser test (.ci/run installs chromium and chromium-driver).",
                        pytrace=False)
        pytest.skip(f"{reason}; on Debian: apt-get install chromium chromium-driver")
    assert binary is not None and driver_path is not None  # both found when there is no reason
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="test-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for flag in (*FLAGS, f"--user-data-dir={profile}", "--window-size=1280,900"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()
    shutil.rmtree(profile, ignore_errors=True)
