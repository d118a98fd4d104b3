"""The dashboard in a real browser: headless Chromium (Selenium + chromedriver) on the demo org with a week of history.

The demo runs on a sandbox of its own; its week of snapshots is backfilled into the session's Azurite by
`Stack.backfill_history`, the code `python3 dev.py start` runs (hourly here, to keep the test quick).
Screenshots go to `.local/dashboard*.png` for people to look at.

Without Chromium the test is skipped, except under CI (`CI=true`), where it fails: `.ci/run` installs it.
"""

from __future__ import annotations

import os
import re
import time
import tomllib
import uuid
from pathlib import Path

import pytest

from devtools.stack import DEMO_SCENARIO, Stack
from tests.browser import SCREENSHOTS
from tests.conftest import TEST_LOGS


@pytest.fixture(scope="module")
def demo(stack, tmp_path_factory):
    """The demo org with a week of snapshots, and a host of the app reading them: (url with key, workstream names)."""
    table = f"DemoHistory{uuid.uuid4().hex[:12]}"
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("AVAILABILITY_", "SNAPSHOT_", "DATAVERSE_"))}
    demo_stack = Stack(scenario=DEMO_SCENARIO, state_dir=tmp_path_factory.mktemp("demo"),
                       log_dir=TEST_LOGS / "dashboard", environ=environ, quiet=True)
    try:
        demo_stack.start_sandbox()
        demo_stack.storage_connection, demo_stack.table_endpoint = stack.storage_connection, stack.table_endpoint
        demo_stack.backfill_history(7, extra_settings={"SNAPSHOT_TABLE": table}, step_minutes=60)
        host = demo_stack.start_host(port=0, extra_settings={"SNAPSHOT_TABLE": table}, name="dashboard-host")
        scenario = tomllib.loads(DEMO_SCENARIO.read_text(encoding="utf-8"))
        active = sorted(w["name"] for w in scenario["workstreams"] if w.get("active", True))
        yield f"{host.url}/api/dashboard?code={host.function_key}", active
    finally:
        demo_stack.stop()


def _open(browser, url: str, width: int = 1280) -> None:
    browser.set_window_size(width, 900)
    browser.get(url)
    deadline = time.monotonic() + 30
    while browser.execute_script("return document.readyState") != "complete" and time.monotonic() < deadline:
        time.sleep(0.1)


def _screenshot(browser, path: Path, width: int) -> None:
    """The whole page (the window grown to its height)."""
    height = browser.execute_script("return document.documentElement.scrollHeight")
    browser.set_window_size(width, min(height + 120, 8000))
    time.sleep(0.2)
    path.parent.mkdir(parents=True, exist_ok=True)
    browser.save_screenshot(str(path))
    assert path.stat().st_size > 10_000


def _errors(browser) -> list[str]:
    """Console errors; a style or script refused by the Content-Security-Policy shows up here."""
    return [entry["message"] for entry in browser.get_log("browser") if entry["level"] == "SEVERE"]


def test_a_week_of_demo_history_renders(browser, demo):
    from selenium.webdriver.common.by import By

    url, workstreams = demo
    _open(browser, url + "&tz=Europe/London")
    assert browser.title.startswith("Queue availability")
    headings = [h.text for h in browser.find_elements(By.CSS_SELECTOR, "section.workstream h2")]
    tiles = [t.text for t in browser.find_elements(By.CSS_SELECTOR, ".tile .name")]
    assert sorted(headings) == sorted(tiles) == workstreams  # every active demo workstream, once
    statuses = [t.text for t in browser.find_elements(By.CSS_SELECTOR, ".tile .status")]
    assert all(status in ("Available", "Busy", "Closed") for status in statuses)  # live answers: none unknown

    sizes = browser.execute_script(
        "return [...document.querySelectorAll('svg.timeline, svg.heatmap')].map(svg => {"
        "const box = svg.getBoundingClientRect(); return [svg.getAttribute('class'), box.width, box.height]})")
    assert sorted(kind for kind, _, _ in sizes) == ["heatmap"] * len(workstreams) + ["timeline"] * len(workstreams)
    assert all(width > 600 and height > 150 for _, width, height in sizes), sizes
    cells = browser.execute_script("return [...document.querySelectorAll('svg.heatmap')].map(svg => "
                                   "svg.querySelectorAll('g.cell').length)")
    assert cells == [168] * len(workstreams)
    bands = browser.execute_script("return document.querySelectorAll('svg.timeline rect.band').length")
    assert bands >= len(workstreams)

    summaries = {}  # workstream → its heatmap's summary (the second of its section)
    for section in browser.find_elements(By.CSS_SELECTOR, "section.workstream"):
        texts = [p.text for p in section.find_elements(By.CSS_SELECTOR, "p.summary")]
        assert len(texts) == 2, texts
        summaries[section.find_element(By.TAG_NAME, "h2").text] = texts[1]
    counts = [int(re.findall(r"of ([\d,]+) snapshots", text)[0].replace(",", "")) for text in summaries.values()]
    assert all(n >= 7 * 24 for n in counts), summaries  # a week, hourly at least
    # The demo's London chat is open but unstaffed at lunch on weekdays: the heatmap's summary says so.
    assert "Open but rarely staffed: Mon–Fri 12:00–14:00" in summaries["Website chat"]
    assert "could be escalated in 100%" in summaries["Phone support"]  # the 24x7 voice queue
    assert _errors(browser) == []
    _screenshot(browser, SCREENSHOTS / "dashboard.png", 1280)


def test_the_filter_keeps_the_function_key(browser, demo):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    url, _ = demo
    _open(browser, url + "&tz=Europe/London")
    Select(browser.find_element(By.NAME, "workstreamId")).select_by_visible_text("Website chat")
    Select(browser.find_element(By.NAME, "days")).select_by_value("14")
    browser.find_element(By.CSS_SELECTOR, "form.filters button").click()
    deadline = time.monotonic() + 30
    while "workstreamId=" not in browser.current_url and time.monotonic() < deadline:
        time.sleep(0.1)
    _open(browser, browser.current_url)  # settle, at the usual width
    assert "code=" in browser.current_url and "days=14" in browser.current_url  # the small script added the key
    assert [h.text for h in browser.find_elements(By.CSS_SELECTOR, "section.workstream h2")] == ["Website chat"]
    assert "Last 14 days" in browser.page_source
    _screenshot(browser, SCREENSHOTS / "dashboard-website-chat.png", 1280)


def test_on_a_phone_the_page_fits_and_the_charts_scroll(browser, demo):
    url, workstreams = demo
    _open(browser, url, width=390)
    layout = browser.execute_script(
        "const chart = document.querySelector('.chart.line'); const svg = chart.querySelector('svg');"
        "return {page: document.documentElement.scrollWidth, window: window.innerWidth,"
        " box: chart.clientWidth, svg: svg.getBoundingClientRect().width, height: svg.getBoundingClientRect().height}")
    assert layout["page"] <= layout["window"]  # nothing but the charts scrolls sideways
    assert layout["svg"] > layout["box"] and layout["height"] > 100  # the chart keeps a readable size
    _screenshot(browser, SCREENSHOTS / "dashboard-phone.png", 390)
