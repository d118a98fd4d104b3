"""Many instances, one org (`dev.py start --instances`, `AVAILABILITY_SHARED_STATE`): three hosts of one app
share answers, calls in flight, the org's Retry-After and circuit and the calls budget through Azurite, run each
timer occurrence once, and keep answering when storage fails, each within its share of the budget. Counts come from
the sandbox (its stats and request log).
"""

from __future__ import annotations

import json
import os
import random
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path

import pytest
import requests

from availability.state.throttle import KEEP_FRESH_SECONDS
from devtools.stack import Stack, azurite_connection_string, free_port, port_is_free
from tests.availability.scenario import CHAT
from tests.conftest import QUIET_TIMER, Gateway, unique

pytestmark = pytest.mark.usefixtures("clean_sandbox")

ACTION = "CCaaS_GetRepresentativeAvailabilityBeforeConversation"
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def app_instances(stack):
    """Start `count` instances of one app (one host id, keys and state table); stopped after the test."""
    started = []

    def start(count: int = 3, **settings) -> list[Gateway]:
        extra = {**QUIET_TIMER, "AVAILABILITY_SHARED_STATE": "table",
                 "AVAILABILITY_STATE_TABLE": f"State{uuid.uuid4().hex[:16]}",
                 **{k: str(v) for k, v in settings.items()}}
        hosts = stack.start_instances(count, 0, extra, name=f"instance-{uuid.uuid4().hex[:6]}")
        started.extend(hosts)
        return [Gateway(host) for host in hosts]

    yield start
    for host in started:
        host.process.stop()


def calls(sandbox) -> int:
    return sandbox.stats()["actions"].get(ACTION, 0)


def call_times(sandbox) -> list[float]:
    """When the org received each availability action call, in epoch seconds, oldest first."""
    return sorted(datetime.fromisoformat(entry["at"].replace("Z", "+00:00")).timestamp()
                  for entry in sandbox.requests() if entry["path"].endswith(ACTION))


_sessions = threading.local()


def ask(gateway: Gateway, body: dict) -> requests.Response:
    """A before-conversation check on `gateway`, from this thread's own session."""
    session = getattr(_sessions, "session", None) or requests.Session()
    _sessions.session = session
    return session.post(f"{gateway.url}/api/availability/before-conversation", json=body,
                        headers={"x-functions-key": gateway.function_key}, timeout=30)


def burst(instances: list[Gateway], body: dict, count: int, concurrency: int = 30) -> list[requests.Response]:
    with ThreadPoolExecutor(concurrency) as pool:
        return list(pool.map(lambda index: ask(instances[index % len(instances)], body), range(count)))


# -- answers and calls in flight -------------------------------------------------------------------------------

def test_identical_concurrent_requests_over_three_instances_make_one_upstream_call(app_instances, sandbox):
    instances = app_instances(3)
    sandbox.fault("actions", delayMs=300)  # every instance is asked while the first call is out
    body = {"workstreamId": CHAT, "contextItems": unique()}
    responses = burst(instances, body, 300)
    assert [r.status_code for r in responses] == [200] * 300
    assert calls(sandbox) == 1
    assert {r.json()["retrievedAt"] for r in responses} == {responses[0].json()["retrievedAt"]}
    # The instances that did not call served the answer the one that did fetched.
    by_instance = Counter((r.url.split("/api/")[0], r.json()["source"]) for r in responses)
    assert sum(count for (url, source), count in by_instance.items() if source == "live") >= 1
    assert len({url for (url, source) in by_instance if source == "cache"}) >= 2


def test_per_instance_state_costs_a_call_per_instance(app_instances, sandbox):
    # The reference: with AVAILABILITY_SHARED_STATE=off each instance has its own cache and single flight.
    instances = app_instances(3, AVAILABILITY_SHARED_STATE="off")
    sandbox.fault("actions", delayMs=300)
    responses = burst(instances, {"workstreamId": CHAT, "contextItems": unique()}, 60)
    assert [r.status_code for r in responses] == [200] * 60
    assert calls(sandbox) == 3


def test_an_answer_another_instance_fetched_is_served_fresh_then_stale(app_instances, sandbox):
    instances = app_instances(3, AVAILABILITY_CACHE_SECONDS=1, AVAILABILITY_TIMEOUT_SECONDS=2)
    body = {"workstreamId": CHAT, "contextItems": unique()}
    first = ask(instances[0], body).json()
    assert first["source"] == "live"
    time.sleep(0.2)  # the answer is written to the table once its caller has it
    shared = ask(instances[1], body).json()
    assert (shared["source"], shared["retrievedAt"]) == ("cache", first["retrievedAt"])
    assert calls(sandbox) == 1
    time.sleep(1.2)  # past the cache window: instance 3, which never saw the key, must ask the org
    sandbox.fault("actions", status=500)
    stale = ask(instances[2], body)
    assert stale.status_code == 200, stale.text
    assert (stale.json()["source"], stale.json()["retrievedAt"]) == ("stale", first["retrievedAt"])
    assert calls(sandbox) > 1  # it did ask (and the org failed)


# -- the org's Retry-After and the calls budget ----------------------------------------------------------------

def test_a_retry_after_seen_by_one_instance_holds_all_then_one_probe_goes(app_instances, sandbox):
    instances = app_instances(3, AVAILABILITY_TIMEOUT_SECONDS=1)
    for instance in instances:  # instances in service: each has its token already
        assert ask(instance, {"workstreamId": CHAT, "contextItems": unique()}).status_code == 200
    # A busy instance (one that called the org in the last KEEP_FRESH_SECONDS) goes by the org's state as read in
    # the last 0.25 s, and keeps reading it meanwhile; these have been idle longer, so they read it before their
    # next call.
    time.sleep(KEEP_FRESH_SECONDS + 0.3)
    sandbox.reset()
    sandbox.fault("actions", status=429, retryAfter=3)  # every call: the org keeps throttling
    started = time.monotonic()
    first = ask(instances[0], {"workstreamId": CHAT, "contextItems": unique()})
    assert first.status_code == 503 and first.json()["error"]["code"] == "upstream_throttled"
    assert int(first.headers["Retry-After"]) >= 2
    statuses: list[int] = []
    # Instances 2 and 3 are asked while the Retry-After runs: they answer without calling the org.
    # (Until 1.5 s: later, the rest of the Retry-After fits a request's 1 s budget, which then waits it out.)
    while time.monotonic() - started < 1.5:
        for instance in instances[1:]:
            statuses.append(ask(instance, {"workstreamId": CHAT, "contextItems": unique()}).status_code)
    assert calls(sandbox) == 1 and len(statuses) >= 6 and set(statuses) == {503}

    def hammer(instance: Gateway) -> None:
        while time.monotonic() - started < 5.5:
            statuses.append(ask(instance, {"workstreamId": CHAT, "contextItems": unique()}).status_code)

    # Past the Retry-After, all three are asked at once: one probe for all of them (a 429 again), then none
    # until its own Retry-After has passed.
    with ThreadPoolExecutor(6) as pool:
        list(pool.map(hammer, instances * 2))
    times = call_times(sandbox)
    assert len(times) >= 2, times
    gaps = [later - earlier for earlier, later in zip(times, times[1:])]
    assert all(gap >= 2.9 for gap in gaps), gaps
    assert set(statuses) == {503}, [line for i in instances for line in i.log().splitlines() if " 504 " in line]


def test_the_calls_budget_holds_for_all_instances_together(app_instances, sandbox):
    budget = 4
    instances = app_instances(3, AVAILABILITY_MAX_CALLS_PER_MINUTE=budget, AVAILABILITY_TIMEOUT_SECONDS=5)

    def distinct(index: int) -> requests.Response:
        return ask(instances[index % 3], {"workstreamId": CHAT, "contextItems": unique()})

    with ThreadPoolExecutor(12) as pool:
        responses = list(pool.map(distinct, range(24)))
    statuses = Counter(r.status_code for r in responses)
    # Each instance alone would allow `budget`: together they allowed `budget` in all.
    assert calls(sandbox) == budget
    assert statuses == {200: budget, 503: 24 - budget}
    refused = next(r for r in responses if r.status_code == 503)
    assert refused.json()["error"]["code"] == "upstream_throttled" and int(refused.headers["Retry-After"]) >= 1
    times = call_times(sandbox)
    assert len(times) == budget and times[-1] - times[0] < 60  # all in one minute: at most B in any 60 s


def test_followers_of_a_slow_call_are_served_the_answer_they_hold(app_instances, sandbox):
    instances = app_instances(2, AVAILABILITY_CACHE_SECONDS=2)
    body = {"workstreamId": CHAT, "contextItems": unique()}
    first = ask(instances[0], body).json()
    time.sleep(0.3)  # written to the table once its caller has it
    assert ask(instances[1], body).json()["source"] == "cache"  # both hold it now
    time.sleep(2.2)  # past its window on both (and no request near its end: no refresh ahead of it)
    sandbox.fault("actions", delayMs=3000)
    with ThreadPoolExecutor(1) as pool:
        slow = pool.submit(ask, instances[0], body)  # the call for the next answer: three seconds
        time.sleep(0.5)
        followers = [ask(instance, body) for instance in (instances[0], instances[1])]  # here, and elsewhere
        assert slow.result().json()["source"] == "live"
    for follower in followers:
        assert follower.status_code == 200
        answer = follower.json()
        assert (answer["source"], answer["retrievedAt"]) == ("stale", first["retrievedAt"])
        assert answer["ageSeconds"] >= 2.5  # as old as it is
        assert follower.elapsed.total_seconds() < 1  # not held for the slow call
    assert calls(sandbox) == 2


def test_an_outage_costs_the_org_a_few_probes_not_a_call_per_request(app_instances, sandbox):
    instances = app_instances(3, AVAILABILITY_CACHE_SECONDS=1)
    body = {"workstreamId": CHAT, "contextItems": unique()}
    assert [ask(instance, body).status_code for instance in instances] == [200] * 3  # each holds an answer
    time.sleep(1.1)
    sandbox.reset()
    sandbox.fault("actions", status=503)
    started = time.monotonic()
    answers: list[requests.Response] = []
    while time.monotonic() - started < 10:  # one check asked five times a second, over the three
        answers.append(ask(instances[len(answers) % 3], body))
        time.sleep(max(0.0, started + len(answers) * 0.2 - time.monotonic()))
    assert {(a.status_code, a.json()["source"]) for a in answers} == {(200, "stale")}
    # The first failure opens the circuit for every instance: then only probes, 1 s apart, 2 s, 4 s ... (a
    # minute costs at most ten, see the bench); asked each time, the org would get 150 calls (three per request).
    assert calls(sandbox) <= 7, call_times(sandbox)
    # Answered at once (the older answer, from memory) but for the requests that carried a probe; a busy machine
    # adds its own delay to each, never the three tries and back-offs a request would make without the circuit.
    held = sorted(a.elapsed.total_seconds() for a in answers[5:])
    assert held[len(held) // 2] < 0.25 and held[-1] < 2, held
    logs = "".join(instance.log() for instance in instances)
    assert logs.count("circuit open") == 1  # said once, by the instance that opened it


# -- the shared store failing -----------------------------------------------------------------------------------

def test_answers_still_come_when_the_shared_store_is_unreachable(app_instances, sandbox):
    closed = azurite_connection_string(free_port())  # nothing listens there
    instances = app_instances(2, AzureWebJobsStorage=closed)
    body = {"workstreamId": CHAT, "contextItems": unique()}
    started = time.monotonic()
    answers = [ask(instance, body) for instance in instances for _ in range(3)]
    assert [a.status_code for a in answers] == [200] * 6
    assert [a.json()["source"] for a in answers] == ["live", "cache", "cache"] * 2  # per instance
    assert time.monotonic() - started < 10
    assert calls(sandbox) == 2
    for instance in instances:
        assert instance.log().count("Shared state unavailable") == 1  # a warning, not one per request


def test_instances_go_on_alone_while_storage_is_down_and_share_again_when_it_returns(app_instances, sandbox,
                                                                                   tmp_path):
    own = Stack(state_dir=tmp_path, log_dir=tmp_path / "logs", quiet=True)
    port = free_port()
    try:
        own.start_azurite(port)
        instances = app_instances(2, AzureWebJobsStorage=own.storage_connection, AVAILABILITY_CACHE_SECONDS=60)

        def shared_between_instances() -> bool:
            body = {"workstreamId": CHAT, "contextItems": unique()}
            before = calls(sandbox)
            assert ask(instances[0], body).json()["source"] == "live"
            time.sleep(0.3)
            answer = ask(instances[1], body)
            assert answer.status_code == 200
            return answer.json()["source"] == "cache" and calls(sandbox) == before + 1

        assert shared_between_instances()
        for process in own.processes:
            process.stop()
        body = {"workstreamId": CHAT, "contextItems": unique()}
        down = [ask(instance, body) for instance in instances]
        assert [a.status_code for a in down] == [200, 200]
        assert [a.json()["source"] for a in down] == ["live", "live"]  # each on its own
        assert all(a.elapsed.total_seconds() < 2 for a in down)
        own.processes.clear()
        own.start_azurite(port)  # back, empty (in memory): the state table is made again
        deadline = time.monotonic() + 20
        while not shared_between_instances():
            assert time.monotonic() < deadline, "the instances did not share again after storage came back"
            time.sleep(1)
        assert all("Shared state reachable again" in instance.log() for instance in instances)
    finally:
        own.stop()


def test_with_storage_failing_three_instances_keep_to_the_budget_together(app_instances, sandbox, tmp_path):
    own = Stack(state_dir=tmp_path, log_dir=tmp_path / "logs", quiet=True)
    try:
        own.start_azurite(free_port())
        instances = app_instances(3, AzureWebJobsStorage=own.storage_connection, AVAILABILITY_MAX_CALLS_PER_MINUTE=30,
                                  AVAILABILITY_TIMEOUT_SECONDS=2)
        for instance in instances:  # each joins the roster with its first request
            assert ask(instance, {"workstreamId": CHAT, "contextItems": unique()}).status_code == 200
        time.sleep(1.6)  # the throttle row each read then is too old for the next call to go by
        for instance in instances:  # each reads the roster's count (three) with its next call
            assert ask(instance, {"workstreamId": CHAT, "contextItems": unique()}).status_code == 200
        for process in own.processes:
            process.stop()
        responses = burst(instances, {"workstreamId": CHAT}, 0)
        started = time.monotonic()

        def distinct(index: int) -> requests.Response:
            return ask(instances[index % 3], {"workstreamId": CHAT, "contextItems": unique()})

        with ThreadPoolExecutor(9) as pool:
            while time.monotonic() - started < 4:
                responses.extend(pool.map(distinct, range(27)))
    finally:
        own.stop()
    statuses = Counter(r.status_code for r in responses)
    times = call_times(sandbox)
    # 30 a minute over the three instances the roster counted: 10 each, the 2 each made before included. Each on
    # its own with the whole budget, they would have made 90.
    assert len(times) <= 30 and times[-1] - times[0] < 60
    assert len(times) >= 24 and statuses[503] > 0 and set(statuses) <= {200, 503}
    assert all("Shared state unavailable" in instance.log() for instance in instances)


# -- the timer's singleton lock ------------------------------------------------------------------------------

def test_each_timer_occurrence_runs_on_one_instance_only(app_instances, sandbox):
    instances = app_instances(3, SNAPSHOT_SCHEDULE="*/2 * * * * *", SNAPSHOT_WORKSTREAMS=CHAT,
                              SNAPSHOT_TABLE=f"Snap{uuid.uuid4().hex[:12]}")
    time.sleep(6)
    while not 0.8 < time.time() % 2 < 1.2:  # between two occurrences: no run is cut short by the stop
        time.sleep(0.05)
    for instance in instances:
        instance.host.process.stop()
    fired = [re.findall(r"Executing 'Functions\.snapshot_availability' \(Reason='timer fired at ([^']+)'",
                        instance.log()) for instance in instances]
    occurrences = [due for runs in fired for due in runs]
    assert len(occurrences) >= 2
    assert len(set(occurrences)) == len(occurrences), fired  # no occurrence ran twice
    assert calls(sandbox) == len(occurrences)  # one check of the one workstream per run
    skipped = sum(instance.log().count("runs on another instance") for instance in instances)
    assert skipped >= len(occurrences)  # the others fired too, and stood down


# -- dev.py start --instances ---------------------------------------------------------------------------------------

def consecutive_free_ports(count: int) -> int:
    """The first of `count` free ports in a row, below the range the system hands out to outgoing connections
    (which would otherwise take one of them while the stack starts)."""
    for _ in range(200):
        first = random.randrange(20_000, 32_000)
        if all(port_is_free(first + offset) for offset in range(count)):
            return first
    raise RuntimeError(f"no {count} free ports in a row")


def test_start_with_instances_runs_that_many_hosts_of_one_app(tmp_path):
    port = consecutive_free_ports(2)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AVAILABILITY_", "SNAPSHOT_", "DATAVERSE_"))}
    process = subprocess.Popen([sys.executable, "-m", "devtools.stack", "start", "--port", str(port), "--instances",
                                "2", "--no-backfill", "--state-dir", str(tmp_path), "--sandbox"],
                               cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert process.stdout is not None  # piped
    stack_file = tmp_path / "stack.json"
    try:
        deadline = time.monotonic() + 90
        while not stack_file.exists() and time.monotonic() < deadline and process.poll() is None:
            time.sleep(0.2)
        assert stack_file.exists(), process.stdout.read() if process.poll() is not None else "no stack.json"
        info = json.loads(stack_file.read_text())
        assert info["hostUrls"] == [f"http://127.0.0.1:{port}", f"http://127.0.0.1:{port + 1}"]
        assert info["hostUrl"] == info["hostUrls"][0]
        body = {"workstreamId": info["workstreams"][0]["id"], "contextItems": unique()}
        answers = [requests.post(f"{url}/api/availability/before-conversation", json=body, timeout=30,
                                 headers={"x-functions-key": info["functionKey"]}) for url in info["hostUrls"]]
        assert [a.status_code for a in answers] == [200, 200]  # one key for the app, as in Azure
        time.sleep(0.3)
        again = requests.post(f"{info['hostUrls'][1]}/api/availability/before-conversation", json=body, timeout=30,
                              headers={"x-functions-key": info["functionKey"]})
        assert again.json()["source"] == "cache"
        process.send_signal(signal.SIGINT)
        assert process.wait(30) == 0
        output = process.stdout.read()
        assert all(url in output for url in info["hostUrls"])  # the banner lists every instance
    finally:
        if process.poll() is None:
            process.kill()
