"""The public endpoint's figures: web pages asking anonymously.

- upstream calls for 10,000 anonymous requests, 200 concurrent, spread over three instances of one app (shared
  state) and over the published aliases, within one cache window: the target is one call per alias (a page
  calling the org directly would make one per request);
- the median latency of a public answer served from cache beside a keyed one of the same check on the same host,
  samples interleaved (target ≤ 1.1×: publishing costs a page nothing over a key holder).
"""

from __future__ import annotations

import json
import statistics
import threading
import time
from collections.abc import Callable
from typing import Any

import requests

from bench.instances import spread, stop, three

ALIASES = 2  # published checks, one workstream each
WINDOW_SECONDS = 300  # the cache window of the run: every request of the burst falls inside one
REQUESTS = 10_000
CONCURRENCY = 200


class PublicClient:
    """Asks one host for a published alias, with one pooled session per thread and no key."""

    def __init__(self, host: Any) -> None:
        self.url = f"{host.url}/api/public/availability/"
        self._local = threading.local()

    def get(self, alias: str) -> dict:
        session = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = requests.Session()
        response = session.get(self.url + alias, timeout=30)
        if response.status_code != 200:
            raise RuntimeError(f"public endpoint answered {response.status_code}: {response.text[:200]}")
        return response.json()


def published(workstreams: list[str]) -> dict[str, str]:
    aliases = {f"page-{index}": {"workstreamId": workstream} for index, workstream in enumerate(workstreams)}
    return {"PUBLIC_AVAILABILITY": json.dumps(aliases), "PUBLIC_ALLOWED_ORIGINS": "*"}


def anonymous_over_three(stack: Any, sandbox: Any, workstreams: list[str], restart_counts: Callable,
                         delay_ms: int) -> dict[str, Any]:
    """Upstream calls for REQUESTS anonymous requests from CONCURRENCY clients over three instances and ALIASES."""
    settings = {"AVAILABILITY_SHARED_STATE": "table", "AVAILABILITY_CACHE_SECONDS": str(WINDOW_SECONDS),
                **published(workstreams[:ALIASES])}
    hosts = three(stack, settings, "public")
    clients = [PublicClient(host) for host in hosts]
    restart_counts(sandbox, delay_ms)
    started = time.monotonic()
    spread(REQUESTS, CONCURRENCY, clients, lambda client, index: client.get(f"page-{(index // 3) % ALIASES}"))
    elapsed = time.monotonic() - started
    calls = sum(sandbox.stats()["actions"].values())
    stop(hosts)
    # Every alias was answered, so each cost at least one call: a total of ALIASES means exactly one each.
    return {"public_upstream_calls": calls, "public_upstream_calls_per_alias": round(calls / ALIASES, 3),
            "public_aliases": ALIASES, "public_requests": REQUESTS, "public_concurrency": CONCURRENCY,
            "public_burst_seconds": round(elapsed, 1),
            "public_requests_per_second": round(REQUESTS / elapsed)}


def public_vs_keyed_latency(stack: Any, sandbox: Any, workstream: str, keyed_client: Callable, samples: int,
                            restart_counts: Callable, delay_ms: int, timed: Callable, median_ms: Callable
                            ) -> dict[str, Any]:
    """Median latency of a cache hit, public and keyed, on one host; both ask the same check, so the same answer."""
    hosts = three(stack, {"AVAILABILITY_CACHE_SECONDS": "3600", **published([workstream])}, "public-latency",
                  count=1)
    public, keyed = PublicClient(hosts[0]), keyed_client(hosts[0])
    restart_counts(sandbox, delay_ms)
    for _ in range(3):  # token, secret, answer and connections in memory, and first-use imports done
        public.get("page-0")
        keyed.check(workstream)
    sides: dict[str, list[float]] = {"public": [], "keyed": []}
    for index in range(samples):
        order = ("public", "keyed") if index % 2 else ("keyed", "public")
        for side in order:
            call = (lambda: public.get("page-0")) if side == "public" else (lambda: keyed.check(workstream))
            sides[side].append(timed(call))
    stop(hosts)
    return {"public_hit_median_ms": median_ms(sides["public"]), "keyed_hit_median_ms": median_ms(sides["keyed"]),
            "public_hit_ratio": round(statistics.median(sides["public"]) / statistics.median(sides["keyed"]), 3),
            "public_hit_samples": samples}
