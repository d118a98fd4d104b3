"""Change subscriptions over the wire: local hosts, the sandbox (moving its clock across openings and lunch
breaks) and Azurite, with a webhook receiver on loopback in this process.

The hosts' timers are quiet: each test runs `notify_subscribers` (and the snapshot timer) by hand with
`POST /admin/functions/{name}`, as Azure allows, and waits for the run to end. The sandbox clock is moved to a few
seconds before the office queue opens, so a run waits for the opening (as every run does for a transition due
before the next) instead of the test waiting real minutes.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests

from devtools.sandbox_client import SandboxControl
from devtools.stack import ROOT, Stack
from tests.conftest import Gateway

SCENARIO = Path(__file__).parent / "scenarios" / "notifications.toml"
OFFICE = "22222222-0000-4000-8000-000000000131"  # office hours 08:00-18:00 UTC, every day
WEB_CHAT = "22222222-0000-4000-8000-000000000132"  # open around the clock, nobody free 12:00-13:00 UTC
OFFICE_QUEUE = "11111111-0000-4000-8000-000000000131"
DAY = "2026-12-02"
QUIET = "0 0 0 1 1 *"  # once a year: timers run only when a test asks


# ------------------------------------------------------------------------------------------ the receiver


@dataclass
class Delivery:
    at: float  # time.time() when it arrived
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> dict:
        return json.loads(self.body)

    @property
    def id(self) -> str:
        return self.headers["x-availability-delivery"]

    def signed_with(self, secret: str) -> bool:
        expected = "sha256=" + hmac.new(secret.encode(), self.body, hashlib.sha256).hexdigest()
        return hmac.compare_digest(self.headers["x-availability-signature"], expected)


class Receiver:
    """A webhook receiver on loopback: records every POST by path; answers as scripted (then 200)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.received: dict[str, list[Delivery]] = {}
        self.scripts: dict[str, list] = {}
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                name = self.path.split("?")[0].strip("/")
                with receiver.lock:
                    receiver.received.setdefault(name, []).append(
                        Delivery(time.time(), {k.lower(): v for k, v in self.headers.items()}, body))
                    script = receiver.scripts.get(name) or []
                    answer = script.pop(0) if script else 200
                try:
                    if answer == "hang":
                        time.sleep(10)
                        answer = 200
                    self.send_response(answer)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                except OSError:  # the sender is gone (killed): nothing to answer
                    pass

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"

    def endpoint(self, *script) -> tuple[str, str]:
        """A fresh path (name, URL) answering `script` in order (a status, or "hang"), then 200."""
        name = "hook-" + uuid.uuid4().hex
        self.scripts[name] = list(script)
        return name, f"{self.base}/{name}?sig=not-a-real-signature"

    def deliveries(self, name: str) -> list[Delivery]:
        with self.lock:
            return list(self.received.get(name, []))

    def wait_for(self, name: str, count: int, timeout: float = 100) -> list[Delivery]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            got = self.deliveries(name)
            if len(got) >= count:
                return got
            time.sleep(0.05)
        raise AssertionError(f"{count} deliveries expected on {name}, got {len(self.deliveries(name))}")

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


# -------------------------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def notify_stack(tmp_path_factory):
    """A sandbox playing the scenario above (its clock is this module's to move) and an Azurite."""
    environ = {k: v for k, v in os.environ.items()
               if not k.startswith(("AVAILABILITY_", "SNAPSHOT_", "DATAVERSE_", "NOTIFY_", "SUBSCRIPTIONS_"))}
    stack = Stack(scenario=SCENARIO, state_dir=tmp_path_factory.mktemp("notify-stack"),
                  log_dir=ROOT / ".local" / "test-logs" / "notifications", environ=environ, quiet=True)
    try:
        stack.start_sandbox()
        stack.start_azurite()
    except BaseException:
        stack.stop()
        raise
    yield stack
    stack.stop()


@pytest.fixture(scope="module")
def control(notify_stack) -> SandboxControl:
    return SandboxControl(notify_stack.sandbox["url"], notify_stack.sandbox["caBundle"])


@pytest.fixture(scope="module")
def receiver():
    started = Receiver()
    yield started
    started.close()


@pytest.fixture
def host(notify_stack, control):
    """Start a host of the app with its own tables (or the tables given), timers quiet; settings as kwargs."""
    started = []

    def start(**settings) -> Gateway:
        tables = {"SUBSCRIPTIONS_TABLE": f"Subscriptions{uuid.uuid4().hex[:12]}",
                  "AVAILABILITY_STATE_TABLE": f"State{uuid.uuid4().hex[:12]}",
                  "SNAPSHOT_TABLE": f"Snapshots{uuid.uuid4().hex[:12]}"}
        given = {"SNAPSHOT_SCHEDULE": QUIET, "NOTIFY_SCHEDULE": QUIET, **tables,
                 **{k: str(v) for k, v in settings.items()}}
        host = notify_stack.start_host(port=0, extra_settings=given, name=f"notify-{uuid.uuid4().hex[:6]}")
        started.append(host)
        return Gateway(host)

    yield start
    for host in started:
        host.process.stop()
    control.reset()


def run_timer(gateway: Gateway, name: str = "notify_subscribers", timeout: float = 150) -> dict:
    """Run a timer by hand as Azure does (master key, 202), then wait until the host says it ended."""
    admin = {"x-functions-key": gateway.master_key}
    status_url = f"{gateway.url}/admin/functions/{name}/status"
    before = requests.get(status_url, headers=admin, timeout=10).json()["invocations"]
    response = requests.post(f"{gateway.url}/admin/functions/{name}", json={"input": ""}, headers=admin, timeout=10)
    assert response.status_code == 202, response.text
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = requests.get(status_url, headers=admin, timeout=10).json()
        if not status["running"] and status["invocations"] > before:
            assert status["lastResult"] == "Succeeded", gateway.log()[-3000:]
            return status
        time.sleep(0.1)
    raise AssertionError(f"{name} did not finish")


def subscribe(gateway: Gateway, url: str, workstream: str = OFFICE, **body) -> dict:
    response = gateway.post("subscriptions", {"callbackUrl": url, "workstreamId": workstream, **body})
    assert response.status_code == 201, response.text
    made = response.json()
    assert response.headers["Location"] == f"/api/subscriptions/{made['id']}"
    return made


def before_opening(control: SandboxControl, seconds: float = 5) -> float:
    """Set the org's clock `seconds` before the office opens; returns when it opens, on this machine's clock."""
    control.set_clock(f"{DAY}T07:59:{60 - seconds:02.0f}Z")
    return time.time() + seconds


def actions(control: SandboxControl) -> int:
    return sum(control.stats()["actions"].values())


# ---------------------------------------------------------------------------------------------- tests


def test_a_closed_queue_opening_is_told_once_within_90_s_with_a_valid_signature(host, control, receiver):
    gateway = host()
    name, url = receiver.endpoint()
    opens_at = before_opening(control, 5)
    made = subscribe(gateway, url, language="fr", timeZone="Europe/Paris")
    assert made["status"] == "closed" and made["notifyOn"] == "status" and len(made["secret"]) >= 32

    run_timer(gateway)  # the run waits for the opening it knows of, then asks
    [delivery] = receiver.wait_for(name, 1)
    assert delivery.at - opens_at <= 90
    assert delivery.signed_with(made["secret"])
    assert not delivery.signed_with(made["secret"] + "x")
    assert uuid.UUID(delivery.id)
    assert delivery.headers["content-type"].startswith("application/json")
    change = delivery.json
    assert change["subscriptionId"] == made["id"] and change["workstreamId"] == OFFICE
    assert (change["previousStatus"], change["status"], change["canEscalate"]) == ("closed", "available", True)
    assert change["changedAt"] == f"{DAY}T08:00:00Z"  # the opening itself, not when it was seen
    answer = change["availability"]
    assert answer["queueId"] == OFFICE_QUEUE and answer["withinOperatingHours"] and answer["language"] == "fr"
    assert answer["nextTransitionTime"] == f"{DAY}T18:00:00Z"

    run_timer(gateway)  # nothing new: nothing more
    time.sleep(0.5)
    assert len(receiver.deliveries(name)) == 1
    shown = gateway.get(f"subscriptions/{made['id']}").json()
    assert shown["lastDeliveryStatus"] == "delivered" and shown["lastResponseStatus"] == 200
    assert shown["consecutiveFailures"] == 0 and shown["enabled"] is True and shown["lastDeliveryAt"]
    assert made["secret"] not in gateway.log() and name not in gateway.log()


def test_a_staffing_change_is_told_after_a_snapshot_run_without_a_call_of_its_own(host, control, receiver):
    gateway = host(SNAPSHOT_WORKSTREAMS=WEB_CHAT)
    name, url = receiver.endpoint()
    control.set_clock(f"{DAY}T11:58:00Z")
    made = subscribe(gateway, url, WEB_CHAT)
    assert made["status"] == "available"

    control.set_clock(f"{DAY}T12:00:30Z")  # lunch: nobody free, and no operating-hours transition to expect
    calls = actions(control)
    run_timer(gateway, "snapshot_availability")
    assert actions(control) == calls + 1
    run_timer(gateway)
    [delivery] = receiver.wait_for(name, 1)
    assert (delivery.json["previousStatus"], delivery.json["status"]) == ("available", "busy")
    assert delivery.json["availability"]["availableRepresentatives"] == 0
    assert delivery.signed_with(made["secret"])
    assert actions(control) == calls + 1  # the run used the snapshot's answer


def test_a_deleted_subscription_is_told_nothing(host, control, receiver):
    gateway = host()
    kept_name, kept_url = receiver.endpoint()
    gone_name, gone_url = receiver.endpoint()
    before_opening(control, 4)
    kept = subscribe(gateway, kept_url)
    gone = subscribe(gateway, gone_url)
    assert gateway.session.delete(f"{gateway.url}/api/subscriptions/{gone['id']}", timeout=10).status_code == 204
    again = gateway.session.delete(f"{gateway.url}/api/subscriptions/{gone['id']}", timeout=10)
    assert again.status_code == 404 and again.json()["error"]["code"] == "not_found"
    assert gateway.get(f"subscriptions/{gone['id']}").status_code == 404

    run_timer(gateway)
    receiver.wait_for(kept_name, 1)
    assert receiver.deliveries(gone_name) == []
    assert [s["id"] for s in gateway.get("subscriptions").json()["subscriptions"]] == [kept["id"]]


def test_a_failed_delivery_is_retried_with_the_same_id_and_no_more_once_taken(host, control, receiver):
    gateway = host()
    name, url = receiver.endpoint(500)
    before_opening(control, 3)
    made = subscribe(gateway, url)
    run_timer(gateway)
    first, second = receiver.wait_for(name, 2)
    assert first.id == second.id and first.body == second.body
    assert first.signed_with(made["secret"]) and second.signed_with(made["secret"])
    assert 1.5 <= second.at - first.at <= 15  # back-off, within the same run
    run_timer(gateway)
    time.sleep(0.5)
    assert len(receiver.deliveries(name)) == 2
    shown = gateway.get(f"subscriptions/{made['id']}").json()
    assert (shown["lastDeliveryStatus"], shown["consecutiveFailures"]) == ("delivered", 0)


def test_a_410_deletes_the_subscription(host, control, receiver):
    gateway = host()
    name, url = receiver.endpoint(410)
    before_opening(control, 3)
    made = subscribe(gateway, url)
    run_timer(gateway)
    assert len(receiver.wait_for(name, 1)) == 1
    assert gateway.get(f"subscriptions/{made['id']}").status_code == 404
    assert gateway.get("subscriptions").json() == {"subscriptions": []}


def test_a_delivery_cut_off_by_sigkill_is_sent_again_with_its_id_by_the_next_run(host, control, receiver):
    tables = {"SUBSCRIPTIONS_TABLE": f"Subscriptions{uuid.uuid4().hex[:12]}",
              "AVAILABILITY_STATE_TABLE": f"State{uuid.uuid4().hex[:12]}"}
    first_instance = host(**tables)
    name, url = receiver.endpoint("hang")
    before_opening(control, 3)
    made = subscribe(first_instance, url)
    admin = {"x-functions-key": first_instance.master_key}
    requests.post(f"{first_instance.url}/admin/functions/notify_subscribers", json={}, headers=admin, timeout=10)
    [cut] = receiver.wait_for(name, 1)
    first_instance.host.process.popen.kill()  # SIGKILL while the callback is being called
    first_instance.host.process.popen.wait(10)

    second_instance = host(**tables)
    time.sleep(max(0.0, cut.at + 31 - time.time()))  # the dead run's hold on the change lapses
    run_timer(second_instance)
    cut_again, = receiver.wait_for(name, 2)[1:]
    assert (cut_again.id, cut_again.body) == (cut.id, cut.body)
    assert cut_again.signed_with(made["secret"])
    run_timer(second_instance)
    time.sleep(0.5)
    assert len(receiver.deliveries(name)) == 2


def test_watching_costs_one_call_per_distinct_check_whatever_the_subscription_count(host, control, receiver):
    gateway = host()
    before_opening(control, 6)
    checks = [{}, {"contextItems": {"TestCase": "a"}}, {"contextItems": {"TestCase": "b", "Tier": 2}}]
    names = []
    for check in checks:
        for _ in range(3):
            name, url = receiver.endpoint()
            names.append(name)
            subscribe(gateway, url, **check)
    calls = actions(control)
    run_timer(gateway)
    for name in names:
        assert [d.json["status"] for d in receiver.wait_for(name, 1)] == ["available"]
    assert actions(control) - calls == len(checks)
    run_timer(gateway)  # within the minute: no call at all, and nothing new to tell
    assert actions(control) - calls == len(checks)
    assert all(len(receiver.deliveries(name)) == 1 for name in names)


def test_callbacks_must_be_https_to_public_addresses_without_the_setting(host, receiver):
    gateway = host(NOTIFY_ALLOW_PRIVATE_CALLBACKS="false")
    port = receiver.server.server_address[1]
    for url in ("https://10.0.0.1/hooks/availability", "http://hooks.contoso.com/availability",
                f"https://127.0.0.1:{port}/hook", "https://localhost/hook", "https://169.254.169.254/latest",
                "https://192.168.1.20/hook", "https://[fd00:ec2::254]/hook", "ftp://hooks.contoso.com/x",
                "https://user:pass@hooks.contoso.com/x", "https://hooks.contoso.com/x#part", "/relative"):
        response = gateway.post("subscriptions", {"callbackUrl": url, "workstreamId": OFFICE})
        assert response.status_code == 400, (url, response.text)
        error = response.json()["error"]
        assert error["target"] == "callbackUrl" and url not in error["message"], url
    assert gateway.get("subscriptions").json() == {"subscriptions": []}


def test_the_guard_holds_at_delivery_time_too(host, control, receiver):
    # Made where loopback callbacks are allowed, delivered by an app where they are not (as if the name now
    # resolved there): refused, counted as a failure, nothing sent.
    tables = {"SUBSCRIPTIONS_TABLE": f"Subscriptions{uuid.uuid4().hex[:12]}"}
    name, url = receiver.endpoint()
    before_opening(control, 3)
    made = subscribe(host(**tables), url)
    strict = host(NOTIFY_ALLOW_PRIVATE_CALLBACKS="false", **tables)
    run_timer(strict)
    shown = strict.get(f"subscriptions/{made['id']}").json()
    assert (shown["lastDeliveryStatus"], shown["consecutiveFailures"], shown["lastResponseStatus"]) == (
        "failed", 1, None)
    assert receiver.deliveries(name) == []


def test_subscriptions_list_and_get_never_show_the_callback_url_or_the_secret(host, control, receiver):
    gateway = host()
    name, url = receiver.endpoint()
    made = subscribe(gateway, url, WEB_CHAT, notifyOn="canEscalate", contextItems={"Language": "fr"})
    assert set(made) == {"id", "workstreamId", "notifyOn", "createdAt", "status", "secret"}
    assert made["notifyOn"] == "canEscalate" and made["workstreamId"] == WEB_CHAT
    listed = gateway.get("subscriptions")
    one = gateway.get(f"subscriptions/{made['id']}")
    for response in (listed, one):
        assert response.status_code == 200
        assert made["secret"] not in response.text and name not in response.text and "sig=" not in response.text
    assert listed.json()["subscriptions"] == [one.json()]
    assert one.json() == {"id": made["id"], "workstreamId": WEB_CHAT, "notifyOn": "canEscalate",
                          "createdAt": made["createdAt"], "callbackHost": "127.0.0.1", "lastDeliveryAt": None,
                          "lastDeliveryStatus": None, "lastResponseStatus": None, "consecutiveFailures": 0,
                          "enabled": True}
    for missing in (str(uuid.uuid4()), "not-a-guid"):
        response = gateway.get(f"subscriptions/{missing}")
        assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"


@pytest.mark.parametrize("body, target", [
    ({"workstreamId": OFFICE}, "callbackUrl"),
    ({"callbackUrl": "http://127.0.0.1:9/x"}, "workstreamId"),
    ({"callbackUrl": "http://127.0.0.1:9/x", "workstreamId": "office"}, "workstreamId"),
    ({"callbackUrl": "http://127.0.0.1:9/x", "workstreamId": OFFICE, "notifyOn": "everything"}, "notifyOn"),
    ({"callbackUrl": "http://127.0.0.1:9/x", "workstreamId": OFFICE, "contextItems": {"Tier": 1.5}},
     "contextItems.Tier"),
    ({"callbackUrl": "http://127.0.0.1:9/x", "workstreamId": OFFICE, "language": "fr_FR"}, "language"),
    ({"callbackUrl": "http://127.0.0.1:9/" + "x" * 2048, "workstreamId": OFFICE}, "callbackUrl"),
    ({"callbackUrl": "http://127.0.0.1:9/x", "workstreamId": OFFICE, "secret": "mine"}, "secret"),
])
def test_a_malformed_subscription_is_a_400_naming_the_field(host, body, target):
    response = host().post("subscriptions", body)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["target"] == target


def test_an_unknown_workstream_is_a_404_and_makes_no_subscription(host):
    gateway = host()
    response = gateway.post("subscriptions", {"callbackUrl": "http://127.0.0.1:9/x",
                                              "workstreamId": str(uuid.uuid4())})
    assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"
    assert gateway.get("subscriptions").json() == {"subscriptions": []}


def test_a_workstream_takes_at_most_the_documented_number_of_subscriptions(host):
    from availability.schemas import MAX_SUBSCRIPTIONS_PER_WORKSTREAM

    gateway = host()
    body = {"callbackUrl": "http://127.0.0.1:9/x", "workstreamId": WEB_CHAT}
    statuses = []
    for _ in range(MAX_SUBSCRIPTIONS_PER_WORKSTREAM):
        statuses.append(gateway.post("subscriptions", body).status_code)
    assert statuses == [201] * MAX_SUBSCRIPTIONS_PER_WORKSTREAM
    refused = gateway.post("subscriptions", body)
    assert refused.status_code == 400 and refused.json()["error"]["target"] == "workstreamId"
    assert str(MAX_SUBSCRIPTIONS_PER_WORKSTREAM) in refused.json()["error"]["message"]
    assert gateway.post("subscriptions", {**body, "workstreamId": OFFICE}).status_code == 201  # per workstream
    assert len(gateway.get("subscriptions").json()["subscriptions"]) == MAX_SUBSCRIPTIONS_PER_WORKSTREAM + 1


def test_deliveries_are_counted_in_the_contract_metric(host, control, receiver):
    control.reset()  # the telemetry receiver's counts start from nothing
    gateway = host()
    name, url = receiver.endpoint(503)
    before_opening(control, 3)
    subscribe(gateway, url)
    run_timer(gateway)
    receiver.wait_for(name, 2)
    deadline, seen = time.monotonic() + 10, {}
    while time.monotonic() < deadline:  # the host exports every second
        seen = control.session.get(f"{control.url}/_sandbox/telemetry", params={"attributes": "true"},
                                   verify=control.ca_bundle, timeout=10).json()
        if seen["metrics"].get("availability.notifications.deliveries") == 2:
            break
        time.sleep(0.2)
    assert seen["metrics"].get("availability.notifications.deliveries") == 2, seen["metrics"]  # retried, delivered
    assert {"retried", "delivered"} <= set(seen["attributes"]["result"])
    assert receiver.base not in repr(seen["attributes"]) and name not in repr(seen["attributes"])
