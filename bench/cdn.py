"""Web pages behind a real shared cache: Varnish from Debian in front of a local host.

Pages of three origins ask for the published aliases through Varnish (its builtin VCL, only a backend: what it
keeps is decided by the answers' own headers), while another caller asks the app directly about once a second (a
second POP of a CDN, a page without one), so the app's cache entry ages on its own clock, not the cache's:

- `cdn_app_requests_per_alias_window`: requests that reached the app through the cache, per alias per cache
  window (target: a few; one per origin variant per window, `Vary: Origin`, and one more when the cache's copy
  runs out in the instant before the app's entry does);
- during an outage of the org (every action call a 503), the same through the cache while the app serves its
  stale answer (`cdn_outage_app_requests_per_alias_window`, per `STALE_MAX_AGE` seconds); how many calls the org
  sees then is the app's own business, not the cache's.

The test of the same name (tests/availability/public/test_shared_cache.py) runs a shorter version of it.
"""

from __future__ import annotations

import json
import re
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests

from availability.public.caching import STALE_MAX_AGE
from devtools.varnish import Varnish

ORIGINS = ("https://www.contoso.example", "https://support.contoso.example", "https://shop.contoso.example")
THREADS = 16  # pages asking at once, each at a steady pace
CACHE_SECONDS, SECONDS, REQUESTS, OUTAGE_SECONDS = 15, 30, 2000, 20  # the bench's run: two cache windows
# A few: one request per origin variant per window, twice at most (a copy running out just before the app's entry).
TARGET = 2 * len(ORIGINS)
AGEING_EVERY = 1.0  # seconds between the direct caller's requests, per alias
_MAX_AGE = re.compile(r"max-age=(\d+)")


@dataclass(frozen=True)
class Seen:
    """One answer as a page got it through the cache."""

    at: float  # seconds since the traffic began
    when: datetime  # on this machine's clock, which the app shares
    alias: str
    origin: str
    status: int
    cache_control: str
    age: int  # the cache's Age header (0 when absent)
    allowed_origin: str | None  # Access-Control-Allow-Origin
    retrieved_at: datetime | None

    @property
    def max_age(self) -> int | None:
        match = _MAX_AGE.search(self.cache_control)
        return int(match[1]) if match else None

    @property
    def answer_age(self) -> float:
        """How old the answer was when seen (from its `retrievedAt`); 0 for an error."""
        return (self.when - self.retrieved_at).total_seconds() if self.retrieved_at else 0.0


def published(workstreams: dict[str, str]) -> dict[str, str]:
    """Settings publishing `workstreams` (alias → workstream id) for the pages of ORIGINS."""
    checks = {alias: {"workstreamId": workstream} for alias, workstream in workstreams.items()}
    return {"PUBLIC_AVAILABILITY": json.dumps(checks), "PUBLIC_ALLOWED_ORIGINS": ", ".join(ORIGINS)}


def pages(cache_url: str, aliases: tuple[str, ...], count: int, seconds: float) -> list[Seen]:
    """`count` requests spread evenly over `seconds` from THREADS pages, aliases and ORIGINS taken in turn."""
    seen: list[Seen] = []
    lock = threading.Lock()
    started = time.monotonic()
    interval = seconds * THREADS / count

    def page(thread: int) -> None:
        session = requests.Session()
        mine = []
        for index in range(thread, count, THREADS):
            pause = started + (index // THREADS) * interval + thread * interval / THREADS - time.monotonic()
            if pause > 0:
                time.sleep(pause)
            alias, origin = aliases[index % len(aliases)], ORIGINS[(index // len(aliases)) % len(ORIGINS)]
            response = session.get(f"{cache_url}/api/public/availability/{alias}", headers={"Origin": origin},
                                   timeout=30)
            retrieved = response.json().get("retrievedAt") if response.status_code == 200 else None
            mine.append(Seen(time.monotonic() - started, datetime.now(UTC), alias, origin, response.status_code,
                             response.headers.get("Cache-Control", ""), int(response.headers.get("Age") or 0),
                             response.headers.get("Access-Control-Allow-Origin"),
                             datetime.fromisoformat(retrieved.replace("Z", "+00:00")) if retrieved else None))
        with lock:
            seen.extend(mine)

    workers = [threading.Thread(target=page, args=(thread,), daemon=True) for thread in range(THREADS)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return sorted(seen, key=lambda answer: answer.at)


class Ageing:
    """Asks the app directly for every alias each AGEING_EVERY seconds until stopped; `asked` counts per alias."""

    def __init__(self, app_url: str, aliases: tuple[str, ...]) -> None:
        self.app_url, self.aliases = app_url, aliases
        self.asked = dict.fromkeys(aliases, 0)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="ageing", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        session = requests.Session()
        while not self._stop.is_set():
            for alias in self.aliases:
                session.get(f"{self.app_url}/api/public/availability/{alias}", timeout=30)
                self.asked[alias] += 1
            self._stop.wait(AGEING_EVERY)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(30)


def app_requests(host_log: Path, alias: str) -> int:
    """Requests for `alias` the host answered (its log has a line per request)."""
    text = host_log.read_text(encoding="utf-8", errors="replace")
    return len(re.findall(rf"GET /api/public/availability/{re.escape(alias)} \d{{3}} ", text))


def through_cache(host_log: Path, aliases: tuple[str, ...], direct: dict[str, int]) -> dict[str, int]:
    """Requests per alias that reached the app through the cache: all it answered less the direct ones."""
    time.sleep(0.3)  # the host writes its line once the answer is sent
    return {alias: app_requests(host_log, alias) - direct.get(alias, 0) for alias in aliases}


def measure(stack: Any, sandbox: Any, workstreams: list[str], restart_counts: Any, delay_ms: int, *,
            cache_seconds: int = CACHE_SECONDS, seconds: float = SECONDS, count: int = REQUESTS,
            outage_seconds: float = OUTAGE_SECONDS) -> dict[str, Any]:
    """The figures above, with `count` page requests over `seconds`, then an outage of `outage_seconds`."""
    aliases = ("page-0", "page-1")
    host = stack.start_host(port=0, name="bench-cdn", extra_settings={
        "SNAPSHOT_SCHEDULE": "0 0 0 1 1 *", "NOTIFY_SCHEDULE": "0 0 0 1 1 *", "AVAILABILITY_SHARED_STATE": "off",
        "AVAILABILITY_CACHE_SECONDS": str(cache_seconds), **published(dict(zip(aliases, workstreams, strict=False)))})
    log = host.process.log_path
    try:
        with Varnish(urlsplit(host.url).netloc) as cache:
            restart_counts(sandbox, delay_ms)
            ageing = Ageing(host.url, aliases)
            time.sleep(0.5)
            fresh = pages(cache.url, aliases, count, seconds)
            ageing.stop()
            fresh_requests = through_cache(log, aliases, ageing.asked)
            org_calls = sum(sandbox.stats()["actions"].values())
            sandbox.clear_faults()  # the first fault that matches a call decides it: the delay goes with the 503
            sandbox.fault("actions", status=503, delayMs=delay_ms)
            outage = pages(cache.url, aliases, max(1, round(count * outage_seconds / seconds)), outage_seconds)
            outage_requests = through_cache(log, aliases, {alias: ageing.asked[alias] + fresh_requests[alias]
                                                           for alias in aliases})
            sandbox.clear_faults()
    finally:
        host.process.stop()
    stale_window = min(STALE_MAX_AGE, cache_seconds)
    # Windows the traffic took: a busy machine may take longer than planned to send it.
    windows = max(seconds, fresh[-1].at) / cache_seconds
    stale_windows = max(outage_seconds, outage[-1].at) / stale_window
    return {
        "cdn_app_requests_per_alias_window": round(sum(fresh_requests.values()) / len(aliases) / windows, 2),
        "cdn_client_requests": len(fresh),
        "cdn_app_requests": sum(fresh_requests.values()),
        "cdn_seconds": seconds,
        "cdn_cache_seconds": cache_seconds,
        "cdn_origins": len(ORIGINS),
        "cdn_aliases": len(aliases),
        "cdn_org_calls": org_calls,
        "cdn_max_age_zero_answers": sum(1 for answer in fresh if answer.max_age == 0),
        "cdn_answers_past_max_age": sum(1 for answer in fresh if answer.age > (answer.max_age or 0)),
        "cdn_outage_seconds": outage_seconds,
        "cdn_outage_window_seconds": stale_window,
        "cdn_outage_client_requests": len(outage),
        "cdn_outage_app_requests": sum(outage_requests.values()),
        "cdn_outage_app_requests_per_alias_window": round(
            sum(outage_requests.values()) / len(aliases) / stale_windows, 2),
        "cdn_outage_errors": sum(1 for answer in outage if answer.status != 200),
        "cdn_outage_stale_answers": sum(1 for answer in outage if answer.status == 200
                                        and answer.answer_age > cache_seconds),
    }

