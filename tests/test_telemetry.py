"""The app's telemetry on the local stack: the local host exports it over OTLP to the sandbox, and the
contract's counters move by exactly what happened."""

from __future__ import annotations

import time
import uuid

import pytest
import requests

from availability.state.rows import COOLDOWN_SECONDS
from availability.state.throttle import KEEP_FRESH_SECONDS
from devtools.stack import azurite_connection_string, free_port
from tests.availability.scenario import CHAT

pytestmark = pytest.mark.usefixtures("clean_sandbox")


def telemetry(sandbox) -> dict:
    return sandbox.session.get(f"{sandbox.url}/_sandbox/telemetry", verify=sandbox.ca_bundle, timeout=10).json()


def settled(sandbox, expected: dict[str, int], timeout: float = 10.0) -> dict:
    """The receiver's view once every metric of `expected` has reached its value (exports run every second)."""
    deadline = time.monotonic() + timeout
    while True:
        seen = telemetry(sandbox)
        if all(seen["metrics"].get(name) == value for name, value in expected.items()) or time.monotonic() > deadline:
            return seen
        time.sleep(0.2)


def quiet(sandbox) -> None:
    """Let the other hosts' last exports arrive, then count from here (the receiver counts since its reset)."""
    time.sleep(1.5)
    sandbox.reset()


def test_counters_move_by_exactly_what_happened(fresh_gateway, sandbox):
    quiet(sandbox)
    gateway = fresh_gateway(AVAILABILITY_CACHE_SECONDS=60, AVAILABILITY_SHARED_STATE="off",
                            SNAPSHOT_TABLE=f"T{uuid.uuid4().hex[:16]}")
    body = {"workstreamId": CHAT, "contextItems": {"Case": uuid.uuid4().hex}}
    assert gateway.post("availability/before-conversation", body).json()["source"] == "live"  # a miss
    assert gateway.post("availability/before-conversation", body).json()["source"] == "cache"  # a hit
    run = requests.post(f"{gateway.url}/admin/functions/snapshot_availability", json={"input": ""},
                        headers={"x-functions-key": gateway.master_key}, timeout=30)
    assert run.status_code == 202
    settled(sandbox, {"availability.snapshot.rows": 3})  # the run is done: one row per workstream
    sandbox.fault("actions", status=429, retryAfter=120, count=1)
    throttled = gateway.post("availability/before-conversation",
                             {"workstreamId": CHAT, "contextItems": {"Case": uuid.uuid4().hex}})
    assert throttled.status_code == 503 and throttled.json()["error"]["code"] == "upstream_throttled"
    expected = {
        "availability.requests": 3,
        "availability.cache.lookups": 3,  # a miss, a hit, a miss the org refused (live snapshot checks look nothing up)
        # the miss; the run's reading of the org's clock (WhoAmI), its discovery and three checks; the 429
        "availability.upstream.calls": 1 + 1 + 1 + 3 + 1,
        "availability.upstream.duration": 7,
        "availability.upstream.throttled": 1,
        "availability.snapshot.rows": 3,
    }
    seen = settled(sandbox, expected)
    assert {name: seen["metrics"].get(name) for name in expected} == expected, repr(seen["metrics"])
    assert seen["spans"] >= 3 + 7


def test_a_shared_state_failure_is_counted_once_per_try_of_storage(fresh_gateway, sandbox):
    quiet(sandbox)
    gateway = fresh_gateway(AVAILABILITY_SHARED_STATE="table",
                            AzureWebJobsStorage=azurite_connection_string(free_port()))  # nothing listens there
    started = time.monotonic()
    for _ in range(3):  # each a miss; the first finds storage down, the others go on without trying it again
        body = {"workstreamId": CHAT, "contextItems": {"Case": uuid.uuid4().hex}}
        assert gateway.post("availability/before-conversation", body).json()["source"] == "live"
    # Storage is tried again 5 s after the failure, by a request or by the throttle row's keeper, which goes on
    # for 2 s after the last call: done within 3 s, nothing tries it again.
    assert time.monotonic() - started < COOLDOWN_SECONDS - KEEP_FRESH_SECONDS
    expected = {"availability.requests": 3, "availability.state.failures": 1}
    seen = settled(sandbox, expected)
    assert {name: seen["metrics"].get(name) for name in expected} == expected, repr(seen["metrics"])


def test_no_secret_or_caller_context_in_what_is_exported(fresh_gateway, stack, sandbox):
    quiet(sandbox)
    gateway = fresh_gateway(AVAILABILITY_SHARED_STATE="off")
    marker, chosen = f"private-{uuid.uuid4().hex}", f"caller-{uuid.uuid4().hex}"
    answer = gateway.post("availability/before-conversation",
                          {"workstreamId": CHAT, "contextItems": {"Customer": marker}},
                          headers={"x-correlation-id": chosen})
    assert answer.status_code == 200 and answer.headers["x-correlation-id"] == chosen
    settled(sandbox, {"availability.requests": 1})
    time.sleep(1.5)  # spans go out every second too
    seen = sandbox.session.get(f"{sandbox.url}/_sandbox/telemetry", params={"attributes": "true"},
                               verify=sandbox.ca_bundle, timeout=10).json()["attributes"]
    assert "before-conversation" in seen["availability.endpoint"]
    assert "CCaaS_GetRepresentativeAvailabilityBeforeConversation" in seen["availability.action"]
    # The span holds the gateway's own id, given back as x-request-id, never the one the caller chose.
    assert seen["availability.correlation_id"] == [answer.headers["x-request-id"]]
    values = repr(seen)
    assert marker not in values and "Customer" not in values and gateway.function_key not in values
    assert chosen not in values
    assert "Bearer" not in values and CHAT not in values


def test_azure_gets_opentelemetry_from_the_worker_and_the_app_never_loads_an_sdk():
    import json
    import subprocess
    import sys

    from tests.structure import ROOT

    assert json.loads((ROOT / "host.json").read_text())["telemetryMode"] == "OpenTelemetry"
    requirements = (ROOT / "requirements.txt").read_text()
    assert "azure-monitor-opentelemetry==" in requirements and "opentelemetry-api==" in requirements
    code = ("import sys, function_app; "
            "print(sorted(m for m in sys.modules if m.startswith(('opentelemetry', 'azure.monitor'))))")
    loaded = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert loaded.stdout.strip() == "[]"  # not even the API at import: it loads with the first request
