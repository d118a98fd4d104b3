"""The public endpoint behind a real shared cache: Varnish from Debian (`varnishd`, its builtin VCL, only a backend),
started in front of a local host, with pages of three origins asking through it (bench/cdn.py's traffic, shorter)
while another caller asks the app directly, so the app's entry ages on its own clock as it does behind a CDN's
many POPs. Counts of what reached the app come from the host's log, one line per request.

Without varnishd the test is skipped, except under CI (`CI=true`), where it fails (the `cache_in_front` fixture).
"""

from __future__ import annotations

import math
import re
import time

import pytest
import requests

from availability.public.caching import STALE_MAX_AGE
from bench.cdn import ORIGINS, Ageing, Seen, app_requests, pages, published, through_cache
from tests.availability.scenario import BUSY_LINE, CHAT, OFFICE

CACHE_SECONDS = 6
FRESH_SECONDS, FRESH_REQUESTS = 2 * CACHE_SECONDS, 1200  # two cache windows
OUTAGE_SECONDS, OUTAGE_REQUESTS = 2 * STALE_MAX_AGE, 800  # two windows of a stale answer
ALIASES = ("chat", "busy")


def answered(log, alias: str, status: int) -> int:
    return len(re.findall(rf"GET /api/public/availability/{alias} {status} ", log.read_text(encoding="utf-8")))


def kept_as_promised(seen: list[Seen]) -> None:
    """Every answer is its own origin's, and no cache served a copy past the max-age it came with."""
    assert [answer.allowed_origin for answer in seen] == [answer.origin for answer in seen]  # Vary: Origin holds
    assert all("stale-while-revalidate=0" in answer.cache_control for answer in seen)
    past = [(answer.age, answer.cache_control) for answer in seen if answer.age > (answer.max_age or 0)]
    assert not past, past[:5]


@pytest.mark.subprocess
def test_a_shared_cache_keeps_the_answers_and_asks_the_app_a_few_times_per_alias_per_window(
        fresh_gateway, sandbox, clean_sandbox, cache_in_front):
    gateway = fresh_gateway(AVAILABILITY_CACHE_SECONDS=CACHE_SECONDS, AVAILABILITY_STALE_SECONDS=300,
                            **published({"chat": CHAT, "busy": BUSY_LINE, "office": OFFICE}))
    cache, log = cache_in_front(gateway.url), gateway.host.process.log_path

    ageing = Ageing(gateway.url, ALIASES)
    time.sleep(0.5)
    fresh = pages(cache.url, ALIASES, FRESH_REQUESTS, FRESH_SECONDS)
    ageing.stop()
    assert [answer.status for answer in fresh] == [200] * FRESH_REQUESTS
    kept_as_promised(fresh)
    # Never max-age=0 for a fresh answer: Varnish would make the URL a pass-through (hit-for-miss).
    assert {answer.max_age for answer in fresh} <= set(range(1, CACHE_SECONDS + 1))
    reached = through_cache(log, ALIASES, ageing.asked)
    # The app's windows the traffic overlapped (a busy machine may take longer than planned to send it).
    windows = math.ceil(max(FRESH_SECONDS, fresh[-1].at) / CACHE_SECONDS) + 1
    for alias in ALIASES:  # one request per origin per window, and one more when the copies ran out together
        assert len(ORIGINS) <= reached[alias] <= len(ORIGINS) * windows + len(ORIGINS), reached

    # Errors are never kept: each reaches the app.
    for _ in range(2):
        assert requests.get(f"{cache.url}/api/public/availability/chat", params={"tz": "Mars/Base"},
                            headers={"Origin": ORIGINS[0]}, timeout=30).status_code == 400
        assert requests.get(f"{cache.url}/api/public/availability/nope", timeout=30).status_code == 404
    time.sleep(0.3)
    assert (answered(log, "chat", 400), answered(log, "nope", 404)) == (2, 2)

    # The org down: the app answers its stale 200 (a 5xx would make the cache drop its copy), which the cache
    # keeps STALE_MAX_AGE seconds, as its headers say, and asks the app again after that.
    before = {alias: app_requests(log, alias) for alias in ALIASES}
    sandbox.fault("actions", status=503)
    outage = pages(cache.url, ALIASES, OUTAGE_REQUESTS, OUTAGE_SECONDS)
    assert [answer.status for answer in outage] == [200] * OUTAGE_REQUESTS
    kept_as_promised(outage)
    # Stale: older than the cache window when the app gave it (a fresh copy the cache still holds ages as well;
    # Age is whole seconds, hence the one more).
    stale = [answer for answer in outage if answer.answer_age - answer.age > CACHE_SECONDS + 1]
    assert stale, "no stale answer was served during the outage"
    assert {answer.max_age for answer in stale} == {STALE_MAX_AGE}
    reached = through_cache(log, ALIASES, before)
    windows = math.ceil(max(OUTAGE_SECONDS, outage[-1].at) / STALE_MAX_AGE) + 2  # and the last fresh copy ending
    for alias in ALIASES:
        assert reached[alias] <= len(ORIGINS) * windows, reached
    # Where there is no stale answer, the contract's 503 is not kept either.
    for _ in range(2):
        assert requests.get(f"{cache.url}/api/public/availability/office", timeout=30).status_code == 503
    time.sleep(0.3)
    assert answered(log, "office", 503) == 2
