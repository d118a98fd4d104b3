"""widget.js in a real browser: headless Chromium on the demo web page, served from another origin than the app
(as `python3 dev.py start` serves it), under the page's strict Content-Security-Policy.

The demo org runs on a sandbox of its own whose clock the test moves: the chat button stays hidden while the queue
is closed and shows once the clock is in its opening hours; nothing is asked while the page is hidden. Behind a
shared cache (Varnish) the widget reads the copy's `Age` and asks again when the cache's copy runs out, not a full
max-age later. Screenshots go to `.local/widget-*.png` for people to look at.

Without Chromium (or varnishd) the tests are skipped, except under CI (`CI=true`), where they fail.
"""

from __future__ import annotations

import os
import re
import time
import uuid
from collections.abc import Callable
from itertools import pairwise
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests

from devtools.sandbox_client import SandboxControl
from devtools.stack import DEMO_SCENARIO, Stack
from tests.browser import SCREENSHOTS
from tests.conftest import QUIET_TIMER, TEST_LOGS
from tests.days import FUTURE_SIDE, PAST_SIDE, SUNDAY, WEDNESDAY, at, sandbox_day

# A Sunday night before today (the demo's London chat is closed), a Wednesday afternoon after it (London and Paris
# chats open and staffed): the widget follows the org's clock both ways.
CLOSED = at(sandbox_day(PAST_SIDE, on=[SUNDAY]), "03:00:00", "Europe/London")
OPEN = at(sandbox_day(FUTURE_SIDE, on=[WEDNESDAY]), "15:00:00", "Europe/London")
CACHE_SECONDS = 2  # the answer's max-age: the widget asks again after 1 or 2 s
BEHIND_CACHE_SECONDS = 8  # the cache window of the app behind Varnish


@pytest.fixture(scope="module")
def demo_site(stack, tmp_path_factory):
    """The demo org, the demo web page on its own origin and a host of the app: (stack, host, sandbox)."""
    environ = {k: v for k, v in os.environ.items()
               if not k.startswith(("AVAILABILITY_", "SNAPSHOT_", "DATAVERSE_", "PUBLIC_"))}
    demo = Stack(scenario=DEMO_SCENARIO, state_dir=tmp_path_factory.mktemp("widget"),
                 log_dir=TEST_LOGS / "widget", environ=environ, quiet=True)
    try:
        sandbox = demo.start_sandbox()
        demo.storage_connection, demo.table_endpoint = stack.storage_connection, stack.table_endpoint
        demo.start_website()  # as `dev.py start` does: before the host, which is told its origin
        host = demo.start_host(port=0, name="widget-host", extra_settings={
            **QUIET_TIMER, "AVAILABILITY_CACHE_SECONDS": str(CACHE_SECONDS),
            "AVAILABILITY_STATE_TABLE": f"State{uuid.uuid4().hex[:16]}"})
        yield demo, host, SandboxControl(sandbox["url"], sandbox["caBundle"])
    finally:
        demo.stop()


def until(condition: Callable[[], Any], timeout: float = 30, what: str = "") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"not within {timeout:.0f} s: {what}")


def shown(browser, selector: str) -> bool:
    return browser.execute_script(
        "const e = document.querySelector(arguments[0]); return !!e && !e.hidden && e.offsetParent !== null",
        selector)


def text(browser, selector: str) -> str:
    return browser.execute_script("return document.querySelector(arguments[0]).textContent.trim()", selector)


def asked(host, alias: str) -> int:
    """How many times the app was asked for `alias` (max-age is shorter than the widget's pace: every ask arrives)."""
    log = host.process.log_path.read_text(encoding="utf-8", errors="replace")
    return len(re.findall(rf"GET /api/public/availability/{alias} \d{{3}}", log))


def record_events(browser) -> None:
    """Keep every `availabilitychange` event of the pages loaded from now on, from before their scripts run."""
    browser.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": (
        "window.seen = []; document.addEventListener('availabilitychange', "
        "e => window.seen.push([e.detail.alias, e.detail.status]));")})


def events(browser, alias: str) -> list[str]:
    return [status for name, status in browser.execute_script("return window.seen || []") if name == alias]


def errors(browser) -> list[str]:
    """Console errors (and drains them): a script or style refused by the CSP, a failed request."""
    return [entry["message"] for entry in browser.get_log("browser") if entry["level"] == "SEVERE"]


def visibility(browser, hidden: bool) -> None:
    """Tell the page it is hidden or visible again, as switching tabs does (headless windows never are hidden)."""
    browser.execute_script(
        "Object.defineProperty(document, 'hidden', {configurable: true, get: () => arguments[0]});"
        "Object.defineProperty(document, 'visibilityState', {configurable: true,"
        " get: () => arguments[0] ? 'hidden' : 'visible'});"
        "document.dispatchEvent(new Event('visibilitychange'));", hidden)


def screenshot(browser, name: str) -> Path:
    path = SCREENSHOTS / name
    path.parent.mkdir(parents=True, exist_ok=True)
    browser.set_window_size(1100, 760)
    time.sleep(0.2)
    browser.save_screenshot(str(path))
    assert path.stat().st_size > 10_000
    return path


def test_the_chat_button_follows_the_queue_on_a_page_of_another_origin(browser, demo_site):
    demo, host, sandbox = demo_site
    page = demo.website.url
    assert urlsplit(page).netloc != urlsplit(host.url).netloc  # another origin: CORS is what lets it read
    browser.set_window_size(1100, 760)

    # The org failing before any answer: the page says "checking", offers the e-mail, never the button.
    sandbox.fault("actions", status=503)
    record_events(browser)
    browser.get(page)
    until(lambda: len(events(browser, "support")) >= 2, what="the first answer")
    assert events(browser, "support") == ["unknown", "unknown"]  # before the answer, and after the error
    assert shown(browser, "#support .badge:not(.available):not(.busy):not(.closed)")  # the unknown badge
    assert shown(browser, "#support .fallback") and not shown(browser, "#support button.chat")
    assert text(browser, "#support .message") == ""
    assert any("503" in message for message in errors(browser))  # the failed request, nothing else
    sandbox.clear_faults()
    # The app leaves a failing org alone for a pause (its circuit), then one probe finds it back.
    until(lambda: requests.get(f"{host.url}/api/public/availability/support", timeout=10).status_code == 200,
          what="the org answering again")
    errors(browser)  # what the page was refused meanwhile, still failing, is not what follows

    # Closed: the button stays hidden and the message says when the queue opens.
    sandbox.set_clock(CLOSED)
    browser.get(page)
    until(lambda: shown(browser, "#support .badge.closed"), what="the closed badge")
    assert not shown(browser, "#support button.chat")
    assert browser.find_element("css selector", "#support button.chat").get_attribute("hidden") is not None
    assert not shown(browser, "#support .wait") and shown(browser, "#support .fallback")
    assert text(browser, "#support .message").startswith("The queue is closed; it opens again")
    until(lambda: shown(browser, "#support-fr .badge.closed"), what="the French closed badge")
    assert text(browser, "#support-fr .message").startswith("La file d'attente est fermée")
    screenshot(browser, "widget-closed.png")

    # Hidden, the page asks nothing, even once the queue has opened and its answer has long expired.
    visibility(browser, hidden=True)
    before = asked(host, "support")
    sandbox.set_clock(OPEN)
    time.sleep(CACHE_SECONDS + 7)
    assert asked(host, "support") == before
    assert shown(browser, "#support .badge.closed") and not shown(browser, "#support button.chat")

    # Visible again: it asks at once, and the button shows with the message and the wait.
    visibility(browser, hidden=False)
    until(lambda: shown(browser, "#support button.chat"), timeout=20, what="the chat button")
    assert text(browser, "#support button.chat") == "Chat with us"
    assert text(browser, "#support .message").startswith("A representative is available now")
    assert shown(browser, "#support .wait") and text(browser, "#support .wait [data-availability-text]").isdigit()
    assert not shown(browser, "#support .fallback") and not shown(browser, "#support .badge.closed")
    until(lambda: shown(browser, "#support-fr button.chat"), timeout=20, what="the French chat button")
    assert text(browser, "#support-fr .message").startswith("Un conseiller est disponible")

    # It talked to the app it came from only, set no style, and the page's CSP refused nothing.
    origins = browser.execute_script("return performance.getEntriesByType('resource').map(e => new URL(e.name).origin)")
    assert set(origins) <= {host.url, page}, origins
    assert browser.execute_script("return document.querySelectorAll('[style]').length") == 0
    assert errors(browser) == []
    assert events(browser, "support")[-1] == "available" and "closed" in events(browser, "support")
    screenshot(browser, "widget-open.png")


def test_it_refreshes_on_the_answers_max_age_and_not_more_often(browser, demo_site):
    demo, host, sandbox = demo_site
    sandbox.set_clock(OPEN)
    browser.get(demo.website.url)
    until(lambda: shown(browser, "#support button.chat"), what="the chat button")
    first = asked(host, "support")
    time.sleep(12)
    # max-age is 1 or 2 s here (what is left of the app's entry, rounded up), and no cache adds an Age: the widget
    # asks again as each answer runs out, a second apart at the soonest.
    assert 5 <= asked(host, "support") - first <= 13
    starts = browser.execute_script(
        "return performance.getEntriesByType('resource').filter(e => e.name.includes('/availability/support?'))"
        ".map(e => e.startTime)")
    assert min(later - earlier for earlier, later in pairwise(starts)) >= 900, starts
    sandbox.set_clock(CLOSED)
    until(lambda: shown(browser, "#support .badge.closed"), timeout=15, what="the closed badge after a refresh")
    assert not shown(browser, "#support button.chat")
    assert errors(browser) == []


def test_behind_a_shared_cache_it_asks_again_when_the_caches_copy_runs_out(browser, demo_site, cache_in_front):
    demo, _, sandbox = demo_site
    sandbox.set_clock(CLOSED)
    behind = demo.start_host(port=0, name="widget-behind-cache", extra_settings={
        **QUIET_TIMER, "AVAILABILITY_CACHE_SECONDS": str(BEHIND_CACHE_SECONDS),
        "AVAILABILITY_STATE_TABLE": f"State{uuid.uuid4().hex[:16]}"})
    cache = cache_in_front(behind.url)
    page, app_url = demo.website.url, demo.website.app_url
    try:
        # Another visitor's page asked first: the cache's copy starts its window now.
        first = requests.get(f"{cache.url}/api/public/availability/support", params={"lang": "en"},
                             headers={"Origin": page}, timeout=30)
        started = time.monotonic()
        assert first.json()["status"] == "closed" and f"max-age={BEHIND_CACHE_SECONDS}," in first.headers[
            "Cache-Control"]
        time.sleep(BEHIND_CACHE_SECONDS / 2)
        demo.website.app_url = lambda: cache.url  # the page names the cache as the app: its script and answers
        browser.get(page)
        until(lambda: shown(browser, "#support .badge.closed"), what="the closed badge, from the cache's copy")
        sandbox.set_clock(OPEN)
        # The copy was half a window old: the widget asks again when it runs out and the app has the new answer,
        # within the cache window (plus a second or two), not a whole max-age after it got the copy.
        until(lambda: shown(browser, "#support button.chat"), timeout=BEHIND_CACHE_SECONDS + 10,
              what="the chat button")
        assert time.monotonic() - started <= BEHIND_CACHE_SECONDS + 2.5
        starts = browser.execute_script(
            "return performance.getEntriesByType('resource').filter(e => e.name.includes('/availability/support?'))"
            ".map(e => e.startTime)")
        assert len(starts) == 2, starts  # the copy, then the new answer: never more often than the copy allows
        assert errors(browser) == []
    finally:
        demo.website.app_url = app_url
        behind.process.stop()
