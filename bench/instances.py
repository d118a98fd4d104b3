"""The many-instances figures: three hosts of one app against one org, with shared state
and, side by side, with each instance on its own (`AVAILABILITY_SHARED_STATE=off`).

- upstream calls for identical requests spread over three instances;
- the org's calls in any 60 s under `AVAILABILITY_MAX_CALLS_PER_MINUTE` with load on three instances (from the
  sandbox's request log);
- hit and miss latency with shared state vs off, interleaved, one host each;
- storage operations per upstream call, counted in process on the table client's responses;
- the org's calls in one minute of outage while one check is asked five times a second over the three instances,
  an older answer at hand (the circuit leaves the org alone but for its probes).
"""

from __future__ import annotations

import statistics
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any

BUDGET = 30  # AVAILABILITY_MAX_CALLS_PER_MINUTE of the budget run
BUDGET_LOAD_SECONDS = 65  # longer than a minute: the windows slide
OUTAGE_SECONDS, OUTAGE_RATE, OUTAGE_TARGET = 60, 5, 10  # a minute of outage, requests a second, org calls at most
ACTION = "CCaaS_GetRepresentativeAvailabilityBeforeConversation"


def three(stack: Any, settings: dict[str, str], name: str, count: int = 3) -> list[Any]:
    """`count` instances of one app with its own state table."""
    extra = {"SNAPSHOT_SCHEDULE": "0 0 0 1 1 *", "NOTIFY_SCHEDULE": "0 0 0 1 1 *",
             "AVAILABILITY_STATE_TABLE": f"Bench{uuid.uuid4().hex[:16]}", **settings}
    return stack.start_instances(count, 0, extra, name=f"bench-{name}")


def stop(hosts: list[Any]) -> None:
    for host in hosts:
        host.process.stop()


def spread(count: int, concurrency: int, clients: list[Any], call: Callable[[Any, int], Any]) -> None:
    with ThreadPoolExecutor(concurrency) as pool:
        for _ in pool.map(lambda index: call(clients[index % len(clients)], index), range(count)):
            pass


def identical_over_three(args: Any, stack: Any, sandbox: Any, workstream: str, client_of: Callable,
                         restart_counts: Callable) -> dict[str, Any]:
    """Upstream calls for `args.requests` identical requests from `args.concurrency` clients over 3 instances."""
    results = {}
    for mode in ("table", "off"):
        hosts = three(stack, {"AVAILABILITY_SHARED_STATE": mode}, f"identical-{mode}")
        clients = [client_of(host) for host in hosts]
        restart_counts(sandbox, args.delay_ms)
        context = {"Burst": uuid.uuid4().hex}

        def burst(client: Any, _: int, context: dict[str, str] = context) -> Any:
            return client.check(workstream, context)

        spread(args.requests, args.concurrency, clients, burst)
        results[mode] = sum(sandbox.stats()["actions"].values())
        stop(hosts)
    return {"instances_identical_upstream_calls": results["table"],
            "instances_identical_upstream_calls_off": results["off"]}


def budget_over_three(stack: Any, sandbox: Any, workstreams: list[str], client_of: Callable,
                      restart_counts: Callable, delay_ms: int, seconds: float = BUDGET_LOAD_SECONDS
                      ) -> dict[str, Any]:
    """The most action calls the org saw in any 60 s, with load on three instances sharing a budget."""
    hosts = three(stack, {"AVAILABILITY_SHARED_STATE": "table", "AVAILABILITY_MAX_CALLS_PER_MINUTE": str(BUDGET),
                          "AVAILABILITY_TIMEOUT_SECONDS": "5"}, "budget")
    clients = [client_of(host) for host in hosts]
    restart_counts(sandbox, delay_ms)
    started = time.monotonic()
    answered = {"ok": 0, "refused": 0}
    lock = threading.Lock()

    def load(client: Any, index: int) -> None:
        while time.monotonic() - started < seconds:
            try:
                client.check(workstreams[index % len(workstreams)], {"Load": uuid.uuid4().hex})
                outcome = "ok"
            except RuntimeError:  # 503 upstream_throttled: the budget is spent for longer than the request waits
                outcome = "refused"
            with lock:
                answered[outcome] += 1
            time.sleep(0.05)  # steady load, not a spin on refusals

    spread(6, 6, clients, load)  # two clients per instance, for the whole run
    times = sorted(datetime.fromisoformat(entry["at"].replace("Z", "+00:00")).timestamp()
                   for entry in sandbox.requests() if entry["path"].endswith(ACTION))
    stop(hosts)
    most = max((sum(1 for other in times if start <= other < start + 60) for start in times), default=0)
    return {"instances_budget_max_calls_per_60s": most, "instances_budget": BUDGET,
            "instances_budget_calls": len(times), "instances_budget_seconds": round(time.monotonic() - started, 1),
            "instances_budget_answered": answered["ok"], "instances_budget_refused": answered["refused"]}


def latency_shared_vs_off(args: Any, stack: Any, sandbox: Any, workstream: str, client_of: Callable,
                          restart_counts: Callable, timed: Callable, median_ms: Callable) -> dict[str, Any]:
    """Median hit and miss latency through a host with shared state and one without, samples interleaved."""
    shared = three(stack, {"AVAILABILITY_SHARED_STATE": "table"}, "latency-table", count=1)
    alone = three(stack, {"AVAILABILITY_SHARED_STATE": "off"}, "latency-off", count=1)
    sides = {"table": client_of(shared[0]), "off": client_of(alone[0])}
    restart_counts(sandbox, args.delay_ms)
    for client in sides.values():  # token, secret and connections in memory before anything is timed
        client.check(workstream, {"Hit": "key"})
        client.check(workstream, {"Warm": uuid.uuid4().hex})
    hits: dict[str, list[float]] = {"table": [], "off": []}
    misses: dict[str, list[float]] = {"table": [], "off": []}
    for index in range(args.samples):
        order = ("table", "off") if index % 2 else ("off", "table")
        for mode in order:
            hits[mode].append(timed(lambda mode=mode: sides[mode].check(workstream, {"Hit": "key"})))
        for mode in order:
            misses[mode].append(timed(lambda mode=mode: sides[mode].check(workstream, {"Miss": uuid.uuid4().hex})))
    stop(shared + alone)
    return {
        "shared_hit_median_ms": median_ms(hits["table"]), "off_hit_median_ms": median_ms(hits["off"]),
        "shared_hit_ratio": round(statistics.median(hits["table"]) / statistics.median(hits["off"]), 3),
        "shared_miss_median_ms": median_ms(misses["table"]), "off_miss_median_ms": median_ms(misses["off"]),
        "shared_miss_ratio": round(statistics.median(misses["table"]) / statistics.median(misses["off"]), 3),
    }


def storage_operations(app_settings: dict[str, str], sandbox: Any, workstreams: list[str],
                       restart_counts: Callable, delay_ms: int, misses: int = 200) -> dict[str, Any]:
    """Storage requests per upstream call, counted on the table client's responses of in-process apps."""
    from availability.checks import BeforeConversationCheck, ContextItem
    from availability.tables import service_from_connection_string
    from devtools.sandbox_client import sandbox_app

    counted = {"requests": 0}
    lock = threading.Lock()

    def count(_: Any) -> None:
        with lock:
            counted["requests"] += 1

    table = f"Bench{uuid.uuid4().hex[:16]}"
    settings = {**app_settings, "AVAILABILITY_SHARED_STATE": "table", "AVAILABILITY_STATE_TABLE": table}
    apps = [sandbox_app(settings, table_service=service_from_connection_string(
        settings["AzureWebJobsStorage"], raw_response_hook=count)) for _ in range(3)]
    for app in apps:
        app.credential.token()
    deadline = lambda: time.monotonic() + 20  # noqa: E731 - a request's budget, as the HTTP layer gives it

    def check(context: str) -> BeforeConversationCheck:
        return BeforeConversationCheck(workstream_id=workstreams[0], context_items=(ContextItem("Bench", context),))

    # Distinct keys on one instance: every check a miss that calls the org.
    apps[0].service.check(check("warm"), deadline=deadline())
    apps[0].state.close()  # the warm-up's background write done before counting
    restart_counts(sandbox, delay_ms)
    counted["requests"] = 0
    for _ in range(misses):
        apps[0].service.check(check(uuid.uuid4().hex), deadline=deadline())
    apps[0].state.close()
    distinct = counted["requests"] / max(1, sum(sandbox.stats()["actions"].values()))
    # One key asked on three instances at once: one call, the others read it.
    restart_counts(sandbox, delay_ms)
    counted["requests"] = 0
    same = check(uuid.uuid4().hex)
    with ThreadPoolExecutor(30) as pool:
        list(pool.map(lambda index: apps[index % 3].service.check(same, deadline=deadline()), range(300)))
    for app in apps:
        app.state.close()
    burst_calls = sum(sandbox.stats()["actions"].values())
    burst = counted["requests"]
    for app in apps:
        app.close()
    return {"storage_ops_per_upstream_call": round(distinct, 2), "storage_ops_identical_burst": burst,
            "storage_ops_identical_burst_calls": burst_calls}


def outage_minute(stack: Any, sandbox: Any, workstream: str, *, client_of: Callable, restart_counts: Callable,
                  delay_ms: int) -> dict[str, Any]:
    """The org's calls during one minute of outage (every action call answered 503), one check asked five times a
    second over three instances, each holding an older answer: the first failure opens the circuit for all of them,
    then only its probes reach the org."""
    hosts = three(stack, {"AVAILABILITY_SHARED_STATE": "table", "AVAILABILITY_CACHE_SECONDS": "1"}, "outage")
    clients = [client_of(host) for host in hosts]
    restart_counts(sandbox, delay_ms)
    context = {"Outage": uuid.uuid4().hex}
    for client in clients:
        client.check(workstream, context)  # an answer at hand on each
    time.sleep(1.2)  # past its cache window: every request from now on would ask the org
    sandbox.reset()
    sandbox.fault("actions", status=503)
    started = time.monotonic()
    sources: dict[str, int] = {}
    asked = 0
    while time.monotonic() - started < OUTAGE_SECONDS:
        try:
            source = clients[asked % 3].check(workstream, context)["source"]
        except RuntimeError:  # 503: no older answer at hand (none should be)
            source = "error"
        sources[source] = sources.get(source, 0) + 1
        asked += 1
        time.sleep(max(0.0, started + asked / OUTAGE_RATE - time.monotonic()))
    calls = sum(sandbox.stats()["actions"].values())
    sandbox.clear_faults()
    stop(hosts)
    return {"outage_org_calls_per_minute": calls, "outage_requests": asked,
            "outage_stale_answers": sources.get("stale", 0), "outage_errors": sources.get("error", 0),
            "outage_calls_if_asked_each_time": asked * 3}  # each request asking, with the client's three attempts
