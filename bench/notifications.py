"""The notifications figures: one notify run at scale.

10,000 subscriptions over 100 watched checks (100 workstreams of an office-hours queue, 100 subscriptions each:
the most a workstream may have) are written straight to the subscriptions table through the store, with the
store's own counted insert, 16 at a time, rather than 10,000 POSTs (each of which would also ask the org for its
baseline). Each watch is then given its answer a few seconds before the queue opens, as a new subscription's
first check gives it, and the app's own notifier (in this process, against the sandbox and Azurite, with its
senders, guard and signatures) runs once, started on a minute as the timer is: it waits for the opening, asks
each watched check once, and tells every subscription. The receivers answer in a process of their own.

The run is measured at an opening with every receiver answering at once, then at the closing with 1 % of them (one
per workstream) sending their status line a byte a second, twice each, alternating (the best of two: the machine
is shared); the subscriptions of those receivers are made anew before each run, so that no run inherits the
retries of another. Figures: the run's duration (the longer of two), the org calls in it (at most one per watched
check), the storage requests per subscription, and the time from the transition until every delivery is done (the
slow ones: until their first attempt was cut at its deadline), both ways.
"""

from __future__ import annotations

import logging
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import requests

from bench.receiver import SLOW_PREFIX, results
from devtools.stack import ROOT

WORKSTREAMS = 100  # watched checks: one workstream each, without context
PER_WORKSTREAM = 100  # subscriptions per workstream: the most allowed
OFFICE_QUEUE = "11111111-0000-4000-8000-0000000000ff"
INTERVAL_SECONDS = 60.0  # NOTIFY_SCHEDULE's default: every minute


def notify_workstreams() -> list[str]:
    """The workstreams of the office-hours queue the scenario carries for this figure."""
    return [f"33333333-0000-4000-8000-{w:012d}" for w in range(WORKSTREAMS)]


def scenario_lines() -> list[str]:
    """The office-hours queue (08:00-18:00 UTC every day) and its workstreams, for the bench's scenario."""
    hours = ", ".join(f'{day} = ["08:00-18:00"]' for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun"))
    lines = ["[[queues]]", f'id = "{OFFICE_QUEUE}"', 'name = "Office hours"', 'timezone = "UTC"',
             f"hours = {{ {hours} }}", "representatives = 2", "waiting = 1", "average_wait_seconds = 60", ""]
    for index, workstream in enumerate(notify_workstreams()):
        lines += ["[[workstreams]]", f'id = "{workstream}"', f'name = "Office {index}"', 'channel = "chat"',
                  f'default_queue = "{OFFICE_QUEUE}"', ""]
    return lines


class Counted:
    """Storage requests of the apps built with `table_service()`."""

    def __init__(self) -> None:
        self.requests = 0
        self._lock = threading.Lock()

    def __call__(self, _: Any) -> None:
        with self._lock:
            self.requests += 1


def measure(stack: Any, sandbox: Any, restart_counts: Callable[[Any, int], None], delay_ms: int,
            say: Callable[[str], None]) -> dict[str, Any]:
    from availability.tables import service_from_connection_string

    # A slow receiver's failed attempts are each logged as a warning: hundreds of lines, which say nothing here.
    logging.getLogger("availability.notifications").setLevel(logging.ERROR)
    receiver = subprocess.Popen([sys.executable, "-m", "bench.receiver"], cwd=ROOT, stdout=subprocess.PIPE,
                                text=True)
    try:
        assert receiver.stdout is not None
        url = f"http://127.0.0.1:{int(receiver.stdout.readline())}"
        counted = Counted()
        settings = {**stack.app_settings(), "SUBSCRIPTIONS_TABLE": f"Bench{uuid.uuid4().hex[:16]}",
                    "AVAILABILITY_SHARED_STATE": "off", "NOTIFY_ALLOW_PRIVATE_CALLBACKS": "true"}

        def app() -> Any:
            from devtools.sandbox_client import sandbox_app

            return sandbox_app(settings, table_service=service_from_connection_string(
                settings["AzureWebJobsStorage"], raw_response_hook=counted))

        say(f"notifications: {WORKSTREAMS * PER_WORKSTREAM:,} subscriptions over {WORKSTREAMS} workstreams, "
            "written through the store ...")
        started = time.monotonic()
        setup = app()
        slow_ones = write_subscriptions(setup, url)
        setup.close()
        written = time.monotonic() - started
        say(f"  written in {written:.1f} s")
        runs: dict[bool, list[dict[str, Any]]] = {False: [], True: []}
        for _ in range(2):  # an opening then a closing, so that each run has a change to tell everyone
            for transition, slow in (("08:00:00", False), ("18:00:00", True)):
                say("  a run at the " + ("closing, 1 % of the receivers sending a byte a second" if slow else
                                         "opening, every receiver answering at once") + " ...")
                runs[slow].append(one_run(app, sandbox, counted, restart_counts=restart_counts, delay_ms=delay_ms,
                                          url=url, transition=transition, slow=slow, slow_ones=slow_ones))
                say(f"    {runs[slow][-1]}")
        calm, slowed = best(runs[False]), best(runs[True])
    finally:
        receiver.kill()
        receiver.wait(10)
        sandbox.reset_clock()
    subscriptions = WORKSTREAMS * PER_WORKSTREAM
    return {
        "notify_subscriptions": subscriptions,
        "notify_watched_checks": WORKSTREAMS,
        "notify_write_seconds": round(written, 1),
        "notify_run_seconds": calm["run_seconds"],
        "notify_org_calls": calm["org_calls"],
        "notify_org_calls_per_watched_check": round(calm["org_calls"] / WORKSTREAMS, 3),
        "notify_storage_ops_per_subscription": round(calm["storage"] / subscriptions, 2),
        "notify_delivered": calm["delivered"],
        "notify_deliveries_seconds": calm["deliveries_seconds"],
        "notify_run_seconds_slow": slowed["run_seconds"],
        "notify_org_calls_slow": slowed["org_calls"],
        "notify_delivered_slow": slowed["delivered"],
        "notify_slow_receivers": slowed["slow"],
        "notify_slow_attempt_seconds": slowed["slow_attempt_seconds"],
        "notify_deliveries_seconds_slow": slowed["deliveries_seconds"],
        "notify_others_delivered_seconds_slow": slowed["others_seconds"],
        "notify_slow_added_seconds": round(slowed["deliveries_seconds"] - calm["deliveries_seconds"], 2),
        "notify_others_delayed_seconds": round(slowed["others_seconds"] - calm["deliveries_seconds"], 2),
        "notify_interval_seconds": INTERVAL_SECONDS,
    }


def best(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Of runs of one kind: the quickest deliveries, the longest run and the most org calls (bounds are on these)."""
    return {**min(runs, key=lambda run: run["deliveries_seconds"]),
            "run_seconds": max(run["run_seconds"] for run in runs), "org_calls": max(run["org_calls"] for run in runs),
            "slow_attempt_seconds": max(run["slow_attempt_seconds"] for run in runs)}


def write_subscriptions(app: Any, url: str) -> dict[str, str]:
    """Every subscription, its baseline `closed` (the queue opens next); of each workstream's, one to a receiver that
    may be made slow (its id, by workstream, is returned)."""
    store = app.subscriptions
    store.ensure_table()
    slow_ones: dict[str, str] = {}

    def workstream(workstream_id: str) -> None:
        for index in range(PER_WORKSTREAM):
            made = subscribe(store, url, workstream_id, slow=index == 0, seen="closed")
            if index == 0:
                slow_ones[workstream_id] = made.id

    with ThreadPoolExecutor(16) as pool:
        list(pool.map(workstream, notify_workstreams()))
    return slow_ones


def subscribe(store: Any, url: str, workstream_id: str, *, slow: bool, seen: str) -> Any:
    """A subscription to the workstream's changes, told `seen` an hour ago, written through the store."""
    from availability.checks import parse_before_conversation
    from availability.notifications.store import Subscription, check_key
    from availability.schemas import MAX_SUBSCRIPTIONS_PER_WORKSTREAM

    key = check_key(parse_before_conversation({"workstreamId": workstream_id}))
    at = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    path = f"{SLOW_PREFIX if slow else '/'}{uuid.uuid4().hex}"
    return store.insert(Subscription(
        id=str(uuid.uuid4()), workstream_id=workstream_id, check_body={}, check_key=key, notify_on="status",
        language="en", time_zone=None, created_at=at, callback_url=url + path, secret=uuid.uuid4().hex,
        callback_host="127.0.0.1", seen_status=seen, seen_can_escalate=seen == "available", seen_at=at),
        limit=MAX_SUBSCRIPTIONS_PER_WORKSTREAM)


def one_run(app: Callable[[], Any], sandbox: Any, counted: Counted, *, restart_counts: Callable[[Any, int], None],
            delay_ms: int, url: str, transition: str, slow: bool, slow_ones: dict[str, str]) -> dict[str, Any]:
    """Seed every watch just before `transition` (the org's time of day), run the notifier from the next minute,
    and say what it took."""
    from availability.checks import parse_before_conversation
    from availability.notifications.store import Watch, check_key

    requests.post(f"{url}/mode", json={"slow": slow}, timeout=10).raise_for_status()
    current = app()
    before = "closed" if transition < "12" else "available"

    def renew(workstream_id: str) -> None:  # without what an earlier run left them (retries, failures)
        current.subscriptions.delete(slow_ones[workstream_id])
        slow_ones[workstream_id] = subscribe(current.subscriptions, url, workstream_id, slow=True, seen=before).id

    with ThreadPoolExecutor(16) as pool:
        list(pool.map(renew, notify_workstreams()))
    current.credential.token()
    restart_counts(sandbox, delay_ms)
    # The run starts on the next minute (as the timer does) and the transition comes 2 s later on the org's clock.
    start_at = (int(time.time()) // 60 + 1) * 60
    if start_at - time.time() < 10:
        start_at += 60
    day = (datetime.now(UTC) + timedelta(days=1)).date()
    org_transition = datetime.fromisoformat(f"{day}T{transition}+00:00")
    sandbox.set_clock((org_transition - timedelta(seconds=start_at + 2 - time.time())).isoformat())
    checks = [parse_before_conversation({"workstreamId": w}) for w in notify_workstreams()]

    def seed(check: Any) -> None:  # what a subscription's first check gives its watch
        answer = current.service.check(check, deadline=time.monotonic() + 20)
        current.subscriptions.save_watch(Watch(check_key(check), answer, answer.org_retrieved_at))

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(seed, checks))
    notifier = current.notifier
    actions_before = sum(sandbox.stats()["actions"].values())
    time.sleep(max(0.0, start_at - time.time()))
    counted.requests = 0
    started = time.time()
    summary = notifier.run()
    run_seconds = time.time() - started
    storage = counted.requests
    org_calls = sum(sandbox.stats()["actions"].values()) - actions_before
    current.close()
    seen = results(url)
    transition_at = start_at + 2
    arrivals = [times[0] for path, times in seen["arrived"].items()]
    cuts = [attempts[0][1] for attempts in seen["slow"].values() if attempts and attempts[0][1]]
    done = max(arrivals + cuts)
    return {"run_seconds": round(run_seconds, 2), "org_calls": org_calls, "storage": storage,
            "others_seconds": round(max(arrivals) - transition_at, 2),
            "delivered": summary.counts.get("delivered", 0), "slow": len(seen["slow"]),
            "slow_attempt_seconds": round(max((a[0][1] - a[0][0] for a in seen["slow"].values() if a), default=0), 2),
            "deliveries_seconds": round(done - transition_at, 2)}
